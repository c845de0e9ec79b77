//! Running child programs with a deadline: output captured (and echoed live), the whole process
//! tree terminated on timeout or when the guard is dropped, the command line printed first.

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::error::XtaskError;

/// How a child program ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Termination {
    /// It exited by itself with this status.
    Exited(i32),
    /// It was ended by this signal (not sent by us).
    Signaled(i32),
    /// It was still running at the deadline and was terminated by us.
    TimedOut,
}

impl Termination {
    fn from_status(status: ExitStatus) -> Self {
        match (status.code(), status.signal()) {
            (Some(code), _) => Self::Exited(code),
            (None, Some(signal)) => Self::Signaled(signal),
            (None, None) => Self::Signaled(0),
        }
    }

    /// Whether the program exited by itself with status 0.
    pub(crate) fn is_success(self) -> bool {
        self == Self::Exited(0)
    }
}

/// Which of the child's output streams are copied to the xtask's own stdout/stderr as they
/// arrive (both are always captured).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Echo {
    /// Copy stdout and stderr.
    Both,
    /// Copy only stderr (stdout is machine-readable, e.g. cargo's JSON messages).
    StderrOnly,
}

/// The result of [`run_captured`].
#[derive(Debug)]
pub(crate) struct Captured {
    /// How the program ended.
    pub(crate) termination: Termination,
    /// Everything it wrote to stdout (lossily decoded as UTF-8).
    pub(crate) stdout: String,
    /// Everything it wrote to stderr (lossily decoded as UTF-8).
    pub(crate) stderr: String,
    /// Wall time from spawn to exit or termination.
    pub(crate) elapsed: Duration,
}

/// How long a terminated tree gets to exit after SIGTERM before SIGKILL.
const TERMINATION_GRACE: Duration = Duration::from_millis(1000);
/// How long to wait for output pipes to close after the child ended.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);
/// How often the child is polled while waiting for it.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Prints `command` as a shell would run it (environment overrides first), prefixed by `$`.
pub(crate) fn print_command(command: &Command) {
    println!("$ {}", display_command(command));
    // A failed flush of our own stdout is not worth stopping for; the command still runs.
    let _ = io::stdout().flush();
}

/// The command line of `command`, shell-quoted, with its explicit environment variables.
pub(crate) fn display_command(command: &Command) -> String {
    let mut words = Vec::new();
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            words.push(format!("{}={}", key.to_string_lossy(), shell_quote(value)));
        }
    }
    words.push(shell_quote(command.get_program()));
    words.extend(command.get_args().map(shell_quote));
    words.join(" ")
}

