//! The trajectory viewer (`r2e view`, and `/view` of `r2e serve`): one
//! static page embedded in the binary (no CDN: it works air-gapped) that
//! pages through a small JSON API over an in-memory index of trajectory
//! files.
//!
//! The index keeps each file's bytes and, per trajectory, its line's span,
//! a summary (task, model, rollout, status, exit reason, steps, cost,
//! tokens, time) and its line lowercased once at load (the search runs
//! over that with one substring finder, never lowercasing per query);
//! filters and search run on the server, so opening 10,000 trajectories
//! sends one page of rows, and one trajectory is sent whole only when it
//! is opened. Scores files (`r2e verify`) join by (task, rollout).

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use r2e_core::{RewardStatus, Trajectory};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The page.
const PAGE: &str = include_str!("view.html");

/// One trajectory's summary row.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Position in the index (the id the page uses).
    pub idx: usize,
    /// The file it came from.
    pub file: usize,
    /// Task id.
    pub task_id: String,
    /// Model.
    pub model: String,
    /// Rollout number.
    pub rollout: u32,
    /// Reward value.
    pub reward: Option<f64>,
    /// Reward status.
    pub status: RewardStatus,
    /// Exit reason.
    pub exit_reason: String,
    /// Steps taken.
    pub steps: usize,
    /// Cost in USD.
    pub cost_usd: f64,
    /// Prompt + completion tokens.
    pub tokens: u64,
    /// Wall time in seconds.
    pub duration_secs: f64,
    /// Lines of the final patch.
    pub patch_lines: usize,
    /// The error, when there was one.
    pub error: Option<String>,
}

/// Trajectory files loaded for viewing.
pub struct Index {
    files: Vec<String>,
    data: Vec<Vec<u8>>,
    spans: Vec<(usize, usize, usize)>,
    /// Every trajectory's line lowercased, one after another; `folded[i]`
    /// is the span of trajectory `i` in it.
    lower: String,
    folded: Vec<(usize, usize)>,
    rows: Vec<Row>,
    scores: HashMap<(String, u32), Value>,
    plot: Option<String>,
}

/// Why files could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// A line is not a trajectory.
    #[error("{path}:{line}: not a trajectory: {message}")]
    Line {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// The parser's message.
        message: String,
    },
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("files", &self.files)
            .field("trajectories", &self.rows.len())
            .finish()
    }
}

impl Index {
    /// Loads trajectory files, optional scores files (JSONL rows with
    /// `task_id` and `rollout`) and optionally the best@k plot of a `r2e
    /// verify report` directory (its `best_at_k.svg`). A torn last line (a
    /// run killed while writing) is skipped, as readers do.
    pub fn load(
        paths: &[std::path::PathBuf],
        scores: &[std::path::PathBuf],
        report: Option<&std::path::Path>,
    ) -> Result<Index, ViewError> {
        let plot = match report {
            Some(dir) => {
                let path = dir.join("best_at_k.svg");
                Some(
                    std::fs::read_to_string(&path).map_err(|source| ViewError::Read {
                        path: format!(
                            "{} (a `r2e verify report --out-dir` directory?)",
                            path.display()
                        ),
                        source,
                    })?,
                )
            }
            None => None,
        };
        let mut index = Index {
            files: Vec::new(),
            data: Vec::new(),
            spans: Vec::new(),
            lower: String::new(),
            folded: Vec::new(),
            rows: Vec::new(),
            scores: HashMap::new(),
            plot,
        };
        for (file, path) in paths.iter().enumerate() {
            let name = path.display().to_string();
            let bytes = std::fs::read(path).map_err(|source| ViewError::Read {
                path: name.clone(),
                source,
            })?;
            let mut start = 0;
            let mut line_no = 0;
            while start < bytes.len() {
                line_no += 1;
                let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i);
                let line = &bytes[start..end];
                let torn = end == bytes.len() && !bytes.ends_with(b"\n");
                if !line.iter().all(u8::is_ascii_whitespace) {
                    match serde_json::from_slice::<Trajectory>(line) {
                        Ok(t) => {
                            let idx = index.rows.len();
                            index.rows.push(row(idx, file, &t));
                            index.spans.push((file, start, end));
                            // It parsed as JSON, so it is UTF-8.
                            let from = index.lower.len();
                            lowercase_into(&mut index.lower, &String::from_utf8_lossy(line));
                            index.folded.push((from, index.lower.len()));
                        }
                        Err(_) if torn => {}
                        Err(e) => {
                            return Err(ViewError::Line {
                                path: name,
                                line: line_no,
                                message: e.to_string(),
                            });
                        }
                    }
                }
                start = end + 1;
            }
            index.files.push(name);
            index.data.push(bytes);
        }
        for path in scores {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|source| ViewError::Read {
                path: name.clone(),
                source,
            })?;
            for line in text.lines() {
                let Ok(Value::Object(v)) = serde_json::from_str::<Value>(line) else {
                    continue;
                };
                let (Some(task), Some(rollout)) = (
                    v.get("task_id").and_then(Value::as_str),
                    v.get("rollout").and_then(Value::as_u64),
                ) else {
                    continue;
                };
                let slot = index
                    .scores
                    .entry((task.to_string(), rollout as u32))
                    .or_insert_with(|| json!({}));
                for (k, val) in v.iter() {
                    if !val.is_null() {
                        slot[k] = val.clone();
                    }
                }
            }
        }
        Ok(index)
    }

    /// Trajectories loaded.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether nothing was loaded.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn line(&self, idx: usize) -> &[u8] {
        let (file, start, end) = self.spans[idx];
        &self.data[file][start..end]
    }

    /// Trajectory `idx`'s line, lowercased.
    fn lowered(&self, idx: usize) -> &[u8] {
        let (start, end) = self.folded[idx];
        &self.lower.as_bytes()[start..end]
    }
}

