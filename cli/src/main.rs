//! `prism`: Prism's streaming processors over audio files.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod audio;
mod chroma_cmd;
mod demo;
mod output;
mod pitch_cmd;
mod plot;
mod progress;
mod split_cmd;

/// Prism — real-time music analysis and separation, offline: chroma, chords, key, pitch, notes and stems of audio files.
#[derive(Parser, Debug)]
#[command(name = "prism", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Chromagram, chords and key (CSV, MIREX .lab, PNG).
    Chroma(chroma_cmd::ChromaArgs),
    /// Pitch track (CSV), notes with pitch bend (MIDI) and a piano-roll plot (PNG).
    Pitch(pitch_cmd::PitchArgs),
    /// Drums / bass / other stems (WAV), with the plugin's separation engine.
    Split(split_cmd::SplitArgs),
    /// Synthesise a short piece and run every Prism processor on it.
    Demo(demo::DemoArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
