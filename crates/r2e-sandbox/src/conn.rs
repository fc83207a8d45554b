//! The host end of the shim protocol over the shim's stdio, whichever engine
//! relays it (a Docker attach stream, a Kubernetes exec WebSocket).
//!
//! A reader task takes the demultiplexed stream, decodes frames from the
//! shim's stdout and hands them to the single request in flight; the shim's
//! stderr is kept (last few KiB) for error messages.

use crate::{Result, SandboxError};
/// A chunk of the shim's output, tagged with its stream.
pub use bollard::container::LogOutput;
use futures_util::StreamExt;
use r2e_shim::{FrameDecoder, Op, RawFrame, Reply, Request, Response};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;

/// Why a request failed when the shim's output ended.
const OUTPUT_ENDED: &str = "the shim's output ended";

/// How much of the shim's stderr to keep for diagnostics.
const STDERR_TAIL: usize = 4096;

/// The shim's output as the engine relays it: stdout and stderr chunks.
pub type OutputStream =
    Pin<Box<dyn futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;

/// Why the frame stream ended.
type FrameResult = std::result::Result<RawFrame, String>;

struct Inner {
    /// Where requests go: the attach stdin, or the socket's write half.
    input: Option<Pin<Box<dyn AsyncWrite + Send>>>,
    /// The attach stdin while requests use the socket: held open as the
    /// sandbox's liveness signal, never written.
    keepalive: Option<Pin<Box<dyn AsyncWrite + Send>>>,
    frames: mpsc::UnboundedReceiver<FrameResult>,
    next_id: u64,
}

/// One connection to one shim.
pub struct ShimConn {
    short_id: String,
    inner: Mutex<Inner>,
    readers: StdMutex<Vec<JoinHandle<()>>>,
    /// The frame sender until the transport is settled (then dropped, so the
    /// channel closes exactly when every reader has ended).
    pending_tx: StdMutex<Option<mpsc::UnboundedSender<FrameResult>>>,
    stderr_tail: Arc<StdMutex<Vec<u8>>>,
    /// Set once requests use the socket: from then on the end of the stdio
    /// stream is not reported (the socket reader reports the shim's end, in
    /// order with its last replies).
    on_socket: Arc<AtomicBool>,
}

/// How a request failed at the transport level (before a reply).
pub(crate) enum Broken {
    /// The stream ended or could not be written: the container is gone or dying.
    Ended(String),
    /// No reply within the deadline.
    Timeout(Duration),
    /// The shim sent garbage.
    Malformed(String),
}

impl ShimConn {
    /// Wraps a stdio stream (output demultiplexed into [`LogOutput`] chunks,
    /// input written as is); nothing is read until the handshake.
    pub fn new(
        short_id: String,
        output: OutputStream,
        input: Pin<Box<dyn AsyncWrite + Send>>,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let stderr_tail = Arc::new(StdMutex::new(Vec::new()));
        let on_socket = Arc::new(AtomicBool::new(false));
        let reader = tokio::spawn(read_frames(
            output,
            tx.clone(),
            stderr_tail.clone(),
            on_socket.clone(),
            short_id.clone(),
        ));
        ShimConn {
            short_id,
            inner: Mutex::new(Inner {
                input: Some(input),
                keepalive: None,
                frames: rx,
                next_id: 1,
            }),
            readers: StdMutex::new(vec![reader]),
            pending_tx: StdMutex::new(Some(tx)),
            stderr_tail,
            on_socket,
        }
    }

    /// Keeps requests on the attach stream.
    pub(crate) fn settle(&self) {
        self.pending_tx.lock().expect("sender lock").take();
    }

    /// Moves requests to the shim's Unix socket (after its hello).
    pub(crate) async fn use_socket(
        &self,
        path: &std::path::Path,
    ) -> std::result::Result<(), Broken> {
        let stream = tokio::net::UnixStream::connect(path).await.map_err(|e| {
            Broken::Ended(format!(
                "cannot connect to the shim at {}: {e}",
                path.display()
            ))
        })?;
        let (read, write) = stream.into_split();
        let tx = self
            .pending_tx
            .lock()
            .expect("sender lock")
            .take()
            .ok_or_else(|| Broken::Ended("the transport is already settled".into()))?;
        self.on_socket.store(true, Ordering::SeqCst);
        let reader = tokio::spawn(read_socket(read, tx));
        self.readers.lock().expect("readers lock").push(reader);
        let mut inner = self.inner.lock().await;
        inner.keepalive = inner.input.take();
        inner.input = Some(Box::pin(write));
        Ok(())
    }

    /// The last bytes the shim wrote to stderr, as text.
    pub fn stderr_tail(&self) -> String {
        let tail = self
            .stderr_tail
            .lock()
            .map(|t| t.clone())
            .unwrap_or_default();
        String::from_utf8_lossy(&tail).trim().to_string()
    }

    /// Waits for the shim's unsolicited hello and returns its protocol version.
    pub(crate) async fn hello(&self, wait: Duration) -> std::result::Result<u32, Broken> {
        let mut inner = self.inner.lock().await;
        let frame = recv(&mut inner.frames, Some(wait)).await?;
        match frame.parse::<Response>() {
            Ok(Response {
                id: 0,
                result: Ok(Reply::Hello { protocol, .. }),
            }) => Ok(protocol),
            Ok(other) => Err(Broken::Malformed(format!("expected hello, got {other:?}"))),
            Err(e) => Err(Broken::Malformed(format!("undecodable hello: {e}"))),
        }
    }

