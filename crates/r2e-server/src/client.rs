//! The client side of the API, for Rust callers (`r2e run --server URL`):
//! [`Remote`] makes environments on a server, each a [`RemoteEnv`] that the
//! agent loops drive like a local one.
//!
//! Every call carries a deadline (the step's or the reward's time limit
//! plus a margin). A create refused with 503 (nothing was made) waits for
//! `Retry-After` and tries again within its deadline; reads and deletes are
//! retried after a dropped connection; steps and rewards are not (they are
//! not idempotent): their failures are infrastructure errors. Any call is
//! retried while the server refuses connections (it is restarting: the call
//! never reached it).
//!
//! A [`RemoteEnv`] holds a lease on its environment: while it lives it sends
//! a heartbeat every third of the server's TTL, so an environment waiting on
//! a slow model is never reaped, while one whose client died is reaped one
//! TTL later (a server can then run with a short `--ttl`).

use r2e_core::reward_guard::Excluded;
use r2e_core::{RewardStatus, Task};
use r2e_env::{EnvError, EnvFactory, Environment, Reward};
use r2e_sandbox::ToolReply;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A server environments are made on.
#[derive(Clone)]
pub struct Remote {
    base: String,
    token: Option<String>,
    options: Value,
    http: reqwest::Client,
    step_secs: f64,
    reward_secs: f64,
}

impl Remote {
    /// The server at `url` (`http://host:7878`), with its token and the
    /// options every environment is created with (as `r2e.Env` sends them).
    pub fn new(url: &str, token: Option<String>, options: Value) -> Remote {
        let secs = |k: &str, d: f64| options[k].as_f64().unwrap_or(d);
        Remote {
            base: url.trim_end_matches('/').to_string(),
            token,
            step_secs: secs("step_timeout", 90.0),
            reward_secs: secs("reward_timeout", 1800.0),
            options,
            http: reqwest::Client::new(),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        deadline: Duration,
        idempotent: bool,
    ) -> Result<Value, EnvError> {
        let end = Instant::now() + deadline;
        let mut delay = Duration::from_millis(250);
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(remote(format!(
                    "{method} {path}: no answer within {deadline:?}"
                )));
            }
            let mut req = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .timeout(left);
            if let Some(t) = &self.token {
                req = req.bearer_auth(t);
            }
            if let Some(b) = &body {
                req = req.json(b);
            }
            match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<f64>().ok());
                    let v: Value = resp.json().await.unwrap_or(Value::Null);
                    if status.is_success() {
                        return Ok(v);
                    }
                    // Wait as the server asks, but never past the deadline:
                    // a wait that would overrun it answers with the 503 now.
                    let wait = retry_after.map_or(delay, Duration::from_secs_f64);
                    if status.as_u16() == 503 && Instant::now() + wait < end {
                        tokio::time::sleep(wait).await;
                        delay = (delay * 2).min(Duration::from_secs(5));
                        continue;
                    }
                    let kind = v["error"]["kind"].as_str().unwrap_or("infra_error");
                    let message = v["error"]["message"]
                        .as_str()
                        .map_or_else(|| format!("HTTP {status}"), str::to_string);
                    return Err(EnvError::Remote {
                        message: format!("{message} ({method} {path}: HTTP {status})"),
                        task: kind == "task_error",
                    });
                }
                // A refused connection never reached the server: any call
                // can be tried again (a restarting server comes back).
                Err(e) if (idempotent || e.is_connect()) && Instant::now() + delay < end => {
                    tracing::debug!("{method} {path}: {e}; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(remote(format!("{method} {path} on {}: {e}", self.base))),
            }
        }
    }
}

fn remote(message: String) -> EnvError {
    EnvError::Remote {
        message,
        task: false,
    }
}

#[async_trait::async_trait]
impl EnvFactory for Remote {
    async fn create(&self, task: &Task) -> Result<Box<dyn Environment>, EnvError> {
        let body = json!({ "task": task, "options": self.options });
        let v = self
            .call(
                reqwest::Method::POST,
                "/v1/envs",
                Some(body),
                Duration::from_secs(900),
                false,
            )
            .await?;
        let id = v["env_id"]
            .as_str()
            .ok_or_else(|| remote(format!("the server's create reply has no env_id: {v}")))?;
        let ttl = v["ttl_secs"].as_f64().map(Duration::from_secs_f64);
        Ok(Box::new(RemoteEnv {
            _lease: ttl.map(|ttl| Lease::start(self.clone(), id.to_string(), ttl)),
            remote: self.clone(),
            id: id.to_string(),
            task: task.clone(),
        }))
    }
}

