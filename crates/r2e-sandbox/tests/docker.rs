//! The Docker provider against a real daemon and a real bootstrapped image.

mod common;

use common::{assert_gone, image, provider, sandbox};
use r2e_sandbox::{
    ExecOptions, FileKind, Provider, Sandbox, SandboxError, SandboxSpec, ShimErrorKind,
};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn exit_codes_and_streams_are_split() {
    let p = provider().await;
    let sb = sandbox(&p).await;
    let out = sb
        .exec("echo out; echo err >&2; exit 3", &ExecOptions::default())
        .await
        .unwrap();
    assert_eq!(out.exit_code, 3);
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
    assert!(!out.timed_out && !out.truncated);
    let out = sb
        .exec("kill -TERM $$", &ExecOptions::default())
        .await
        .unwrap();
    assert_eq!(
        out.exit_code,
        128 + 15,
        "killed by a signal reports 128+signal"
    );
    let out = sb
        .exec_argv(
            &["python3".into(), "-c".into(), "print(6*7)".into()],
            &ExecOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(out.stdout_text(), "42\n");
    let id = sb.id().to_string();
    sb.close().await.unwrap();
    sb.close().await.expect("close is idempotent");
    assert_gone(&p, &id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn timeout_kills_the_process_group_and_the_sandbox_stays_usable() {
    let p = provider().await;
    let sb = sandbox(&p).await;
    let t = Instant::now();
    let out = sb
        .exec(
            "sleep 100 & sleep 100; echo never",
            &ExecOptions::timeout(1.0),
        )
        .await
        .unwrap();
    let took = t.elapsed();
    assert!(out.timed_out, "{out:?}");
    assert!(
        took < Duration::from_secs(2),
        "sleep 100 under a 1 s timeout took {took:?}"
    );
    assert!(!out.stdout_text().contains("never"));
    let left = sb
        .exec(
            "cat /proc/[0-9]*/comm 2>/dev/null | grep -cx sleep",
            &ExecOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        left.stdout_text().trim(),
        "0",
        "no sleep survives the timeout"
    );
    let again = sb
        .exec("echo alive", &ExecOptions::default())
        .await
        .unwrap();
    assert_eq!(again.stdout, b"alive\n");
    sb.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn background_processes_do_not_hold_the_reply() {
    let p = provider().await;
    let sb = sandbox(&p).await;
    let t = Instant::now();
    let out = sb
        .exec("sleep 30 & echo started", &ExecOptions::default())
        .await
        .unwrap();
    assert_eq!(out.stdout, b"started\n");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    // Orphans are reaped by the shim acting as init: no zombies pile up.
    sb.exec(
        "for i in $(seq 20); do (sleep 0.05 &) ; done; sleep 0.5",
        &ExecOptions::default(),
    )
    .await
    .unwrap();
    let zombies = sb
        .exec(
            "grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l",
            &ExecOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(zombies.stdout_text().trim(), "0");
    sb.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn output_is_capped_with_a_marker() {
    let p = provider().await;
    let sb = sandbox(&p).await;
    let opts = ExecOptions {
        max_output: 1 << 20,
        ..Default::default()
    };
    let out = sb
        .exec("yes abcdefghi | head -c 50000000; echo tail-end", &opts)
        .await
        .unwrap();
    assert!(out.truncated);
    assert_eq!(out.exit_code, 0);
    assert!(
        out.stdout.len() < (1 << 20) + 200,
        "captured {} bytes",
        out.stdout.len()
    );
    let text = out.stdout_text();
    assert!(text.starts_with("abcdefghi\nabcdefghi\n"));
    assert!(
        text.contains("bytes of output omitted (50000009 bytes in all)"),
        "{}",
        &text[..200]
    );
    assert!(text.ends_with("tail-end\n"), "the tail is kept");
    sb.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn binary_output_survives() {
    let p = provider().await;
    let sb = sandbox(&p).await;
    let out = sb
        .exec(r"printf 'a\377\376\000b'", &ExecOptions::default())
        .await
        .unwrap();
    assert_eq!(out.stdout, b"a\xff\xfe\x00b");
    assert!(!out.is_utf8());
    assert_eq!(out.stdout_text(), "a\u{fffd}\u{fffd}\0b");
    sb.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn stdin_env_and_cwd() {
    let p = provider().await;
    let sb = sandbox(&p).await;
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
        Err(SandboxError::Shim(e)) => {
            assert_eq!(e.kind, ShimErrorKind::NotFound);
            assert!(e.message.contains("/no/such/dir"));
        }
        other => panic!("expected a missing-cwd error, got {other:?}"),
    }
    sb.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn files_round_trip_with_odd_names() {
    let p = provider().await;
    let sb = sandbox(&p).await;
    let names = [
        "plain.txt",
        "with space.py",
        "ünïcødé-名前.md",
        "quote'n\"dquote",
        "-leading-dash",
        "tab\tname",
        "new\nline",
        ".hidden",
    ];
    let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    for (i, name) in names.iter().enumerate() {
        let path = format!("/work/odd dir/{name}");
        let data = if i % 2 == 0 {
            binary.clone()
        } else {
            name.as_bytes().to_vec()
        };
        sb.write_file(&path, &data, None).await.unwrap();
        assert_eq!(sb.read_file(&path).await.unwrap(), data, "{name:?}");
    }
    let listed: Vec<String> = sb
        .list_dir("/work/odd dir")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    let mut expected: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(listed, expected);
    // The shell sees the same bytes.
    let out = sb
        .exec("cat '/work/odd dir/with space.py'", &ExecOptions::default())
        .await
        .unwrap();
    assert_eq!(out.stdout, b"with space.py");
    sb.write_file("/work/run.sh", b"#!/bin/sh\necho ran\n", Some(0o755))
        .await
        .unwrap();
    let st = sb.stat("/work/run.sh").await.unwrap().expect("exists");
    assert_eq!(
        (st.kind, st.mode & 0o777, st.size),
        (FileKind::File, 0o755, 19)
    );
    assert_eq!(
        sb.exec("/work/run.sh", &ExecOptions::default())
            .await
            .unwrap()
            .stdout,
        b"ran\n"
    );
    assert_eq!(
        sb.stat("/work/odd dir").await.unwrap().unwrap().kind,
        FileKind::Dir
    );
    assert!(sb.stat("/work/missing").await.unwrap().is_none());
    match sb.read_file("/work/missing").await {
        Err(SandboxError::Shim(e)) => assert_eq!(e.kind, ShimErrorKind::NotFound),
        other => panic!("expected not-found, got {other:?}"),
    }
    sb.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_in_and_git_diff() {
    let p = provider().await;
    let sb = sandbox(&p).await;
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    let body = b"def add(a, b):\n    return a - b\n";
    header.set_size(body.len() as u64);
    header.set_mode(0o644);
    tar.append_data(&mut header, "repo/calc.py", &body[..])
        .unwrap();
    sb.copy_in(tar.into_inner().unwrap(), "/").await.unwrap();
    let setup = "cd /repo && git init -q && git add -A && git -c user.email=t@t -c user.name=t commit -qm init && git rev-parse HEAD";
    let head = sb.exec(setup, &ExecOptions::default()).await.unwrap();
    assert_eq!(head.exit_code, 0, "{}", head.stderr_text());
    let base = head.stdout_text().trim().to_string();
    sb.exec(
        "cd /repo && sed -i 's/a - b/a + b/' calc.py && echo 'x = 1' > new.py",
        &ExecOptions::default(),
    )
    .await
    .unwrap();
    let diff = sb.diff("/repo", &base).await.unwrap();
    assert!(
        diff.contains("-    return a - b\n+    return a + b"),
        "{diff}"
    );
    assert!(
        diff.contains("new file mode 100644") && diff.contains("+x = 1"),
        "{diff}"
    );
    sb.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_from_many_tasks_share_one_sandbox() {
    let p = provider().await;
    let sb = sandbox(&p).await;
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
    sb.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_container_killed_mid_exec_gives_a_clear_error() {
    let p = provider().await;
    let sb = sandbox(&p).await;
    let id = sb.id().to_string();
    let client = p.client().clone();
    let killer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        client
            .kill_container(&id, None::<bollard::query_parameters::KillContainerOptions>)
            .await
            .unwrap();
    });
    let t = Instant::now();
    let err = sb
        .exec("sleep 30", &ExecOptions::default())
        .await
        .unwrap_err();
    killer.await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(10));
    let msg = err.to_string();
    assert!(matches!(err, SandboxError::Died { .. }), "{err:?}");
    assert!(msg.contains("died while running `sleep 30`"), "{msg}");
    // Further requests fail the same way instead of hanging.
    assert!(matches!(
        sb.exec("true", &ExecOptions::default()).await,
        Err(SandboxError::Died { .. })
    ));
    sb.close().await.unwrap();
    assert_gone(&p, sb.id()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_image_is_a_clear_error() {
    let p = provider().await;
    let err = match p
        .start(&SandboxSpec::new("r2e-test/no-such-image:never"))
        .await
    {
        Err(e) => e,
        Ok(_) => panic!("a missing image must not start"),
    };
    assert!(matches!(err, SandboxError::ImageNotFound { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("r2e-test/no-such-image:never") && msg.contains("r2e image bootstrap"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_sandbox_is_removed_by_the_engine() {
    let p = provider().await;
    let sb = sandbox(&p).await;
    let id = sb.id().to_string();
    sb.exec("true", &ExecOptions::default()).await.unwrap();
    drop(sb);
    assert_gone(&p, &id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn close_all_removes_every_live_sandbox() {
    let p = r2e_sandbox::docker::DockerProvider::connect()
        .await
        .unwrap();
    let a = sandbox(&p).await;
    let b = sandbox(&p).await;
    assert_eq!(p.close_all().await, 2);
    assert_gone(&p, a.id()).await;
    assert_gone(&p, b.id()).await;
    assert!(a.exec("true", &ExecOptions::default()).await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn sandbox_spec_limits_apply() {
    let p = provider().await;
    let mut spec = SandboxSpec::new(image());
    spec.workdir = Some("/srv/app".into());
    spec.env = vec![("R2E_X".into(), "1".into())];
    spec.network = false;
    spec.limits.memory_bytes = Some(256 << 20);
    let sb = p.start_docker(&spec).await.unwrap();
    let out = sb
        .exec("pwd; echo $R2E_X; ls /sys/class/net; cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes", &ExecOptions::default())
        .await
        .unwrap();
    let text = out.stdout_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(&lines[..3], &["/srv/app", "1", "lo"], "{text}");
    assert_eq!(lines[3], (256u64 << 20).to_string());
    sb.close().await.unwrap();
}

/// A cache directory of the host is shared into the sandbox, made when
/// missing, and left out of an image saved from the sandbox.
#[tokio::test(flavor = "multi_thread")]
async fn host_caches_are_shared_but_not_saved() {
    let p = provider().await;
    assert!(
        p.shares_host_paths(),
        "the tests run against a local daemon"
    );
    let host = tempfile::tempdir().unwrap();
    let cache = host.path().join("made/by/start");
    let mut spec = SandboxSpec::new(image());
    spec.caches = vec![(cache.clone(), "/cache".into())];
    let sb = p.start_docker(&spec).await.unwrap();
    let out = sb
        .exec(
            "echo hit > /cache/entry && echo kept > /kept",
            &ExecOptions::default(),
        )
        .await
        .unwrap();
    assert!(out.success(), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(cache.join("entry")).unwrap(),
        "hit\n"
    );
    let tag = format!("r2e-test/caches:{}", std::process::id());
    p.commit(&sb, &tag, Default::default(), &[]).await.unwrap();
    sb.close().await.unwrap();
    let saved = p.start_docker(&SandboxSpec::new(&tag)).await.unwrap();
    let out = saved
        .exec(
            "cat /kept; ls -A /cache 2>/dev/null | wc -l",
            &ExecOptions::default(),
        )
        .await
        .unwrap();
    saved.close().await.unwrap();
    // A saved image runs with a plain `docker run`, as a user will try.
    let plain = std::process::Command::new("docker")
        .args(["run", "--rm", &tag])
        .arg("echo")
        .arg("plain run works")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&plain.stdout),
        "plain run works\n",
        "{}",
        String::from_utf8_lossy(&plain.stderr)
    );
    let shell = std::process::Command::new("docker")
        .args(["run", "--rm", "-i", &tag])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"cat /kept\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&shell.stdout), "kept\n");
    let _ = p
        .client()
        .remove_image(
            &tag,
            None::<bollard::query_parameters::RemoveImageOptions>,
            None,
        )
        .await;
    assert_eq!(out.stdout_text(), "kept\n0\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn agent_tools_run_inside_the_sandbox() {
    use r2e_sandbox::ToolRequest;
    let p = provider().await;
    let sb = sandbox(&p).await;
    let call = |name: &str, args: serde_json::Value| ToolRequest {
        name: name.into(),
        args: args.as_object().cloned().unwrap_or_default(),
        cwd: Some("/testbed".into()),
        timeout_secs: Some(5),
    };
    sb.exec("mkdir -p /testbed", &ExecOptions::default())
        .await
        .unwrap();
    let created = sb
        .call_tool(call(
            "file_editor",
            serde_json::json!({"command": "create", "path": "/testbed/m.py", "file_text": "def f():\n    return 1\n"}),
        ))
        .await
        .unwrap();
    assert_eq!(created.error_code, "0", "{created:?}");
    let edit = sb
        .call_tool(call(
            "file_editor",
            serde_json::json!({"command": "str_replace", "path": "/testbed/m.py", "old_str": "return 1", "new_str": "return 2"}),
        ))
        .await
        .unwrap();
    assert!(edit.text.contains("return 2"), "{}", edit.text);
    assert_eq!(
        sb.read_file("/testbed/m.py").await.unwrap(),
        b"def f():\n    return 2\n"
    );
    // The undo history lives in the shim between calls.
    sb.call_tool(call(
        "file_editor",
        serde_json::json!({"command": "undo_edit", "path": "/testbed/m.py"}),
    ))
    .await
    .unwrap();
    assert_eq!(
        sb.read_file("/testbed/m.py").await.unwrap(),
        b"def f():\n    return 1\n"
    );
    let view = sb
        .call_tool(call(
            "file_editor",
            serde_json::json!({"command": "view", "path": "/testbed/m.py"}),
        ))
        .await
        .unwrap();
    assert!(
        view.text.contains("     1 def f():\n     2     return 1"),
        "{}",
        view.text
    );
    let found = sb
        .call_tool(call(
            "search",
            serde_json::json!({"search_term": "return", "path": "/testbed"}),
        ))
        .await
        .unwrap();
    assert!(found.text.contains("./m.py (1 matches)"), "{}", found.text);
    let bash = sb
        .call_tool(call(
            "execute_bash",
            serde_json::json!({"cmd": "echo hi; exit 3"}),
        ))
        .await
        .unwrap();
    assert!(bash.text.contains("hi") && bash.exit_code == 3, "{bash:?}");
    let done = sb
        .call_tool(call("finish", serde_json::json!({})))
        .await
        .unwrap();
    assert!(done.finished);
    sb.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_start_given_up_half_way_leaves_no_container() {
    let p = provider().await;
    let mark = format!("abandoned-{}", std::process::id());
    let mut spec = SandboxSpec::new(image());
    spec.labels
        .push(("dev.r2e.test.abandoned".into(), mark.clone()));
    // Give up at several points of the start: before the create reaches the
    // engine, between create and start, and while the shim says hello.
    for ms in [0u64, 5, 20, 60, 150, 400] {
        let _ = tokio::time::timeout(Duration::from_millis(ms), p.start_docker(&spec)).await;
    }
    common::assert_none_labelled(&p, &format!("dev.r2e.test.abandoned={mark}")).await;
}
