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

use r2e_shim::{Op, PROTOCOL_VERSION, Reply, Request, Response, ShimError, ShimErrorKind};
use std::io::{self, BufReader, BufWriter, Write};

/// Environment variable marking the serving child of the PID-1 init.
const ROLE_ENV: &str = "R2E_SHIM_ROLE";

fn main() {
    let arg = std::env::args().nth(1);
    match arg.as_deref() {
        Some("--version") | Some("-V") => {
            println!("r2e-shim {} (protocol {PROTOCOL_VERSION})", env!("CARGO_PKG_VERSION"));
            return;
        }
        Some("--help") | Some("-h") => {
            println!(
                "r2e-shim {}: the r2e in-sandbox server.\n\
                 Started by r2e as a container's main process; speaks a framed protocol on stdio.\n\
                 Not meant to be run by hand.",
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

/// The request loop: one request at a time, answered in order.
fn serve() -> io::Result<()> {
    let mut input = BufReader::with_capacity(1 << 16, io::stdin().lock());
    let mut output = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let hello = Response {
        id: 0,
        result: Ok(Reply::Hello {
            protocol: PROTOCOL_VERSION,
            shim_version: env!("CARGO_PKG_VERSION").to_string(),
            pid: std::process::id(),
        }),
    };
    r2e_shim::write_frame(&mut output, &hello, &[])?;
    while let Some(frame) = r2e_shim::read_frame(&mut input)? {
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
                r2e_shim::write_frame(&mut output, &Response { id, result: Err(err) }, &[])?;
                continue;
            }
        };
        let shutdown = matches!(request.op, Op::Shutdown);
        handle(request, frame.payload, &mut output)?;
        if shutdown {
            break;
        }
    }
    output.flush()
}

/// Runs one request and writes its response frame.
fn handle(request: Request, payload: Vec<u8>, out: &mut impl Write) -> io::Result<()> {
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
                let result = Ok(Reply::FileData { size: data.len() as u64 });
                r2e_shim::write_frame(out, &Response { id, result }, &[&data])
            }
            Err(e) => r2e_shim::write_frame(out, &Response { id, result: Err(e) }, &[]),
        },
        Op::WriteFile { path, mode, create_dirs } => {
            let result = fs::write_file(&path, &payload, mode, create_dirs)
                .map(|()| Reply::Written { bytes: payload.len() as u64 });
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
        Op::Shutdown => r2e_shim::write_frame(out, &Response { id, result: Ok(Reply::Bye) }, &[]),
    }
}
