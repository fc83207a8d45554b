//! `r2e bench view`: the trajectory viewer on a large generated file
//! (10,000 trajectories, ~100 MB by default): loading the index, then, over
//! HTTP on loopback, a page of the table, a search that finds a few
//! trajectories, a search that finds none (every line scanned), and opening
//! one trajectory. The baseline is the search without the index's
//! lowercased copy: every line lowercased per query, as the viewer first
//! did, timed here in the same run on the same file.

use super::bench::{Samples, ms};
use super::block_on;
use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use r2e_server::view::Index;
use serde_json::json;
use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

/// Arguments of `r2e bench view`.
#[derive(Debug, Args)]
pub struct BenchViewArgs {
    /// Trajectories in the generated file.
    #[arg(long, default_value_t = 10_000, value_parser = super::positive::<usize>)]
    trajectories: usize,
    /// Size of each trajectory's line, in kB (10^3 bytes).
    #[arg(long, default_value_t = 10, value_parser = super::positive::<usize>)]
    kb: usize,
    /// Timed requests of each kind; the median counts.
    #[arg(long, default_value_t = 7, value_parser = super::positive::<usize>)]
    runs: usize,
}

/// Every this many trajectories, one mentions the needle the hit search looks for.
const NEEDLE_EVERY: usize = 100;

/// One generated trajectory line of about `bytes` bytes: 20 steps of
/// pytest-like output, the needle (in mixed case) in every
/// [`NEEDLE_EVERY`]th.
fn line(i: usize, bytes: usize) -> String {
    // Each step's JSON adds about 200 bytes around its observation.
    let per_step = (bytes / 20).saturating_sub(200);
    let steps: Vec<_> = (0..20)
        .map(|s| {
            let mut observation = String::with_capacity(per_step);
            let mut n = 0;
            while observation.len() + 80 < per_step {
                observation += &format!(
                    "tests/test_mod_{i}.py::TestCase::test_case_{s}_{n} PASSED [{n:3}%] Ünïcode ok\n"
                );
                n += 1;
            }
            let thought = if s == 7 && i.is_multiple_of(NEEDLE_EVERY) {
                format!("The FlakyNeedle in trajectory {i} explains the failure.")
            } else {
                format!("Step {s}: run the tests again and read the output.")
            };
            json!({"thought": thought,
                "action": {"tool": "execute_bash", "args": {"cmd": "python -m pytest -q"}},
                "observation": observation, "llm_secs": 0.5, "env_secs": 0.2,
                "usage": {"prompt_tokens": 1000, "completion_tokens": 100}})
        })
        .collect();
    let solved = i.is_multiple_of(3);
    json!({"task_id": format!("bench__repo-{}", i / 4), "model": "m", "agent": "edit",
        "rollout": i % 4, "steps": steps, "patch": "diff --git a/x.py b/x.py\n",
        "reward": u8::from(solved), "reward_status": if solved { "resolved" } else { "unresolved" },
        "exit_reason": "submitted", "usage": {"prompt_tokens": 20000, "completion_tokens": 2000},
        "cost_usd": 0.02, "started_at": 0.0, "duration_secs": 60.0})
    .to_string()
}

/// Runs the benchmark.
pub fn run(a: BenchViewArgs) -> anyhow::Result<ExitCode> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("trajectories.jsonl");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    for i in 0..a.trajectories {
        writeln!(file, "{}", line(i, a.kb * 1000))?;
    }
    file.flush()?;
    drop(file);
    let size = std::fs::metadata(&path)?.len();
    let baseline = lowercase_per_query(&std::fs::read(&path)?, "no-such-words-anywhere", a.runs);
    let started = Instant::now();
    let index = Arc::new(Index::load(std::slice::from_ref(&path), &[], None)?);
    let load = started.elapsed();
    println!(
        "r2e bench view — {} trajectories, {:.0} MB; median of {} requests each",
        index.len(),
        size as f64 / 1e6,
        a.runs
    );
    block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(r2e_server::view::serve(listener, index, async {
            let _ = stopped.await;
        }));
        let http = reqwest::Client::builder().no_proxy().build()?;
        let needle_hits = a.trajectories.div_ceil(NEEDLE_EVERY);
        let cases = [
            ("summary", "/view/api/summary".to_string(), None),
            (
                "a page of the table (50 rows)",
                "/view/api/list?limit=50".into(),
                Some(a.trajectories),
            ),
            (
                "search that finds some",
                "/view/api/list?q=flakyneedle".into(),
                Some(needle_hits),
            ),
            (
                "search that finds none",
                "/view/api/list?q=no-such-words-anywhere".into(),
                Some(0),
            ),
            (
                "open one trajectory",
                format!("/view/api/traj/{}", a.trajectories / 2),
                None,
            ),
        ];
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED)
            .set_header(vec!["what", "median", "p95"]);
        t.add_row(vec!["load the index".to_string(), ms(load), String::new()]);
        t.add_row(vec![
            "baseline: search that finds none, every line lowercased per query".to_string(),
            ms(baseline.median()),
            ms(baseline.p95()),
        ]);
        for (name, path, total) in cases {
            let mut samples = Vec::with_capacity(a.runs);
            for _ in 0..a.runs {
                let t0 = Instant::now();
                let body: serde_json::Value = http
                    .get(format!("{url}{path}"))
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                samples.push(t0.elapsed());
                if let Some(want) = total {
                    anyhow::ensure!(
                        body["total"] == json!(want),
                        "{name}: the viewer found {} trajectories, the file has {want}",
                        body["total"]
                    );
                }
            }
            let s = Samples(samples);
            t.add_row(vec![name.to_string(), ms(s.median()), ms(s.p95())]);
        }
        let _ = stop.send(());
        server.await??;
        println!("{t}");
        Ok(ExitCode::SUCCESS)
    })?
}

/// The search as the viewer first ran it, in process (no HTTP): each line
/// lowercased, then searched, for every query.
fn lowercase_per_query(bytes: &[u8], needle: &str, runs: usize) -> Samples {
    let needle = needle.to_lowercase();
    Samples(
        (0..runs)
            .map(|_| {
                let t0 = Instant::now();
                let hits = bytes
                    .split(|&b| b == b'\n')
                    .filter(|line| {
                        String::from_utf8_lossy(line)
                            .to_lowercase()
                            .contains(&needle)
                    })
                    .count();
                std::hint::black_box(hits);
                t0.elapsed()
            })
            .collect(),
    )
}