fn shell_quote(word: &OsStr) -> String {
    let text = word.to_string_lossy();
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=,:@%+".contains(c));
    if plain {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// Runs `command` (printed first) with stdin closed, capturing and echoing its output, and
/// terminates its whole process tree if it is still running after `deadline`.
///
/// # Errors
///
/// [`XtaskError::Io`] when the program cannot be spawned or waited for.
pub(crate) fn run_captured(
    command: &mut Command,
    deadline: Duration,
    echo: Echo,
) -> Result<Captured, XtaskError> {
    print_command(command);
    let started = Instant::now();
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| XtaskError::io(format!("spawning `{program}`"), error))?;
    let stdout = child
        .stdout
        .take()
        .map(|pipe| spawn_reader(pipe, echo == Echo::Both, false));
    let stderr = child
        .stderr
        .take()
        .map(|pipe| spawn_reader(pipe, true, true));
    let mut guard = ChildGuard::new(child);
    let termination = guard
        .wait_until(started + deadline)
        .map_err(|error| XtaskError::io(format!("waiting for `{program}`"), error))?;
    let elapsed = started.elapsed();
    drop(guard);
    Ok(Captured {
        termination,
        stdout: stdout.map(PipeReader::finish).unwrap_or_default(),
        stderr: stderr.map(PipeReader::finish).unwrap_or_default(),
        elapsed,
    })
}

/// Runs `command` (printed first) on the terminal — stdin, stdout and stderr inherited — and
/// terminates it if it is still running after `deadline`.
///
/// # Errors
///
/// [`XtaskError::Io`] when the program cannot be spawned or waited for.
pub(crate) fn run_interactive(
    command: &mut Command,
    deadline: Duration,
) -> Result<(Termination, Duration), XtaskError> {
    print_command(command);
    let started = Instant::now();
    let program = command.get_program().to_string_lossy().into_owned();
    let child = command
        .spawn()
        .map_err(|error| XtaskError::io(format!("spawning `{program}`"), error))?;
    let mut guard = ChildGuard::new(child);
    let termination = guard
        .wait_until(started + deadline)
        .map_err(|error| XtaskError::io(format!("waiting for `{program}`"), error))?;
    Ok((termination, started.elapsed()))
}

/// Owns a running child; terminates its process tree unless it was reaped, so no QEMU or test
/// binary outlives the xtask's interest in it (an early return or a panic included).
struct ChildGuard {
    child: Child,
    reaped: bool,
}

impl ChildGuard {
    fn new(child: Child) -> Self {
        Self {
            child,
            reaped: false,
        }
    }

    /// Waits for the child until `deadline`; at the deadline terminates the tree.
    fn wait_until(&mut self, deadline: Instant) -> io::Result<Termination> {
        loop {
            if let Some(status) = self.child.try_wait()? {
                self.reaped = true;
                return Ok(Termination::from_status(status));
            }
            if Instant::now() >= deadline {
                self.terminate_tree();
                return Ok(Termination::TimedOut);
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// SIGTERM to the child and its descendants (QEMU restores the terminal on SIGTERM), then
    /// SIGKILL to whatever is left after a grace period; reaps the child.
    fn terminate_tree(&mut self) {
        let root = self.child.id();
        let mut tree = descendants(root);
        tree.push(root);
        send_signal("TERM", &tree);
        let grace_end = Instant::now() + TERMINATION_GRACE;
        while Instant::now() < grace_end {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            thread::sleep(POLL_INTERVAL);
        }
        // Descendants re-parented to init are still in `tree`; kill them all regardless.
        send_signal("KILL", &tree);
        // Errors here mean the child is already gone, which is the goal.
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reaped = true;
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if !self.reaped {
            self.terminate_tree();
        }
    }
}

/// Sends `signal` to `pids` through the shell's `kill` builtin (std has no `kill(2)` for
/// arbitrary processes); failures for processes that are already gone are ignored.
fn send_signal(signal: &str, pids: &[u32]) {
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!("kill -{signal} \"$@\" 2>/dev/null"))
        .arg("sh")
        .args(pids.iter().map(u32::to_string))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// All descendants of `root`, found through `/proc/<pid>/stat` (empty where `/proc` is absent).
fn descendants(root: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let parents: Vec<(u32, u32)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            Some((pid, parent_from_stat(&stat)?))
        })
        .collect();
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid) in &parents {
            if ppid == parent && !found.contains(&pid) {
                found.push(pid);
                frontier.push(pid);
            }
        }
    }
    found
}

/// The parent pid in a `/proc/<pid>/stat` line: `pid (comm) state ppid …`, where `comm` may
/// contain spaces and parentheses, so parsing starts after the last `)`.
pub(crate) fn parent_from_stat(stat: &str) -> Option<u32> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}

/// A thread copying one output pipe into a buffer (and optionally to our own stream).
struct PipeReader {
    buffer: Arc<Mutex<Vec<u8>>>,
    thread: JoinHandle<()>,
}

fn spawn_reader(mut pipe: impl Read + Send + 'static, echo: bool, to_stderr: bool) -> PipeReader {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let shared = Arc::clone(&buffer);
    let thread = thread::spawn(move || {
        let mut chunk = [0_u8; 4096];
        loop {
            let count = match pipe.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(count) => count,
            };
            if echo {
                // Echo failures (a closed terminal) must not stop the capture.
                let _ = if to_stderr {
                    io::stderr().lock().write_all(&chunk[..count])
                } else {
                    let mut out = io::stdout().lock();
                    out.write_all(&chunk[..count]).and_then(|()| out.flush())
                };
            }
            match shared.lock() {
                Ok(mut bytes) => bytes.extend_from_slice(&chunk[..count]),
                Err(poisoned) => poisoned.into_inner().extend_from_slice(&chunk[..count]),
            }
        }
    });
    PipeReader { buffer, thread }
}

impl PipeReader {
    /// Waits (boundedly: a surviving grandchild may hold the pipe open) for the pipe to close
    /// and returns what was read.
    fn finish(self) -> String {
        let limit = Instant::now() + DRAIN_LIMIT;
        while !self.thread.is_finished() && Instant::now() < limit {
            thread::sleep(POLL_INTERVAL);
        }
        let bytes = match self.buffer.lock() {
            Ok(bytes) => bytes.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

#[cfg(test)]
mod tests;
