//! The `r2e sandbox`, `doctor` and error paths, run as a user runs them.

use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `r2e sandbox gc` removes what any dead run left, including the socket
/// folder another test is still looking at: the tests that run it take turns.
static GC: Mutex<()> = Mutex::new(());

fn r2e() -> Command {
    Command::new(env!("CARGO_BIN_EXE_r2e"))
}

fn image() -> String {
    std::env::var("R2E_TEST_IMAGE").unwrap_or_else(|_| "r2e/base:bookworm".into())
}

fn run(args: &[&str]) -> Output {
    r2e().args(args).output().expect("r2e runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn run_passes_output_and_exit_code_through() {
    let img = image();
    let out = run(&[
        "sandbox",
        "run",
        "--image",
        &img,
        "--",
        "echo to-out; echo to-err >&2; exit 7",
    ]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "to-out\n");
    assert_eq!(text(&out.stderr), "to-err\n");
    // Several arguments are quoted as words, not re-split by a shell.
    let out = run(&[
        "sandbox", "run", "--image", &img, "--", "printf", "%s|", "a b", "c",
    ]);
    assert_eq!(text(&out.stdout), "a b|c|");
}

#[test]
fn run_timeout_exits_124() {
    let t = Instant::now();
    let out = run(&[
        "sandbox",
        "run",
        "--image",
        &image(),
        "--timeout",
        "1",
        "--",
        "sleep 60",
    ]);
    assert_eq!(out.status.code(), Some(124));
    assert!(text(&out.stderr).contains("timed out"));
    assert!(t.elapsed() < Duration::from_secs(20));
}

#[test]
fn a_missing_image_says_what_to_do() {
    let out = run(&[
        "sandbox",
        "run",
        "--image",
        "r2e-test/absent:none",
        "--",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("r2e-test/absent:none") && err.contains("r2e image bootstrap"),
        "{err}"
    );
}

#[test]
fn a_dead_daemon_says_what_to_do() {
    let out = r2e()
        .args(["sandbox", "run", "--", "true"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("cannot reach the Docker daemon") && err.contains("dockerd"),
        "{err}"
    );
    let out = r2e()
        .args(["doctor"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("FAIL  docker daemon"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn doctor_passes_on_a_working_setup() {
    let out = run(&["doctor", "--image", &image()]);
    let report = text(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert!(report.contains("ok    shim: static binary"), "{report}");
    assert!(report.contains("ok    sandbox: shim started"), "{report}");
}

#[test]
fn shell_runs_a_script_from_stdin() {
    let mut child = r2e()
        .args(["sandbox", "shell", "--image", &image()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"cd /tmp\npwd\nexit 3\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(text(&out.stdout), "/tmp\n");
    assert_eq!(out.status.code(), Some(3));
}

/// Ctrl-C in the middle of a run removes the sandbox and exits 130.
#[test]
fn ctrl_c_removes_the_sandbox() {
    let marker = format!("r2e-ctrlc-{}", std::process::id());
    let child = r2e()
        .args([
            "sandbox",
            "run",
            "--image",
            &image(),
            "-e",
            &format!("MARK={marker}"),
            "--",
            "sleep 120",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let filter = format!("label=dev.r2e.owner-pid={pid}");
    assert!(
        wait_for(Duration::from_secs(30), || !docker_ps(&filter).is_empty()),
        "the sandbox never appeared"
    );
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: sending SIGINT to our own child.
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    let t = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("removed 1 sandbox"),
        "{}",
        text(&out.stderr)
    );
    assert!(t.elapsed() < Duration::from_secs(10));
    assert!(docker_ps(&filter).is_empty(), "container left after Ctrl-C");
}

#[test]
fn help_reads_well() {
    let out = run(&["--help"]);
    let help = text(&out.stdout);
    for cmd in ["dataset", "grade", "sandbox", "image", "doctor", "bench"] {
        assert!(help.contains(cmd), "{help}");
    }
    let out = run(&["sandbox", "run", "--help"]);
    assert!(text(&out.stdout).contains("--timeout <SECONDS>"));
}

/// Even SIGKILL of r2e leaves nothing: the shim sees its input close and the
/// engine's AutoRemove takes the container away.
#[test]
fn sigkill_of_r2e_leaves_no_container() {
    let mut child = r2e()
        .args(["sandbox", "run", "--image", &image(), "--", "sleep 120"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let filter = format!("label=dev.r2e.owner-pid={}", child.id());
    let appeared = wait_for(Duration::from_secs(30), || !docker_ps(&filter).is_empty());
    assert!(appeared, "the sandbox never appeared");
    child.kill().unwrap();
    child.wait().unwrap();
    let gone = wait_for(Duration::from_secs(30), || docker_ps(&filter).is_empty());
    assert!(gone, "container left after SIGKILL: {}", docker_ps(&filter));
}

/// `r2e sandbox gc` removes labelled shim containers whose r2e process is
/// gone, and leaves a user's container of an image that carries the labels
/// (images saved by older versions do).
#[test]
fn gc_removes_orphans_only() {
    let _gc = GC.lock().unwrap_or_else(|e| e.into_inner());
    let name = format!("r2e-gc-orphan-{}", std::process::id());
    let users = format!("r2e-gc-users-{}", std::process::id());
    let labelled = |verb: &str, name: &str| {
        let mut cmd = Command::new("docker");
        cmd.args([verb, "--name", name, "--label", "dev.r2e.sandbox=1"])
            .args(["--label", "dev.r2e.owner-pid=2147483600"]);
        cmd
    };
    // An orphan as a killed run leaves it: created, its entrypoint the shim.
    let created = labelled("create", &name)
        .args(["--entrypoint", "/.r2e/r2e-shim", &image()])
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", text(&created.stderr));
    let started = labelled("run", &users)
        .args(["-d", &image(), "sleep", "300"])
        .output()
        .unwrap();
    assert!(started.status.success(), "{}", text(&started.stderr));
    let out = run(&["sandbox", "gc"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("removed"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        docker_ps(&format!("name={name}")).is_empty(),
        "the orphan is still there"
    );
    let kept = !docker_ps(&format!("name={users}")).is_empty();
    let _ = Command::new("docker").args(["rm", "-f", &users]).output();
    assert!(kept, "gc removed a user's container");
}

/// A SIGKILLed r2e leaves its socket folder on the host; `r2e sandbox gc`
/// removes it and says how many it removed.
#[test]
fn gc_removes_the_socket_folders_of_killed_runs() {
    let _gc = GC.lock().unwrap_or_else(|e| e.into_inner());
    let mut child = r2e()
        .args(["sandbox", "run", "--image", &image(), "--", "sleep 120"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let filter = format!("label=dev.r2e.owner-pid={pid}");
    assert!(
        wait_for(Duration::from_secs(30), || !docker_ps(&filter).is_empty()),
        "the sandbox never appeared"
    );
    let dir = r2e_sandbox::docker::run_root().join(format!("{pid}-0"));
    assert!(dir.is_dir(), "no socket folder at {}", dir.display());
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        wait_for(Duration::from_secs(30), || docker_ps(&filter).is_empty()),
        "container left after SIGKILL"
    );
    assert!(dir.is_dir(), "SIGKILL cannot clean up the socket folder");
    let out = run(&["sandbox", "gc"]);
    let report = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(report.contains("socket folder(s) removed from"), "{report}");
    assert!(!dir.exists(), "{} is still there: {report}", dir.display());
    assert!(!dir.with_extension("container").exists());
}

/// An out-of-memory kill is named, with the limit, instead of a bare 137.
#[test]
fn run_reports_an_out_of_memory_kill() {
    let out = run(&[
        "sandbox",
        "run",
        "--image",
        &image(),
        "--memory",
        "256m",
        "--",
        "python3 -c 'b = bytearray(1 << 30)'",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(137), "{err}");
    assert!(
        err.contains("killed: out of memory (limit 256 MiB)"),
        "{err}"
    );
}

/// Limits come from the config file unless a flag says otherwise; a
/// malformed file is one error naming the file and the key.
#[test]
fn run_takes_limits_from_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[sandbox]\npids = 77\nnetwork = \"off\"\n").unwrap();
    let probe = "cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max; ls /sys/class/net | tr '\\n' ' '";
    let config_arg = config.to_str().unwrap();
    let out = run(&[
        "sandbox",
        "run",
        "--image",
        &image(),
        "--config",
        config_arg,
        "--",
        probe,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "77\nlo ");
    let out = r2e()
        .args([
            "sandbox",
            "run",
            "--image",
            &image(),
            "--pids",
            "88",
            "--network",
            "on",
        ])
        .args(["--", probe])
        .env("R2E_CONFIG", &config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("88\n") && stdout.contains("eth0"),
        "{stdout}"
    );
    std::fs::write(&config, "[sandbox]\nmemory = \"lots\"\n").unwrap();
    let out = run(&[
        "sandbox",
        "run",
        "--image",
        &image(),
        "--config",
        config_arg,
        "--",
        "true",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(config_arg) && err.contains("[sandbox] memory") && err.contains("\"lots\""),
        "{err}"
    );
}

fn docker_ps(filter: &str) -> String {
    let ps = Command::new("docker")
        .args(["ps", "-aq", "--filter", filter])
        .output()
        .unwrap();
    text(&ps.stdout).trim().to_string()
}

fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}
