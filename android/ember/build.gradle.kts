// The AAR: generated UniFFI bindings (src/main/kotlin/.../ember.kt), the coroutine layer, and
// libember_ffi.so per ABI in src/main/jniLibs (written by scripts/sdk/build-android.sh).
plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "org.example.ember"
    compileSdk = 35
    defaultConfig {
        minSdk = 24 // scripts/sdk/build-android.sh builds for the same API level
        consumerProguardFiles("consumer-rules.pro")
        ndk { abiFilters += listOf("arm64-v8a", "armeabi-v7a", "x86_64") }
    }
    buildTypes {
        release { isMinifyEnabled = false }
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    packaging {
        // The .so files are stripped by the release-small profile already.
        jniLibs.keepDebugSymbols += "**/libember_ffi.so"
    }
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    // JNA as an AAR: it carries libjnidispatch.so for every Android ABI.
    implementation("net.java.dev.jna:jna:5.13.0@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.9.0")
}
