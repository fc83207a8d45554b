//! Every way of delivering the shim and reaching it behaves the same:
//! bind-mounted shim over a Unix socket (local default), bind-mounted over the
//! attach stream, and uploaded over the attach stream (remote daemons).

mod common;

use r2e_sandbox::docker::{DockerProvider, ShimDelivery, Transport};
use r2e_sandbox::{ExecOptions, Sandbox, SandboxError, SandboxSpec};
use std::time::{Duration, Instant};

async fn exercise(delivery: ShimDelivery, transport: Transport) {
    let base = common::provider().await;
    let p = DockerProvider::with_client(base.client().clone(), delivery, transport);
    let sb = p
        .start_docker(&SandboxSpec::new(common::image()))
        .await
        .unwrap();
    let label = format!("{delivery:?}/{transport:?}");
    let out = sb
        .exec("echo out; echo err >&2; exit 4", &ExecOptions::default())
        .await
        .unwrap();
    assert_eq!(
        (out.exit_code, &out.stdout[..], &out.stderr[..]),
        (4, &b"out\n"[..], &b"err\n"[..]),
        "{label}"
    );
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    sb.write_file("/tmp/big.bin", &big, None).await.unwrap();
    assert_eq!(sb.read_file("/tmp/big.bin").await.unwrap(), big, "{label}");
    let t = Instant::now();
    let out = sb
        .exec("sleep 50", &ExecOptions::timeout(0.5))
        .await
        .unwrap();
    assert!(
        out.timed_out && t.elapsed() < Duration::from_secs(2),
        "{label}"
    );
    assert_eq!(
        sb.exec("echo ok", &ExecOptions::default())
            .await
            .unwrap()
            .stdout,
        b"ok\n"
    );
    let id = sb.id().to_string();
    p.client()
        .kill_container(&id, None::<bollard::query_parameters::KillContainerOptions>)
        .await
        .unwrap();
    let err = sb.exec("true", &ExecOptions::default()).await.unwrap_err();
    assert!(matches!(err, SandboxError::Died { .. }), "{label}: {err:?}");
    sb.close().await.unwrap();
    common::assert_gone(&p, &id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bind_and_socket() {
    exercise(ShimDelivery::Bind, Transport::Socket).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bind_and_attach() {
    exercise(ShimDelivery::Bind, Transport::Attach).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_and_attach() {
    exercise(ShimDelivery::Upload, Transport::Attach).await;
}
