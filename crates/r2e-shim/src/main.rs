//! `r2e-shim`: the in-sandbox server. One process per sandbox, started as the
//! container's main process; it answers framed requests on stdin/stdout (see
//! the `r2e_shim` library for the protocol) until stdin closes.
//!
//! When it finds itself running as PID 1 it first becomes a minimal init: it
//! re-executes itself as a child that serves, and reaps every orphan until that
//! child exits, so background processes left by commands never pile up as
//! zombies in images that have no init of their own.

mod exec;
mod fs;
mod sys;

use r2e_shim::{
    Op, PROTOCOL_VERSION, Reply, Request, Response, SOCKET_ENV, ShimError, ShimErrorKind,
};
use std::collections::HashMap;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;

/// Environment variable marking the serving child of the PID-1 init.
const ROLE_ENV: &str = "R2E_SHIM_ROLE";

fn main() {
    let arg = std::env::args().nth(1);
    match arg.as_deref() {
        Some("--version") | Some("-V") => {
            println!(
                "r2e-shim {} (protocol {PROTOCOL_VERSION})",
                env!("CARGO_PKG_VERSION")
            );
            return;
        }
        Some("--install") => {
            // The init container of a Kubernetes pod: copy this binary into
            // the shared volume (the shim image is FROM scratch: no `cp`).
            let dest = std::env::args()
                .nth(2)
                .unwrap_or_else(|| "/.r2e/r2e-shim".into());
            if let Err(e) = install(&dest) {
                eprintln!("r2e-shim: installing to {dest}: {e}");
                std::process::exit(1);
            }
            return;
        }
        Some("--help") | Some("-h") => {
            println!(
                "r2e-shim {}: the r2e in-sandbox server.\n\
                 Started by r2e as a container's main process; speaks a framed protocol on stdio.\n\
                 Not meant to be run by hand. `r2e-shim --install PATH` copies it to PATH.",
                env!("CARGO_PKG_VERSION")
            );
            return;
        }
        _ => {}
    }
    if std::process::id() == 1 && std::env::var_os(ROLE_ENV).is_none() {
        std::process::exit(sys::run_as_init(ROLE_ENV));
    }
    if let Err(e) = serve() {
        eprintln!("r2e-shim: {e}");
        std::process::exit(1);
    }
}

/// Copies this executable to `dest` (mode 0755) through a temporary name.
fn install(dest: &str) -> io::Result<()> {
    let tmp = format!("{dest}.tmp");
    std::fs::copy("/proc/self/exe", &tmp)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
    std::fs::rename(&tmp, dest)
}

/// Announces the shim on stdout, then serves requests: on stdio, or on the
/// Unix socket named by a non-empty `R2E_SHIM_SOCKET` (a directory
/// bind-mounted from the host, which spares every request the engine's stdio
/// relay). In socket mode stdin still carries the host's liveness: its end
/// stops the shim.
fn serve() -> io::Result<()> {
    let mut stdout = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let hello = Response {
        id: 0,
        result: Ok(Reply::Hello {
            protocol: PROTOCOL_VERSION,
            shim_version: env!("CARGO_PKG_VERSION").to_string(),
            pid: std::process::id(),
        }),
    };
    let Some(path) = std::env::var_os(SOCKET_ENV).filter(|p| !p.is_empty()) else {
        r2e_shim::write_frame(&mut stdout, &hello, &[])?;
        let mut stdin = BufReader::with_capacity(1 << 16, io::stdin().lock());
        serve_stream(&mut stdin, &mut stdout, &mut Tools::default())?;
        return Ok(());
    };
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666))?;
    r2e_shim::write_frame(&mut stdout, &hello, &[])?;
    std::thread::spawn(|| {
        let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
        std::process::exit(0);
    });
    let mut tools = Tools::default();
    for conn in listener.incoming() {
        let conn = conn?;
        let mut reader = BufReader::with_capacity(1 << 16, conn.try_clone()?);
        let mut writer = BufWriter::with_capacity(1 << 16, conn);
        if let Ended::Shutdown = serve_stream(&mut reader, &mut writer, &mut tools)? {
            break;
        }
    }
    Ok(())
}

/// Why a request stream stopped.
enum Ended {
    /// The peer closed the stream.
    Eof,
    /// The peer asked the shim to exit.
    Shutdown,
}