/// Heartbeats for one environment, every third of the server's TTL, until
/// dropped (with its [`RemoteEnv`]).
struct Lease(tokio::task::JoinHandle<()>);

impl Lease {
    fn start(remote: Remote, id: String, ttl: Duration) -> Lease {
        let every = (ttl / 3).max(Duration::from_millis(200));
        let path = format!("/v1/envs/{id}/heartbeat");
        Lease(tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                // A failed heartbeat is not the episode's business: its next
                // call reports whatever went wrong.
                if let Err(e) = remote
                    .call(reqwest::Method::POST, &path, None, every, true)
                    .await
                {
                    tracing::debug!("heartbeat of {id}: {e}");
                }
            }
        }))
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An environment on a server.
pub struct RemoteEnv {
    remote: Remote,
    id: String,
    task: Task,
    /// The heartbeats (none from a server that does not say its TTL).
    _lease: Option<Lease>,
}

#[async_trait::async_trait]
impl Environment for RemoteEnv {
    fn task(&self) -> &Task {
        &self.task
    }

    fn workdir(&self) -> &str {
        "/testbed"
    }

    async fn step(
        &self,
        name: &str,
        args: &serde_json::Map<String, Value>,
    ) -> Result<ToolReply, EnvError> {
        let deadline = Duration::from_secs_f64(self.remote.step_secs + 30.0);
        let v = self
            .remote
            .call(
                reqwest::Method::POST,
                &format!("/v1/envs/{}/step", self.id),
                Some(json!({ "tool": name, "args": args })),
                deadline,
                false,
            )
            .await?;
        Ok(ToolReply {
            output: v["output"].as_str().unwrap_or_default().to_string(),
            error_code: v["error_code"].as_str().unwrap_or("0").to_string(),
            exit_code: v["exit_code"].as_i64().unwrap_or(0) as i32,
            finished: v["done"].as_bool().unwrap_or(false),
            text: v["observation"].as_str().unwrap_or_default().to_string(),
            duration_us: v["duration_us"].as_u64().unwrap_or(0),
        })
    }

    async fn patch(&self) -> Result<String, EnvError> {
        let v = self
            .remote
            .call(
                reqwest::Method::GET,
                &format!("/v1/envs/{}/patch", self.id),
                None,
                Duration::from_secs(330),
                true,
            )
            .await?;
        Ok(v["patch"].as_str().unwrap_or_default().to_string())
    }

    async fn reward(&self) -> Result<Reward, EnvError> {
        let deadline = Duration::from_secs_f64(self.remote.reward_secs + 120.0);
        let v = self
            .remote
            .call(
                reqwest::Method::POST,
                &format!("/v1/envs/{}/reward", self.id),
                Some(json!({ "log": true })),
                deadline,
                false,
            )
            .await?;
        let status: RewardStatus = serde_json::from_value(v["status"].clone())
            .map_err(|e| remote(format!("the server's reward has no status: {e}: {v}")))?;
        if status == RewardStatus::InfraError {
            return Err(remote(
                v["error"]
                    .as_str()
                    .unwrap_or("the server could not compute the reward")
                    .to_string(),
            ));
        }
        let excluded: Vec<Excluded> =
            serde_json::from_value(v["excluded"].clone()).unwrap_or_default();
        Ok(Reward {
            value: v["value"].as_f64().unwrap_or(0.0),
            status,
            report: match &v["report"] {
                Value::Null => String::new(),
                r => r.to_string(),
            },
            log: v["log"].as_str().unwrap_or_default().to_string(),
            excluded,
            duration: Duration::from_secs_f64(v["seconds"].as_f64().unwrap_or(0.0)),
        })
    }

    async fn close(self: Box<Self>) -> Result<(), EnvError> {
        self.remote
            .call(
                reqwest::Method::DELETE,
                &format!("/v1/envs/{}", self.id),
                None,
                Duration::from_secs(60),
                true,
            )
            .await
            .map(drop)
    }
}
