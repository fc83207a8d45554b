//! The HTTP API, version 1.
//!
//! | call | request | reply |
//! |---|---|---|
//! | `POST /v1/envs` | `{"task": ROW}` or `{"dataset": PATH, "instance_id": ID}`, `"options"` | `{"env_id", "task_id", "instruction", "seconds", "ttl_secs"}` |
//! | `POST /v1/envs/{id}/reset` | — | `{"instruction"}` |
//! | `POST /v1/envs/{id}/step` | `{"tool", "args", "timeout"?}` or `{"text"}` (R2E-Gym's `<function=…>`) | `{"observation", "done", "output", "error_code", "exit_code", "duration_us", "nudge"?}` |
//! | `POST /v1/envs/{id}/exec` | `{"cmd", "timeout"?}` | `{"stdout", "stderr", "exit_code", "timed_out", "oom_killed"}` |
//! | `GET`/`PUT /v1/envs/{id}/files?path=P` | — / the bytes | the bytes / `{}` |
//! | `GET /v1/envs/{id}/patch` | — | `{"patch"}` |
//! | `POST /v1/envs/{id}/reward` | `{"log"?: bool}` | `{"value", "status", "report", "log", "excluded", "seconds", "error"?}` |
//! | `POST /v1/envs/{id}/fork` | — | `{"env_id"}` |
//! | `POST /v1/envs/{id}/heartbeat` | — | `{"ttl_secs"}` |
//! | `DELETE /v1/envs/{id}` | — | `{"deleted": bool}` (idempotent) |
//! | `GET /v1/health` | — | `{"ok", "active", "capacity", "queued"}` |
//! | `GET /metrics` | — | Prometheus text |
//!
//! Errors are `{"error": {"kind", "message"}}` with kind `bad_request`
//! (400), `unauthorized` (401), `not_found` (404), `too_large` (413),
//! `task_error` (422), `overloaded` (503, with `Retry-After`),
//! `sandbox_died`, `infra_error` (502) or `timeout` (504). A reward whose
//! tests could not run is a reply with status `infra_error`, never a 0.

use crate::registry::{CreateError, InUse, Registry};
use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use r2e_core::Task;
use r2e_env::{EnvError, EnvOptions};
use r2e_sandbox::{ExecOptions, SandboxError};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

type Reg = State<Arc<Registry>>;

/// The API's router over `registry`.
pub fn router(registry: Arc<Registry>) -> Router {
    let max = registry.config.max_body;
    let view = match &registry.config.view {
        Some(index) => crate::view::router(index.clone()),
        None => Router::new(),
    };
    Router::new()
        .route("/v1/health", get(health))
        .route("/metrics", get(metrics))
        .route("/v1/envs", post(create))
        .route("/v1/envs/{id}", axum::routing::delete(remove))
        .route("/v1/envs/{id}/reset", post(reset))
        .route("/v1/envs/{id}/step", post(step))
        .route("/v1/envs/{id}/exec", post(exec))
        .route("/v1/envs/{id}/files", get(read_file).put(write_file))
        .route("/v1/envs/{id}/patch", get(patch))
        .route("/v1/envs/{id}/reward", post(reward))
        .route("/v1/envs/{id}/fork", post(fork))
        .route("/v1/envs/{id}/heartbeat", post(heartbeat))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such API call")
        })
        .with_state(registry.clone())
        .merge(view)
        .layer(DefaultBodyLimit::max(max))
        .layer(middleware::from_fn_with_state(registry, auth))
}

/// An error reply.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind,
            message: message.into(),
        }
    }

    fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    fn env(e: EnvError, reg: &Registry) -> Self {
        if e.is_task_error() {
            return Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "task_error",
                e.to_string(),
            );
        }
        reg.metrics
            .infra_errors
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (status, kind) = match &e {
            EnvError::Sandbox(SandboxError::Died { .. } | SandboxError::Closed(_)) => {
                (StatusCode::BAD_GATEWAY, "sandbox_died")
            }
            EnvError::Sandbox(SandboxError::Unresponsive { .. }) => {
                (StatusCode::GATEWAY_TIMEOUT, "timeout")
            }
            _ => (StatusCode::BAD_GATEWAY, "infra_error"),
        };
        Self::new(status, kind, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({"error": {"kind": self.kind, "message": self.message}}));
        let mut resp = (self.status, body).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        }
        resp
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return Self::new(r.status(), "too_large", r.body_text());
        }
        Self::bad(r.body_text())
    }
}

impl From<BytesRejection> for ApiError {
    fn from(r: BytesRejection) -> Self {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return Self::new(r.status(), "too_large", r.body_text());
        }
        Self::bad(r.body_text())
    }
}

type ApiResult<T = Json<Value>> = Result<T, ApiError>;

