//! The request side of a sandbox whose main process is the shim, shared by
//! every provider: the handshake (hello, protocol check), then exec, files,
//! tools and pings as framed requests on a [`ShimConn`], with the provider
//! asked to explain a sandbox that stopped answering ([`Diagnose`]).

use crate::conn::ShimConn;
use crate::{
    DirEntry, ExecOptions, ExecOutput, FileStat, PING_TIMEOUT, Result, SandboxError, ShimErrorKind,
    ToolReply, ToolRequest,
};
use async_trait::async_trait;
use r2e_shim::{ExecRequest, Op, Reply};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Slack over a command's own timeout before the host gives up on the shim.
const REPLY_SLACK: Duration = Duration::from_secs(60);
/// A tool call's time limit when the request names none (R2E-Gym's 90 s).
const TOOL_TIMEOUT_SECS: u64 = 90;
/// Wait for replies to file operations.
const FILE_OP_TIMEOUT: Duration = Duration::from_secs(300);

/// What the engine says about a sandbox whose shim stopped answering.
#[async_trait]
pub trait Diagnose: Send + Sync {
    /// A sentence on the sandbox's state for [`SandboxError::Died`], to which
    /// the session appends `shim_stderr`, the last of what the shim wrote to
    /// stderr (may be empty; given here for hints such as out-of-memory).
    async fn death_detail(&self, shim_stderr: &str) -> String;
}

/// Implements [`Sandbox`](crate::Sandbox) for a provider's sandbox type whose
/// shim-protocol operations (exec, exec_argv, read_file, write_file, list_dir,
/// stat, ping, call_tool) all go to a [`ShimSession`] field, with the sandbox
/// itself as the [`Diagnose`] for a shim that stopped answering. The
/// remaining trait methods (`id`, `image`, `copy_in`, `copy_out`, `close`, …)
/// are written after the semicolon, as in an ordinary `impl` block:
///
/// ```ignore
/// r2e_sandbox::impl_sandbox_via_session! { MySandbox, session;
///     fn id(&self) -> &str { &self.id }
///     // ...
/// }
/// ```
#[macro_export]
macro_rules! impl_sandbox_via_session {
    ($ty:ty, $session:ident; $($rest:tt)*) => {
        #[$crate::__async_trait]
        impl $crate::Sandbox for $ty {
            async fn exec(
                &self,
                cmd: &str,
                opts: &$crate::ExecOptions,
            ) -> $crate::Result<$crate::ExecOutput> {
                self.$session.exec(cmd, opts, self).await
            }

            async fn exec_argv(
                &self,
                argv: &[String],
                opts: &$crate::ExecOptions,
            ) -> $crate::Result<$crate::ExecOutput> {
                self.$session.exec_argv(argv, opts, self).await
            }

            async fn read_file(&self, path: &str) -> $crate::Result<Vec<u8>> {
                self.$session.read_file(path, self).await
            }

            async fn write_file(
                &self,
                path: &str,
                data: &[u8],
                mode: Option<u32>,
            ) -> $crate::Result<()> {
                self.$session.write_file(path, data, mode, self).await
            }

            async fn list_dir(&self, path: &str) -> $crate::Result<Vec<$crate::DirEntry>> {
                self.$session.list_dir(path, self).await
            }

            async fn stat(&self, path: &str) -> $crate::Result<Option<$crate::FileStat>> {
                self.$session.stat(path, self).await
            }

            async fn ping(&self) -> $crate::Result<()> {
                self.$session.ping(self).await
            }

            async fn call_tool(
                &self,
                req: $crate::ToolRequest,
            ) -> $crate::Result<$crate::ToolReply> {
                self.$session.call_tool(req, self).await
            }

            $($rest)*
        }
    };
}

