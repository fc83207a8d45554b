//! Task images that r2e committed from a Docker sandbox of the socket
//! transport (the demo tasks, SWE-Gen's images) carry `R2E_SHIM_SOCKET` in
//! their environment. A pod cannot unset it, so the pod sets it empty and the
//! shim then serves on the exec stream; tested on the Docker-backed scripted
//! cluster with an image built here that carries the variable.

use r2e_kube::testing::FakeCluster;
use r2e_kube::{Api, Credentials, KubeConfig, KubeProvider};
use r2e_sandbox::{ExecOptions, Provider, SandboxSpec};
use std::io::Write;
use std::process::{Command, Stdio};

/// An image with the variable set, removed when dropped.
struct Image(String);

impl Image {
    fn build() -> Self {
        let tag = format!("r2e-test/socket-env:{:08x}", fastrand::u32(..));
        let mut build = Command::new("docker")
            .args(["build", "-q", "-t", &tag, "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        build
            .stdin
            .take()
            .unwrap()
            .write_all(b"FROM r2e/base:bookworm\nENV R2E_SHIM_SOCKET=/.r2e/run/shim.sock\n")
            .unwrap();
        assert!(build.wait().unwrap().success(), "docker build");
        Image(tag)
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", "-f", &self.0]).output();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_image_carrying_the_shim_socket_variable_serves_over_exec() {
    let image = Image::build();
    let cluster = FakeCluster::start_docker_backed().await;
    let p = KubeProvider::with_api(
        Api::new(Credentials::insecure_http(&cluster.url)).unwrap(),
        KubeConfig {
            namespace: Some("r2e-image-env".into()),
            shim_image: "registry.test/r2e-shim:1".into(),
            start_timeout_secs: 120,
            ..KubeConfig::default()
        },
    );
    let sb = p.start(&SandboxSpec::new(&image.0)).await.unwrap();
    let out = sb
        .exec("echo \"[$R2E_SHIM_SOCKET]\"", &ExecOptions::default())
        .await
        .unwrap();
    assert_eq!(out.stdout_text(), "[]\n");
    sb.close().await.unwrap();
    assert!(cluster.pods().is_empty());
}
