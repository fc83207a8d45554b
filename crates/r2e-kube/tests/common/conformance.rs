//! The sandbox behaviours the Docker provider's tests check
//! (`r2e-sandbox/tests/docker.rs`), written against any [`Provider`]: run
//! against the scripted cluster always, and against a real cluster when
//! `R2E_KUBE_CONFORMANCE=1`. Paths are unique under /tmp, so the suite also
//! holds where the fake kubelet runs commands on the test host.

use r2e_sandbox::{
    ExecOptions, FileKind, Provider, Sandbox, SandboxError, SandboxSpec, ShimErrorKind, ToolRequest,
};
use std::time::{Duration, Instant};

/// Runs every check in one sandbox of `image` each, in turn.
pub async fn run_all(p: &dyn Provider, image: &str) {
    let start = |name: &'static str| async move {
        eprintln!("conformance: {name}");
        p.start(&SandboxSpec::new(image))
            .await
            .expect("sandbox starts")
    };
    exit_codes_and_streams(start("exit codes and streams").await).await;
    timeout_kills_the_group(start("timeout kills the process group").await).await;
    background_processes_do_not_hold_the_reply(start("background processes").await).await;
    output_is_capped(start("output cap").await).await;
    binary_stdin_env_cwd(start("binary output, stdin, env, cwd").await).await;
    files_round_trip(start("files").await).await;
    copy_in_and_diff(start("copy_in and git diff").await).await;
    concurrent_requests(start("concurrent requests").await).await;
    agent_tools(start("agent tools").await).await;
}

fn scratch() -> String {
    format!("/tmp/r2e-conformance-{:016x}", fastrand::u64(..))
}

async fn exit_codes_and_streams(sb: Box<dyn Sandbox>) {
    let out = sb
        .exec("echo out; echo err >&2; exit 3", &ExecOptions::default())
        .await
        .unwrap();
    assert_eq!(
        (out.exit_code, &out.stdout[..], &out.stderr[..]),
        (3, &b"out\n"[..], &b"err\n"[..])
    );
    let out = sb
        .exec("kill -TERM $$", &ExecOptions::default())
        .await
        .unwrap();
    assert_eq!(
        out.exit_code,
        128 + 15,
        "killed by a signal reports 128+signal"
    );
    sb.close().await.unwrap();
    sb.close().await.expect("close is idempotent");
    assert!(matches!(
        sb.exec("true", &ExecOptions::default()).await,
        Err(SandboxError::Closed(_))
    ));
}

async fn timeout_kills_the_group(sb: Box<dyn Sandbox>) {
    let dir = scratch();
    let t = Instant::now();
    let cmd = format!("mkdir -p {dir}; sleep 100 & echo $! > {dir}/bg; sleep 100; echo never");
    let out = sb.exec(&cmd, &ExecOptions::timeout(1.0)).await.unwrap();
    assert!(out.timed_out, "{out:?}");
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "took {:?}",
        t.elapsed()
    );
    assert!(!out.stdout_text().contains("never"));
    // Gone, or a zombie waiting for its reaper: either way not running.
    let check = format!(
        "p=$(cat {dir}/bg); rm -rf {dir}; for i in $(seq 50); do \
         st=$(awk '{{print $3}}' /proc/$p/stat 2>/dev/null); \
         if [ -z \"$st\" ] || [ \"$st\" = Z ]; then echo gone; exit 0; fi; sleep 0.1; done; echo alive"
    );
    let left = sb.exec(&check, &ExecOptions::default()).await.unwrap();
    assert_eq!(
        left.stdout_text().trim(),
        "gone",
        "the background sleep died with its group"
    );
    assert_eq!(
        sb.exec("echo alive", &ExecOptions::default())
            .await
            .unwrap()
            .stdout_text(),
        "alive\n"
    );
    sb.close().await.unwrap();
}

async fn background_processes_do_not_hold_the_reply(sb: Box<dyn Sandbox>) {
    let t = Instant::now();
    let out = sb
        .exec(
            "(sleep 30 >/dev/null 2>&1 &); echo started",
            &ExecOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(out.stdout_text(), "started\n");
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "took {:?}",
        t.elapsed()
    );
    sb.close().await.unwrap();
}

async fn output_is_capped(sb: Box<dyn Sandbox>) {
    let opts = ExecOptions {
        max_output: 1 << 20,
        ..Default::default()
    };
    let out = sb
        .exec("yes abcdefghi | head -c 50000000; echo tail-end", &opts)
        .await
        .unwrap();
    assert!(out.truncated && out.exit_code == 0);
    assert!(
        out.stdout.len() < (1 << 20) + 200,
        "captured {} bytes",
        out.stdout.len()
    );
    let text = out.stdout_text();
    assert!(text.contains("bytes of output omitted (50000009 bytes in all)"));
    assert!(text.ends_with("tail-end\n"), "the tail is kept");
    sb.close().await.unwrap();
}

