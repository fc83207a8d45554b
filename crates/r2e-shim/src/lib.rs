//! The wire protocol between the r2e host and `r2e-shim`, the static binary that
//! runs inside every sandbox.
//!
//! One long-lived shim process per sandbox reads requests on stdin and writes
//! responses on stdout, one request in flight at a time. Every message is a
//! *frame*:
//!
//! ```text
//! u32 BE  frame length (bytes after this field)
//! u32 BE  header length
//! [u8]    header: one JSON object (a [`Request`] or a [`Response`])
//! [u8]    payload: raw bytes (file contents, command output), never re-encoded
//! ```
//!
//! Keeping bulk bytes out of the JSON header means binary output and file
//! contents cross the boundary unchanged and without base64 overhead. On start
//! the shim sends one unsolicited [`Response`] with id 0 and a [`Reply::Hello`]
//! body announcing [`PROTOCOL_VERSION`]; the host refuses to talk to a shim of
//! another version.
//!
//! This crate is deliberately `std` + `serde` only, because the same code is
//! linked statically into the shim.

use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};

/// Version of the frame and message formats. Bumped on any incompatible change.
pub const PROTOCOL_VERSION: u32 = 1;

/// Environment variable naming a Unix socket for the shim to serve on
/// instead of stdio; unset or empty, it serves on stdio. (Images committed
/// from a sandbox of the Docker socket transport carry it, so a host that
/// talks over stdio sets it empty.)
pub const SOCKET_ENV: &str = "R2E_SHIM_SOCKET";

/// Largest frame either side accepts (header + payload).
pub const MAX_FRAME: usize = 1 << 30;

/// Default cap on captured bytes per output stream of one command.
pub const DEFAULT_MAX_OUTPUT: u64 = 4 << 20;

/// What the shim's init writes to stderr when the out-of-memory killer took
/// the serving process (and with it the sandbox); the host looks for it when
/// the container is already gone.
pub const SERVER_OOM_NOTE: &str = "the serving process was killed by the out-of-memory killer";

/// A request from the host, identified by a host-chosen id echoed in the response.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Request {
    /// Echoed back in the matching [`Response`]; never 0 (0 is the hello).
    pub id: u64,
    /// What to do.
    #[serde(flatten)]
    pub op: Op,
}

/// The operations the shim performs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Run a command; the frame payload, if any, is fed to its stdin.
    Exec(ExecRequest),
    /// Read a whole regular file; the reply payload is its bytes.
    ReadFile {
        /// Absolute path, or relative to the shim's working directory.
        path: String,
        /// Refuse files larger than this many bytes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_bytes: Option<u64>,
    },
    /// Write the frame payload to a file, replacing it.
    WriteFile {
        /// Target path.
        path: String,
        /// Unix permission bits for a newly created file (default 0o644).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mode: Option<u32>,
        /// Create missing parent directories.
        #[serde(default)]
        create_dirs: bool,
    },
    /// List a directory (one level, sorted by name).
    List {
        /// Directory path.
        path: String,
    },
    /// Describe one path without following a final symlink.
    Stat {
        /// Path to describe.
        path: String,
    },
    /// Call one agent tool (`file_editor`, `search`, `execute_bash`,
    /// `finish`) in-process, with R2E-Gym's observation text.
    Tool(ToolRequest),
    /// Answer and exit.
    Shutdown,
}

/// One tool call. The shim keeps one tool box (with its editor undo history)
/// per working directory for the life of the sandbox.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ToolRequest {
    /// Tool name.
    pub name: String,
    /// The call's arguments, as the model gave them.
    #[serde(default)]
    pub args: serde_json::Map<String, serde_json::Value>,
    /// Working directory of the tool box (`/testbed` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Time limit of a tool's command, in seconds (R2E-Gym's 90 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
}

/// What a tool call produced.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ToolReply {
    /// The tool's output as R2E-Gym's runtime hands it back.
    pub output: String,
    /// R2E-Gym's error code (`"0"`, `"Error: Exit code N"`, `"-1"` after a timeout).
    pub error_code: String,
    /// The tool's exit status.
    pub exit_code: i32,
    /// Whether the call ends the episode.
    pub finished: bool,
    /// The observation message the model sees.
    pub text: String,
    /// Time spent in the tool, in microseconds.
    pub duration_us: u64,
}

