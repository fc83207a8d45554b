//! Running commands: spawn in a new process group, capture both streams under
//! a byte cap (head and tail kept), kill the whole group on timeout.

use crate::sys;
use r2e_shim::{ExecReply, ExecRequest, ShimError, ShimErrorKind};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// After the command exits, how long to keep reading output still held open by
/// processes it left in the background before answering without them.
const DRAIN_GRACE: Duration = Duration::from_millis(200);

/// A finished command: the reply header and the captured bytes of each stream.
pub struct Done {
    pub reply: ExecReply,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Poll interval when the kernel offers no pidfd to wait on.
const NO_PIDFD_TICK: Duration = Duration::from_millis(5);

/// Runs one command to completion (or timeout) and returns its captured output.
///
/// One thread does everything: it polls both pipes and a pidfd of the child,
/// so a command costs a spawn and a few syscalls, no helper threads.
pub fn run(req: &ExecRequest, stdin: Vec<u8>) -> Result<Done, ShimError> {
    let mut cmd = build_command(req)?;
    if let Some(cwd) = &req.cwd {
        if !Path::new(cwd).is_dir() {
            return Err(ShimError {
                kind: ShimErrorKind::NotFound,
                message: format!("working directory {cwd} does not exist"),
            });
        }
        cmd.current_dir(cwd);
    }
    cmd.envs(req.env.iter().map(|(k, v)| (k, v)))
        .stdin(if stdin.is_empty() {
            Stdio::null()
        } else {
            Stdio::piped()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);

    let oom_before = oom_kill_count();
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|e| ShimError {
        kind: ShimErrorKind::Spawn,
        message: format!("cannot start {}: {e}{}", describe(req), limit_note(&e)),
    })?;
    let pid = child.id();
    if let Some(mut input) = child.stdin.take() {
        // A sandbox at its process limit cannot start the thread: the
        // command then reads end of input instead of the shim panicking.
        let _ = thread::Builder::new().spawn(move || {
            let _ = input.write_all(&stdin);
        });
    }
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let pidfd = sys::pidfd_open(pid);

    let half = (req.max_output / 2) as usize;
    let mut bufs = [Capped::new(half), Capped::new(half)];
    let mut chunk = vec![0u8; 1 << 16];
    let mut status: Option<ExitStatus> = None;
    let mut timed_out = false;
    let deadline = req.timeout_ms.map(|ms| start + Duration::from_millis(ms));
    let mut drain_until: Option<Instant> = None;

    while status.is_none() || out.is_some() || err.is_some() {
        let now = Instant::now();
        let wake = match (drain_until, deadline) {
            (Some(d), _) => Some(d),
            (None, Some(d)) if !timed_out => Some(d),
            _ => None,
        };
        if wake.is_some_and(|w| now >= w) {
            if status.is_some() {
                break; // Output held open by background processes: answer without it.
            }
            timed_out = true;
            sys::kill_group(pid);
            continue;
        }
        let mut timeout = wake.map(|w| w - now);
        if status.is_none() && pidfd.is_none() {
            timeout = Some(timeout.map_or(NO_PIDFD_TICK, |t| t.min(NO_PIDFD_TICK)));
        }
        let fds = [
            out.as_ref().map_or(-1, |o| o.as_raw_fd()),
            err.as_ref().map_or(-1, |e| e.as_raw_fd()),
            if status.is_none() {
                pidfd.as_ref().map_or(-1, |p| p.as_raw_fd())
            } else {
                -1
            },
        ];
        let ready = sys::wait_readable(&fds, timeout);
        if ready[0] && !read_into(&mut out, &mut chunk, &mut bufs[0]) {
            out = None;
        }
        if ready[1] && !read_into(&mut err, &mut chunk, &mut bufs[1]) {
            err = None;
        }
        if status.is_none()
            && (ready[2] || pidfd.is_none())
            && let Some(st) = child
                .try_wait()
                .map_err(|e| ShimError::io("waiting for the command", &e))?
        {
            status = Some(st);
            drain_until = Some(Instant::now() + DRAIN_GRACE);
        }
    }
    let duration = start.elapsed();
    let status = match status {
        Some(st) => st,
        None => child
            .wait()
            .map_err(|e| ShimError::io("waiting for the command", &e))?,
    };
    let (exit_code, signal) = match (status.code(), status.signal()) {
        (Some(c), _) => (c, None),
        (None, Some(s)) => (128 + s, Some(s)),
        (None, None) => (-1, None),
    };
    // The counter grows when the kernel kills a process of this cgroup for
    // lack of memory; by the time the command is reaped the kill is counted.
    let oom_killed = matches!((oom_before, oom_kill_count()), (Some(a), Some(b)) if b > a);
    let [out, err] = bufs;
    let (stdout_total, stderr_total) = (out.total, err.total);
    let stdout = out.finish();
    let stderr = err.finish();
    Ok(Done {
        reply: ExecReply {
            exit_code,
            signal,
            timed_out,
            stdout_len: stdout.len() as u64,
            stderr_len: stderr.len() as u64,
            stdout_total,
            stderr_total,
            duration_us: duration.as_micros() as u64,
            oom_killed,
        },
        stdout,
        stderr,
    })
}

fn build_command(req: &ExecRequest) -> Result<Command, ShimError> {
    if let Some(script) = &req.shell {
        let shell = ["/bin/bash", "/usr/bin/bash", "/bin/sh"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .ok_or_else(|| ShimError {
                kind: ShimErrorKind::Spawn,
                message: "the image has no shell (/bin/bash or /bin/sh); send argv instead".into(),
            })?;
        let mut cmd = Command::new(shell);
        cmd.arg(if req.login && shell.ends_with("bash") {
            "-lc"
        } else {
            "-c"
        })
        .arg(script);
        return Ok(cmd);
    }
    let (prog, args) = req.argv.split_first().ok_or_else(|| ShimError {
        kind: ShimErrorKind::InvalidRequest,
        message: "exec needs either `shell` or a non-empty `argv`".into(),
    })?;
    let mut cmd = Command::new(prog);
    cmd.args(args);
    Ok(cmd)
}

/// Why a spawn failed with `EAGAIN`, when it is the sandbox's process limit:
/// `; the sandbox is at its process limit (1024 of 1024 processes and threads)`.
fn limit_note(e: &std::io::Error) -> String {
    if e.kind() != std::io::ErrorKind::WouldBlock {
        return String::new();
    }
    let read = |name: &str| {
        [
            format!("/sys/fs/cgroup/{name}"),
            format!("/sys/fs/cgroup/pids/{name}"),
        ]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|t| t.trim().to_string())
    };
    match (read("pids.current"), read("pids.max")) {
        (Some(cur), Some(max)) if max != "max" => {
            format!("; the sandbox is at its process limit ({cur} of {max} processes and threads)")
        }
        _ => "; the sandbox may be out of processes or threads".to_string(),
    }
}

/// Files holding the sandbox cgroup's count of out-of-memory kills: cgroup v2
/// (`memory.events`), then cgroup v1 (`memory.oom_control`, kernel 4.13+).
const OOM_COUNTERS: [&str; 2] = [
    "/sys/fs/cgroup/memory.events",
    "/sys/fs/cgroup/memory/memory.oom_control",
];

/// How many processes of the sandbox's cgroup the OOM killer has killed so
/// far; `None` where no counter is readable (then no kill is reported).
pub(crate) fn oom_kill_count() -> Option<u64> {
    OOM_COUNTERS.iter().find_map(|path| {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|text| parse_oom_kill(&text))
    })
}

