//! The live environments: admission, ids, lifetimes and removal.
//!
//! Admission: a semaphore of `capacity` places; a create that finds none
//! waits while fewer than `queue` others wait, and is refused (503) beyond.
//! A client that gives up while waiting leaves the queue. Engine failures
//! when starting a sandbox are retried with backoff before they are
//! reported. Lifetimes: every call renews an environment's idle TTL; the
//! reaper removes environments idle past it, but never one with a call in
//! flight (a long reward does not lose its sandbox).

use crate::ServerConfig;
use crate::metrics::Metrics;
use r2e_core::Task;
use r2e_env::{EnvError, EnvOptions, RepoEnv, Sandboxes};
use r2e_sandbox::{Provider, SandboxError, WarmPool};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// One live environment.
pub struct Entry {
    /// The environment (replaced by a reset).
    env: RwLock<Arc<RepoEnv>>,
    /// Its task.
    pub task: Task,
    /// Its settings.
    pub opts: EnvOptions,
    last_used: Mutex<Instant>,
    inflight: AtomicUsize,
    _place: OwnedSemaphorePermit,
}

impl Entry {
    /// The environment as it is now.
    pub fn env(&self) -> Arc<RepoEnv> {
        self.env.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Puts a new environment in place and returns the old one.
    pub fn replace(&self, env: RepoEnv) -> Arc<RepoEnv> {
        let mut slot = self.env.write().unwrap_or_else(|e| e.into_inner());
        std::mem::replace(&mut *slot, Arc::new(env))
    }

    fn touch(&self) {
        *self.last_used.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    fn idle(&self) -> Duration {
        self.last_used
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
    }
}

/// A call in flight on an entry: renews the TTL when it starts and ends,
/// and keeps the reaper away meanwhile.
pub struct InUse(Arc<Entry>);

impl std::ops::Deref for InUse {
    type Target = Entry;
    fn deref(&self) -> &Entry {
        &self.0
    }
}

impl Drop for InUse {
    fn drop(&mut self) {
        self.0.touch();
        self.0.inflight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Why an environment could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// Capacity and queue are full.
    #[error(
        "the server is at capacity ({capacity} environments, {queued} creates waiting); retry later"
    )]
    Overloaded {
        /// Live environments at most.
        capacity: usize,
        /// Creates waiting.
        queued: usize,
    },
    /// The environment failed to start.
    #[error(transparent)]
    Env(#[from] EnvError),
}

/// Counts a waiting create; leaving the queue (done or given up) uncounts it.
struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The server's environments.
pub struct Registry {
    provider: Arc<dyn Provider>,
    pool: Option<Arc<WarmPool>>,
    /// The server's settings.
    pub config: ServerConfig,
    places: Arc<Semaphore>,
    queued: AtomicUsize,
    envs: Mutex<HashMap<String, Arc<Entry>>>,
    /// Counters and histograms for `/metrics`.
    pub metrics: Metrics,
}

impl Registry {
    /// An empty registry.
    pub fn new(
        provider: Arc<dyn Provider>,
        pool: Option<Arc<WarmPool>>,
        config: ServerConfig,
    ) -> Arc<Self> {
        Arc::new(Registry {
            provider,
            pool,
            places: Arc::new(Semaphore::new(config.capacity)),
            config,
            queued: AtomicUsize::new(0),
            envs: Mutex::new(HashMap::new()),
            metrics: Metrics::default(),
        })
    }

    /// Live environments.
    pub fn active(&self) -> usize {
        self.envs.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Creates waiting for a place.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    fn sandboxes(&self) -> Sandboxes {
        match &self.pool {
            Some(pool) => Sandboxes::Pool(pool.clone()),
            None => Sandboxes::Provider(self.provider.clone()),
        }
    }

    /// Takes a place (waiting in the queue if there is room in it), starts
    /// the environment (retrying engine failures), and registers it.
    pub async fn create(&self, task: Task, opts: EnvOptions) -> Result<String, CreateError> {
        let place = match self.places.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                let waiting = self.queued.fetch_add(1, Ordering::SeqCst);
                let _queued = Queued(&self.queued);
                if waiting >= self.config.queue {
                    self.metrics.refused.fetch_add(1, Ordering::Relaxed);
                    return Err(CreateError::Overloaded {
                        capacity: self.config.capacity,
                        queued: waiting,
                    });
                }
                self.places
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed")
            }
        };
        let env = self.start(&task, &opts).await?;
        Ok(self.register(env, task, opts, place))
    }

    /// Files a started environment under a new id.
    fn register(
        &self,
        env: RepoEnv,
        task: Task,
        opts: EnvOptions,
        place: OwnedSemaphorePermit,
    ) -> String {
        let id = new_id();
        let entry = Arc::new(Entry {
            env: RwLock::new(Arc::new(env)),
            task,
            opts,
            last_used: Mutex::new(Instant::now()),
            inflight: AtomicUsize::new(0),
            _place: place,
        });
        self.envs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), entry);
        id
    }

    /// Starts an environment, retrying engine failures with backoff
    /// (a missing image or a task error is final at once).
    pub async fn start(&self, task: &Task, opts: &EnvOptions) -> Result<RepoEnv, EnvError> {
        let mut delay = Duration::from_millis(250);
        let mut tries = 0;
        loop {
            tries += 1;
            match RepoEnv::reset_with(self.sandboxes(), task.clone(), opts.clone()).await {
                Ok(env) => return Ok(env),
                Err(e) if tries < self.config.create_tries && retriable(&e) => {
                    tracing::warn!("starting {} (try {tries}): {e}; retrying", task.task_id);
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Registers a forked environment under a new id (it takes a place of
    /// its own, or fails at once when there is none).
    pub fn adopt(&self, parent: &Entry, env: RepoEnv) -> Result<String, CreateError> {
        let place =
            self.places
                .clone()
                .try_acquire_owned()
                .map_err(|_| CreateError::Overloaded {
                    capacity: self.config.capacity,
                    queued: self.queued(),
                })?;
        Ok(self.register(env, parent.task.clone(), parent.opts.clone(), place))
    }

    /// The environment `id`, marked in use for the duration of a call.
    pub fn get(&self, id: &str) -> Option<InUse> {
        let entry = self
            .envs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)?
            .clone();
        entry.inflight.fetch_add(1, Ordering::SeqCst);
        entry.touch();
        Some(InUse(entry))
    }

    /// Removes `id` and its sandbox; `false` when there was no such
    /// environment (deleted before, or reaped): not an error.
    pub async fn remove(&self, id: &str) -> bool {
        let entry = self
            .envs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        match entry {
            Some(entry) => {
                close(&entry).await;
                true
            }
            None => false,
        }
    }

    /// Removes every environment (shutdown); returns how many there were.
    pub async fn close_all(&self) -> usize {
        let all: Vec<Arc<Entry>> = self
            .envs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, e)| e)
            .collect();
        futures_close(&all).await;
        all.len()
    }

    /// Removes environments idle past the TTL with no call in flight;
    /// returns how many.
    pub async fn reap(&self) -> usize {
        let ttl = self.config.ttl;
        let expired: Vec<Arc<Entry>> = {
            let mut envs = self.envs.lock().unwrap_or_else(|e| e.into_inner());
            let ids: Vec<String> = envs
                .iter()
                .filter(|(_, e)| e.inflight.load(Ordering::SeqCst) == 0 && e.idle() > ttl)
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter().filter_map(|id| envs.remove(id)).collect()
        };
        futures_close(&expired).await;
        self.metrics
            .reaped
            .fetch_add(expired.len() as u64, Ordering::Relaxed);
        expired.len()
    }

    /// Runs [`Registry::reap`] a few times per TTL until aborted.
    pub fn spawn_reaper(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        let every = (self.config.ttl / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let n = me.reap().await;
                if n > 0 {
                    tracing::info!(
                        "removed {n} environment(s) idle for more than {:?}",
                        me.config.ttl
                    );
                }
            }
        })
    }
}

async fn close(entry: &Entry) {
    if let Err(e) = entry.env().sandbox().close().await {
        tracing::warn!("removing the sandbox of {}: {e}", entry.task.task_id);
    }
}

async fn futures_close(entries: &[Arc<Entry>]) {
    let mut set = tokio::task::JoinSet::new();
    for e in entries {
        let e = e.clone();
        set.spawn(async move { close(&e).await });
    }
    while set.join_next().await.is_some() {}
}

/// Engine failures worth another try; a missing image or a broken task is not.
fn retriable(e: &EnvError) -> bool {
    matches!(
        e,
        EnvError::Sandbox(
            SandboxError::Docker { .. }
                | SandboxError::Died { .. }
                | SandboxError::Unresponsive { .. }
                | SandboxError::Malformed { .. }
        )
    )
}

/// 128 random bits from the kernel, as hex.
pub fn new_id() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("reading /dev/urandom");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
