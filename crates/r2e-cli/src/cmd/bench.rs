//! `r2e bench`: the speed figures the project tracks, each measured against
//! its baseline in the same run.

use super::{DEFAULT_IMAGE, block_on, until_interrupted};
use clap::{Args, Subcommand};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use futures_util::future::join_all;
use indicatif::{ProgressBar, ProgressStyle};
use r2e_sandbox::docker::{DockerProvider, DockerSandbox};
use r2e_sandbox::{ExecOptions, Sandbox, SandboxSpec};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCmd {
    /// Exec round trip through the shim vs. a fresh Docker exec, cold start, and
    /// concurrent sandboxes.
    Sandbox(SandboxBenchArgs),
    /// Log-parsing throughput on large real-shaped logs vs. reading the same bytes.
    Grade(super::bench_grade::BenchGradeArgs),
    /// SWE-Gen stages 1+2 (mine + filter) on a synthetic history vs. R2E-Gym's
    /// git-subprocess-plus-Python-ast approach.
    Mine(super::bench_mine::BenchMineArgs),
    /// SWE-Gen disk per validated task above its shared environment layer vs.
    /// an environment per task (needs PyPI).
    Disk(super::bench_disk::BenchDiskArgs),
    /// The gym: per-step overhead vs. R2E-Gym's docker exec + Python start,
    /// reset from the warm pool, episodes per minute with a scripted model.
    Env(super::bench_env::BenchEnvArgs),
    /// Execution-based verification: candidates scored per minute in parallel
    /// sandboxes vs. one at a time.
    Verify(super::bench_verify::BenchVerifyArgs),
    /// Scripted episodes through `r2e run` under injected faults (containers
    /// killed, the runner SIGKILLed, a flaky model): lost, duplicated,
    /// disagreeing and leaked must all be 0.
    Soak(super::bench_soak::BenchSoakArgs),
    /// The HTTP server: a step through HTTP vs. in-process, many
    /// environments at once, create to first step with and without a pool.
    Serve(super::bench_serve::BenchServeArgs),
    /// The trajectory viewer on a large generated file: loading, a page of
    /// the table, searches, opening one trajectory.
    View(super::bench_view::BenchViewArgs),
}

/// Arguments of `r2e bench sandbox`.
#[derive(Debug, Args)]
pub struct SandboxBenchArgs {
    /// Image to measure on.
    #[arg(long, default_value = DEFAULT_IMAGE)]
    image: String,
    /// No-op execs through the shim.
    #[arg(long, default_value_t = 500)]
    shim_iterations: usize,
    /// No-op execs through the Engine API (each costs ~50–100 ms).
    #[arg(long, default_value_t = 50)]
    engine_iterations: usize,
    /// Cold starts to time.
    #[arg(long, default_value_t = 10)]
    starts: usize,
    /// Sandbox counts for the concurrency test (comma-separated; 0 skips it).
    #[arg(long, value_delimiter = ',', default_value = "8,32,64")]
    concurrency: Vec<usize>,
    /// Execs per sandbox under concurrent load.
    #[arg(long, default_value_t = 20)]
    steps: usize,
}

/// Runs a benchmark.
pub fn run(cmd: BenchCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        BenchCmd::Sandbox(a) => block_on(async move {
            let provider = DockerProvider::connect().await?;
            until_interrupted(&provider, sandbox_bench(&provider, a)).await
        })?,
        BenchCmd::Grade(a) => super::bench_grade::run(a),
        BenchCmd::Mine(a) => super::bench_mine::run(a),
        BenchCmd::Disk(a) => super::bench_disk::run(a),
        BenchCmd::Env(a) => super::bench_env::run(a),
        BenchCmd::Verify(a) => super::bench_verify::run(a),
        BenchCmd::Soak(a) => super::bench_soak::run(a),
        BenchCmd::Serve(a) => super::bench_serve::run(a),
        BenchCmd::View(a) => super::bench_view::run(a),
    }
}

/// Latency samples.
pub(super) struct Samples(pub(super) Vec<Duration>);

impl Samples {
    fn quantile(&self, q: f64) -> Duration {
        let mut v = self.0.clone();
        v.sort();
        if v.is_empty() {
            return Duration::ZERO;
        }
        v[((v.len() - 1) as f64 * q).round() as usize]
    }
    pub(super) fn median(&self) -> Duration {
        self.quantile(0.5)
    }
    pub(super) fn p95(&self) -> Duration {
        self.quantile(0.95)
    }
}

pub(super) fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

pub(super) fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

