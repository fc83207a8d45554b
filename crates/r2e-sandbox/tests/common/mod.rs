//! Shared helpers of the sandbox integration tests: a real Docker daemon and the
//! base image built by `r2e image bootstrap` (override with R2E_TEST_IMAGE).

#![allow(dead_code)]

use r2e_sandbox::SandboxSpec;
use r2e_sandbox::docker::{DockerProvider, DockerSandbox};
use std::time::{Duration, Instant};

/// The image the tests run in.
pub fn image() -> String {
    std::env::var("R2E_TEST_IMAGE").unwrap_or_else(|_| "r2e/base:bookworm".into())
}

/// A provider connected to the local daemon; panics with what to do when absent.
pub async fn provider() -> DockerProvider {
    let p = DockerProvider::connect()
        .await
        .unwrap_or_else(|e| panic!("these tests need a Docker daemon: {e}"));
    match r2e_sandbox::image::image_id(p.client(), &image()).await {
        Ok(Some(_)) => p,
        _ => panic!(
            "these tests need the image {}: build it with `r2e image bootstrap --suite bookworm` (or run .ci/run)",
            image()
        ),
    }
}

/// A started sandbox of the test image.
pub async fn sandbox(p: &DockerProvider) -> DockerSandbox {
    p.start_docker(&SandboxSpec::new(image()))
        .await
        .expect("sandbox starts")
}

/// Waits until the engine no longer knows the container (AutoRemove is asynchronous).
pub async fn assert_gone(p: &DockerProvider, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match p.client().inspect_container(id, None).await {
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return,
            _ if Instant::now() > deadline => {
                panic!("container {id} still exists 20 s after close")
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Waits until no container, running or not, carries `label` (`KEY=VALUE`):
/// a sandbox whose start failed or was given up is removed in the background.
pub async fn assert_none_labelled(p: &DockerProvider, label: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = p.containers_labelled(label, true).await.unwrap();
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} containers labelled {label} are left: {:?}",
            left.len(),
            left.iter().map(|c| (&c.id, &c.state)).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
