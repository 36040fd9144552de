//! `prism`: Prism's streaming processors over audio files.

fn main() -> std::process::ExitCode {
    prism_cli::main()
}
