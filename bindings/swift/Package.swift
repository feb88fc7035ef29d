// swift-tools-version:5.9
// Linux test package for the Swift bindings. scripts/sdk/test-bindings.sh stages it in the Swift chroot
// with Sources/Ember copied from ios/Sources/Ember (generated bindings + async sugar) and the README
// snippet, and passes the EmberFFI module map and libember_ffi with -Xcc/-Xlinker flags.
import PackageDescription

let package = Package(
    name: "EmberLinuxTests",
    targets: [
        .target(name: "Ember", path: "Sources/Ember"),
        .testTarget(name: "EmberTests", dependencies: ["Ember"], path: "Tests/EmberTests"),
    ]
)