/// Waits for the shim's hello on `conn` and checks its protocol. With
/// `socket`, requests then move to that Unix socket (Docker's socket
/// transport); otherwise they stay on the stream. `hint` is added to the
/// error when the shim said nothing on stderr.
pub async fn handshake(
    conn: &ShimConn,
    short_id: &str,
    wait: Duration,
    socket: Option<&std::path::Path>,
    hint: &str,
) -> Result<()> {
    let hello = match conn.hello(wait).await {
        Ok(r2e_shim::PROTOCOL_VERSION) => match socket {
            Some(path) => conn.use_socket(path).await,
            None => {
                conn.settle();
                Ok(())
            }
        },
        Ok(got) => {
            return Err(SandboxError::Protocol {
                id: short_id.to_string(),
                got,
                expected: r2e_shim::PROTOCOL_VERSION,
            });
        }
        Err(broken) => Err(broken),
    };
    hello.map_err(|broken| {
        let stderr = conn.stderr_tail();
        conn.error(broken, "starting the shim", |why| {
            if stderr.is_empty() {
                format!("{why} ({hint})")
            } else {
                format!("{why}; shim said: {stderr}")
            }
        })
    })
}

/// A connected shim: every [`crate::Sandbox`] operation that goes through it.
pub struct ShimSession {
    conn: ShimConn,
    short_id: String,
    closed: AtomicBool,
}

impl ShimSession {
    /// Wraps a connection that passed [`handshake`].
    pub fn new(conn: ShimConn, short_id: String) -> Self {
        ShimSession {
            conn,
            short_id,
            closed: AtomicBool::new(false),
        }
    }

    /// Marks the session closed and drops the connection (the shim reads end
    /// of input and exits). Returns false when it was already closed.
    pub async fn close(&self) -> bool {
        if self.closed.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.conn.shutdown().await;
        true
    }

    /// Whether [`ShimSession::close`] ran.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Fails with [`SandboxError::Closed`] after [`ShimSession::close`].
    pub fn check_open(&self) -> Result<()> {
        if self.is_closed() {
            return Err(SandboxError::Closed(self.short_id.clone()));
        }
        Ok(())
    }

    /// The last bytes the shim wrote to stderr.
    pub fn stderr_tail(&self) -> String {
        self.conn.stderr_tail()
    }

    /// Sends one request; a broken transport becomes [`SandboxError::Died`]
    /// (explained by `diag`), [`SandboxError::Unresponsive`] or
    /// [`SandboxError::Malformed`].
    pub async fn call(
        &self,
        op: Op,
        payload: &[u8],
        wait: Option<Duration>,
        doing: String,
        diag: &dyn Diagnose,
    ) -> Result<(Reply, Vec<u8>)> {
        self.check_open()?;
        match self.conn.request(op, payload, wait).await {
            Ok((Ok(reply), payload)) => Ok((reply, payload)),
            Ok((Err(e), _)) => Err(SandboxError::Shim(e)),
            Err(broken) => {
                let detail = if self.is_closed() {
                    "the sandbox was closed".to_string()
                } else {
                    let stderr = self.conn.stderr_tail();
                    let state = diag.death_detail(&stderr).await;
                    if stderr.is_empty() {
                        state
                    } else {
                        format!("{state}; shim stderr: {stderr}")
                    }
                };
                Err(self
                    .conn
                    .error(broken, &doing, |why| format!("{why}; {detail}")))
            }
        }
    }

    async fn run(
        &self,
        req: ExecRequest,
        opts: &ExecOptions,
        what: String,
        diag: &dyn Diagnose,
    ) -> Result<ExecOutput> {
        let wait = opts.timeout.map(|t| t + REPLY_SLACK);
        let (reply, payload) = self
            .call(Op::Exec(req), &opts.stdin, wait, what, diag)
            .await?;
        let Reply::Exec(r) = reply else {
            return Err(self.unexpected(reply));
        };
        let split = (r.stdout_len as usize).min(payload.len());
        let mut stdout = payload;
        let stderr = stdout.split_off(split);
        Ok(ExecOutput {
            exit_code: r.exit_code,
            stdout,
            stderr,
            duration: Duration::from_micros(r.duration_us),
            timed_out: r.timed_out,
            truncated: r.truncated(),
            oom_killed: r.oom_killed,
        })
    }

    fn unexpected(&self, reply: Reply) -> SandboxError {
        SandboxError::Malformed {
            id: self.short_id.clone(),
            detail: format!("unexpected reply {reply:?}"),
        }
    }

    /// [`crate::Sandbox::exec`].
    pub async fn exec(
        &self,
        cmd: &str,
        opts: &ExecOptions,
        diag: &dyn Diagnose,
    ) -> Result<ExecOutput> {
        let req = ExecRequest {
            shell: Some(cmd.to_string()),
            ..exec_request(opts)
        };
        self.run(req, opts, format!("running `{}`", abbreviate(cmd)), diag)
            .await
    }

