//! Ember's foreign-function adapter. Stays thin: the SDK-surfaces issue fills in UniFFI and the C ABI.

/// The Ember version this library was built from.
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}
