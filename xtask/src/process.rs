//! Running child processes with the command line echoed and failures explained.

use anyhow::{bail, Context, Result};
use std::process::Command;

/// The command line as a user could paste it into a POSIX shell (for messages only).
pub fn describe(command: &Command) -> String {
    let mut words = vec![quote(&command.get_program().to_string_lossy())];
    words.extend(command.get_args().map(|arg| quote(&arg.to_string_lossy())));
    words.join(" ")
}

fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:+,@%".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Runs `command` with inherited stdio, after printing it. Fails if it cannot be started
/// or exits unsuccessfully; `what` says what was being done, for the error message.
pub fn run(command: &mut Command, what: &str) -> Result<()> {
    let line = describe(command);
    eprintln!("$ {line}");
    let status = command
        .status()
        .with_context(|| format!("{what}: could not start `{line}`"))?;
    if !status.success() {
        bail!("{what}: `{line}` failed ({status})");
    }
    Ok(())
}

/// Runs `command` and returns its stdout, without echoing. Fails like [`run`].
pub fn output(command: &mut Command, what: &str) -> Result<String> {
    let line = describe(command);
    let output = command
        .output()
        .with_context(|| format!("{what}: could not start `{line}`"))?;
    if !output.status.success() {
        bail!(
            "{what}: `{line}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    String::from_utf8(output.stdout)
        .with_context(|| format!("{what}: `{line}` printed invalid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn described_commands_quote_only_words_that_need_it() {
        let mut command = Command::new("cargo");
        command.args(["build", "-p", "prism-chroma", "Prism Chroma", "it's", ""]);
        assert_eq!(
            describe(&command),
            r#"cargo build -p prism-chroma 'Prism Chroma' 'it'\''s' ''"#
        );
    }
}
