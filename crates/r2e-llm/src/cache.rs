//! Record/replay: [`CachingClient`] stores every reply under a canonical hash
//! of its request, so a rerun is deterministic and asks no server.
//!
//! **Key.** [`request_key`] is the SHA-256 (hex) of the request as canonical
//! JSON — every field of [`ChatRequest`] (model, messages, tools, tool
//! choice, temperature, top_p, max_tokens, stop, logprobs, seed, extra
//! fields, cache salt) except `stream`, which does not change the reply; object
//! keys sorted at every level; numbers as serde_json prints them — prefixed
//! with a format version. Any change to the conversation or a parameter is a
//! different key. Identical requests share one entry: to record k different
//! samples of one prompt, give each a [`ChatRequest::cache_salt`].
//!
//! **Layout.** One JSON file per request, `DIR/ab/abcdef….json` (first two hex
//! digits as a subdirectory), holding `{"key", "request", "response"}`: the
//! request for reading and diffing, the [`ChatResponse`] as returned. Files
//! are written to a temporary name and renamed, so parallel workers and
//! killed runs never leave a torn entry. Errors are never recorded.
//!
//! **Modes** ([`CacheMode`]): `off` passes through; `record` always asks the
//! server and (over)writes; `replay` only reads and fails with
//! [`LlmError::CacheMiss`] for an unrecorded request; `read-write` reads and
//! records what is missing. A replayed reply has `cached: true` and the usage
//! and cost of the recorded call.

use crate::Client;
use crate::error::LlmError;
use crate::types::{ChatRequest, ChatResponse, OnDelta, emit_whole};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// What the cache does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CacheMode {
    /// Pass every request through; read and write nothing.
    #[default]
    Off,
    /// Ask the server every time and record (overwrite) the reply.
    Record,
    /// Never ask the server: recorded replies only, [`LlmError::CacheMiss`] otherwise.
    Replay,
    /// Replay what is recorded; ask the server and record the rest.
    ReadWrite,
}

impl FromStr for CacheMode {
    type Err = String;

    /// `off`, `record`, `replay` or `read-write` (also `readwrite`, `rw`).
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "off" | "none" => Ok(Self::Off),
            "record" => Ok(Self::Record),
            "replay" => Ok(Self::Replay),
            "read-write" | "readwrite" | "read_write" | "rw" => Ok(Self::ReadWrite),
            other => Err(format!(
                "unknown cache mode {other:?}: use off, record, replay or read-write"
            )),
        }
    }
}

impl fmt::Display for CacheMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Off => "off",
            Self::Record => "record",
            Self::Replay => "replay",
            Self::ReadWrite => "read-write",
        })
    }
}

const KEY_VERSION: &str = "r2e-llm-cache-v1";

/// The canonical JSON of `req` that [`request_key`] hashes.
pub fn canonical_request(req: &ChatRequest) -> Value {
    let mut value = serde_json::to_value(req).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.remove("stream");
    }
    sort_keys(value)
}

