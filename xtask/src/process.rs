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

/// Which output of a child process [`run_piped`] reads.
#[derive(Clone, Copy)]
enum Pipe {
    Stdout,
    Stderr,
}

/// Runs `command` with one of its outputs piped through us: each line is echoed on our
/// own stream of the same kind, then passed to `on_line`. The other output stays
/// inherited. Returns the exit status; fails only if the command cannot be run.
fn run_piped(
    command: &mut Command,
    what: &str,
    pipe: Pipe,
    mut on_line: impl FnMut(&str),
) -> Result<std::process::ExitStatus> {
    let line = describe(command);
    eprintln!("$ {line}");
    match pipe {
        Pipe::Stdout => command.stdout(Stdio::piped()),
        Pipe::Stderr => command.stderr(Stdio::piped()),
    };
    let mut child = command
        .spawn()
        .with_context(|| format!("{what}: could not start `{line}`"))?;
    let source: Box<dyn std::io::Read> = match pipe {
        Pipe::Stdout => Box::new(
            child
                .stdout
                .take()
                .context("child stdout was not captured")?,
        ),
        Pipe::Stderr => Box::new(
            child
                .stderr
                .take()
                .context("child stderr was not captured")?,
        ),
    };
    let mut echo: Box<dyn Write> = match pipe {
        Pipe::Stdout => Box::new(std::io::stdout()),
        Pipe::Stderr => Box::new(std::io::stderr()),
    };
    let mut reader = BufReader::new(source);
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        let read = reader
            .read_until(b'\n', &mut buffer)
            .with_context(|| format!("{what}: could not read the output of `{line}`"))?;
        if read == 0 {
            break;
        }
        // NOTE: a closed stdout (e.g. `| head`) must not stop the command half-way.
        let _ = echo.write_all(&buffer).and_then(|()| echo.flush());
        on_line(String::from_utf8_lossy(&buffer).trim_end());
    }
    child
        .wait()
        .with_context(|| format!("{what}: could not wait for `{line}`"))
}

/// Like [`run`], but passes each line the command prints on stdout to `on_line` after
/// printing it on our stdout (stderr stays inherited).
pub fn run_with_stdout_lines(
    command: &mut Command,
    what: &str,
    on_line: impl FnMut(&str),
) -> Result<()> {
    let status = run_piped(command, what, Pipe::Stdout, on_line)?;
    if !status.success() {
        bail!("{what}: `{}` failed ({status})", describe(command));
    }
    Ok(())
}

/// Like [`run`], but the command's stderr passes through us, and the lines of it that say
/// what went wrong (errors, linker messages, signals) end the error message, shortened: a
/// CI log that keeps only its tail then still shows why a build failed.
pub fn run_keeping_errors(command: &mut Command, what: &str) -> Result<()> {
    let mut kept = KeptLines::new(12, 240);
    let status = run_piped(command, what, Pipe::Stderr, |line| kept.offer(line))?;
    if !status.success() {
        bail!(
            "{what}: `{}` failed ({status}){}",
            describe(command),
            kept.render()
        );
    }
    Ok(())
}

/// The last few diagnostic lines of a command's output, each cut to a readable length.
pub struct KeptLines {
    lines: std::collections::VecDeque<String>,
    max_lines: usize,
    max_chars: usize,
}

impl KeptLines {
    pub fn new(max_lines: usize, max_chars: usize) -> Self {
        Self {
            lines: std::collections::VecDeque::new(),
            max_lines,
            max_chars,
        }
    }

    /// Whether a line of compiler, linker or shell output says what went wrong.
    pub fn is_diagnostic(line: &str) -> bool {
        let lower = line.to_ascii_lowercase();
        [
            "error",
            "ld:",
            "collect2",
            "no space left",
            "killed",
            "signal",
            "undefined reference",
            "cannot find",
            "out of memory",
        ]
        .iter()
        .any(|needle| lower.contains(needle))
    }

    pub fn offer(&mut self, line: &str) {
        if !Self::is_diagnostic(line) {
            return;
        }
        let mut kept: String = line.trim().chars().take(self.max_chars).collect();
        if kept.len() < line.trim().len() {
            kept.push('…');
        }
        if self.lines.len() == self.max_lines {
            self.lines.pop_front();
        }
        self.lines.push_back(kept);
    }

    /// The kept lines, each on its own indented line (empty if none).
    pub fn render(&self) -> String {
        self.lines.iter().map(|l| format!("\n    | {l}")).collect()
    }
}

/// Free and total space of the file system holding `path`, as `df -h` says it.
pub fn disk_space(path: &std::path::Path) -> Option<String> {
    let out = Command::new("df")
        .args(["-h", "--output=avail,size"])
        .arg(path)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut fields = text.lines().nth(1)?.split_whitespace();
    let (avail, size) = (fields.next()?, fields.next()?);
    Some(format!("{avail} free of {size}"))
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
    fn only_the_last_diagnostic_lines_are_kept_and_cut() {
        let mut kept = KeptLines::new(2, 10);
        for line in [
            "   Compiling foo v0.1.0",
            "error: linking with `cc` failed: exit status: 1",
            "  = note: /usr/bin/ld: final link failed: No space left on device",
            "warning: unused variable",
            "collect2: error: ld returned 1 exit status",
        ] {
            kept.offer(line);
        }
        assert_eq!(kept.render(), "\n    | = note: /u…\n    | collect2: …");
        assert_eq!(KeptLines::new(3, 80).render(), "");
    }

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
