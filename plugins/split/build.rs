//! Link flags for the plugin library.
//!
//! `-z nodelete` keeps the library mapped after the host's `dlclose`: Rust's std registers
//! thread-exit destructors on every host thread that calls into the plugin, and if the library
//! were unmapped before such a thread exits, glibc would jump into unmapped code (a SIGSEGV
//! in the host, reproduced by `tests/tests/clap_host/lifecycle.rs::plugin_unload_then_thread_exit`).

fn main() {
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" || target_os == "freebsd" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    }
}
