//! `r2e bench soak`: many scripted episodes through `r2e run` while faults
//! are injected, then a count of what went wrong.
//!
//! The runner is a child `r2e run` process (a scripted model on 127.0.0.1
//! that always fixes the demo tasks, so every graded episode must earn 1).
//! While it runs, this command kills random sandbox containers (mid-step,
//! mid-reward, idle in the warm pool), SIGKILLs the runner and starts it
//! again (it resumes), and the model answers some calls with HTTP 500 or
//! never. Then a clean rerun (`--retry-errors`, no faults) finishes the
//! episodes that ended in an infrastructure error. It prints: episodes
//! finished, lost, duplicated, infra errors reported as such, rewards that
//! disagree with the clean rerun (a graded 0 where the fix was made), and
//! containers left. Target: 0 lost, 0 duplicated, 0 disagreeing, 0 leaked.

use super::{DEFAULT_IMAGE, block_on};
use anyhow::Context;
use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use indicatif::{ProgressBar, ProgressStyle};
use r2e_agent::ActionFormat;
use r2e_core::{RewardStatus, Trajectory};
use r2e_llm::testing::{Reply, ScriptedServer};
use r2e_sandbox::docker::DockerProvider;
use r2e_sandbox::{OWNER_PID_LABEL, SANDBOX_LABEL};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// Arguments of `r2e bench soak`.
#[derive(Debug, Args)]
pub struct BenchSoakArgs {
    /// Episodes to play (rounded up to a multiple of the 3 demo tasks).
    #[arg(long, default_value_t = 1000, value_parser = super::positive::<usize>)]
    episodes: usize,
    /// Episodes at once in the runner.
    #[arg(long, default_value_t = 4, value_parser = super::positive::<usize>)]
    workers: usize,
    /// Warm pool size of the runner.
    #[arg(long, default_value_t = 2)]
    pool: usize,
    /// Seconds between two faults.
    #[arg(long, default_value_t = 1.5, value_parser = super::positive_secs)]
    fault_every: f64,
    /// Share of faults that SIGKILL the runner (the rest kill a container).
    #[arg(long, default_value_t = 0.1)]
    runner_kills: f64,
    /// Share of model calls answered with HTTP 500, and share never answered.
    #[arg(long, default_value_t = 0.03)]
    llm_errors: f64,
    /// Share of model calls never answered (the runner's timeout retries them).
    #[arg(long, default_value_t = 0.01)]
    llm_hangs: f64,
    /// Base image the demo tasks are built from.
    #[arg(long, default_value = DEFAULT_IMAGE)]
    base_image: String,
    /// Keep the run's files here (default: a temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Play the episodes through an `r2e serve` child (`r2e run --server`):
    /// its sandboxes are the ones killed, runner kills drop client
    /// connections mid-call, and the server is SIGKILLed and restarted once
    /// halfway.
    #[arg(long)]
    through_server: bool,
}

/// Faults injected so far.
#[derive(Debug, Default)]
struct Faults {
    containers_killed: usize,
    runner_kills: usize,
    server_restarts: usize,
}

/// An `r2e serve` child on a fixed loopback port.
struct Server {
    exe: PathBuf,
    port: u16,
    log: PathBuf,
    child: Child,
}

