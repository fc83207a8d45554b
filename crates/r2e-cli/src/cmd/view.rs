//! `r2e view`: the trajectory viewer on a local port (the page and its API
//! are `r2e_server::view`).

use super::block_on;
use anyhow::Context;
use clap::Args;
use r2e_server::view::Index;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Arguments of `r2e view`.
#[derive(Debug, Args)]
pub struct ViewArgs {
    /// Trajectory files (JSONL, as `r2e run` writes them).
    #[arg(required = true)]
    trajectories: Vec<PathBuf>,
    /// Scores files of `r2e verify` (judge, exec), shown with each rollout.
    #[arg(long, num_args = 1..)]
    scores: Vec<PathBuf>,
    /// A `r2e verify report` directory: its best@k plot is shown.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Address to listen on (loopback by default: the page has no login).
    #[arg(long, default_value = "127.0.0.1:8765")]
    bind: SocketAddr,
}

/// Loads the files and serves the page until Ctrl-C.
pub fn run(a: ViewArgs) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let index = Arc::new(Index::load(
        &a.trajectories,
        &a.scores,
        a.report.as_deref(),
    )?);
    eprintln!(
        "loaded {} trajectories from {} file(s) in {:.2} s",
        index.len(),
        a.trajectories.len(),
        started.elapsed().as_secs_f64()
    );
    block_on(async move {
        let listener = tokio::net::TcpListener::bind(a.bind)
            .await
            .with_context(|| format!("listening on {}", a.bind))?;
        println!("r2e view: http://{}/view", listener.local_addr()?);
        axum_serve(listener, index).await?;
        Ok(ExitCode::SUCCESS)
    })?
}

async fn axum_serve(listener: tokio::net::TcpListener, index: Arc<Index>) -> anyhow::Result<()> {
    r2e_server::view::serve(listener, index, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
