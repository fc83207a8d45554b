//! The shim needs nothing from the image: not libc, not Python, not a shell.
//! The test imports an image holding one empty directory and drives it.

mod common;

use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::StreamExt;
use r2e_sandbox::{ExecOptions, Sandbox, SandboxError, SandboxSpec, ShimErrorKind};

const SCRATCH: &str = "r2e-test/scratch:latest";

async fn scratch_image(p: &r2e_sandbox::docker::DockerProvider) {
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_mode(0o1777);
    header.set_size(0);
    tar.append_data(&mut header, "tmp/", &[][..]).unwrap();
    let body = tar.into_inner().unwrap();
    let opts = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo("r2e-test/scratch")
        .tag("latest")
        .build();
    let mut s = p
        .client()
        .create_image(Some(opts), Some(bollard::body_full(body.into())), None);
    while let Some(item) = s.next().await {
        item.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_shim_serves_an_image_without_libc_python_or_shell() {
    let p = common::provider().await;
    scratch_image(&p).await;
    let sb = p.start_docker(&SandboxSpec::new(SCRATCH)).await.unwrap();
    let out = sb
        .exec_argv(
            &["/.r2e/r2e-shim".into(), "--version".into()],
            &ExecOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(out.exit_code, 0);
    assert!(
        out.stdout_text().starts_with("r2e-shim "),
        "{}",
        out.stdout_text()
    );
    sb.write_file("/tmp/a/b.txt", b"no libc here", None)
        .await
        .unwrap();
    assert_eq!(sb.read_file("/tmp/a/b.txt").await.unwrap(), b"no libc here");
    let names: Vec<String> = sb
        .list_dir("/")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(
        names.contains(&".r2e".to_string()) && names.contains(&"tmp".to_string()),
        "{names:?}"
    );
    match sb.exec("echo hi", &ExecOptions::default()).await {
        Err(SandboxError::Shim(e)) => {
            assert_eq!(e.kind, ShimErrorKind::Spawn);
            assert!(e.message.contains("no shell"), "{}", e.message);
        }
        other => panic!("expected a no-shell error, got {other:?}"),
    }
    match sb
        .exec_argv(&["/bin/nothing".into()], &ExecOptions::default())
        .await
    {
        Err(SandboxError::Shim(e)) => assert_eq!(e.kind, ShimErrorKind::Spawn),
        other => panic!("expected a spawn error, got {other:?}"),
    }
    sb.close().await.unwrap();
}
