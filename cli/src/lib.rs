//! `prism`: Prism's streaming processors over audio files (the `prism` binary is [`main`]).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod audio;
pub mod chroma_cmd;
pub mod demo;
pub mod midi_file;
pub mod output;
pub mod pitch_cmd;
pub mod plot;
pub mod progress;
pub mod schema_args;
pub mod split_cmd;

/// Prism — real-time music analysis and separation, offline: chroma, chords, key, pitch, notes and stems of audio files.
#[derive(Parser, Debug)]
#[command(name = "prism", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Chromagram, chords and key (CSV, MIREX .lab, PNG).
    Chroma(chroma_cmd::ChromaArgs),
    /// Pitch track (CSV), notes with pitch bend (MIDI) and a piano-roll plot (PNG).
    Pitch(pitch_cmd::PitchArgs),
    /// Drums / bass / other stems (WAV), with the plugin's separation engine.
    Split(split_cmd::SplitArgs),
    /// Synthesise a short piece and run every Prism processor on it.
    Demo(demo::DemoArgs),
}

/// The `prism` command: parses the arguments, runs, reports an error in one line.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            // Bad arguments get the one-line form every other error has.
            let text = e.render().to_string();
            let text = text.trim_start_matches("error: ");
            eprintln!("prism: error: {}", text.trim_end());
            return ExitCode::from(2);
        }
    };
    let result = match &cli.command {
        Command::Chroma(args) => chroma_cmd::run(args),
        Command::Pitch(args) => pitch_cmd::run(args),
        Command::Split(args) => split_cmd::run(args),
        Command::Demo(args) => demo::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the error and its causes.
            let mut message = e.to_string();
            for cause in e.chain().skip(1) {
                message.push_str(": ");
                message.push_str(&cause.to_string());
            }
            eprintln!("prism: error: {message}");
            ExitCode::FAILURE
        }
    }
}