pub(super) async fn time<F: std::future::Future<Output = anyhow::Result<()>>>(
    f: F,
) -> anyhow::Result<Duration> {
    let t = Instant::now();
    f.await?;
    Ok(t.elapsed())
}

async fn sandbox_bench(provider: &DockerProvider, a: SandboxBenchArgs) -> anyhow::Result<ExitCode> {
    let spec = SandboxSpec::new(&a.image);
    let noop = ["true".to_string()];
    let quiet = ExecOptions::default();
    println!("r2e bench sandbox — image {}", a.image);

    // Warm up the image's layers and the shim's host copy.
    provider.start_docker(&spec).await?.close().await?;

    let starts = cold_starts(provider, &spec, a.starts).await?;
    let offline = SandboxSpec {
        network: false,
        ..spec.clone()
    };
    let offline_starts = cold_starts(provider, &offline, a.starts).await?;
    let pooled = pooled_starts(provider, &spec, a.starts).await?;

    let sb = provider.start_docker(&spec).await?;
    let mut shim = Vec::with_capacity(a.shim_iterations);
    for _ in 0..a.shim_iterations {
        shim.push(
            time(async {
                sb.exec_argv(&noop, &quiet)
                    .await
                    .map(drop)
                    .map_err(Into::into)
            })
            .await?,
        );
    }
    let mut shell = Vec::with_capacity(a.shim_iterations);
    for _ in 0..a.shim_iterations {
        shell.push(time(async { sb.exec(":", &quiet).await.map(drop).map_err(Into::into) }).await?);
    }
    let (view, search) = tool_calls(&sb, a.shim_iterations / 5).await?;
    let mut engine = Vec::with_capacity(a.engine_iterations);
    for _ in 0..a.engine_iterations {
        engine.push(
            time(async {
                sb.engine_exec(&["true"])
                    .await
                    .map(drop)
                    .map_err(Into::into)
            })
            .await?,
        );
    }
    sb.close().await?;
    let (shim, shell, engine) = (Samples(shim), Samples(shell), Samples(engine));

    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(vec!["measure", "n", "median", "p95"]);
    for (label, samples) in [
        ("exec `true` through the shim", &shim),
        ("exec `bash -c :` through the shim", &shell),
        ("tool: file_editor view, 20 lines (shim)", &view),
        ("tool: search, 50 files (shim)", &search),
        ("fresh docker exec `true` (Engine API)", &engine),
        ("cold start to first exec", &starts),
        ("cold start to first exec, no network", &offline_starts),
        ("warm-pool take to first exec", &pooled),
    ] {
        t.add_row(vec![
            label.to_string(),
            samples.0.len().to_string(),
            ms(samples.median()),
            ms(samples.p95()),
        ]);
    }
    println!("{t}");
    let ratio = engine.median().as_secs_f64() / shim.median().as_secs_f64();
    println!(
        "shim vs docker exec: {ratio:.1}x faster at the median (target ≥ 30x: {}); shim median {} (target ≤ 2 ms: {})",
        verdict(ratio >= 30.0),
        ms(shim.median()),
        verdict(shim.median() <= Duration::from_millis(2))
    );
    println!(
        "cold start to first exec: median {} with a network, {} without (target ≤ 300 ms: {}, {})",
        ms(starts.median()),
        ms(offline_starts.median()),
        verdict(starts.median() <= Duration::from_millis(300)),
        verdict(offline_starts.median() <= Duration::from_millis(300))
    );

    if a.concurrency.iter().any(|&n| n > 0) {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
            "sandboxes",
            "all started in",
            "start p95",
            "step median",
            "step p95",
            "steps/s",
        ]);
        for &n in a.concurrency.iter().filter(|&&n| n > 0) {
            let row = concurrent(provider, &spec, n, a.steps).await?;
            t.add_row(row);
        }
        println!("{t}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Times `file_editor view` of 20 lines and `search` over 50 files, served by
/// the shim (R2E-Gym pays a docker exec and a Python start for each).
async fn tool_calls(sb: &DockerSandbox, n: usize) -> anyhow::Result<(Samples, Samples)> {
    use r2e_sandbox::ToolRequest;
    let setup = "mkdir -p /testbed/pkg && cd /testbed/pkg && for i in $(seq 50); do                  for j in $(seq 40); do echo \"def f_${j}(x): return x + $i  # value\"; done > m_$i.py; done";
    sb.exec(setup, &ExecOptions::default()).await?;
    let req = |name: &str, args: serde_json::Value| ToolRequest {
        name: name.into(),
        args: args.as_object().cloned().unwrap_or_default(),
        cwd: Some("/testbed".into()),
        timeout_secs: None,
    };
    let view = req(
        "file_editor",
        serde_json::json!({"command": "view", "path": "/testbed/pkg/m_1.py", "view_range": [1, 20]}),
    );
    let search = req(
        "search",
        serde_json::json!({"search_term": "value", "path": "/testbed/pkg"}),
    );
    let mut samples = [Vec::with_capacity(n), Vec::with_capacity(n)];
    for _ in 0..n.max(1) {
        for (req, out) in [&view, &search].into_iter().zip(samples.iter_mut()) {
            out.push(
                time(async {
                    sb.call_tool(req.clone())
                        .await
                        .map(drop)
                        .map_err(Into::into)
                })
                .await?,
            );
        }
    }
    let [view, search] = samples;
    Ok((Samples(view), Samples(search)))
}

/// Times `n` takes from a warm pool (one ready sandbox), each to the end of its
/// first exec; the refill between takes is not timed.
async fn pooled_starts(
    provider: &DockerProvider,
    spec: &SandboxSpec,
    n: usize,
) -> anyhow::Result<Samples> {
    let pool = r2e_sandbox::WarmPool::new(std::sync::Arc::new(provider.clone()), 1);
    let noop = ["true".to_string()];
    let mut takes = Vec::with_capacity(n);
    for _ in 0..n {
        pool.fill(spec).await?;
        let t = Instant::now();
        let sb = pool.take(spec).await?;
        sb.exec_argv(&noop, &ExecOptions::default()).await?;
        takes.push(t.elapsed());
        sb.close().await?;
    }
    pool.fill(spec).await?;
    pool.drain().await;
    Ok(Samples(takes))
}

/// Times `n` sandbox starts, each to the end of its first exec.
async fn cold_starts(
    provider: &DockerProvider,
    spec: &SandboxSpec,
    n: usize,
) -> anyhow::Result<Samples> {
    let noop = ["true".to_string()];
    let mut starts = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let sb = provider.start_docker(spec).await?;
        sb.exec_argv(&noop, &ExecOptions::default()).await?;
        starts.push(t.elapsed());
        sb.close().await?;
    }
    Ok(Samples(starts))
}