/// Every request carries the bearer token when the server has one; the
/// comparison takes the same time whatever the token's first wrong byte.
async fn auth(State(reg): Reg, req: Request, next: Next) -> Response {
    if let Some(token) = reg.config.token.as_deref() {
        let header = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_string);
        // A browser cannot set the header on the viewer's page, its calls
        // and its images: the viewer's paths also take `?token=`.
        let given = header
            .or_else(|| {
                req.uri()
                    .path()
                    .starts_with("/view")
                    .then(|| Query::<HashMap<String, String>>::try_from_uri(req.uri()).ok())
                    .flatten()
                    .and_then(|Query(mut q)| q.remove("token"))
            })
            .unwrap_or_default();
        if !constant_time_eq(given.as_bytes(), token.as_bytes()) {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid bearer token is required (Authorization: Bearer …)",
            )
            .into_response();
        }
    }
    next.run(req).await
}

/// Equality whose time depends on the lengths only.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

fn lookup(reg: &Registry, id: &str) -> ApiResult<InUse> {
    reg.get(id).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no environment {id} (deleted, or removed after idling past its TTL)"),
        )
    })
}

async fn health(State(reg): Reg) -> Json<Value> {
    Json(json!({
        "ok": true,
        "active": reg.active(),
        "capacity": reg.config.capacity,
        "queued": reg.queued(),
    }))
}

async fn metrics(State(reg): Reg) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        reg.metrics
            .render(reg.active(), reg.config.capacity, reg.queued()),
    )
}

#[derive(Deserialize)]
struct CreateReq {
    task: Option<Value>,
    dataset: Option<String>,
    instance_id: Option<String>,
    #[serde(default)]
    options: Value,
}

async fn create(State(reg): Reg, body: Result<Json<CreateReq>, JsonRejection>) -> ApiResult {
    let Json(req) = body?;
    let task = task_of(&req).await?;
    let mut opts: EnvOptions = reg.config.env.clone();
    opts.apply_json(&req.options)
        .map_err(|e| ApiError::bad(e.to_string()))?;
    let t = Instant::now();
    let instruction = task.problem_statement.clone();
    let task_id = task.task_id.clone();
    let id = reg.create(task, opts).await.map_err(|e| match e {
        CreateError::Overloaded { .. } => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", e.to_string())
        }
        CreateError::Env(e) => ApiError::env(e, &reg),
    })?;
    reg.metrics.create.observe(t.elapsed());
    Ok(Json(json!({
        "env_id": id,
        "task_id": task_id,
        "instruction": instruction,
        "seconds": t.elapsed().as_secs_f64(),
        "ttl_secs": reg.config.ttl.as_secs_f64(),
    })))
}

/// The task a create names: a row, or an instance of a dataset on the server.
async fn task_of(req: &CreateReq) -> ApiResult<Task> {
    let task_error = |m: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "task_error", m);
    match (&req.task, &req.dataset, &req.instance_id) {
        (Some(row), None, None) => r2e_core::row::task_from_value(row, &Default::default())
            .map_err(|e| task_error(e.to_string())),
        (None, Some(path), Some(id)) => {
            let (path, id) = (path.clone(), id.clone());
            tokio::task::spawn_blocking(move || {
                let loaded =
                    r2e_core::dataset::load(std::path::Path::new(&path), &Default::default())
                        .map_err(|e| task_error(e.to_string()))?;
                loaded
                    .tasks
                    .into_iter()
                    .find(|t| t.task_id == id)
                    .ok_or_else(|| task_error(format!("{path} has no task {id}")))
            })
            .await
            .map_err(|e| ApiError::bad(e.to_string()))?
        }
        _ => Err(ApiError::bad(
            "name the task: {\"task\": ROW} or {\"dataset\": PATH, \"instance_id\": ID}",
        )),
    }
}

async fn reset(State(reg): Reg, Path(id): Path<String>) -> ApiResult {
    let entry = lookup(&reg, &id)?;
    let env = reg
        .start(&entry.task, &entry.opts)
        .await
        .map_err(|e| ApiError::env(e, &reg))?;
    let old = entry.replace(env);
    if let Err(e) = old.sandbox().close().await {
        tracing::warn!("removing the replaced sandbox of {id}: {e}");
    }
    Ok(Json(json!({"instruction": entry.task.problem_statement})))
}

#[derive(Deserialize)]
struct StepReq {
    tool: Option<String>,
    #[serde(default)]
    args: serde_json::Map<String, Value>,
    text: Option<String>,
    timeout: Option<f64>,
}

async fn step(
    State(reg): Reg,
    Path(id): Path<String>,
    body: Result<Json<StepReq>, JsonRejection>,
) -> ApiResult {
    let Json(req) = body?;
    let entry = lookup(&reg, &id)?;
    let (tool, args) = match (req.tool, req.text) {
        (Some(tool), None) => (tool, req.args),
        (None, Some(text)) => {
            let (_, call) = r2e_agent::action::parse_xml(&text);
            if call.tool.is_empty() {
                return Ok(Json(json!({
                    "observation": r2e_agent::action::CONTINUE_MSG, "done": false, "nudge": true,
                    "output": "", "error_code": "0", "exit_code": 0, "duration_us": 0,
                })));
            }
            let action = call.to_action();
            (action.tool, action.args)
        }
        _ => {
            return Err(ApiError::bad(
                "give either \"tool\" (with \"args\") or \"text\"",
            ));
        }
    };
    let t = Instant::now();
    let timeout = req.timeout.map(|s| s.ceil().max(1.0) as u64);
    let reply = entry
        .env()
        .step_within(&tool, &args, timeout)
        .await
        .map_err(|e| ApiError::env(e, &reg))?;
    reg.metrics.step.observe(t.elapsed());
    Ok(Json(json!({
        "observation": reply.text,
        "done": reply.finished,
        "output": reply.output,
        "error_code": reply.error_code,
        "exit_code": reply.exit_code,
        "duration_us": reply.duration_us,
    })))
}

