//! A warm pool of started sandboxes, so that taking one costs microseconds
//! instead of a container start. Each sandbox is handed out once; the pool
//! starts replacements in the background to keep `size` ready per spec.
//! A sandbox that died while it waited (killed, out of memory, removed
//! outside r2e) is noticed when taken, by a ping, and never handed out.

use crate::{Provider, Result, Sandbox, SandboxSpec};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Sandboxes ready and being started, for one spec.
#[derive(Default)]
struct Slot {
    ready: VecDeque<Box<dyn Sandbox>>,
    starting: usize,
}

/// Started sandboxes kept ready per spec.
pub struct WarmPool {
    provider: Arc<dyn Provider>,
    size: usize,
    slots: Mutex<HashMap<String, Slot>>,
}

impl WarmPool {
    /// A pool keeping `size` sandboxes ready for every spec it is asked for.
    pub fn new(provider: Arc<dyn Provider>, size: usize) -> Arc<Self> {
        Arc::new(WarmPool {
            provider,
            size,
            slots: Mutex::new(HashMap::new()),
        })
    }

    fn key(spec: &SandboxSpec) -> String {
        format!("{spec:?}")
    }

    /// Sandboxes ready now for `spec`.
    pub fn ready(&self, spec: &SandboxSpec) -> usize {
        let slots = self.slots.lock().expect("pool lock");
        slots.get(&Self::key(spec)).map_or(0, |s| s.ready.len())
    }

    /// Starts sandboxes for `spec` until `size` are ready, and waits until
    /// they are (including ones a background refill is starting).
    pub async fn fill(self: &Arc<Self>, spec: &SandboxSpec) -> Result<()> {
        loop {
            let (ready, missing) = {
                let mut slots = self.slots.lock().expect("pool lock");
                let slot = slots.entry(Self::key(spec)).or_default();
                let n = self.size.saturating_sub(slot.ready.len() + slot.starting);
                slot.starting += n;
                (slot.ready.len(), n)
            };
            if ready >= self.size {
                return Ok(());
            }
            if missing == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
            self.start_into(spec, missing).await?;
        }
    }

    /// Starts `n` sandboxes (already counted as starting) into the slot.
    async fn start_into(&self, spec: &SandboxSpec, n: usize) -> Result<()> {
        let started =
            futures_util::future::join_all((0..n).map(|_| self.provider.start(spec))).await;
        let mut first_err = None;
        let mut slots = self.slots.lock().expect("pool lock");
        let slot = slots.entry(Self::key(spec)).or_default();
        for s in started {
            slot.starting -= 1;
            match s {
                Ok(sb) => slot.ready.push_back(sb),
                Err(e) => first_err = first_err.or(Some(e)),
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// A started sandbox for `spec`: a ready one that still answers a
    /// [`Sandbox::ping`] when there is one (and a replacement starts in the
    /// background), else a new one. Ready sandboxes that no longer answer are
    /// closed and skipped.
    pub async fn take(self: &Arc<Self>, spec: &SandboxSpec) -> Result<Box<dyn Sandbox>> {
        let ready = loop {
            let next = {
                let mut slots = self.slots.lock().expect("pool lock");
                slots
                    .get_mut(&Self::key(spec))
                    .and_then(|s| s.ready.pop_front())
            };
            let Some(sb) = next else { break None };
            match sb.ping().await {
                Ok(()) => break Some(sb),
                Err(e) => {
                    tracing::warn!(
                        "warm pool: a ready sandbox of {} died while idle ({e}); replacing it",
                        spec.image
                    );
                    tokio::spawn(async move {
                        let _ = sb.close().await;
                    });
                }
            }
        };
        if self.size > 0 {
            let (pool, spec) = (self.clone(), spec.clone());
            tokio::spawn(async move {
                if let Err(e) = pool.fill(&spec).await {
                    tracing::warn!("refilling the warm pool for {}: {e}", spec.image);
                }
            });
        }
        match ready {
            Some(sb) => Ok(sb),
            None => self.provider.start(spec).await,
        }
    }

    /// Closes every ready sandbox.
    pub async fn drain(&self) {
        let all: Vec<Box<dyn Sandbox>> = {
            let mut slots = self.slots.lock().expect("pool lock");
            slots.values_mut().flat_map(|s| s.ready.drain(..)).collect()
        };
        futures_util::future::join_all(all.iter().map(|sb| sb.close())).await;
    }
}