    /// Sends one request and waits for its response.
    pub(crate) async fn request(
        &self,
        op: Op,
        payload: &[u8],
        wait: Option<Duration>,
    ) -> std::result::Result<(std::result::Result<Reply, r2e_shim::ShimError>, Vec<u8>), Broken>
    {
        let mut inner = self.inner.lock().await;
        let id = inner.next_id;
        inner.next_id += 1;
        let frame = r2e_shim::encode_frame(&Request { id, op }, &[payload]);
        let input = inner
            .input
            .as_mut()
            .ok_or_else(|| Broken::Ended("the connection is closed".into()))?;
        if let Err(e) = async {
            input.write_all(&frame).await?;
            input.flush().await
        }
        .await
        {
            return Err(Broken::Ended(format!("cannot send to the shim: {e}")));
        }
        loop {
            let frame = recv(&mut inner.frames, wait).await?;
            let response: Response = frame
                .parse()
                .map_err(|e| Broken::Malformed(format!("undecodable response: {e}")))?;
            // A response to an earlier request whose caller gave up: skip it.
            if response.id == id {
                return Ok((response.result, frame.payload));
            }
        }
    }

    /// Drops the connection: the shim sees end of input and exits.
    pub(crate) async fn shutdown(&self) {
        self.abort_readers();
        let mut inner = self.inner.lock().await;
        for mut input in [inner.input.take(), inner.keepalive.take()]
            .into_iter()
            .flatten()
        {
            let _ = input.shutdown().await;
        }
    }

    fn abort_readers(&self) {
        if let Ok(readers) = self.readers.lock() {
            readers.iter().for_each(JoinHandle::abort);
        }
    }

    /// Turns a transport failure into a user-facing error.
    pub(crate) fn error(
        &self,
        broken: Broken,
        doing: &str,
        detail: impl FnOnce(String) -> String,
    ) -> SandboxError {
        match broken {
            Broken::Ended(why) => SandboxError::Died {
                id: self.short_id.clone(),
                doing: doing.to_string(),
                detail: detail(why),
            },
            Broken::Timeout(d) => SandboxError::Unresponsive {
                id: self.short_id.clone(),
                doing: doing.to_string(),
                secs: d.as_secs(),
            },
            Broken::Malformed(detail) => SandboxError::Malformed {
                id: self.short_id.clone(),
                detail,
            },
        }
    }
}

impl Drop for ShimConn {
    fn drop(&mut self) {
        self.abort_readers();
    }
}

async fn recv(
    frames: &mut mpsc::UnboundedReceiver<FrameResult>,
    wait: Option<Duration>,
) -> std::result::Result<RawFrame, Broken> {
    let next = match wait {
        Some(d) => tokio::time::timeout(d, frames.recv())
            .await
            .map_err(|_| Broken::Timeout(d))?,
        None => frames.recv().await,
    };
    match next {
        Some(Ok(frame)) => Ok(frame),
        Some(Err(why)) => Err(Broken::Ended(why)),
        None => Err(Broken::Ended(OUTPUT_ENDED.into())),
    }
}

/// Decodes frames from the shim's socket until it closes.
async fn read_socket(
    mut read: tokio::net::unix::OwnedReadHalf,
    tx: mpsc::UnboundedSender<FrameResult>,
) {
    use tokio::io::AsyncReadExt;
    let mut decoder = FrameDecoder::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match read.read(&mut buf).await {
            Ok(0) => return,
            Ok(n) => {
                decoder.push(&buf[..n]);
                if !forward(&mut decoder, &tx) {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.send(Err(format!("the shim's socket failed: {e}")));
                return;
            }
        }
    }
}

/// Sends every complete frame on; false when the stream is unusable or nobody listens.
fn forward(decoder: &mut FrameDecoder, tx: &mpsc::UnboundedSender<FrameResult>) -> bool {
    loop {
        match decoder.next_frame() {
            Ok(Some(frame)) => {
                if tx.send(Ok(frame)).is_err() {
                    return false;
                }
            }
            Ok(None) => return true,
            Err(e) => {
                let _ = tx.send(Err(format!("corrupt stream from the shim: {e}")));
                return false;
            }
        }
    }
}

/// Decodes frames from the shim's stdio stream. Its end is reported at once
/// while requests use the stream (a shim that dies before its hello fails the
/// start now, not at the start timeout: the frame channel itself stays open
/// until the transport is settled).
async fn read_frames(
    mut output: OutputStream,
    tx: mpsc::UnboundedSender<FrameResult>,
    stderr_tail: Arc<StdMutex<Vec<u8>>>,
    on_socket: Arc<AtomicBool>,
    short_id: String,
) {
    let mut decoder = FrameDecoder::new();
    while let Some(item) = output.next().await {
        match item {
            Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                decoder.push(&message);
                if !forward(&mut decoder, &tx) {
                    return;
                }
            }
            Ok(LogOutput::StdErr { message }) => {
                tracing::debug!(sandbox = %short_id, "shim stderr: {}", String::from_utf8_lossy(&message).trim_end());
                if let Ok(mut tail) = stderr_tail.lock() {
                    tail.extend_from_slice(&message);
                    let excess = tail.len().saturating_sub(STDERR_TAIL);
                    tail.drain(..excess);
                }
            }
            Ok(LogOutput::StdIn { .. }) => {}
            Err(e) => {
                let _ = tx.send(Err(format!("attach stream failed: {e}")));
                return;
            }
        }
    }
    if !on_socket.load(Ordering::SeqCst) {
        let _ = tx.send(Err(OUTPUT_ENDED.into()));
    }
}
