//! Binding generator entry point; UniFFI's bindgen arrives with the SDK-surfaces issue.

fn main() {
    eprintln!("ember-bindgen: UniFFI bindings are not generated yet (see the SDK-surfaces issue)");
    std::process::exit(2);
}