impl Server {
    fn start(exe: &Path, port: u16, log: &Path) -> anyhow::Result<Server> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let child = Command::new(exe)
            .args([
                "serve",
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--capacity",
                "64",
                // A killed runner's environments must give their places back
                // soon, or repeated kills fill the server with orphans; live
                // ones keep theirs with heartbeats.
                "--ttl",
                "20",
            ])
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .context("starting r2e serve")?;
        Ok(Server {
            exe: exe.to_path_buf(),
            port,
            log: log.to_path_buf(),
            child,
        })
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Waits until the server answers.
    async fn ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            anyhow::ensure!(Instant::now() < deadline, "r2e serve did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// SIGKILL, then the same server again (which sweeps what the killed one left).
    async fn restart(&mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        *self = Server::start(&self.exe, self.port, &self.log)?;
        self.ready().await
    }
}

/// Runs the soak.
pub fn run(a: BenchSoakArgs) -> anyhow::Result<ExitCode> {
    block_on(soak(a))?
}

async fn soak(a: BenchSoakArgs) -> anyhow::Result<ExitCode> {
    let provider = DockerProvider::connect().await?;
    let tmp = tempfile::tempdir()?;
    let dir = a.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let tasks = r2e_eval::demo::build(&provider, &a.base_image).await?;
    let dataset = dir.join("demo.jsonl");
    r2e_core::dataset::write(&dataset, &tasks)?;
    let k = a.episodes.div_ceil(tasks.len());
    let expected = k * tasks.len();
    let out = dir.join("soak.jsonl");
    let _ = std::fs::remove_file(&out);

    let server = ScriptedServer::start().await?;
    let flaky = Arc::new(AtomicBool::new(true));
    let solver = r2e_agent::testing::demo_solver(ActionFormat::Native);
    let (errors, hangs, on) = (a.llm_errors, a.llm_hangs, flaky.clone());
    server.set_responder(move |req| {
        if on.load(Ordering::Relaxed) {
            let roll = fastrand::f64();
            if roll < errors {
                return Reply::status(500, "injected server error");
            }
            if roll < errors + hangs {
                return Reply::Hang;
            }
        }
        solver(req)
    });
    let mut server_child = if a.through_server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let s = Server::start(&std::env::current_exe()?, port, &dir.join("server.log"))?;
        s.ready().await?;
        Some(s)
    } else {
        None
    };
    let runner = Runner {
        server: server_child.as_ref().map(Server::url),
        exe: std::env::current_exe()?,
        dataset,
        out: out.clone(),
        base_url: server.openai_base_url(),
        k,
        workers: a.workers,
        pool: a.pool,
        log: dir.join("runner.log"),
    };
    println!(
        "r2e bench soak — {expected} episodes ({k} rollouts × {} demo tasks), {} workers, pool {}, a fault every {} s",
        tasks.len(),
        a.workers,
        a.pool,
        a.fault_every
    );
    let clock = Instant::now();
    let bar = ProgressBar::new(expected as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} episodes · {msg} · ETA {eta}",
        )?
        .progress_chars("=> "),
    );
    let mut faults = Faults::default();
    let mut child = runner.spawn(false)?;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(a.fault_every));
    tick.tick().await;
    loop {
        tokio::select! {
            status = child.wait() => {
                let status = status?;
                if status.success() {
                    break;
                }
                bar.println(format!("the runner exited with {status}; starting it again"));
                child = runner.spawn(false)?;
            }
            _ = tick.tick() => {
                let done = read(&out).len();
                let owner = server_child.as_ref().map_or(child.id(), |s| s.child.id());
                let restart = faults.server_restarts == 0 && done * 2 >= expected;
                if let Some(s) = server_child.as_mut().filter(|_| restart) {
                    s.restart().await?;
                    faults.server_restarts += 1;
                } else if fastrand::f64() < a.runner_kills {
                    child.kill().await?;
                    faults.runner_kills += 1;
                    child = runner.spawn(false)?;
                } else if kill_one_container(&provider, owner).await? {
                    faults.containers_killed += 1;
                }
                bar.set_position(done as u64);
                bar.set_message(format!(
                    "{} containers killed, {} runner kills",
                    faults.containers_killed, faults.runner_kills
                ));
            }
        }
    }
    bar.finish_and_clear();
    let faulty_secs = clock.elapsed().as_secs_f64();
    let first = read(&out);
    let infra_reported = first
        .iter()
        .filter(|t| t.status() == RewardStatus::InfraError)
        .count();

    // The clean rerun: no faults, the infra errors played again.
    flaky.store(false, Ordering::Relaxed);
    let status = runner.spawn(true)?.wait().await?;
    anyhow::ensure!(
        status.success(),
        "the clean rerun failed ({status}); see {}",
        runner.log.display()
    );
    let all = read(&out);
    if let Some(mut s) = server_child.take() {
        // Environments of killed runners wait for their TTL on a live
        // server; a server stopped with SIGTERM must remove them all.
        if let Some(pid) = s.child.id() {
            Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await?;
        }
        s.child.wait().await?;
    }
    let left = containers_left(&provider).await?;
    let report = Report::of(&all, expected);

    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(vec!["", "count", "target"]);
    for (label, n, target) in [
        ("episodes expected", expected, String::new()),
        (
            "episodes finished (graded)",
            report.graded,
            expected.to_string(),
        ),
        ("lost", report.lost, "0".into()),
        ("duplicated (two verdicts)", report.duplicated, "0".into()),
        (
            "infra errors reported as such, then rerun",
            infra_reported,
            String::new(),
        ),
        (
            "rewards that disagree with the clean rerun",
            report.disagreeing,
            "0".into(),
        ),
        ("containers left", left, "0".into()),
        (
            "faults: containers killed",
            faults.containers_killed,
            String::new(),
        ),
        (
            "faults: runner SIGKILLed and restarted",
            faults.runner_kills,
            String::new(),
        ),
        (
            "faults: server SIGKILLed and restarted",
            faults.server_restarts,
            String::new(),
        ),
    ] {
        t.add_row(vec![label.to_string(), n.to_string(), target]);
    }
    println!("{t}");
    println!(
        "soak: {faulty_secs:.0} s under faults, {:.0} s in all; files in {}",
        clock.elapsed().as_secs_f64(),
        dir.display()
    );
    if a.dir.is_none() {
        drop(tmp);
    }
    let clean = report.lost == 0 && report.duplicated == 0 && report.disagreeing == 0 && left == 0;
    println!(
        "verdict: {}",
        if clean {
            "0 lost, 0 duplicated, 0 disagreeing, 0 leaked"
        } else {
            "NOT CLEAN"
        }
    );
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// How to start the runner.
struct Runner {
    server: Option<String>,
    exe: PathBuf,
    dataset: PathBuf,
    out: PathBuf,
    base_url: String,
    k: usize,
    workers: usize,
    pool: usize,
    log: PathBuf,
}

