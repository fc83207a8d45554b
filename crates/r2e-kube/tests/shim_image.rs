//! `r2e image shim` against the local Docker daemon: the FROM-scratch image
//! holds only the shim, and its `--install` (what the pods' init container
//! runs) copies the exact embedded binary into the shared volume.

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder};

#[tokio::test(flavor = "multi_thread")]
async fn the_shim_image_installs_the_embedded_shim() {
    let docker = r2e_sandbox::docker::connect()
        .await
        .unwrap_or_else(|e| panic!("this test needs a Docker daemon: {e}"));
    let tag = format!("r2e-test/kube-shim:{}", std::process::id());
    let id = r2e_kube::shim_image::build(&docker, &tag).await.unwrap();
    assert!(id.starts_with("sha256:"), "{id}");
    let info = docker.inspect_image(&tag).await.unwrap();
    let config = info.config.unwrap();
    assert_eq!(config.entrypoint, Some(vec!["/r2e-shim".to_string()]));
    assert_eq!(
        info.root_fs.unwrap().layers.unwrap().len(),
        1,
        "one layer: FROM scratch"
    );

    let vol = tempfile::tempdir().unwrap();
    let body = ContainerCreateBody {
        image: Some(tag.clone()),
        cmd: Some(vec!["--install".into(), "/.r2e/r2e-shim".into()]),
        host_config: Some(HostConfig {
            binds: Some(vec![format!("{}:/.r2e", vol.path().display())]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let c = docker
        .create_container(
            None::<bollard::query_parameters::CreateContainerOptions>,
            body,
        )
        .await
        .unwrap();
    docker
        .start_container(
            &c.id,
            None::<bollard::query_parameters::StartContainerOptions>,
        )
        .await
        .unwrap();
    use futures_util::StreamExt;
    let mut wait = docker.wait_container(
        &c.id,
        None::<bollard::query_parameters::WaitContainerOptions>,
    );
    let code = wait
        .next()
        .await
        .unwrap()
        .map(|w| w.status_code)
        .unwrap_or(-1);
    docker
        .remove_container(
            &c.id,
            Some(RemoveContainerOptionsBuilder::default().force(true).build()),
        )
        .await
        .unwrap();
    assert_eq!(code, 0);
    let installed = std::fs::read(vol.path().join("r2e-shim")).unwrap();
    assert!(
        installed == r2e_sandbox::shim::SHIM_BINARY,
        "the installed shim is the embedded one"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(vol.path().join("r2e-shim"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    docker
        .remove_image(
            &tag,
            Some(RemoveImageOptionsBuilder::default().force(true).build()),
            None,
        )
        .await
        .unwrap();
}