/// The value of the `oom_kill N` line of a cgroup memory file.
fn parse_oom_kill(text: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("oom_kill"), Some(n)) => n.parse().ok(),
            _ => None,
        }
    })
}

fn describe(req: &ExecRequest) -> String {
    match &req.shell {
        Some(s) => format!("shell command {s:?}"),
        None => format!("{:?}", req.argv),
    }
}

/// Reads what is available from a pipe into `buf`; false once the pipe is closed.
fn read_into<R: Read>(pipe: &mut Option<R>, chunk: &mut [u8], buf: &mut Capped) -> bool {
    let Some(p) = pipe.as_mut() else { return false };
    match p.read(chunk) {
        Ok(0) => false,
        Ok(n) => {
            buf.push(&chunk[..n]);
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => true,
        Err(_) => false,
    }
}

/// A byte sink that keeps the first and the last `half` bytes of a stream.
struct Capped {
    half: usize,
    head: Vec<u8>,
    tail: Vec<u8>,
    /// Start of the oldest byte in `tail` once it has wrapped.
    tail_pos: usize,
    total: u64,
}

impl Capped {
    fn new(half: usize) -> Self {
        Capped {
            half,
            head: Vec::new(),
            tail: Vec::new(),
            tail_pos: 0,
            total: 0,
        }
    }

    fn push(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len() as u64;
        let room = self.half.saturating_sub(self.head.len());
        let take = room.min(bytes.len());
        self.head.extend_from_slice(&bytes[..take]);
        bytes = &bytes[take..];
        if bytes.is_empty() || self.half == 0 {
            return;
        }
        if bytes.len() >= self.half {
            self.tail.clear();
            self.tail
                .extend_from_slice(&bytes[bytes.len() - self.half..]);
            self.tail_pos = 0;
            return;
        }
        while !bytes.is_empty() {
            let n = if self.tail.len() < self.half {
                let n = (self.half - self.tail.len()).min(bytes.len());
                self.tail.extend_from_slice(&bytes[..n]);
                n
            } else {
                let n = (self.half - self.tail_pos).min(bytes.len());
                self.tail[self.tail_pos..self.tail_pos + n].copy_from_slice(&bytes[..n]);
                self.tail_pos = (self.tail_pos + n) % self.half;
                n
            };
            bytes = &bytes[n..];
        }
    }

    /// The captured bytes; a marker line stands where bytes were dropped.
    fn finish(mut self) -> Vec<u8> {
        self.tail.rotate_left(self.tail_pos);
        let kept = (self.head.len() + self.tail.len()) as u64;
        let mut out = self.head;
        if self.total > kept {
            let omitted = self.total - kept;
            out.extend_from_slice(
                format!(
                    "\n[... r2e: {omitted} bytes of output omitted ({} bytes in all) ...]\n",
                    self.total
                )
                .as_bytes(),
            );
        }
        out.extend_from_slice(&self.tail);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::{Capped, parse_oom_kill};

    #[test]
    fn oom_kill_counter_of_both_cgroup_versions() {
        let v2 = "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n";
        assert_eq!(parse_oom_kill(v2), Some(2));
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 7\n";
        assert_eq!(parse_oom_kill(v1), Some(7));
        // Kernels before 4.13 have no counter in memory.oom_control.
        assert_eq!(parse_oom_kill("oom_kill_disable 0\nunder_oom 0\n"), None);
        assert_eq!(parse_oom_kill("oom_kill x\n"), None);
    }

    #[test]
    fn capped_keeps_head_and_tail() {
        let mut c = Capped::new(4);
        for chunk in [&b"abc"[..], b"defgh", b"ij", b"k"] {
            c.push(chunk);
        }
        let out = String::from_utf8(c.finish()).unwrap();
        assert!(
            out.starts_with("abcd\n[... r2e: 3 bytes of output omitted (11 bytes in all) ...]\n")
        );
        assert!(out.ends_with("hijk"), "{out}");
    }

    #[test]
    fn capped_under_limit_is_verbatim() {
        let mut c = Capped::new(8);
        c.push(b"hello");
        c.push(b" you");
        assert_eq!(c.finish(), b"hello you");
    }
}