#[derive(Deserialize)]
struct ExecReq {
    cmd: String,
    timeout: Option<f64>,
}

async fn exec(
    State(reg): Reg,
    Path(id): Path<String>,
    body: Result<Json<ExecReq>, JsonRejection>,
) -> ApiResult {
    let Json(req) = body?;
    let entry = lookup(&reg, &id)?;
    let env = entry.env();
    let opts = ExecOptions {
        cwd: Some(env.workdir().to_string()),
        ..ExecOptions::timeout(req.timeout.unwrap_or(entry.opts.tool_timeout_secs as f64))
    };
    let out = env
        .sandbox()
        .exec(&req.cmd, &opts)
        .await
        .map_err(|e| ApiError::env(e.into(), &reg))?;
    Ok(Json(json!({
        "stdout": out.stdout_text(),
        "stderr": out.stderr_text(),
        "exit_code": out.exit_code,
        "timed_out": out.timed_out,
        "oom_killed": out.oom_killed,
    })))
}

#[derive(Deserialize)]
struct FileQuery {
    path: String,
    mode: Option<u32>,
}

async fn read_file(
    State(reg): Reg,
    Path(id): Path<String>,
    Query(q): Query<FileQuery>,
) -> ApiResult<Response> {
    let entry = lookup(&reg, &id)?;
    let data = entry
        .env()
        .sandbox()
        .read_file(&q.path)
        .await
        .map_err(|e| match e {
            SandboxError::Shim(s) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", s.to_string())
            }
            other => ApiError::env(other.into(), &reg),
        })?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    Ok((headers, Body::from(data)).into_response())
}

async fn write_file(
    State(reg): Reg,
    Path(id): Path<String>,
    Query(q): Query<FileQuery>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let data = body?;
    let entry = lookup(&reg, &id)?;
    entry
        .env()
        .sandbox()
        .write_file(&q.path, &data, q.mode)
        .await
        .map_err(|e| ApiError::env(e.into(), &reg))?;
    Ok(Json(json!({})))
}

async fn patch(State(reg): Reg, Path(id): Path<String>) -> ApiResult {
    let entry = lookup(&reg, &id)?;
    let patch = entry
        .env()
        .patch()
        .await
        .map_err(|e| ApiError::env(e, &reg))?;
    Ok(Json(json!({ "patch": patch })))
}

#[derive(Deserialize, Default)]
struct RewardReq {
    #[serde(default = "yes")]
    log: bool,
}

fn yes() -> bool {
    true
}

async fn reward(
    State(reg): Reg,
    Path(id): Path<String>,
    body: Option<Json<RewardReq>>,
) -> ApiResult {
    let want_log = body.map(|Json(r)| r.log).unwrap_or(true);
    let entry = lookup(&reg, &id)?;
    let t = Instant::now();
    let result = entry.env().reward().await;
    reg.metrics.reward.observe(t.elapsed());
    match result {
        Ok(r) => {
            reg.metrics.reward_status(r.status.as_str());
            let report: Value = serde_json::from_str(&r.report).unwrap_or(Value::Null);
            Ok(Json(json!({
                "value": r.value,
                "status": r.status,
                "report": report,
                "log": if want_log { r.log } else { String::new() },
                "excluded": r.excluded,
                "seconds": r.duration.as_secs_f64(),
            })))
        }
        Err(e) if e.is_task_error() => Err(ApiError::env(e, &reg)),
        Err(e) => {
            reg.metrics.reward_status("infra_error");
            reg.metrics
                .infra_errors
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(Json(json!({
                "value": null,
                "status": "infra_error",
                "error": e.to_string(),
                "seconds": t.elapsed().as_secs_f64(),
            })))
        }
    }
}

async fn fork(State(reg): Reg, Path(id): Path<String>) -> ApiResult {
    let entry = lookup(&reg, &id)?;
    let child = entry
        .env()
        .fork()
        .await
        .map_err(|e| ApiError::env(e, &reg))?;
    let child_id = reg.adopt(&entry, child).map_err(|e| match e {
        CreateError::Overloaded { .. } => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", e.to_string())
        }
        CreateError::Env(e) => ApiError::env(e, &reg),
    })?;
    Ok(Json(json!({ "env_id": child_id })))
}

async fn heartbeat(State(reg): Reg, Path(id): Path<String>) -> ApiResult {
    lookup(&reg, &id)?;
    Ok(Json(json!({ "ttl_secs": reg.config.ttl.as_secs_f64() })))
}

async fn remove(State(reg): Reg, Path(id): Path<String>) -> Json<Value> {
    Json(json!({ "deleted": reg.remove(&id).await }))
}
