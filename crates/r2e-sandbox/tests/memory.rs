//! Capped output does not grow the host's memory: 50 MB of output crosses as
//! at most the cap. Its own test binary, so no other test's allocations count.

mod common;

use r2e_sandbox::{ExecOptions, Sandbox};

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_megabytes_of_output_do_not_reach_the_host() {
    let p = common::provider().await;
    let sb = common::sandbox(&p).await;
    // Warm up every buffer on the path with a small command first.
    sb.exec("echo warm", &ExecOptions::default()).await.unwrap();
    let before = peak_rss_kib();
    let out = sb
        .exec(
            "head -c 50000000 /dev/urandom; head -c 50000000 /dev/zero >&2",
            &ExecOptions::default(),
        )
        .await
        .unwrap();
    let grown_mib = (peak_rss_kib() - before) / 1024;
    assert!(out.truncated);
    assert!(out.stdout.len() as u64 <= ExecOptions::default().max_output + 200);
    assert!(out.stderr.len() as u64 <= ExecOptions::default().max_output + 200);
    assert!(
        grown_mib < 40,
        "peak RSS grew by {grown_mib} MiB for 100 MB of output"
    );
    sb.close().await.unwrap();
}