/// Starts `n` sandboxes at once, then has each run `steps` no-op execs concurrently.
async fn concurrent(
    provider: &DockerProvider,
    spec: &SandboxSpec,
    n: usize,
    steps: usize,
) -> anyhow::Result<Vec<String>> {
    let bar = ProgressBar::new(n as u64);
    bar.set_style(ProgressStyle::with_template(
        "  {prefix} [{bar:30}] {pos}/{len} started, ETA {eta}",
    )?);
    bar.set_prefix(format!("N={n}"));
    let wall = Instant::now();
    let started: Vec<(Duration, anyhow::Result<DockerSandbox>)> = join_all((0..n).map(|_| async {
        let t = Instant::now();
        let r = provider
            .start_docker(spec)
            .await
            .map_err(anyhow::Error::from);
        super::advance(&bar, 1);
        (t.elapsed(), r)
    }))
    .await;
    let all_started = wall.elapsed();
    bar.finish_and_clear();
    let mut sandboxes = Vec::new();
    let mut start_times = Vec::new();
    let mut first_err = None;
    for (d, r) in started {
        match r {
            Ok(sb) => {
                start_times.push(d);
                sandboxes.push(sb);
            }
            Err(e) => first_err = first_err.or(Some(e)),
        }
    }
    let noop = ["true".to_string()];
    let opts = ExecOptions::default();
    let steps_wall = Instant::now();
    let lat: Vec<anyhow::Result<Vec<Duration>>> = join_all(sandboxes.iter().map(|sb| async {
        let mut v = Vec::with_capacity(steps);
        for _ in 0..steps {
            let t = Instant::now();
            sb.exec_argv(&noop, &opts).await?;
            v.push(t.elapsed());
        }
        Ok(v)
    }))
    .await;
    let steps_elapsed = steps_wall.elapsed();
    join_all(sandboxes.iter().map(|sb| sb.close())).await;
    if let Some(e) = first_err {
        return Err(e.context(format!("starting {n} sandboxes at once")));
    }
    let mut all = Vec::new();
    for l in lat {
        all.extend(l?);
    }
    let lat = Samples(all);
    let start_times = Samples(start_times);
    Ok(vec![
        n.to_string(),
        ms(all_started),
        ms(start_times.p95()),
        ms(lat.median()),
        ms(lat.p95()),
        format!("{:.0}", lat.0.len() as f64 / steps_elapsed.as_secs_f64()),
    ])
}