async fn binary_stdin_env_cwd(sb: Box<dyn Sandbox>) {
    let out = sb
        .exec(r"printf 'a\377\376\000b'", &ExecOptions::default())
        .await
        .unwrap();
    assert_eq!(out.stdout, b"a\xff\xfe\x00b");
    let opts = ExecOptions {
        stdin: b"from stdin\n".to_vec(),
        env: vec![("GREETING".into(), "hi there".into())],
        cwd: Some("/tmp".into()),
        ..Default::default()
    };
    let out = sb
        .exec("cat; echo \"$GREETING\"; pwd", &opts)
        .await
        .unwrap();
    assert_eq!(out.stdout_text(), "from stdin\nhi there\n/tmp\n");
    let bad = ExecOptions {
        cwd: Some("/no/such/dir".into()),
        ..Default::default()
    };
    match sb.exec("true", &bad).await {
        Err(SandboxError::Shim(e)) => assert_eq!(e.kind, ShimErrorKind::NotFound),
        other => panic!("expected a missing-cwd error, got {other:?}"),
    }
    sb.close().await.unwrap();
}

async fn files_round_trip(sb: Box<dyn Sandbox>) {
    let dir = scratch();
    let path = format!("{dir}/sub dir/it's ü.bin");
    let data: Vec<u8> = (0..=255u8).cycle().take(3 << 20).collect();
    sb.write_file(&path, &data, Some(0o600)).await.unwrap();
    assert_eq!(sb.read_file(&path).await.unwrap(), data);
    let st = sb.stat(&path).await.unwrap().expect("exists");
    assert_eq!(
        (st.kind, st.size, st.mode & 0o777),
        (FileKind::File, data.len() as u64, 0o600)
    );
    let names: Vec<String> = sb
        .list_dir(&format!("{dir}/sub dir"))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, vec!["it's ü.bin".to_string()]);
    assert!(sb.stat(&format!("{dir}/absent")).await.unwrap().is_none());
    match sb.read_file(&format!("{dir}/absent")).await {
        Err(SandboxError::Shim(e)) => assert_eq!(e.kind, ShimErrorKind::NotFound),
        other => panic!("expected not found, got {other:?}"),
    }
    sb.exec(&format!("rm -rf {dir}"), &ExecOptions::default())
        .await
        .unwrap();
    sb.close().await.unwrap();
}

async fn copy_in_and_diff(sb: Box<dyn Sandbox>) {
    let dir = scratch();
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    let body = b"def add(a, b):\n    return a - b\n";
    header.set_size(body.len() as u64);
    header.set_mode(0o644);
    tar.append_data(&mut header, "repo/calc.py", &body[..])
        .unwrap();
    sb.copy_in(tar.into_inner().unwrap(), &dir).await.unwrap();
    let repo = format!("{dir}/repo");
    let setup = format!(
        "cd {repo} && git init -q && git add -A && git -c user.email=t@t -c user.name=t commit -qm init && git rev-parse HEAD"
    );
    let head = sb.exec(&setup, &ExecOptions::default()).await.unwrap();
    assert_eq!(head.exit_code, 0, "{}", head.stderr_text());
    let base = head.stdout_text().trim().to_string();
    sb.exec(
        &format!("cd {repo} && sed -i 's/a - b/a + b/' calc.py && echo 'x = 1' > new.py"),
        &ExecOptions::default(),
    )
    .await
    .unwrap();
    let diff = sb.diff(&repo, &base).await.unwrap();
    assert!(
        diff.contains("-    return a - b\n+    return a + b"),
        "{diff}"
    );
    assert!(
        diff.contains("new file mode 100644") && diff.contains("+x = 1"),
        "{diff}"
    );
    sb.exec(&format!("rm -rf {dir}"), &ExecOptions::default())
        .await
        .unwrap();
    sb.close().await.unwrap();
}

async fn concurrent_requests(sb: Box<dyn Sandbox>) {
    let outs = futures_util::future::join_all((0..16).map(|i| {
        let sb = &sb;
        async move {
            sb.exec(&format!("echo {i}"), &ExecOptions::default())
                .await
                .unwrap()
        }
    }))
    .await;
    for (i, out) in outs.iter().enumerate() {
        assert_eq!(out.stdout_text(), format!("{i}\n"));
    }
    sb.ping().await.unwrap();
    sb.close().await.unwrap();
}

async fn agent_tools(sb: Box<dyn Sandbox>) {
    let dir = scratch();
    sb.exec(&format!("mkdir -p {dir}"), &ExecOptions::default())
        .await
        .unwrap();
    let call = |name: &str, args: serde_json::Value| ToolRequest {
        name: name.into(),
        args: args.as_object().cloned().unwrap_or_default(),
        cwd: Some(dir.clone()),
        timeout_secs: Some(5),
    };
    let file = format!("{dir}/m.py");
    let created = sb
        .call_tool(call("file_editor", serde_json::json!({"command": "create", "path": file, "file_text": "def f():\n    return 1\n"})))
        .await
        .unwrap();
    assert_eq!(created.error_code, "0", "{created:?}");
    let edit = sb
        .call_tool(call("file_editor", serde_json::json!({"command": "str_replace", "path": file, "old_str": "return 1", "new_str": "return 2"})))
        .await
        .unwrap();
    assert!(edit.text.contains("return 2"), "{}", edit.text);
    assert_eq!(
        sb.read_file(&file).await.unwrap(),
        b"def f():\n    return 2\n"
    );
    sb.exec(&format!("rm -rf {dir}"), &ExecOptions::default())
        .await
        .unwrap();
    sb.close().await.unwrap();
}