impl Runner {
    /// Starts `r2e run` on the demo tasks with the scripted model.
    fn spawn(&self, retry_errors: bool) -> anyhow::Result<Child> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let mut cmd = Command::new(&self.exe);
        cmd.args(["run", "--model", "scripted", "--base-url", &self.base_url])
            .arg("--dataset")
            .arg(&self.dataset)
            .arg("--out")
            .arg(&self.out)
            .args(["--k", &self.k.to_string()])
            .args(["--workers", &self.workers.to_string()])
            .args(["--pool", &self.pool.to_string()])
            .args(["--llm-timeout", "3", "--max-time", "300"])
            .env("R2E_API_KEY", "soak")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        if retry_errors {
            cmd.arg("--retry-errors");
        }
        if let Some(url) = &self.server {
            cmd.args(["--server", url]);
        }
        cmd.spawn().context("starting the runner")
    }
}

/// Kills one sandbox of the runner (process `owner`) at random; false when
/// none runs. Sandboxes of other r2e processes are left alone.
async fn kill_one_container(provider: &DockerProvider, owner: Option<u32>) -> anyhow::Result<bool> {
    let Some(owner) = owner else { return Ok(false) };
    let ids = sandboxes(provider, Some(owner)).await?;
    if ids.is_empty() {
        return Ok(false);
    }
    let id = &ids[fastrand::usize(..ids.len())];
    // The container may be gone already: that is no failure of the soak.
    let _ = provider
        .client()
        .kill_container(id, None::<bollard::query_parameters::KillContainerOptions>)
        .await;
    Ok(true)
}

/// Ids of the r2e sandboxes present (of process `owner` when given).
async fn sandboxes(provider: &DockerProvider, owner: Option<u32>) -> anyhow::Result<Vec<String>> {
    let label = match owner {
        Some(pid) => format!("{OWNER_PID_LABEL}={pid}"),
        None => format!("{SANDBOX_LABEL}=1"),
    };
    let list = provider.containers_labelled(&label, true).await?;
    Ok(list.into_iter().filter_map(|c| c.id).collect())
}

/// Sandboxes still present 15 s after the last run ended (removal is
/// asynchronous in the engine).
async fn containers_left(provider: &DockerProvider) -> anyhow::Result<usize> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let n = sandboxes(provider, None).await?.len();
        if n == 0 || Instant::now() > deadline {
            return Ok(n);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The trajectories in `path` (none when it does not exist yet).
fn read(path: &Path) -> Vec<Trajectory> {
    r2e_core::trajectory::read_file(path).unwrap_or_default()
}

/// What the file says after the soak.
#[derive(Debug, PartialEq, Eq)]
struct Report {
    /// Episodes with a verdict.
    graded: usize,
    /// Expected episodes with no trajectory at all.
    lost: usize,
    /// Episodes with more than one verdict.
    duplicated: usize,
    /// Verdicts other than resolved: the scripted model always fixes the
    /// task, so a clean rerun resolves every episode.
    disagreeing: usize,
}

impl Report {
    fn of(all: &[Trajectory], expected: usize) -> Self {
        let mut verdicts: BTreeMap<(&str, u32), usize> = BTreeMap::new();
        let mut present: BTreeMap<(&str, u32), ()> = BTreeMap::new();
        let mut disagreeing = 0;
        for t in all {
            present.insert((&t.task_id, t.rollout), ());
            if t.graded() {
                *verdicts.entry((&t.task_id, t.rollout)).or_default() += 1;
                disagreeing += usize::from(t.status() != RewardStatus::Resolved);
            }
        }
        Report {
            graded: verdicts.len(),
            lost: expected.saturating_sub(present.len()),
            duplicated: verdicts.values().filter(|n| **n > 1).count(),
            disagreeing,
        }
    }
}
