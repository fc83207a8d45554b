//! `r2e serve`: environments over HTTP for trainers on other machines (the
//! API is `r2e_server::api`). On start it removes sandboxes an earlier,
//! killed instance left; on SIGTERM or Ctrl-C it finishes the calls in
//! flight, refuses new ones and removes every sandbox.

use super::block_on;
use anyhow::Context;
use clap::Args;
use r2e_env::EnvOptions;
use r2e_sandbox::Provider;
use r2e_server::{ServerConfig, check_bind};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `r2e serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on. Anything but loopback needs --token.
    #[arg(long, default_value = "127.0.0.1:7878")]
    bind: SocketAddr,
    /// Live environments at most (one sandbox each).
    #[arg(long, default_value_t = 64, value_parser = super::positive::<usize>)]
    capacity: usize,
    /// Creates that may wait for a place; beyond them the server answers 503
    /// with Retry-After.
    #[arg(long, default_value_t = 256)]
    queue: usize,
    /// Started sandboxes kept ready per image (0: start each on demand).
    #[arg(long, default_value_t = 0)]
    pool: usize,
    /// Bearer token every request must carry (compared in constant time).
    #[arg(long, env = "R2E_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Seconds an environment may go without any call (or heartbeat) before
    /// it is removed; a call in flight is never cut. Leave room for the
    /// reward after a rollout's deadline.
    #[arg(long, default_value_t = 900, value_parser = super::positive::<u64>)]
    ttl: u64,
    /// Default seconds one tool call may run.
    #[arg(long, default_value_t = 90, value_parser = super::positive::<u64>)]
    step_timeout: u64,
    /// Default seconds the hidden tests may run.
    #[arg(long, default_value_t = 1800, value_parser = super::positive::<u64>)]
    reward_timeout: u64,
    /// Largest request body in MiB (file uploads, task rows).
    #[arg(long, default_value_t = 32, value_parser = super::positive::<usize>)]
    max_body_mib: usize,
    /// Trajectory files to show at /view (the viewer of `r2e view`).
    #[arg(long, num_args = 1..)]
    view: Vec<std::path::PathBuf>,
    /// Scores files of `r2e verify` shown at /view with each rollout.
    #[arg(long, num_args = 1.., requires = "view")]
    view_scores: Vec<std::path::PathBuf>,
    /// A `r2e verify report` directory whose best@k plot /view shows.
    #[arg(long, requires = "view")]
    view_report: Option<std::path::PathBuf>,
    #[command(flatten)]
    sandbox: super::limits::SandboxArgs,
    #[command(flatten)]
    provider: super::provider::ProviderArgs,
}

/// Runs the server until SIGTERM or Ctrl-C.
pub fn run(a: ServeArgs) -> anyhow::Result<ExitCode> {
    check_bind(&a.bind, a.token.as_deref())?;
    let sandbox = a.sandbox.resolve()?;
    let config = ServerConfig {
        capacity: a.capacity,
        queue: a.queue,
        pool: a.pool,
        token: a.token.clone().filter(|t| !t.is_empty()),
        ttl: Duration::from_secs(a.ttl),
        max_body: a.max_body_mib << 20,
        env: EnvOptions {
            tool_timeout_secs: a.step_timeout,
            test_timeout: Duration::from_secs(a.reward_timeout),
            limits: sandbox.limits,
            network: sandbox.network,
            ..EnvOptions::default()
        },
        view: if a.view.is_empty() {
            None
        } else {
            Some(Arc::new(r2e_server::view::Index::load(
                &a.view,
                &a.view_scores,
                a.view_report.as_deref(),
            )?))
        },
        ..ServerConfig::default()
    };
    block_on(async move {
        let provider: Arc<dyn Provider> = a.provider.connect().await?;
        let listener = tokio::net::TcpListener::bind(a.bind)
            .await
            .with_context(|| format!("listening on {}", a.bind))?;
        eprintln!(
            "r2e serve: http://{} (capacity {}, queue {}, pool {}, ttl {} s{})",
            listener.local_addr()?,
            a.capacity,
            a.queue,
            a.pool,
            a.ttl,
            if config.token.is_some() {
                ", token required"
            } else {
                ""
            }
        );
        let done = r2e_server::serve(listener, provider, config, stop_signal()).await?;
        eprintln!("r2e serve: stopped; removed {} environment(s)", done.closed);
        Ok(ExitCode::SUCCESS)
    })?
}

/// Resolves on SIGTERM or Ctrl-C.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    eprintln!("r2e serve: draining (finishing calls in flight, refusing new ones)");
}
