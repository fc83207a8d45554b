//! What `/metrics` reports, in Prometheus' text format: live environments,
//! queue length, latency histograms of create / step / reward, rewards by
//! status, infrastructure errors, refused creates and reaped environments.

use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0, 300.0,
];

/// One latency histogram.
#[derive(Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Counts one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (bound, c) in BUCKETS.iter().zip(&self.counts) {
            if secs <= *bound {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, op: &str) {
        for (bound, c) in BUCKETS.iter().zip(&self.counts) {
            let _ = writeln!(
                out,
                "{name}_bucket{{op=\"{op}\",le=\"{bound}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{op=\"{op}\",le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum{{op=\"{op}\"}} {}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count{{op=\"{op}\"}} {count}");
    }
}

/// The server's counters.
#[derive(Default)]
pub struct Metrics {
    /// Create latency (sandbox start included).
    pub create: Histogram,
    /// Step latency.
    pub step: Histogram,
    /// Reward latency.
    pub reward: Histogram,
    /// Rewards by status.
    pub rewards: Mutex<std::collections::BTreeMap<String, u64>>,
    /// Calls that ended in an infrastructure error.
    pub infra_errors: AtomicU64,
    /// Creates refused with 503.
    pub refused: AtomicU64,
    /// Environments removed for idling past their TTL.
    pub reaped: AtomicU64,
}

impl Metrics {
    /// Counts one reward with `status`.
    pub fn reward_status(&self, status: &str) {
        *self
            .rewards
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(status.to_string())
            .or_default() += 1;
    }

    /// The text `/metrics` serves.
    pub fn render(&self, active: usize, capacity: usize, queued: usize) -> String {
        let mut out = String::new();
        let gauge = |out: &mut String, name: &str, help: &str, v: usize| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        gauge(
            &mut out,
            "r2e_envs_live",
            "Live environments (one sandbox each).",
            active,
        );
        gauge(
            &mut out,
            "r2e_envs_capacity",
            "Live environments at most.",
            capacity,
        );
        gauge(
            &mut out,
            "r2e_queue_length",
            "Creates waiting for a place.",
            queued,
        );
        let _ = writeln!(
            out,
            "# HELP r2e_request_seconds Latency of API calls.\n# TYPE r2e_request_seconds histogram"
        );
        self.create
            .render(&mut out, "r2e_request_seconds", "create");
        self.step.render(&mut out, "r2e_request_seconds", "step");
        self.reward
            .render(&mut out, "r2e_request_seconds", "reward");
        let _ = writeln!(
            out,
            "# HELP r2e_rewards_total Rewards by status.\n# TYPE r2e_rewards_total counter"
        );
        for (status, n) in self
            .rewards
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(out, "r2e_rewards_total{{status=\"{status}\"}} {n}");
        }
        for (name, help, v) in [
            (
                "r2e_infra_errors_total",
                "Calls that ended in an infrastructure error.",
                &self.infra_errors,
            ),
            (
                "r2e_creates_refused_total",
                "Creates refused with 503.",
                &self.refused,
            ),
            (
                "r2e_envs_reaped_total",
                "Environments removed after idling past their TTL.",
                &self.reaped,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        out
    }
}
