//! The Rust client against a scripted server on 127.0.0.1: how a create
//! refused with 503 waits, and that it never waits past its deadline.

use r2e_core::Task;
use r2e_env::EnvFactory;
use r2e_server::client::Remote;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn task() -> Task {
    serde_json::from_value(serde_json::json!({
        "task_id": "o__r-1", "source": "swe_bench", "repo": "o/r", "base_commit": "abc",
        "image": "i", "problem_statement": "p", "gold_patch": "", "test_patch": "",
        "fail_to_pass": [], "pass_to_pass": [],
    }))
    .unwrap()
}

/// Serves the canned answers in turn (the last one for good), counting the
/// requests; each answer is `(status line, extra headers, JSON body)`.
async fn scripted(
    answers: Vec<(&'static str, &'static str, &'static str)>,
) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        loop {
            let (mut conn, _) = listener.accept().await.unwrap();
            let n = count.fetch_add(1, Ordering::SeqCst);
            let (status, headers, body) = answers[n.min(answers.len() - 1)];
            // Read the request head and body before answering.
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let got = conn.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..got]);
                let text = String::from_utf8_lossy(&buf);
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break;
                    }
                }
                if got == 0 {
                    break;
                }
            }
            let reply = format!(
                "HTTP/1.1 {status}\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            conn.write_all(reply.as_bytes()).await.unwrap();
        }
    });
    (url, seen)
}

const BUSY: &str = r#"{"error":{"kind":"overloaded","message":"all 4 places are taken"}}"#;

#[tokio::test]
async fn a_create_refused_with_503_waits_as_asked_and_tries_again() {
    let (url, seen) = scripted(vec![
        ("503 Service Unavailable", "Retry-After: 0.3\r\n", BUSY),
        ("200 OK", "", r#"{"env_id":"e1","task_id":"o__r-1"}"#),
    ])
    .await;
    let t0 = Instant::now();
    let env = Remote::new(&url, None, serde_json::json!({}))
        .create(&task())
        .await;
    assert!(env.is_ok(), "{:?}", env.err());
    assert_eq!(seen.load(Ordering::SeqCst), 2);
    assert!(
        t0.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t0.elapsed()
    );
}

#[tokio::test]
async fn a_retry_after_beyond_the_deadline_answers_with_the_503_at_once() {
    // The create's deadline is 15 minutes: a server asking for 1,000 s must
    // not hold the caller that long.
    let (url, seen) = scripted(vec![(
        "503 Service Unavailable",
        "Retry-After: 1000\r\n",
        BUSY,
    )])
    .await;
    let t0 = Instant::now();
    let called = tokio::time::timeout(
        Duration::from_secs(60),
        Remote::new(&url, None, serde_json::json!({})).create(&task()),
    )
    .await
    .expect("the create waited past its deadline's reach");
    let err = called
        .err()
        .expect("a refused create is an error")
        .to_string();
    assert!(
        err.contains("all 4 places are taken") && err.contains("503"),
        "{err}"
    );
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    assert!(t0.elapsed() < Duration::from_secs(60));
}
