//! Resource limits against a real daemon: the default process limit stops a
//! fork bomb, a memory limit ends in a reported out-of-memory kill, and a
//! warm pool never hands out a sandbox that died while idle.

mod common;

use common::{image, provider};
use r2e_sandbox::{ExecOptions, Limits, Sandbox, SandboxError, SandboxSpec, WarmPool};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs a trivial command on the host and returns how long it took.
fn host_command_time() -> Duration {
    let t = Instant::now();
    let status = std::process::Command::new("sh")
        .args(["-c", "echo host-alive >/dev/null"])
        .status()
        .expect("the host runs a command");
    assert!(status.success());
    t.elapsed()
}

#[tokio::test(flavor = "multi_thread")]
async fn default_limits_apply_and_a_fork_bomb_is_contained() {
    let p = provider().await;
    let spec = SandboxSpec::new(image());
    assert_eq!(spec.limits, Limits::default());
    let sb = p.start_docker(&spec).await.unwrap();
    let id = sb.id().to_string();
    let out = sb
        .exec(
            "cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max; \
             cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes",
            &ExecOptions::default(),
        )
        .await
        .unwrap();
    let text = out.stdout_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines, ["1024", &(4u64 << 30).to_string()], "{text}");

    // The bomb runs for 5 s while the host keeps answering.
    let bomb = {
        let sb = Arc::new(sb);
        let runner = sb.clone();
        let handle = tokio::spawn(async move {
            let t = Instant::now();
            let r = runner
                .exec(":(){ :|:& };:", &ExecOptions::timeout(5.0))
                .await;
            (r, t.elapsed())
        });
        tokio::time::sleep(Duration::from_secs(2)).await;
        let host = tokio::task::spawn_blocking(host_command_time)
            .await
            .unwrap();
        assert!(
            host < Duration::from_secs(5),
            "a host command took {host:?}"
        );
        let t = Instant::now();
        p.client().ping().await.expect("the daemon answers");
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the daemon took {:?} to answer",
            t.elapsed()
        );
        let (result, took) = handle.await.unwrap();
        match &result {
            Ok(out) => eprintln!(
                "the bomb's command ended after {took:?} (exit {}, timed out: {})",
                out.exit_code, out.timed_out
            ),
            Err(e) => panic!("the bomb broke the sandbox: {e}"),
        }
        assert!(took < Duration::from_secs(40), "the bomb took {took:?}");
        sb
    };
    // Its background processes may live on at the limit: a new command then
    // either runs or is refused with the reason, and the shim still answers.
    let host = tokio::task::spawn_blocking(host_command_time)
        .await
        .unwrap();
    assert!(
        host < Duration::from_secs(5),
        "a host command took {host:?}"
    );
    match bomb
        .exec("echo still-here", &ExecOptions::timeout(10.0))
        .await
    {
        Ok(out) => {
            eprintln!("exec after the bomb: exit {}", out.exit_code);
            assert_eq!(out.stdout_text(), "still-here\n");
        }
        Err(SandboxError::Shim(e)) => {
            eprintln!("exec after the bomb: {e}");
            assert!(e.message.contains("process limit"), "{e}");
        }
        Err(e) => panic!("the sandbox did not survive the bomb: {e}"),
    }
    bomb.ping().await.expect("the shim still answers");
    assert!(bomb.stat("/").await.unwrap().is_some());
    let t = Instant::now();
    bomb.close().await.unwrap();
    eprintln!("closed the bombed sandbox in {:?}", t.elapsed());
    common::assert_gone(&p, &id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_allocation_over_the_memory_limit_is_reported_out_of_memory() {
    let p = provider().await;
    let mut spec = SandboxSpec::new(image());
    spec.limits.memory_bytes = Some(256 << 20);
    let sb = p.start_docker(&spec).await.unwrap();
    assert_eq!(sb.limits().memory_bytes, Some(256 << 20));

    let fine = sb
        .exec(
            "python3 -c 'b = bytearray(64 << 20)'",
            &ExecOptions::timeout(60.0),
        )
        .await
        .unwrap();
    assert!(fine.success() && !fine.oom_killed, "{}", fine.stderr_text());
    assert_eq!(fine.kill_note(sb.limits()), None);

    let out = sb
        .exec(
            "python3 -c 'b = bytearray(1 << 30)'",
            &ExecOptions::timeout(60.0),
        )
        .await
        .unwrap();
    assert!(
        out.oom_killed,
        "exit {}: {}",
        out.exit_code,
        out.stderr_text()
    );
    assert_eq!(out.exit_code, 137);
    assert_eq!(
        out.kill_note(sb.limits()).as_deref(),
        Some("killed: out of memory (limit 256 MiB)")
    );
    // Without python: a pipeline whose tail holds 1 GiB of one long line.
    let out = sb
        .exec("head -c 1G /dev/zero | tail", &ExecOptions::timeout(60.0))
        .await
        .unwrap();
    assert!(
        out.oom_killed,
        "exit {}: {}",
        out.exit_code,
        out.stderr_text()
    );
    // The sandbox survives its command's death.
    let out = sb.exec("echo ok", &ExecOptions::default()).await.unwrap();
    assert_eq!(out.stdout_text(), "ok\n");
    assert!(!out.oom_killed);
    sb.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn no_limits_leave_the_container_unlimited() {
    let p = provider().await;
    let mut spec = SandboxSpec::new(image());
    spec.limits = Limits::none();
    let sb = p.start_docker(&spec).await.unwrap();
    let out = sb
        .exec(
            "cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max",
            &ExecOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(out.stdout_text().trim(), "max");
    sb.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pool_replaces_sandboxes_that_died_while_idle() {
    let p = Arc::new(provider().await);
    let pool = WarmPool::new(p.clone(), 2);
    let mut spec = SandboxSpec::new(image());
    // A label of this test only: the other tests of this binary run at once.
    let mark = format!("pool-{}", std::process::id());
    spec.labels.push(("dev.r2e.test".into(), mark.clone()));
    pool.fill(&spec).await.unwrap();
    assert_eq!(pool.ready(&spec), 2);
    // Kill both idle containers behind the pool's back.
    let pooled: Vec<String> = p
        .containers_labelled(&format!("dev.r2e.test={mark}"), false)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|c| c.id)
        .collect();
    assert_eq!(pooled.len(), 2, "{pooled:?}");
    for id in &pooled {
        p.client()
            .kill_container(id, None::<bollard::query_parameters::KillContainerOptions>)
            .await
            .unwrap();
    }
    for _ in 0..2 {
        let t = Instant::now();
        let sb = pool
            .take(&spec)
            .await
            .expect("take replaces dead sandboxes");
        assert!(!pooled.contains(&sb.id().to_string()));
        let out = sb
            .exec("echo alive", &ExecOptions::default())
            .await
            .unwrap();
        assert_eq!(out.stdout_text(), "alive\n");
        eprintln!("take after the kill: {:?}", t.elapsed());
        sb.close().await.unwrap();
    }
    // A live pooled sandbox answers the ping and is handed out as it is.
    pool.fill(&spec).await.unwrap();
    let t = Instant::now();
    let sb = pool.take(&spec).await.unwrap();
    eprintln!("take of a live pooled sandbox: {:?}", t.elapsed());
    sb.ping().await.unwrap();
    sb.close().await.unwrap();
    pool.drain().await;
}

/// When the out-of-memory killer takes the shim itself, the sandbox dies and
/// the error says why, even after the engine removed the container.
#[tokio::test(flavor = "multi_thread")]
async fn a_sandbox_killed_out_of_memory_says_so() {
    let p = provider().await;
    let mut spec = SandboxSpec::new(image());
    spec.limits.memory_bytes = Some(256 << 20);
    let sb = p.start_docker(&spec).await.unwrap();
    // The command's parent is the serving shim: make it the OOM killer's
    // first choice, then run out of memory in several smaller processes
    // (one process as large as the limit would still outscore the shim).
    let err = sb
        .exec(
            "echo 1000 > /proc/$PPID/oom_score_adj && for i in 1 2 3 4 5; do \
             python3 -c 'import time; b = bytearray(80 << 20); time.sleep(30)' & done; wait",
            &ExecOptions::timeout(60.0),
        )
        .await
        .expect_err("the sandbox dies with its shim");
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(matches!(err, SandboxError::Died { .. }), "{msg}");
    assert!(
        msg.contains("killed: out of memory (limit 256 MiB)"),
        "{msg}"
    );
    sb.close().await.unwrap();
}
