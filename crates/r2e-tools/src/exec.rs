//! Running external programs for the tools (the shell of `execute_bash`, and
//! `grep` where `search` needs it). The [`Exec`] trait lets the in-sandbox
//! shim plug in its own runner; [`LocalExec`] is the plain std one used on the
//! host.

use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How a program ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecStatus {
    /// It exited with this status.
    Exited(i32),
    /// A signal killed it.
    Signaled(i32),
    /// The timeout passed and its process group was killed.
    TimedOut,
}

/// What a program printed and how it ended.
#[derive(Clone, Debug)]
pub struct ExecOutput {
    /// Everything written to standard output.
    pub stdout: Vec<u8>,
    /// Everything written to standard error.
    pub stderr: Vec<u8>,
    /// How it ended.
    pub status: ExecStatus,
}

impl ExecOutput {
    /// Python's `returncode` (`-N` for signal N), or `None` after a timeout.
    pub fn returncode(&self) -> Option<i32> {
        match self.status {
            ExecStatus::Exited(c) => Some(c),
            ExecStatus::Signaled(s) => Some(-s),
            ExecStatus::TimedOut => None,
        }
    }
}

/// Runs programs for the tools.
pub trait Exec {
    /// Runs `argv` (the program found on `PATH`) in `cwd` with `env` added to
    /// the environment, standard input empty and both output streams captured
    /// in full; when `timeout` passes, its whole process group is killed.
    /// An error means the program could not be started.
    fn run(
        &self,
        argv: &[String],
        cwd: &Path,
        env: &[(String, String)],
        timeout: Duration,
    ) -> std::io::Result<ExecOutput>;
}

/// [`Exec`] with std processes: each command in its own process group,
/// one reader thread per output stream.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalExec;

/// After a timeout kill, how long to wait for the output pipes to close.
const KILL_GRACE: Duration = Duration::from_secs(2);

unsafe extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

/// Sends SIGKILL to the process group `pgid`.
fn kill_group(pgid: u32) {
    const SIGKILL: i32 = 9;
    // SAFETY: kill(2) takes plain integers and touches no memory.
    unsafe {
        kill(-(pgid as i32), SIGKILL);
    }
}

/// Events from the helper threads of one run.
enum Event {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    Exit(std::process::ExitStatus),
}

/// Reads `pipe` to its end on a thread and sends the bytes as one event.
fn read_in_background<R: Read + Send + 'static>(
    pipe: Option<R>,
    tx: mpsc::Sender<Event>,
    wrap: fn(Vec<u8>) -> Event,
) {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        let _ = tx.send(wrap(buf));
    });
}

impl Exec for LocalExec {
    fn run(
        &self,
        argv: &[String],
        cwd: &Path,
        env: &[(String, String)],
        timeout: Duration,
    ) -> std::io::Result<ExecOutput> {
        let (prog, args) = argv
            .split_first()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty argv"))?;
        let mut child = Command::new(prog)
            .args(args)
            .current_dir(cwd)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()?;
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        read_in_background(child.stdout.take(), tx.clone(), Event::Stdout);
        read_in_background(child.stderr.take(), tx.clone(), Event::Stderr);
        std::thread::spawn(move || {
            if let Ok(st) = child.wait() {
                let _ = tx.send(Event::Exit(st));
            }
        });

        let mut deadline = Instant::now() + timeout;
        let (mut stdout, mut stderr, mut exit) = (None, None, None);
        let mut timed_out = false;
        while stdout.is_none() || stderr.is_none() || exit.is_none() {
            let wait = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(Event::Stdout(b)) => stdout = Some(b),
                Ok(Event::Stderr(b)) => stderr = Some(b),
                Ok(Event::Exit(st)) => exit = Some(st),
                Err(mpsc::RecvTimeoutError::Timeout) if !timed_out => {
                    timed_out = true;
                    kill_group(pid);
                    deadline = Instant::now() + KILL_GRACE;
                }
                Err(_) => break,
            }
        }
        let status = match exit {
            _ if timed_out => ExecStatus::TimedOut,
            Some(st) => match (st.code(), st.signal()) {
                (Some(c), _) => ExecStatus::Exited(c),
                (None, Some(s)) => ExecStatus::Signaled(s),
                (None, None) => ExecStatus::Exited(-1),
            },
            None => ExecStatus::TimedOut,
        };
        Ok(ExecOutput {
            stdout: stdout.unwrap_or_default(),
            stderr: stderr.unwrap_or_default(),
            status,
        })
    }
}
