//! A small HTTP relay in front of the scripted API server, for tests that
//! need answers it never gives: it sees every request (one per connection,
//! as the scripted server closes each), may answer some itself by a policy,
//! and counts the deletes in flight at once, holding the first one until a
//! second arrives (for at most a few seconds), so that an overlap is certain
//! when the client is concurrent and costs little when it is not.
//! Included by path (`#[path = "common/relay.rs"]`) where it is used.

use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the relay answers itself, given a request's head (request line and
/// headers as sent): (status, message of a `Status` body).
pub type Policy = Box<dyn Fn(&str) -> Option<(u16, String)> + Send + Sync>;

/// The relay's state.
pub struct Relay {
    policy: Policy,
    in_flight: AtomicUsize,
    /// The most deletes that were in flight at once.
    pub most_in_flight: AtomicUsize,
    /// Whether the first delete was held already (only it is).
    held: AtomicBool,
    /// Signalled when two deletes are in flight at once.
    overlap_seen: tokio::sync::Notify,
}

/// Reads one request head (the provider's deletes and lists have no body).
async fn read_head(sock: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if sock.read(&mut byte).await.unwrap_or(0) == 0 {
            break;
        }
        head.push(byte[0]);
    }
    head
}

async fn relay(mut client: TcpStream, upstream: String, r: Arc<Relay>) {
    let head = read_head(&mut client).await;
    let text = String::from_utf8_lossy(&head).to_string();
    let is_delete = text.starts_with("DELETE ");
    if is_delete {
        let now = r.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        r.most_in_flight.fetch_max(now, Ordering::SeqCst);
        if now >= 2 {
            r.overlap_seen.notify_one();
        } else if !r.held.swap(true, Ordering::SeqCst) {
            let _ = tokio::time::timeout(Duration::from_secs(3), r.overlap_seen.notified()).await;
        }
    }
    if let Some((code, message)) = (r.policy)(&text) {
        let body = json!({"kind": "Status", "status": "Failure", "code": code, "message": message})
            .to_string();
        let answer = format!(
            "HTTP/1.1 {code} Refused\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = client.write_all(answer.as_bytes()).await;
    } else {
        let mut server = TcpStream::connect(&upstream).await.unwrap();
        server.write_all(&head).await.unwrap();
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    }
    let _ = client.shutdown().await;
    if is_delete {
        r.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Starts relaying to `upstream_url` (`http://host:port`); returns the
/// relay's URL and its counters.
pub async fn start_relay(upstream_url: &str, policy: Policy) -> (String, Arc<Relay>) {
    let upstream = upstream_url.trim_start_matches("http://").to_string();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let r = Arc::new(Relay {
        policy,
        in_flight: AtomicUsize::new(0),
        most_in_flight: AtomicUsize::new(0),
        held: AtomicBool::new(false),
        overlap_seen: tokio::sync::Notify::new(),
    });
    let state = r.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(relay(sock, upstream.clone(), state.clone()));
        }
    });
    (url, r)
}