/// Appends `text` lowercased to `out`: runs of ASCII a block at a time,
/// other characters one by one (`str::to_lowercase` goes character by
/// character from the first non-ASCII one on, several times slower on
/// output that mixes the two).
fn lowercase_into(out: &mut String, text: &str) {
    let mut rest = text;
    while !rest.is_empty() {
        let ascii = rest
            .bytes()
            .position(|b| !b.is_ascii())
            .unwrap_or(rest.len());
        let start = out.len();
        out.push_str(&rest[..ascii]);
        out.as_mut_str()[start..].make_ascii_lowercase();
        rest = &rest[ascii..];
        if let Some(c) = rest.chars().next() {
            out.extend(c.to_lowercase());
            rest = &rest[c.len_utf8()..];
        }
    }
}

fn row(idx: usize, file: usize, t: &Trajectory) -> Row {
    Row {
        idx,
        file,
        task_id: t.task_id.clone(),
        model: t.model.clone(),
        rollout: t.rollout,
        reward: t.reward,
        status: t.status(),
        exit_reason: r2e_agent::runner::exit_name(t.exit_reason),
        steps: t.steps.len(),
        cost_usd: t.cost_usd,
        tokens: t.usage.prompt_tokens + t.usage.completion_tokens,
        duration_secs: t.duration_secs,
        patch_lines: t.patch.lines().count(),
        error: t.error.clone(),
    }
}

/// The viewer's routes under `/view` over `index`.
pub fn router(index: Arc<Index>) -> Router {
    Router::new()
        .route("/view", get(|| async { Html(PAGE) }))
        .route("/view/", get(|| async { Html(PAGE) }))
        .route("/view/api/summary", get(summary))
        .route("/view/api/list", get(list))
        .route("/view/api/traj/{idx}", get(traj))
        .route("/view/api/plot.svg", get(plot))
        .with_state(index)
}

