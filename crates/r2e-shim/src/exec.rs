//! Running commands: spawn in a new process group, capture both streams under
//! a byte cap (head and tail kept), kill the whole group on timeout.

use crate::sys;
use r2e_shim::{ExecReply, ExecRequest, ShimError, ShimErrorKind};
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
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

enum Event {
    Data(usize, Vec<u8>),
    Eof(usize),
    Exited(std::io::Result<ExitStatus>),
}

/// Runs one command to completion (or timeout) and returns its captured output.
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
        .stdin(if stdin.is_empty() { Stdio::null() } else { Stdio::piped() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);

    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|e| ShimError {
        kind: ShimErrorKind::Spawn,
        message: format!("cannot start {}: {e}", describe(req)),
    })?;
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    if let Some(mut input) = child.stdin.take() {
        thread::spawn(move || {
            let _ = input.write_all(&stdin);
        });
    }
    let out = child.stdout.take().expect("stdout is piped");
    let err = child.stderr.take().expect("stderr is piped");
    spawn_reader(0, out, tx.clone());
    spawn_reader(1, err, tx.clone());
    thread::spawn(move || {
        let _ = tx.send(Event::Exited(child.wait()));
    });

    let half = (req.max_output / 2) as usize;
    let mut bufs = [Capped::new(half), Capped::new(half)];
    let mut open = [true, true];
    let mut status: Option<ExitStatus> = None;
    let mut timed_out = false;
    let deadline = req.timeout_ms.map(|ms| start + Duration::from_millis(ms));
    let mut drain_until: Option<Instant> = None;

    while status.is_none() || open.iter().any(|o| *o) {
        let wake = match (status.is_some(), deadline, drain_until) {
            (true, _, Some(d)) => Some(d),
            (false, Some(d), _) if !timed_out => Some(d),
            _ => None,
        };
        let event = match wake {
            Some(at) => match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                Ok(ev) => ev,
                Err(RecvTimeoutError::Timeout) if status.is_some() => break,
                Err(RecvTimeoutError::Timeout) => {
                    timed_out = true;
                    sys::kill_group(pid);
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            },
            None => match rx.recv() {
                Ok(ev) => ev,
                Err(_) => break,
            },
        };
        match event {
            Event::Data(i, bytes) => bufs[i].push(&bytes),
            Event::Eof(i) => open[i] = false,
            Event::Exited(res) => {
                let st = res.map_err(|e| ShimError::io("waiting for the command", &e))?;
                status = Some(st);
                drain_until = Some(Instant::now() + DRAIN_GRACE);
            }
        }
    }
    let duration = start.elapsed();
    let status = status.expect("loop ends only after the exit status arrives");
    let (exit_code, signal) = match (status.code(), status.signal()) {
        (Some(c), _) => (c, None),
        (None, Some(s)) => (128 + s, Some(s)),
        (None, None) => (-1, None),
    };
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
        cmd.arg(if req.login && shell.ends_with("bash") { "-lc" } else { "-c" }).arg(script);
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

fn describe(req: &ExecRequest) -> String {
    match &req.shell {
        Some(s) => format!("shell command {s:?}"),
        None => format!("{:?}", req.argv),
    }
}

fn spawn_reader(index: usize, mut stream: impl Read + Send + 'static, tx: mpsc::Sender<Event>) {
    thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(Event::Data(index, buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = tx.send(Event::Eof(index));
    });
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
        Capped { half, head: Vec::new(), tail: Vec::new(), tail_pos: 0, total: 0 }
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
            self.tail.extend_from_slice(&bytes[bytes.len() - self.half..]);
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
                format!("\n[... r2e: {omitted} bytes of output omitted ({} bytes in all) ...]\n", self.total)
                    .as_bytes(),
            );
        }
        out.extend_from_slice(&self.tail);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Capped;

    #[test]
    fn capped_keeps_head_and_tail() {
        let mut c = Capped::new(4);
        for chunk in [&b"abc"[..], b"defgh", b"ij", b"k"] {
            c.push(chunk);
        }
        let out = String::from_utf8(c.finish()).unwrap();
        assert!(out.starts_with("abcd\n[... r2e: 3 bytes of output omitted (11 bytes in all) ...]\n"));
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