/// The request loop: one request at a time, answered in order.
/// The agent tool boxes of this sandbox, one per working directory, so the
/// editor's undo history lives as long as the sandbox.
#[derive(Default)]
struct Tools(HashMap<String, r2e_tools::ToolBox>);

impl Tools {
    fn call(&mut self, req: &r2e_shim::ToolRequest) -> r2e_shim::ToolReply {
        let started = std::time::Instant::now();
        let cwd = req.cwd.clone().unwrap_or_else(|| "/testbed".into());
        let timeout = req.timeout_secs.unwrap_or(r2e_tools::DEFAULT_TIMEOUT_SECS);
        let tools = self
            .0
            .entry(cwd.clone())
            .or_insert_with(|| r2e_tools::ToolBox::new(cwd).with_timeout_secs(timeout));
        let obs = tools.call(&req.name, &req.args);
        r2e_shim::ToolReply {
            text: obs.text(),
            output: obs.output,
            error_code: obs.error_code,
            exit_code: obs.exit_code,
            finished: obs.finished,
            duration_us: started.elapsed().as_micros() as u64,
        }
    }
}

fn serve_stream(
    input: &mut impl Read,
    output: &mut impl Write,
    tools: &mut Tools,
) -> io::Result<Ended> {
    while let Some(frame) = r2e_shim::read_frame(input)? {
        let request: Request = match frame.parse() {
            Ok(r) => r,
            Err(e) => {
                let id = serde_json::from_slice::<serde_json::Value>(&frame.header)
                    .ok()
                    .and_then(|v| v.get("id").and_then(|i| i.as_u64()))
                    .unwrap_or(0);
                let err = ShimError {
                    kind: ShimErrorKind::InvalidRequest,
                    message: format!("cannot decode request: {e}"),
                };
                r2e_shim::write_frame(
                    output,
                    &Response {
                        id,
                        result: Err(err),
                    },
                    &[],
                )?;
                continue;
            }
        };
        let shutdown = matches!(request.op, Op::Shutdown);
        handle(request, frame.payload, output, tools)?;
        if shutdown {
            return Ok(Ended::Shutdown);
        }
    }
    output.flush()?;
    Ok(Ended::Eof)
}

/// Runs one request and writes its response frame.
fn handle(
    request: Request,
    payload: Vec<u8>,
    out: &mut impl Write,
    tools: &mut Tools,
) -> io::Result<()> {
    let id = request.id;
    match request.op {
        Op::Exec(req) => {
            let (result, stdout, stderr) = match exec::run(&req, payload) {
                Ok(done) => (Ok(Reply::Exec(done.reply)), done.stdout, done.stderr),
                Err(e) => (Err(e), Vec::new(), Vec::new()),
            };
            r2e_shim::write_frame(out, &Response { id, result }, &[&stdout, &stderr])
        }
        Op::ReadFile { path, max_bytes } => match fs::read_file(&path, max_bytes) {
            Ok(data) => {
                let result = Ok(Reply::FileData {
                    size: data.len() as u64,
                });
                r2e_shim::write_frame(out, &Response { id, result }, &[&data])
            }
            Err(e) => r2e_shim::write_frame(out, &Response { id, result: Err(e) }, &[]),
        },
        Op::WriteFile {
            path,
            mode,
            create_dirs,
        } => {
            let result =
                fs::write_file(&path, &payload, mode, create_dirs).map(|()| Reply::Written {
                    bytes: payload.len() as u64,
                });
            r2e_shim::write_frame(out, &Response { id, result }, &[])
        }
        Op::List { path } => {
            let result = fs::list(&path).map(|entries| Reply::Entries { entries });
            r2e_shim::write_frame(out, &Response { id, result }, &[])
        }
        Op::Stat { path } => {
            let result = fs::stat(&path).map(Reply::Stat);
            r2e_shim::write_frame(out, &Response { id, result }, &[])
        }
        Op::Tool(req) => {
            let result = Ok(Reply::Tool(tools.call(&req)));
            r2e_shim::write_frame(out, &Response { id, result }, &[])
        }
        Op::Shutdown => r2e_shim::write_frame(
            out,
            &Response {
                id,
                result: Ok(Reply::Bye),
            },
            &[],
        ),
    }
}
