//! `r2e bench verify`: execution-based scoring throughput — K candidates of
//! every demo task against a generated test, scored in parallel sandboxes
//! from a warm pool vs. one at a time, in the same run.

use super::{DEFAULT_IMAGE, block_on, until_interrupted};
use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use r2e_agent::{ActionFormat, AgentConfig, EditAgent};
use r2e_core::Task;
use r2e_env::{EnvOptions, RepoEnv};
use r2e_llm::testing::ScriptedServer;
use r2e_sandbox::docker::DockerProvider;
use r2e_sandbox::{Provider, WarmPool};
use r2e_verify::exec::{Candidate, GeneratedTest, score_task, test_file, write_tests};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Arguments of `r2e bench verify`.
#[derive(Debug, Args)]
pub struct BenchVerifyArgs {
    /// Base image the demo tasks are built from.
    #[arg(long, default_value = DEFAULT_IMAGE)]
    base_image: String,
    /// Candidates per task.
    #[arg(long, default_value_t = 8, value_parser = super::positive::<u32>)]
    k: u32,
    /// Sandboxes at once in the parallel run.
    #[arg(long, default_value_t = 4, value_parser = super::positive::<usize>)]
    workers: usize,
}

/// Runs the benchmark.
pub fn run(a: BenchVerifyArgs) -> anyhow::Result<ExitCode> {
    block_on(async move {
        let provider = DockerProvider::connect().await?;
        until_interrupted(&provider, bench(provider.clone(), a)).await
    })?
}

async fn bench(docker: DockerProvider, a: BenchVerifyArgs) -> anyhow::Result<ExitCode> {
    println!("r2e bench verify — demo tasks built from {}", a.base_image);
    let tasks = r2e_eval::demo::build(&docker, &a.base_image).await?;
    let server = ScriptedServer::start().await?;
    server.set_responder(r2e_agent::testing::demo_test_writer(ActionFormat::Native));
    let agent = EditAgent::new(
        Arc::new(server.openai_client()?),
        "scripted",
        AgentConfig::testing(ActionFormat::Native),
    )
    .with_reward(false)
    .with_test_file(test_file(0));
    let mut work: Vec<(Task, Vec<GeneratedTest>, Vec<Candidate>)> = Vec::new();
    for task in tasks {
        let env = RepoEnv::reset(
            Arc::new(docker.clone()),
            task.clone(),
            EnvOptions::default(),
        )
        .await?;
        let (test, _) = write_tests(&env, &agent, 0).await;
        env.close().await?;
        let test = test.ok_or_else(|| {
            anyhow::anyhow!(
                "the scripted testing agent wrote no test for {}",
                task.task_id
            )
        })?;
        // Half the candidates fix the bug, half leave it.
        let candidates = (0..a.k)
            .map(|r| Candidate {
                rollout: r,
                patch: if r % 2 == 0 {
                    task.gold_patch.clone()
                } else {
                    String::new()
                },
            })
            .collect();
        work.push((task, vec![test], candidates));
    }
    let provider: Arc<dyn Provider> = Arc::new(docker);
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "sandboxes at once",
        "candidates",
        "wall",
        "candidates/min",
    ]);
    let mut rates = Vec::new();
    for (workers, pool) in [(1, 0), (a.workers.max(1), a.workers.max(1))] {
        let warm = (pool > 0).then(|| WarmPool::new(provider.clone(), pool));
        if let Some(warm) = &warm {
            for (task, _, _) in &work {
                warm.fill(&RepoEnv::sandbox_spec(task, &EnvOptions::default()))
                    .await?;
            }
        }
        let clock = Instant::now();
        let mut n = 0;
        for (task, tests, candidates) in &work {
            let runs = score_task(
                provider.clone(),
                warm.as_ref(),
                task,
                candidates.clone(),
                tests,
                workers,
                Duration::from_secs(300),
            )
            .await?;
            if let Some((r, run)) = runs.iter().find(|(r, run)| {
                run.error.is_some() || (run.generated_passed == run.generated_total) != (r % 2 == 0)
            }) {
                anyhow::bail!("{} candidate {r} scored wrongly: {run:?}", task.task_id);
            }
            n += runs.len();
        }
        let secs = clock.elapsed().as_secs_f64();
        if let Some(warm) = warm {
            warm.drain().await;
        }
        let rate = n as f64 * 60.0 / secs;
        rates.push(rate);
        t.add_row(vec![
            if pool > 0 {
                format!("{workers} (warm pool)")
            } else {
                "1".into()
            },
            n.to_string(),
            format!("{secs:.1} s"),
            format!("{rate:.0}"),
        ]);
    }
    println!("{t}");
    println!(
        "execution-based scoring: {:.0} candidates/min with {} sandboxes at once vs {:.0} one at a time ({:.1}x)",
        rates[1],
        a.workers,
        rates[0],
        rates[1] / rates[0]
    );
    Ok(ExitCode::SUCCESS)
}
