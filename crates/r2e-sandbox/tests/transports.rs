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

/// An image saved from a socket sandbox (as task images are) carries the
/// socket path in its environment; it starts over every transport.
#[tokio::test(flavor = "multi_thread")]
async fn an_image_saved_from_a_socket_sandbox_starts_over_every_transport() {
    let base = common::provider().await;
    let socket =
        DockerProvider::with_client(base.client().clone(), ShimDelivery::Bind, Transport::Socket);
    let sb = socket
        .start_docker(&SandboxSpec::new(common::image()))
        .await
        .unwrap();
    sb.write_file("/marker", b"saved\n", None).await.unwrap();
    let tag = format!("r2e-test/saved-socket:{}", std::process::id());
    socket
        .commit(&sb, &tag, std::collections::HashMap::new(), &[])
        .await
        .unwrap();
    sb.close().await.unwrap();
    // The saved image does not make its containers look like sandboxes.
    let labels = base
        .client()
        .inspect_image(&tag)
        .await
        .unwrap()
        .config
        .unwrap()
        .labels
        .unwrap();
    assert_eq!(
        labels.get("dev.r2e.sandbox").map(String::as_str),
        Some(""),
        "{labels:?}"
    );
    for (delivery, transport) in [
        (ShimDelivery::Bind, Transport::Socket),
        (ShimDelivery::Bind, Transport::Attach),
        (ShimDelivery::Upload, Transport::Attach),
    ] {
        let p = DockerProvider::with_client(base.client().clone(), delivery, transport);
        let started = tokio::time::timeout(Duration::from_secs(60), async {
            let sb = p.start_docker(&SandboxSpec::new(&tag)).await?;
            let out = sb.exec("cat /marker", &ExecOptions::default()).await?;
            sb.close().await?;
            Ok::<_, SandboxError>(out.stdout)
        })
        .await;
        assert_eq!(
            started.map(|r| r.map_err(|e| e.to_string())),
            Ok(Ok(b"saved\n".to_vec())),
            "{delivery:?}/{transport:?}"
        );
    }
    let _ = std::process::Command::new("docker")
        .args(["rmi", "-f", &tag])
        .output();
}

/// A shim that dies before its hello fails the start at once, with what it
/// said, over every transport (before, the attach transports waited for the
/// start timeout). A process limit of 1 leaves the shim's init no room for
/// its serving process.
#[tokio::test(flavor = "multi_thread")]
async fn a_shim_that_dies_at_start_fails_the_start_at_once() {
    let base = common::provider().await;
    let mut spec = SandboxSpec::new(common::image());
    spec.limits.pids = Some(1);
    spec.labels.push((
        "dev.r2e.test".into(),
        format!("dies-at-start-{}", std::process::id()),
    ));
    for (delivery, transport) in [
        (ShimDelivery::Bind, Transport::Socket),
        (ShimDelivery::Bind, Transport::Attach),
        (ShimDelivery::Upload, Transport::Attach),
    ] {
        let label = format!("{delivery:?}/{transport:?}");
        let p = DockerProvider::with_client(base.client().clone(), delivery, transport);
        let t = Instant::now();
        let err = match p.start_docker(&spec).await {
            Ok(_) => panic!("{label}: started with a process limit of 1"),
            Err(e) => e,
        };
        let msg = err.to_string();
        assert!(matches!(err, SandboxError::Died { .. }), "{label}: {err:?}");
        assert!(
            msg.contains("cannot start the serving process"),
            "{label}: {msg}"
        );
        // HELLO_TIMEOUT is 60 s; a dead shim is seen as soon as its output ends.
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "{label}: {:?}",
            t.elapsed()
        );
    }
    common::assert_none_labelled(
        &base,
        &format!("dev.r2e.test=dies-at-start-{}", std::process::id()),
    )
    .await;
}