fn sort_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sort_keys(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

/// The cache key of `req`: 64 hex digits (see the module docs).
pub fn request_key(req: &ChatRequest) -> String {
    let mut hasher = Sha256::new();
    hasher.update(KEY_VERSION.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical_request(req).to_string().as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Serialize, Deserialize)]
struct Entry {
    key: String,
    request: Value,
    response: ChatResponse,
}

/// A directory of recorded replies (see the module docs for the layout).
#[derive(Debug, Clone)]
pub struct ResponseCache {
    dir: PathBuf,
}

impl ResponseCache {
    /// The cache in `dir` (created on the first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that holds the entry for `key`.
    pub fn path(&self, key: &str) -> PathBuf {
        self.dir
            .join(key.get(..2).unwrap_or("__"))
            .join(format!("{key}.json"))
    }

    /// The recorded reply for `req`, if any.
    pub async fn get(&self, req: &ChatRequest) -> Result<Option<ChatResponse>, LlmError> {
        let path = self.path(&request_key(req));
        let bytes = match tokio::fs::read(&path).await {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(cache_error(&path, e)),
        };
        let entry: Entry = serde_json::from_slice(&bytes).map_err(|e| LlmError::Cache {
            path: path.clone(),
            message: format!("unreadable entry ({e}); delete it to record the request again"),
        })?;
        Ok(Some(entry.response))
    }

    /// Records `response` as the reply to `req`.
    pub async fn put(&self, req: &ChatRequest, response: &ChatResponse) -> Result<(), LlmError> {
        let key = request_key(req);
        let path = self.path(&key);
        let entry = Entry {
            key,
            request: canonical_request(req),
            response: response.clone(),
        };
        let json = serde_json::to_vec_pretty(&entry).map_err(|e| cache_error(&path, e))?;
        let dir = path.parent().unwrap_or(&self.dir);
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| cache_error(dir, e))?;
        let temporary = path.with_extension(format!(
            "json.{}-{}.tmp",
            std::process::id(),
            fastrand::u64(..)
        ));
        tokio::fs::write(&temporary, json)
            .await
            .map_err(|e| cache_error(&temporary, e))?;
        tokio::fs::rename(&temporary, &path)
            .await
            .map_err(|e| cache_error(&path, e))
    }
}

fn cache_error(path: &Path, error: impl fmt::Display) -> LlmError {
    LlmError::Cache {
        path: path.to_owned(),
        message: error.to_string(),
    }
}

/// A [`Client`] that records and replays its inner client's replies.
pub struct CachingClient<C> {
    inner: C,
    cache: ResponseCache,
    mode: CacheMode,
}

impl<C: Client> CachingClient<C> {
    /// Wraps `inner` with `cache` in `mode`.
    pub fn new(inner: C, cache: ResponseCache, mode: CacheMode) -> Self {
        Self { inner, cache, mode }
    }

    /// The cache.
    pub fn cache(&self) -> &ResponseCache {
        &self.cache
    }

    /// The mode.
    pub fn mode(&self) -> CacheMode {
        self.mode
    }
}

#[async_trait]
impl<C: Client> Client for CachingClient<C> {
    async fn chat_streaming(
        &self,
        req: &ChatRequest,
        on_delta: &mut OnDelta<'_>,
    ) -> Result<ChatResponse, LlmError> {
        if matches!(self.mode, CacheMode::Replay | CacheMode::ReadWrite) {
            if let Some(mut response) = self.cache.get(req).await? {
                response.cached = true;
                emit_whole(&response, on_delta);
                return Ok(response);
            }
            if self.mode == CacheMode::Replay {
                return Err(LlmError::CacheMiss {
                    key: request_key(req),
                    dir: self.cache.dir.clone(),
                });
            }
        }
        let response = self.inner.chat_streaming(req, on_delta).await?;
        if self.mode != CacheMode::Off {
            self.cache.put(req, &response).await?;
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Message;

    #[test]
    fn key_ignores_stream_and_field_order_but_not_content() {
        let base = ChatRequest::new("m", vec![Message::user("hi")]).temperature(0.7);
        let key = request_key(&base);
        assert_eq!(key.len(), 64);
        assert_eq!(key, request_key(&base.clone().stream(true)));
        let a = base.clone().extra("b", 1.into()).extra("a", 2.into());
        let b = base.clone().extra("a", 2.into()).extra("b", 1.into());
        assert_eq!(request_key(&a), request_key(&b));
        assert_ne!(key, request_key(&base.clone().temperature(0.8)));
        assert_ne!(key, request_key(&base.clone().cache_salt("sample-2")));
        assert_ne!(
            key,
            request_key(&ChatRequest::new("m", vec![Message::user("hi!")]).temperature(0.7))
        );
    }

    #[test]
    fn modes_parse() {
        for mode in [
            CacheMode::Off,
            CacheMode::Record,
            CacheMode::Replay,
            CacheMode::ReadWrite,
        ] {
            assert_eq!(mode.to_string().parse::<CacheMode>(), Ok(mode));
        }
        assert!("sometimes".parse::<CacheMode>().is_err());
    }
}