    /// [`crate::Sandbox::exec_argv`].
    pub async fn exec_argv(
        &self,
        argv: &[String],
        opts: &ExecOptions,
        diag: &dyn Diagnose,
    ) -> Result<ExecOutput> {
        let req = ExecRequest {
            argv: argv.to_vec(),
            ..exec_request(opts)
        };
        self.run(req, opts, format!("running {argv:?}"), diag).await
    }

    /// [`crate::Sandbox::read_file`].
    pub async fn read_file(&self, path: &str, diag: &dyn Diagnose) -> Result<Vec<u8>> {
        let op = Op::ReadFile {
            path: path.to_string(),
            max_bytes: None,
        };
        let doing = format!("reading {path}");
        let (_, data) = self
            .call(op, &[], Some(FILE_OP_TIMEOUT), doing, diag)
            .await?;
        Ok(data)
    }

    /// [`crate::Sandbox::write_file`].
    pub async fn write_file(
        &self,
        path: &str,
        data: &[u8],
        mode: Option<u32>,
        diag: &dyn Diagnose,
    ) -> Result<()> {
        let op = Op::WriteFile {
            path: path.to_string(),
            mode,
            create_dirs: true,
        };
        let doing = format!("writing {path}");
        self.call(op, data, Some(FILE_OP_TIMEOUT), doing, diag)
            .await?;
        Ok(())
    }

    /// [`crate::Sandbox::list_dir`].
    pub async fn list_dir(&self, path: &str, diag: &dyn Diagnose) -> Result<Vec<DirEntry>> {
        let op = Op::List {
            path: path.to_string(),
        };
        let doing = format!("listing {path}");
        match self
            .call(op, &[], Some(FILE_OP_TIMEOUT), doing, diag)
            .await?
        {
            (Reply::Entries { entries }, _) => Ok(entries),
            (other, _) => Err(self.unexpected(other)),
        }
    }

    /// [`crate::Sandbox::stat`].
    pub async fn stat(&self, path: &str, diag: &dyn Diagnose) -> Result<Option<FileStat>> {
        let op = Op::Stat {
            path: path.to_string(),
        };
        let doing = format!("inspecting {path}");
        match self.call(op, &[], Some(FILE_OP_TIMEOUT), doing, diag).await {
            Ok((Reply::Stat(st), _)) => Ok(Some(st)),
            Ok((other, _)) => Err(self.unexpected(other)),
            Err(SandboxError::Shim(e)) if e.kind == ShimErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// [`crate::Sandbox::ping`]: `stat /` within [`PING_TIMEOUT`].
    pub async fn ping(&self, diag: &dyn Diagnose) -> Result<()> {
        let op = Op::Stat { path: "/".into() };
        self.call(op, &[], Some(PING_TIMEOUT), "answering a ping".into(), diag)
            .await
            .map(|_| ())
    }

    /// [`crate::Sandbox::call_tool`].
    pub async fn call_tool(&self, req: ToolRequest, diag: &dyn Diagnose) -> Result<ToolReply> {
        let wait = Duration::from_secs(req.timeout_secs.unwrap_or(TOOL_TIMEOUT_SECS)) + REPLY_SLACK;
        let doing = format!("calling the {} tool", req.name);
        match self
            .call(Op::Tool(req), &[], Some(wait), doing, diag)
            .await?
        {
            (Reply::Tool(reply), _) => Ok(reply),
            (other, _) => Err(self.unexpected(other)),
        }
    }
}

fn exec_request(opts: &ExecOptions) -> ExecRequest {
    ExecRequest {
        login: opts.login,
        cwd: opts.cwd.clone(),
        env: opts.env.clone(),
        timeout_ms: opts.timeout.map(|t| t.as_millis() as u64),
        max_output: opts.max_output,
        ..Default::default()
    }
}

/// First line of a command, shortened for messages.
fn abbreviate(cmd: &str) -> String {
    let line = cmd.lines().next().unwrap_or("");
    let mut s: String = line.chars().take(80).collect();
    if s.len() < cmd.len() {
        s.push('…');
    }
    s
}
