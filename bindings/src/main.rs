//! `ember-bindgen`: UniFFI's generator, run in library mode on an unstripped `libember_ffi`.
//!
//! `ember-bindgen generate --library target/release/libember_ffi.so --language kotlin --out-dir DIR`
//! (scripts/sdk/test-bindings.sh runs it). It reads `ffi/uniffi.toml` through `cargo metadata`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