/// What to run and under which limits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ExecRequest {
    /// Run through a shell: `bash -c CMD` (or `sh -c` where the image has no bash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<String>,
    /// Run a program directly, no shell involved (for images without one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub argv: Vec<String>,
    /// Use a login shell (`bash -lc`). Off by default: a login shell sources
    /// /etc/profile, which on Debian resets the PATH set by the image.
    #[serde(default)]
    pub login: bool,
    /// Working directory; the sandbox's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Extra environment variables, added to the shim's own environment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<(String, String)>,
    /// Kill the whole process group after this many milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Capture at most this many bytes per stream (head and tail halves kept).
    #[serde(default = "default_max_output")]
    pub max_output: u64,
}

fn default_max_output() -> u64 {
    DEFAULT_MAX_OUTPUT
}

/// A response to the request with the same id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Response {
    /// The id of the request answered (0 for the hello).
    pub id: u64,
    /// The outcome.
    pub result: Result<Reply, ShimError>,
}

/// Successful outcomes, one shape per operation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// Sent once, unsolicited, when the shim starts.
    Hello {
        /// The shim's [`PROTOCOL_VERSION`].
        protocol: u32,
        /// The shim's crate version.
        shim_version: String,
        /// Process id of the serving shim inside the sandbox.
        pid: u32,
    },
    /// A command finished (or was killed); payload = stdout bytes then stderr bytes.
    Exec(ExecReply),
    /// File contents are the payload.
    FileData {
        /// Size of the file in bytes.
        size: u64,
    },
    /// A write succeeded.
    Written {
        /// Bytes written.
        bytes: u64,
    },
    /// Directory entries.
    Entries {
        /// The entries, sorted by name.
        entries: Vec<DirEntry>,
    },
    /// Metadata of one path.
    Stat(FileStat),
    /// A tool call's observation.
    Tool(ToolReply),
    /// The shim is exiting.
    Bye,
}

/// Result of one command.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ExecReply {
    /// Exit status; 128 + signal number when killed by a signal (shell convention).
    pub exit_code: i32,
    /// The signal that ended the process, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// The timeout fired and the process group was killed.
    pub timed_out: bool,
    /// Bytes of stdout in the payload (first part).
    pub stdout_len: u64,
    /// Bytes of stderr in the payload (second part).
    pub stderr_len: u64,
    /// Total stdout bytes the command produced (more than captured when truncated).
    pub stdout_total: u64,
    /// Total stderr bytes the command produced.
    pub stderr_total: u64,
    /// Wall time from spawn to exit, in microseconds.
    pub duration_us: u64,
    /// The kernel's out-of-memory killer killed a process of the sandbox
    /// while the command ran (the container cgroup's `oom_kill` counter
    /// grew). Absent from replies of older shims, which read as `false`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub oom_killed: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl ExecReply {
    /// Whether any output was dropped by the cap.
    pub fn truncated(&self) -> bool {
        self.stdout_total > self.stdout_len || self.stderr_total > self.stderr_len
    }
}

/// One directory entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DirEntry {
    /// File name (lossy UTF-8).
    pub name: String,
    /// Metadata (of the entry itself, not a symlink's target).
    #[serde(flatten)]
    pub stat: FileStat,
}

/// Kind of a filesystem object.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link.
    Symlink,
    /// Anything else (socket, fifo, device).
    Other,
}

/// Metadata of a filesystem object.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileStat {
    /// What it is.
    pub kind: FileKind,
    /// Size in bytes.
    pub size: u64,
    /// Unix mode bits.
    pub mode: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
}

/// A failed request, with a machine-readable kind and a human message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShimError {
    /// Category of the failure.
    pub kind: ShimErrorKind,
    /// What went wrong, for a person.
    pub message: String,
}

