//! `r2e bench serve`: what the HTTP server adds. On the demo tasks, in one
//! run: a tool call through HTTP on loopback vs. through `RepoEnv::step`
//! in-process (target ≤ 1 ms added at the median), many environments
//! stepping at once over HTTP vs. in-process, and create-to-first-step
//! with and without the server's warm pool.

use super::bench::{Samples, ms, verdict};
use super::bench_env::{args, rust_threads};
use super::{DEFAULT_IMAGE, block_on};
use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use r2e_core::Task;
use r2e_env::{EnvOptions, RepoEnv};
use r2e_sandbox::Provider;
use r2e_sandbox::docker::DockerProvider;
use r2e_server::ServerConfig;
use serde_json::{Value, json};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Arguments of `r2e bench serve`.
#[derive(Debug, Args)]
pub struct BenchServeArgs {
    /// Base image the demo tasks are built from.
    #[arg(long, default_value = DEFAULT_IMAGE)]
    base_image: String,
    /// Tool calls timed each way.
    #[arg(long, default_value_t = 200, value_parser = super::positive::<usize>)]
    steps: usize,
    /// Environments stepping at once.
    #[arg(long, default_value_t = 64, value_parser = super::positive::<usize>)]
    envs: usize,
    /// Steps of each of them.
    #[arg(long, default_value_t = 20, value_parser = super::positive::<usize>)]
    env_steps: usize,
    /// Creates timed with and without the warm pool.
    #[arg(long, default_value_t = 10, value_parser = super::positive::<usize>)]
    creates: usize,
}

/// Runs the benchmark.
pub fn run(a: BenchServeArgs) -> anyhow::Result<ExitCode> {
    block_on(bench(a))?
}

/// A server in this process on a loopback port.
struct Local {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    http: reqwest::Client,
}

impl Local {
    async fn start(
        provider: Arc<dyn Provider>,
        pool: usize,
        capacity: usize,
    ) -> anyhow::Result<Local> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let config = ServerConfig {
            pool,
            capacity,
            ..ServerConfig::default()
        };
        tokio::spawn(r2e_server::serve(listener, provider, config, async {
            let _ = rx.await;
        }));
        Ok(Local {
            url,
            stop: Some(tx),
            http: reqwest::Client::new(),
        })
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await?;
        let status = r.status();
        let v: Value = r.json().await?;
        anyhow::ensure!(status.is_success(), "{path}: {status} {v}");
        Ok(v)
    }

    async fn create(&self, task: &Task) -> anyhow::Result<String> {
        let v = self.post("/v1/envs", json!({ "task": task })).await?;
        Ok(v["env_id"].as_str().unwrap_or_default().to_string())
    }

    async fn delete(&self, id: &str) -> anyhow::Result<()> {
        self.http
            .delete(format!("{}/v1/envs/{id}", self.url))
            .send()
            .await?;
        Ok(())
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

async fn bench(a: BenchServeArgs) -> anyhow::Result<ExitCode> {
    let docker = DockerProvider::connect().await?;
    println!("r2e bench serve — demo tasks built from {}", a.base_image);
    let tasks = r2e_eval::demo::build(&docker, &a.base_image).await?;
    let task = tasks[0].clone();
    let provider: Arc<dyn Provider> = Arc::new(docker.clone());
    let view = args(json!({"command": "view", "path": "/testbed/calc.py", "view_range": [1, 20]}));

    // One call each way on the same image.
    let env = RepoEnv::reset(provider.clone(), task.clone(), EnvOptions::default()).await?;
    let mut local = Vec::new();
    for _ in 0..a.steps {
        let t = Instant::now();
        env.step("file_editor", &view).await?;
        local.push(t.elapsed());
    }
    env.close().await?;
    let server = Local::start(provider.clone(), 0, a.envs.max(4)).await?;
    let id = server.create(&task).await?;
    let body = json!({"tool": "file_editor", "args": view});
    let mut remote = Vec::new();
    for _ in 0..a.steps {
        let t = Instant::now();
        server
            .post(&format!("/v1/envs/{id}/step"), body.clone())
            .await?;
        remote.push(t.elapsed());
    }
    server.delete(&id).await?;
    let (local, remote) = (Samples(local), Samples(remote));

    // Many environments at once.
    let in_process = rust_threads(&docker, &task, a.envs, a.env_steps).await?;
    let ids = futures_util::future::try_join_all((0..a.envs).map(|_| server.create(&task))).await?;
    let bash = json!({"tool": "execute_bash", "args": {"cmd": "true"}});
    let t = Instant::now();
    futures_util::future::try_join_all(ids.iter().map(|id| {
        let (server, bash) = (&server, bash.clone());
        async move {
            for _ in 0..a.env_steps {
                server
                    .post(&format!("/v1/envs/{id}/step"), bash.clone())
                    .await?;
            }
            anyhow::Ok(())
        }
    }))
    .await?;
    let over_http = (a.envs * a.env_steps) as f64 / t.elapsed().as_secs_f64();
    futures_util::future::join_all(ids.iter().map(|id| server.delete(id))).await;
    drop(server);

    // Create to first step, cold and from the server's pool.
    let mut create = [Vec::new(), Vec::new()];
    for (i, pool) in [0, 2].into_iter().enumerate() {
        let server = Local::start(provider.clone(), pool, 8).await?;
        if pool > 0 {
            // The pool fills on first use: one create to warm it.
            let id = server.create(&task).await?;
            server.delete(&id).await?;
        }
        for _ in 0..a.creates {
            tokio::time::sleep(Duration::from_millis(if pool > 0 { 600 } else { 0 })).await;
            let t = Instant::now();
            let id = server.create(&task).await?;
            server
                .post(&format!("/v1/envs/{id}/step"), body.clone())
                .await?;
            create[i].push(t.elapsed());
            server.delete(&id).await?;
        }
    }
    let [cold, pooled] = create.map(Samples);

    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_header(vec!["measure", "n", "median", "p95"]);
    for (label, s) in [
        ("step in-process (RepoEnv::step, file_editor view)", &local),
        ("step through HTTP on loopback (same call)", &remote),
        ("create + first step, cold", &cold),
        ("create + first step, server pool of 2", &pooled),
    ] {
        table.add_row(vec![
            label.to_string(),
            s.0.len().to_string(),
            ms(s.median()),
            ms(s.p95()),
        ]);
    }
    println!("{table}");
    let added = remote.median().as_secs_f64() - local.median().as_secs_f64();
    println!(
        "HTTP adds {:.2} ms per step at the median (target ≤ 1 ms: {})",
        added * 1e3,
        verdict(added <= 1e-3)
    );
    println!(
        "{} environments stepping at once: {over_http:.0} steps/s over HTTP vs {in_process:.0} in-process ({:.0}%)",
        a.envs,
        100.0 * over_http / in_process
    );
    println!(
        "create to first step: {} from the pool vs {} cold ({:.1}x)",
        ms(pooled.median()),
        ms(cold.median()),
        cold.median().as_secs_f64() / pooled.median().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
