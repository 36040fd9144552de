//! Every host test in its own child process, as the validators run their checks: a plugin
//! that crashes (a signal, an abort, a hang) fails that one test with the child's output,
//! instead of taking every other test of the binary down with it.
//!
//! ```ignore
//! #[test]
//! fn some_host_test() {
//!     if prism_tests::isolate::in_parent("some_host_test") {
//!         return;
//!     }
//!     // ... the test body, run in the child ...
//! }
//! ```
//!
//! The parent re-runs this test binary filtered to the one test (`--exact`, with the
//! module path libtest gives it, looked up in the binary's `--list`), with [`CHILD_ENV`]
//! naming it, and fails if the child does not pass. `PRISM_NO_ISOLATION=1`
//! runs the bodies in-process (for a debugger).

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Names the test a child process is to run.
pub const CHILD_ENV: &str = "PRISM_ISOLATED_TEST";
/// Set (to anything) to run test bodies in the test process itself.
pub const NO_ISOLATION_ENV: &str = "PRISM_NO_ISOLATION";
/// The longest one test may take in its child.
pub const CHILD_TIMEOUT: Duration = Duration::from_secs(900);

/// True in the parent: the test `name` has run in a child process, and passed (a failure
/// panics here with the child's output). False in the child: run the body.
pub fn in_parent(name: &str) -> bool {
    if std::env::var(CHILD_ENV).is_ok_and(|n| n == name)
        || std::env::var_os(NO_ISOLATION_ENV).is_some()
    {
        return false;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let full = full_test_name(&exe, name);
    let mut child = Command::new(&exe)
        .args([full.as_str(), "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, name)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{name}: cannot start {}: {e}", exe.display()));
    // Drain both pipes on threads so a chatty child never blocks on a full pipe.
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out_pipe.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let status = wait_or_kill(&mut child, CHILD_TIMEOUT);
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    // The child's output, marked, without its libtest summary (CI counts those lines).
    let show = |text: &str| {
        text.lines()
            .filter(|l| !l.starts_with("test result:") && !l.starts_with("running "))
            .map(|l| format!("  child| {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    println!("{}", show(&stdout));
    eprintln!("{}", show(&stderr));
    let verdict = match status {
        None => format!("hung: killed after {CHILD_TIMEOUT:?}"),
        Some(s) if s.success() => {
            // A filter that matched nothing also exits 0: make sure the test ran.
            assert!(
                stdout.contains("1 passed"),
                "{name}: the child ran no test named {name:?}"
            );
            crate::summary::record(name, crate::summary::plugin_of_test(name), true);
            return true;
        }
        Some(s) => describe(s),
    };
    crate::summary::record(name, crate::summary::plugin_of_test(name), false);
    panic!("{name}: the test's child process {verdict} (its output is above)");
}

/// The name libtest knows the test `name` by: `name` itself, or `module::name` for a test in
/// a module of the binary (a test binary split into modules). Exactly one must match.
fn full_test_name(exe: &std::path::Path, name: &str) -> String {
    static LIST: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let list = LIST.get_or_init(|| {
        let out = Command::new(exe)
            .args(["--list", "--format=terse"])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot list the tests of {}: {e}", exe.display()));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_suffix(": test"))
            .map(str::to_owned)
            .collect()
    });
    let suffix = format!("::{name}");
    let hits: Vec<&String> = list
        .iter()
        .filter(|t| *t == name || t.ends_with(&suffix))
        .collect();
    match hits.as_slice() {
        [one] => (*one).clone(),
        [] => panic!("{name}: this test binary lists no test of that name"),
        many => panic!("{name}: more than one test of that name: {many:?}"),
    }
}

/// Waits for `child` at most `timeout`; kills it then. `None`: it was killed.
pub fn wait_or_kill(
    child: &mut std::process::Child,
    timeout: Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait().expect("waiting for a child process") {
            Some(status) => return Some(status),
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn describe(status: std::process::ExitStatus) -> String {
    #[cfg(unix)]
    if let Some(sig) = std::os::unix::process::ExitStatusExt::signal(&status) {
        let what = match sig {
            6 => {
                " (SIGABRT: an abort, e.g. an allocation in process() under assert_process_allocs)"
            }
            11 => " (SIGSEGV: the plugin crashed)",
            4 => " (SIGILL)",
            7 => " (SIGBUS)",
            8 => " (SIGFPE)",
            _ => "",
        };
        return format!("was killed by signal {sig}{what}");
    }
    format!("failed ({status})")
}
