// swift-tools-version:5.9
// Ember for iOS: the Rust library as a static XCFramework (EmberFFI, built by
// scripts/sdk/build-xcframework.sh on macOS) and the Swift bindings with async/await sugar.
// To distribute, replace `path:` with `url:` + `checksum:` of the zipped XCFramework.
import PackageDescription

let package = Package(
    name: "Ember",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "Ember", targets: ["Ember"]),
    ],
    targets: [
        .binaryTarget(name: "EmberFFI", path: "EmberFFI.xcframework"),
        .target(name: "Ember", dependencies: ["EmberFFI"], path: "Sources/Ember"),
    ]
)
