//! Running child processes with the command line echoed and failures explained.

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

/// The command line as a user could paste it into a POSIX shell (for messages only).
pub fn describe(command: &Command) -> String {
    let program = std::path::Path::new(command.get_program());
    // `$CARGO` is a long toolchain path; the user knows it as `cargo`.
    let program = match program.file_stem() {
        Some(stem) if stem == "cargo" => "cargo".into(),
        _ => program.to_string_lossy(),
    };
    let mut words = vec![quote(&program)];
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

/// Like [`run`], but passes each line the command prints on stdout to `on_line` after
/// printing it on our stdout (stderr stays inherited).
pub fn run_with_stdout_lines(
    command: &mut Command,
    what: &str,
    mut on_line: impl FnMut(&str),
) -> Result<()> {
    let line = describe(command);
    eprintln!("$ {line}");
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("{what}: could not start `{line}`"))?;
    let stdout = child
        .stdout
        .take()
        .context("child stdout was not captured")?;
    let mut reader = BufReader::new(stdout);
    let mut buffer = Vec::new();
    let mut out = std::io::stdout();
    loop {
        buffer.clear();
        let read = reader
            .read_until(b'\n', &mut buffer)
            .with_context(|| format!("{what}: could not read the output of `{line}`"))?;
        if read == 0 {
            break;
        }
        // NOTE: a closed stdout (e.g. `| head`) must not stop the command half-way.
        let _ = out.write_all(&buffer).and_then(|()| out.flush());
        on_line(String::from_utf8_lossy(&buffer).trim_end());
    }
    let status = child
        .wait()
        .with_context(|| format!("{what}: could not wait for `{line}`"))?;
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

/// Today's date (`YYYY-MM-DD`) from `date`, if there is one.
pub fn today() -> Option<String> {
    let out = Command::new("date").arg("+%Y-%m-%d").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn described_commands_quote_only_words_that_need_it() {
        let mut command = Command::new("/opt/rust/bin/cargo");
        command.args(["build", "-p", "prism-chroma", "Prism Chroma", "it's", ""]);
        assert_eq!(
            describe(&command),
            r#"cargo build -p prism-chroma 'Prism Chroma' 'it'\''s' ''"#
        );
    }
}