/// Serves the viewer alone on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    index: Arc<Index>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(index).route(
        "/",
        get(|| async { axum::response::Redirect::temporary("/view") }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn summary(State(ix): State<Arc<Index>>) -> Json<Value> {
    let mut statuses: BTreeMap<RewardStatus, usize> = BTreeMap::new();
    let mut models: BTreeMap<&str, usize> = BTreeMap::new();
    let mut exits: BTreeMap<&str, usize> = BTreeMap::new();
    let mut tasks: BTreeMap<&str, bool> = BTreeMap::new();
    let (mut cost, mut tokens) = (0.0, 0u64);
    for r in &ix.rows {
        *statuses.entry(r.status).or_default() += 1;
        *models.entry(&r.model).or_default() += 1;
        *exits.entry(&r.exit_reason).or_default() += 1;
        *tasks.entry(&r.task_id).or_default() |= r.status == RewardStatus::Resolved;
        cost += r.cost_usd;
        tokens += r.tokens;
    }
    let graded = ix.rows.len()
        - statuses
            .get(&RewardStatus::InfraError)
            .copied()
            .unwrap_or(0);
    let resolved = statuses.get(&RewardStatus::Resolved).copied().unwrap_or(0);
    Json(json!({
        "files": ix.files,
        "trajectories": ix.rows.len(),
        "tasks": tasks.len(),
        "tasks_solved": tasks.values().filter(|s| **s).count(),
        "statuses": statuses,
        "models": models,
        "exits": exits,
        "resolved_rate": if graded > 0 { Some(resolved as f64 / graded as f64) } else { None },
        "cost_usd": cost,
        "tokens": tokens,
        "has_scores": !ix.scores.is_empty(),
        "has_plot": ix.plot.is_some(),
    }))
}

/// Filters of the list.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    offset: Option<usize>,
    limit: Option<usize>,
    task: Option<String>,
    model: Option<String>,
    status: Option<String>,
    exit: Option<String>,
    min_steps: Option<usize>,
    max_steps: Option<usize>,
    min_cost: Option<f64>,
    max_cost: Option<f64>,
    q: Option<String>,
}

/// A filter that was given and is not empty.
fn text(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

async fn list(State(ix): State<Arc<Index>>, Query(f): Query<ListQuery>) -> Json<Value> {
    let needle = text(&f.q).map(|q| {
        let mut folded = String::new();
        lowercase_into(&mut folded, q);
        folded
    });
    let finder = needle.as_deref().map(memchr::memmem::Finder::new);
    let offset = f.offset.unwrap_or(0);
    let limit = f.limit.unwrap_or(50).min(500);
    // One pass counts the matches and keeps only the page's rows.
    let (mut total, mut page) = (0usize, Vec::with_capacity(limit));
    let matches = ix
        .rows
        .iter()
        .filter(|r| text(&f.task).is_none_or(|t| r.task_id.contains(t)))
        .filter(|r| text(&f.model).is_none_or(|m| r.model == m))
        .filter(|r| text(&f.status).is_none_or(|s| r.status.as_str() == s))
        .filter(|r| text(&f.exit).is_none_or(|e| r.exit_reason == e))
        .filter(|r| f.min_steps.is_none_or(|n| r.steps >= n))
        .filter(|r| f.max_steps.is_none_or(|n| r.steps <= n))
        .filter(|r| f.min_cost.is_none_or(|c| r.cost_usd >= c))
        .filter(|r| f.max_cost.is_none_or(|c| r.cost_usd <= c))
        .filter(|r| {
            // The raw line holds thoughts and observations (JSON-escaped:
            // a search for plain words finds them).
            finder
                .as_ref()
                .is_none_or(|f| f.find(ix.lowered(r.idx)).is_some())
        });
    for r in matches {
        if total >= offset && page.len() < limit {
            page.push(r);
        }
        total += 1;
    }
    Json(json!({ "total": total, "offset": offset, "rows": page }))
}

async fn traj(State(ix): State<Arc<Index>>, Path(idx): Path<usize>) -> Response {
    let Some(row) = ix.rows.get(idx) else {
        return (StatusCode::NOT_FOUND, "no such trajectory").into_response();
    };
    let t: Value = serde_json::from_slice(ix.line(idx)).unwrap_or(Value::Null);
    let siblings: Vec<Value> = ix
        .rows
        .iter()
        .filter(|r| r.task_id == row.task_id && r.idx != idx)
        .map(|r| json!({"idx": r.idx, "rollout": r.rollout, "status": r.status}))
        .collect();
    let scores = ix
        .scores
        .get(&(row.task_id.clone(), row.rollout))
        .cloned()
        .unwrap_or(Value::Null);
    Json(json!({
        "row": row,
        "trajectory": t,
        "scores": scores,
        "siblings": siblings,
        "file": ix.files[row.file],
    }))
    .into_response()
}

async fn plot(State(ix): State<Arc<Index>>) -> Response {
    match &ix.plot {
        Some(svg) => ([(header::CONTENT_TYPE, "image/svg+xml")], svg.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, "no plot: pass --report DIR").into_response(),
    }
}