/// Categories of [`ShimError`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ShimErrorKind {
    /// The path does not exist.
    NotFound,
    /// Permission denied.
    PermissionDenied,
    /// The request is malformed or names an unsupported operation.
    InvalidRequest,
    /// The program could not be started.
    Spawn,
    /// The file is larger than the requested limit.
    TooLarge,
    /// Any other I/O failure.
    Io,
}

impl ShimError {
    /// Builds an error from an I/O failure on `what`.
    pub fn io(what: &str, e: &io::Error) -> Self {
        let kind = match e.kind() {
            io::ErrorKind::NotFound => ShimErrorKind::NotFound,
            io::ErrorKind::PermissionDenied => ShimErrorKind::PermissionDenied,
            _ => ShimErrorKind::Io,
        };
        ShimError {
            kind,
            message: format!("{what}: {e}"),
        }
    }
}

impl std::fmt::Display for ShimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ShimError {}

/// One decoded frame: the JSON header bytes and the raw payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    /// JSON header.
    pub header: Vec<u8>,
    /// Raw payload bytes.
    pub payload: Vec<u8>,
}

impl RawFrame {
    /// Parses the header as `T`.
    pub fn parse<T: for<'de> Deserialize<'de>>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.header)
    }
}

/// Encodes one frame with the given header and payload parts (concatenated).
pub fn encode_frame<T: Serialize>(header: &T, payload: &[&[u8]]) -> Vec<u8> {
    let json = serde_json::to_vec(header).expect("protocol types always serialize");
    let payload_len: usize = payload.iter().map(|p| p.len()).sum();
    let frame_len = 4 + json.len() + payload_len;
    let mut out = Vec::with_capacity(4 + frame_len);
    out.extend_from_slice(&(frame_len as u32).to_be_bytes());
    out.extend_from_slice(&(json.len() as u32).to_be_bytes());
    out.extend_from_slice(&json);
    for p in payload {
        out.extend_from_slice(p);
    }
    out
}

/// Writes one frame and flushes.
pub fn write_frame<W: Write, T: Serialize>(
    w: &mut W,
    header: &T,
    payload: &[&[u8]],
) -> io::Result<()> {
    w.write_all(&encode_frame(header, payload))?;
    w.flush()
}

/// Reads one frame; `Ok(None)` on a clean end of stream before a frame starts.
pub fn read_frame<R: Read>(r: &mut R) -> io::Result<Option<RawFrame>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let frame_len = u32::from_be_bytes(len) as usize;
    check_len(frame_len)?;
    let mut body = vec![0u8; frame_len];
    r.read_exact(&mut body)?;
    split_body(body).map(Some)
}

fn check_len(frame_len: usize) -> io::Result<()> {
    if !(4..=MAX_FRAME).contains(&frame_len) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad frame length {frame_len}: the stream is not r2e-shim protocol"),
        ));
    }
    Ok(())
}

fn split_body(mut body: Vec<u8>) -> io::Result<RawFrame> {
    let json_len = u32::from_be_bytes([body[0], body[1], body[2], body[3]]) as usize;
    if json_len > body.len() - 4 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "frame header length {json_len} exceeds frame length {}",
                body.len() - 4
            ),
        ));
    }
    let payload = body.split_off(4 + json_len);
    body.drain(..4);
    Ok(RawFrame {
        header: body,
        payload,
    })
}

/// Incremental frame decoder for byte streams that arrive in arbitrary chunks
/// (such as a multiplexed Docker attach stream).
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
}

impl FrameDecoder {
    /// A decoder with an empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet consumed as a frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Takes the next complete frame, if one is buffered.
    pub fn next_frame(&mut self) -> io::Result<Option<RawFrame>> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let frame_len =
            u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
        check_len(frame_len)?;
        if self.buf.len() < 4 + frame_len {
            self.buf.reserve(4 + frame_len - self.buf.len());
            return Ok(None);
        }
        let rest = self.buf.split_off(4 + frame_len);
        let mut body = std::mem::replace(&mut self.buf, rest);
        body.drain(..4);
        split_body(body).map(Some)
    }
}
