//! r2e-server: environments over HTTP, for RL trainers whose GPUs are on
//! other machines than their sandboxes (`r2e serve`).
//!
//! A versioned JSON API under `/v1` ([`api`]) creates environments from task
//! rows, steps them, runs their reward and removes them; `/v1/health` and
//! `/metrics` (Prometheus text, [`metrics`]) say how the server is doing.
//! The [`registry`] owns the environments: admission (at most `capacity`
//! live, then a bounded queue, then 503 with `Retry-After`), lifetimes (an
//! idle TTL renewed by every call, never cutting a call in flight), and
//! removal of every sandbox on shutdown. Ids are 128 random bits; a client
//! names environments only by the ids it was given, never containers.
//! [`view`] is the trajectory viewer (`r2e view`, and `/view` here).

pub mod api;
pub mod client;
pub mod metrics;
pub mod registry;
pub mod view;

use r2e_env::EnvOptions;
use r2e_sandbox::{Provider, WarmPool};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Live environments at most.
    pub capacity: usize,
    /// Creates that may wait for a free place; beyond them, 503.
    pub queue: usize,
    /// Started sandboxes kept ready per image (0: none).
    pub pool: usize,
    /// The bearer token every request must carry, if any.
    pub token: Option<String>,
    /// An environment no call touched for this long is removed.
    pub ttl: Duration,
    /// Largest request body accepted, in bytes.
    pub max_body: usize,
    /// Defaults of every environment (requests may override them).
    pub env: EnvOptions,
    /// Tries of a sandbox start that fails in the engine, with backoff.
    pub create_tries: u32,
    /// Trajectories shown at `/view`, if any.
    pub view: Option<Arc<view::Index>>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            capacity: 64,
            queue: 256,
            pool: 0,
            token: None,
            ttl: Duration::from_secs(900),
            max_body: 32 << 20,
            env: EnvOptions::default(),
            create_tries: 3,
            view: None,
        }
    }
}

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A non-loopback address without a token.
    #[error(
        "refusing to listen on {0} without a token: anyone who reaches it could run commands in your sandboxes\n  \
         hint: pass --token (or set R2E_TOKEN), or bind 127.0.0.1"
    )]
    NeedsToken(SocketAddr),
    /// Listening or serving failed.
    #[error("serving: {0}")]
    Io(#[from] std::io::Error),
}

/// Checks that `addr` may be bound with `token`: anything but loopback
/// needs one.
pub fn check_bind(addr: &SocketAddr, token: Option<&str>) -> Result<(), ServerError> {
    if addr.ip().is_loopback() || token.is_some_and(|t| !t.is_empty()) {
        Ok(())
    } else {
        Err(ServerError::NeedsToken(*addr))
    }
}

/// What a finished server did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shutdown {
    /// Environments still live at shutdown, whose sandboxes were removed.
    pub closed: usize,
}

/// Serves the API on `listener` until `shutdown` resolves, then finishes the
/// calls in flight (new ones are refused) and removes every sandbox.
pub async fn serve(
    listener: tokio::net::TcpListener,
    provider: Arc<dyn Provider>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Shutdown, ServerError> {
    let pool = (config.pool > 0).then(|| WarmPool::new(provider.clone(), config.pool));
    let registry = registry::Registry::new(provider, pool.clone(), config);
    let reaper = registry.spawn_reaper();
    let app = api::router(registry.clone());
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    reaper.abort();
    let closed = registry.close_all().await;
    if let Some(pool) = pool {
        pool.drain().await;
    }
    Ok(Shutdown { closed })
}
