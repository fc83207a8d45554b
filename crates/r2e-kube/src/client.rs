//! A small Kubernetes API client: credentials (kubeconfig with tokens,
//! client certificates or exec plugins; in-cluster service accounts) and the
//! namespace they suggest, JSON requests retried on 429/5xx with backoff,
//! and exec WebSocket streams speaking `v5.channel.k8s.io` (or `v4`) bridged
//! to the shim's stdio.
//!
//! An exec credential plugin runs as a child process of the runtime (never
//! blocking a worker), under a timeout, and one refresh at a time: requests
//! that find the token expired while a refresh runs wait for its result. Its
//! token is used until shortly before its `expirationTimestamp`, and replaced
//! once when the API server refuses it (401).

use base64::Engine as _;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use r2e_sandbox::conn::{LogOutput, OutputStream};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWrite};
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};

/// Most attempts of one API call on 429, 5xx or a refused connection.
const ATTEMPTS: u32 = 6;
/// The exec subprotocols r2e speaks, preferred first.
pub const EXEC_PROTOCOLS: &str = "v5.channel.k8s.io, v4.channel.k8s.io";
/// Longest wait for the API server to open an exec stream.
const EXEC_CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a token from an exec plugin is reused when the plugin gives no
/// `expirationTimestamp`.
const EXEC_TOKEN_TTL: Duration = Duration::from_secs(300);
/// How long before its `expirationTimestamp` a plugin's token is replaced.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);
/// Longest run of an exec credential plugin.
const EXEC_PLUGIN_TIMEOUT: Duration = Duration::from_secs(60);
/// How much of a failed plugin's stderr an error quotes (its end).
const STDERR_TAIL: usize = 2000;
/// The in-cluster service account directory.
const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// A failed API call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// HTTP status (none: the server was not reached).
    pub status: Option<u16>,
    /// The `Status.reason` of Kubernetes (`AlreadyExists`, `NotFound`, `Forbidden`).
    pub reason: String,
    /// A sentence saying what failed.
    pub message: String,
}

impl ApiError {
    fn local(message: String) -> Self {
        ApiError {
            status: None,
            reason: String::new(),
            message,
        }
    }
}

/// Where a bearer token comes from.
enum Token {
    None,
    Static(String),
    /// Re-read on every use (service-account tokens rotate).
    File(PathBuf),
    /// A client-go exec credential plugin, run again when its token expires
    /// (its `expirationTimestamp`, else after [`EXEC_TOKEN_TTL`]) or is
    /// refused. The lock is held across a refresh, which makes it
    /// single-flight; the instant is the token's end of use.
    Exec {
        plugin: ExecPlugin,
        cached: tokio::sync::Mutex<Option<(String, Instant)>>,
    },
}

/// A kubeconfig `users[].user.exec` entry.
#[derive(Debug, Clone)]
struct ExecPlugin {
    command: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// `client.authentication.k8s.io/v1` or `v1beta1`.
    api_version: String,
    /// What the kubeconfig says to do when the plugin is missing or fails.
    install_hint: Option<String>,
}

/// Where the namespace of the pods was decided, in kubectl's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceSource {
    /// `namespace` in the provider config file.
    ProviderConfig,
    /// The kubeconfig context of this name.
    KubeconfigContext(String),
    /// The in-cluster service account's `namespace` file.
    ServiceAccount,
    /// Nothing named one: `default`.
    Default,
}

impl std::fmt::Display for NamespaceSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NamespaceSource::ProviderConfig => write!(f, "the provider config"),
            NamespaceSource::KubeconfigContext(c) => write!(f, "kubeconfig context {c:?}"),
            NamespaceSource::ServiceAccount => {
                write!(f, "the service account ({SERVICE_ACCOUNT_DIR}/namespace)")
            }
            NamespaceSource::Default => write!(f, "no setting: Kubernetes' default"),
        }
    }
}

/// How to reach and authenticate to one API server.
pub struct Credentials {
    /// `https://host:port` (no trailing slash).
    pub server: String,
    /// The namespace the credentials suggest (the kubeconfig context's, or
    /// the service account's in a cluster), and where it was found.
    pub namespace: Option<(String, NamespaceSource)>,
    token: Token,
    ca_pem: Option<Vec<u8>>,
    /// Client certificate and PKCS#8 key, PEM.
    identity: Option<(Vec<u8>, Vec<u8>)>,
    insecure: bool,
}

impl Credentials {
    /// Plain HTTP to `server` with no authentication (tests, `kubectl proxy`).
    pub fn insecure_http(server: &str) -> Self {
        Credentials {
            server: server.trim_end_matches('/').to_string(),
            namespace: None,
            token: Token::None,
            ca_pem: None,
            identity: None,
            insecure: false,
        }
    }

    /// The pod's own service account.
    pub fn in_cluster() -> Result<Self, ApiError> {
        let host = std::env::var("KUBERNETES_SERVICE_HOST").map_err(|_| {
            ApiError::local(
                "not running in a cluster (KUBERNETES_SERVICE_HOST is unset); \
                 set `kubeconfig` in the provider config instead"
                    .into(),
            )
        })?;
        let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
        Self::service_account(Path::new(SERVICE_ACCOUNT_DIR), &host, &port)
    }

    /// A service account's credentials from its mounted directory (`ca.crt`,
    /// `token`, `namespace`) for the API server at `host:port`.
    fn service_account(dir: &Path, host: &str, port: &str) -> Result<Self, ApiError> {
        let ca = std::fs::read(dir.join("ca.crt"))
            .map_err(|e| ApiError::local(format!("{}/ca.crt: {e}", dir.display())))?;
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        Ok(Credentials {
            server: format!("https://{host}:{port}"),
            namespace: std::fs::read_to_string(dir.join("namespace"))
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .map(|s| (s, NamespaceSource::ServiceAccount)),
            token: Token::File(dir.join("token")),
            ca_pem: Some(ca),
            identity: None,
            insecure: false,
        })
    }

    /// Reads a kubeconfig file and picks `context` (default: its current one).
    pub fn from_kubeconfig(path: &Path, context: Option<&str>) -> Result<Self, ApiError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ApiError::local(format!("cannot read kubeconfig {}: {e}", path.display()))
        })?;
        let doc: Value = serde_yaml::from_str(&text)
            .map_err(|e| ApiError::local(format!("kubeconfig {}: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        parse_kubeconfig(&doc, context, base)
            .map_err(|e| ApiError::local(format!("kubeconfig {}: {e}", path.display())))
    }

    /// The kubeconfig r2e uses by default: `$KUBECONFIG` (first path), then `~/.kube/config`.
    pub fn default_kubeconfig() -> Option<PathBuf> {
        if let Some(v) = std::env::var_os("KUBECONFIG")
            && let Some(first) = std::env::split_paths(&v).next()
            && !first.as_os_str().is_empty()
        {
            return Some(first);
        }
        let home = std::env::var_os("HOME")?;
        let p = PathBuf::from(home).join(".kube").join("config");
        p.exists().then_some(p)
    }

    /// The bearer token to send, if any (an exec plugin's is refreshed here).
    async fn bearer(&self) -> Result<Option<String>, ApiError> {
        match &self.token {
            Token::None => Ok(None),
            Token::Static(t) => Ok(Some(t.clone())),
            Token::File(p) => tokio::fs::read_to_string(p)
                .await
                .map(|t| Some(t.trim().to_string()))
                .map_err(|e| ApiError::local(format!("reading the token {}: {e}", p.display()))),
            Token::Exec { plugin, cached } => {
                // Held across the refresh: concurrent callers wait here and
                // then find the fresh token instead of running the plugin too.
                let mut slot = cached.lock().await;
                if let Some((t, until)) = slot.as_ref()
                    && Instant::now() < *until
                {
                    return Ok(Some(t.clone()));
                }
                let (token, lifetime) = plugin.run(EXEC_PLUGIN_TIMEOUT).await?;
                *slot = Some((token.clone(), Instant::now() + lifetime));
                Ok(Some(token))
            }
        }
    }

    /// Forgets an exec plugin's token that the API server refused (401), so
    /// that the next request runs the plugin again (unless another caller
    /// replaced it already); says whether a retry may get another token.
    async fn refused(&self, token: &str) -> bool {
        let Token::Exec { cached, .. } = &self.token else {
            return false;
        };
        let mut slot = cached.lock().await;
        if slot.as_ref().is_some_and(|(t, _)| t == token) {
            *slot = None;
        }
        true
    }

    fn tls_connector(&self) -> Result<native_tls::TlsConnector, ApiError> {
        let mut b = native_tls::TlsConnector::builder();
        if let Some(ca) = &self.ca_pem {
            for cert in split_pem(ca) {
                let c = native_tls::Certificate::from_pem(&cert)
                    .map_err(|e| ApiError::local(format!("the cluster's CA certificate: {e}")))?;
                b.add_root_certificate(c);
            }
        }
        if let Some((cert, key)) = &self.identity {
            let id = native_tls::Identity::from_pkcs8(cert, key)
                .map_err(|e| ApiError::local(format!("the client certificate: {e}")))?;
            b.identity(id);
        }
        b.danger_accept_invalid_certs(self.insecure);
        b.build()
            .map_err(|e| ApiError::local(format!("TLS setup: {e}")))
    }
}

/// The PEM blocks of a bundle, each on its own (native-tls takes one at a time).
fn split_pem(bundle: &[u8]) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(bundle);
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        cur.push_str(line);
        cur.push('\n');
        if line.starts_with("-----END") {
            out.push(std::mem::take(&mut cur).into_bytes());
        }
    }
    out
}

impl ExecPlugin {
    /// Runs the plugin (killed after `timeout`) and returns its `status.token`
    /// and how long to use it (until shortly before its
    /// `status.expirationTimestamp`, else [`EXEC_TOKEN_TTL`]).
    async fn run(&self, timeout: Duration) -> Result<(String, Duration), ApiError> {
        let hint = self
            .install_hint
            .as_deref()
            .map(|h| format!("\n  hint (installHint of the kubeconfig): {}", h.trim()))
            .unwrap_or_default();
        let fail = |what: String| {
            ApiError::local(format!(
                "the kubeconfig's credential plugin {}: {what}{hint}",
                self.command
            ))
        };
        let exec_info = serde_json::json!({
            "apiVersion": self.api_version,
            "kind": "ExecCredential",
            "spec": {"interactive": false},
        });
        let child = tokio::process::Command::new(&self.command)
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("KUBERNETES_EXEC_INFO", exec_info.to_string())
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let out = match tokio::time::timeout(timeout, child).await {
            Err(_) => {
                return Err(fail(format!(
                    "did not finish within {} s (killed)",
                    timeout.as_secs_f64()
                )));
            }
            Ok(Err(e)) => return Err(fail(format!("cannot be run: {e}"))),
            Ok(Ok(out)) => out,
        };
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stderr = stderr.trim();
            let tail = match stderr.char_indices().rev().nth(STDERR_TAIL) {
                Some((at, _)) => format!("…{}", &stderr[at..]),
                None => stderr.to_string(),
            };
            return Err(fail(format!(
                "failed ({}); its stderr ends:\n{tail}",
                out.status
            )));
        }
        let v: Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| fail(format!("printed no ExecCredential JSON: {e}")))?;
        let token = v["status"]["token"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| fail("gave no status.token".into()))?;
        let lifetime = match v["status"]["expirationTimestamp"].as_str() {
            None => EXEC_TOKEN_TTL,
            Some(at) => {
                let expires = chrono::DateTime::parse_from_rfc3339(at).map_err(|e| {
                    fail(format!(
                        "gave an expirationTimestamp {at:?} that is not RFC 3339: {e}"
                    ))
                })?;
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs() as i64;
                Duration::from_secs(expires.timestamp().saturating_sub(now).max(0) as u64)
                    .saturating_sub(EXPIRY_MARGIN)
            }
        };
        Ok((token, lifetime))
    }
}

/// Reads a kubeconfig document (already parsed from YAML).
fn parse_kubeconfig(
    doc: &Value,
    context: Option<&str>,
    base: &Path,
) -> Result<Credentials, String> {
    let current = doc["current-context"].as_str().unwrap_or_default();
    let ctx_name = context.unwrap_or(current);
    if ctx_name.is_empty() {
        return Err("no context given and no current-context set".into());
    }
    let named = |list: &str, name: &str| -> Result<Value, String> {
        doc[list]
            .as_array()
            .and_then(|a| a.iter().find(|e| e["name"].as_str() == Some(name)))
            .map(|e| e[&list[..list.len() - 1]].clone())
            .ok_or_else(|| format!("no {} named {name:?}", &list[..list.len() - 1]))
    };
    let ctx = named("contexts", ctx_name)?;
    let cluster = named("clusters", ctx["cluster"].as_str().unwrap_or_default())?;
    let user = match ctx["user"].as_str() {
        Some(u) if !u.is_empty() => named("users", u)?,
        _ => Value::Null,
    };
    let server = cluster["server"]
        .as_str()
        .ok_or("the cluster has no server")?
        .trim_end_matches('/')
        .to_string();
    let data_or_file = |v: &Value, key: &str| -> Result<Option<Vec<u8>>, String> {
        if let Some(d) = v[format!("{key}-data")].as_str() {
            return base64::engine::general_purpose::STANDARD
                .decode(d.trim())
                .map(Some)
                .map_err(|e| format!("{key}-data is not base64: {e}"));
        }
        match v[key].as_str() {
            Some(f) => std::fs::read(base.join(f))
                .map(Some)
                .map_err(|e| format!("{key} {f}: {e}")),
            None => Ok(None),
        }
    };
    let ca_pem = data_or_file(&cluster, "certificate-authority")?;
    let identity = match (
        data_or_file(&user, "client-certificate")?,
        data_or_file(&user, "client-key")?,
    ) {
        (Some(cert), Some(key)) => Some((cert, to_pkcs8(&key)?)),
        _ => None,
    };
    let token = if let Some(t) = user["token"].as_str() {
        Token::Static(t.to_string())
    } else if let Some(f) = user["tokenFile"].as_str() {
        Token::File(base.join(f))
    } else if user["exec"].is_object() {
        let e = &user["exec"];
        let plugin = ExecPlugin {
            command: e["command"]
                .as_str()
                .ok_or("exec has no command")?
                .to_string(),
            args: e["args"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
            env: e["env"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|kv| {
                            Some((
                                kv["name"].as_str()?.to_string(),
                                kv["value"].as_str()?.to_string(),
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default(),
            api_version: e["apiVersion"]
                .as_str()
                .unwrap_or("client.authentication.k8s.io/v1")
                .to_string(),
            install_hint: e["installHint"].as_str().map(String::from),
        };
        Token::Exec {
            plugin,
            cached: tokio::sync::Mutex::new(None),
        }
    } else {
        Token::None
    };
    Ok(Credentials {
        server,
        namespace: ctx["namespace"]
            .as_str()
            .filter(|n| !n.is_empty())
            .map(|n| {
                (
                    n.to_string(),
                    NamespaceSource::KubeconfigContext(ctx_name.to_string()),
                )
            }),
        token,
        ca_pem,
        identity,
        insecure: cluster["insecure-skip-tls-verify"].as_bool() == Some(true),
    })
}

/// A private key as PKCS#8 PEM (kubeconfigs often hold PKCS#1 or SEC1 keys).
fn to_pkcs8(key: &[u8]) -> Result<Vec<u8>, String> {
    if key.starts_with(b"-----BEGIN PRIVATE KEY-----") {
        return Ok(key.to_vec());
    }
    openssl::pkey::PKey::private_key_from_pem(key)
        .and_then(|k| k.private_key_to_pem_pkcs8())
        .map_err(|e| format!("the client key cannot be read: {e}"))
}

/// The shim's stdio over one exec stream.
pub struct ExecStream {
    /// stdout and stderr chunks; an exec status other than success arrives
    /// as a last stderr chunk.
    pub output: OutputStream,
    /// Bytes written here go to the process's stdin.
    pub input: Pin<Box<dyn AsyncWrite + Send>>,
    /// The negotiated subprotocol.
    pub protocol: String,
}

/// An API server connection.
pub struct Api {
    http: reqwest::Client,
    creds: Credentials,
    tls: Option<native_tls::TlsConnector>,
    keepalive: Duration,
}

impl Api {
    /// A client for `creds`.
    pub fn new(creds: Credentials) -> Result<Self, ApiError> {
        let https = creds.server.starts_with("https://");
        let tls = if https {
            Some(creds.tls_connector()?)
        } else {
            None
        };
        let mut b = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60));
        if https {
            b = b
                .use_native_tls()
                .danger_accept_invalid_certs(creds.insecure);
            if let Some(ca) = &creds.ca_pem {
                for cert in split_pem(ca) {
                    let c = reqwest::Certificate::from_pem(&cert).map_err(|e| {
                        ApiError::local(format!("the cluster's CA certificate: {e}"))
                    })?;
                    b = b.add_root_certificate(c);
                }
            }
            if let Some((cert, key)) = &creds.identity {
                let id = reqwest::Identity::from_pkcs8_pem(cert, key)
                    .map_err(|e| ApiError::local(format!("the client certificate: {e}")))?;
                b = b.identity(id);
            }
        }
        let http = b
            .build()
            .map_err(|e| ApiError::local(format!("HTTP client setup: {e}")))?;
        Ok(Api {
            http,
            creds,
            tls,
            keepalive: Duration::from_secs(30),
        })
    }

    /// How often exec streams are pinged (default 30 s).
    pub fn set_keepalive(&mut self, every: Duration) {
        self.keepalive = every;
    }

    /// The API server's URL.
    pub fn server(&self) -> &str {
        &self.creds.server
    }

    /// The namespace the credentials suggest (kubeconfig context or service
    /// account), and where it was found.
    pub fn default_namespace(&self) -> Option<&(String, NamespaceSource)> {
        self.creds.namespace.as_ref()
    }

    /// One call, no retries: the status and the JSON body (null when empty).
    pub async fn call_once(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), ApiError> {
        let token = self.creds.bearer().await?;
        self.send(method, path, body, token).await
    }

    /// Sends one request with `token`.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        token: Option<String>,
    ) -> Result<(StatusCode, Value), ApiError> {
        let url = format!("{}{path}", self.creds.server);
        let mut req = self.http.request(method.clone(), &url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(b).expect("JSON values serialise"));
        }
        let resp = req.send().await.map_err(|e| {
            ApiError::local(format!("{method} {url}: cannot reach the API server: {e}"))
        })?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ApiError::local(format!("{method} {url}: reading the answer: {e}")))?;
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                Value::String(String::from_utf8_lossy(&bytes).trim().to_string())
            })
        };
        Ok((status, value))
    }

    /// A call retried with exponential backoff (100 ms doubling to 5 s, with
    /// jitter) on 429, 5xx and unreachable servers, and once at once after a
    /// 401 with an exec plugin's token (which is then replaced, as client-go
    /// does); any other failure status is an [`ApiError`] carrying the
    /// server's reason and message, and credentials that cannot be had (a
    /// failing plugin) fail at once.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let mut delay = Duration::from_millis(100);
        let mut attempt = 1;
        let mut reauthenticated = false;
        loop {
            let token = self.creds.bearer().await?;
            let failure = match self.send(method.clone(), path, body, token.clone()).await {
                Ok((status, value)) if status.is_success() => return Ok(value),
                Ok((status, value)) => {
                    if status == StatusCode::UNAUTHORIZED
                        && !reauthenticated
                        && let Some(t) = &token
                        && self.creds.refused(t).await
                    {
                        reauthenticated = true;
                        continue;
                    }
                    status_error(&method, path, status, &value)
                }
                Err(e) => e,
            };
            let retriable = match failure.status {
                None => true,
                Some(s) => s == 429 || s >= 500,
            };
            if !retriable || attempt >= ATTEMPTS {
                return Err(failure);
            }
            tracing::debug!(attempt, "retrying {method} {path}: {}", failure.message);
            let jitter = Duration::from_millis(fastrand::u64(0..=delay.as_millis() as u64 / 2));
            tokio::time::sleep(delay + jitter).await;
            delay = (delay * 2).min(Duration::from_secs(5));
            attempt += 1;
        }
    }

    /// Opens a watch: `path` (a list path with its query, `watch=1` and a
    /// `timeoutSeconds` included) answered as a stream of events, read with
    /// [`Watch::next`]. `limit` bounds the whole stream on this side. Not
    /// retried: a caller re-reads and watches again.
    pub async fn watch(&self, path: &str, limit: Duration) -> Result<Watch, ApiError> {
        let url = format!("{}{path}", self.creds.server);
        let mut req = self.http.get(&url).timeout(limit);
        if let Some(t) = self.creds.bearer().await? {
            req = req.bearer_auth(t);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| ApiError::local(format!("GET {url}: cannot reach the API server: {e}")))?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.bytes().await.unwrap_or_default();
            let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            return Err(status_error(&Method::GET, path, status, &value));
        }
        Ok(Watch {
            resp,
            buf: Vec::new(),
        })
    }

    /// Opens an exec stream running `argv` in `container` of pod `pod`, with
    /// stdin, stdout and stderr attached.
    pub async fn exec(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        argv: &[&str],
    ) -> Result<ExecStream, ApiError> {
        let ws_base = if let Some(rest) = self.creds.server.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = self.creds.server.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            return Err(ApiError::local(format!(
                "the API server URL {} is neither http:// nor https://",
                self.creds.server
            )));
        };
        let mut params: Vec<(&str, &str)> = vec![
            ("container", container),
            ("stdin", "true"),
            ("stdout", "true"),
            ("stderr", "true"),
        ];
        params.extend(argv.iter().map(|a| ("command", *a)));
        let url = reqwest::Url::parse_with_params(
            &format!("{ws_base}/api/v1/namespaces/{namespace}/pods/{pod}/exec"),
            &params,
        )
        .map_err(|e| ApiError::local(format!("exec URL: {e}")))?;
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| ApiError::local(format!("exec request: {e}")))?;
        let headers = request.headers_mut();
        headers.insert(
            "Sec-WebSocket-Protocol",
            EXEC_PROTOCOLS.parse().expect("a valid header value"),
        );
        if let Some(t) = self.creds.bearer().await? {
            headers.insert(
                "Authorization",
                format!("Bearer {t}").parse().map_err(|_| {
                    ApiError::local("the bearer token is not a valid header".into())
                })?,
            );
        }
        let connector = self
            .tls
            .clone()
            .map(tokio_tungstenite::Connector::NativeTls);
        let connect =
            tokio_tungstenite::connect_async_tls_with_config(request, None, true, connector);
        let (ws, resp) = tokio::time::timeout(EXEC_CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| {
                ApiError::local(format!(
                    "exec into pod {pod}: no answer from the API server within {} s",
                    EXEC_CONNECT_TIMEOUT.as_secs()
                ))
            })?
            .map_err(|e| exec_error(pod, e))?;
        let protocol = resp
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        Ok(bridge(ws, protocol, self.keepalive))
    }
}

/// An exec refused at the handshake, with the server's words.
fn exec_error(pod: &str, e: tungstenite::Error) -> ApiError {
    match e {
        tungstenite::Error::Http(resp) => {
            let status = resp.status().as_u16();
            let body = resp
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).to_string())
                .unwrap_or_default();
            let v: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
            let e = status_error(
                &Method::GET,
                &format!("pods/{pod}/exec"),
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
                &v,
            );
            ApiError {
                message: format!("exec into pod {pod} refused: {}", e.message),
                ..e
            }
        }
        other => ApiError::local(format!("exec into pod {pod}: {other}")),
    }
}

/// An error from a failure status and its `Status` body.
fn status_error(method: &Method, path: &str, status: StatusCode, body: &Value) -> ApiError {
    let reason = body["reason"].as_str().unwrap_or_default().to_string();
    let text = body["message"]
        .as_str()
        .or(body.as_str())
        .unwrap_or_default()
        .to_string();
    let hint = match status.as_u16() {
        401 => "\n  hint: the credentials were refused; check the kubeconfig user or token",
        403 => {
            "\n  hint: grant the account pods create/get/list/watch/delete and pods/exec in the namespace \
             (`r2e doctor --provider kubernetes` checks each)"
        }
        _ => "",
    };
    ApiError {
        status: Some(status.as_u16()),
        reason,
        message: format!("{method} {path}: {status}: {text}{hint}"),
    }
}

/// An open watch: the API server's events, one JSON object per line.
pub struct Watch {
    resp: reqwest::Response,
    buf: Vec<u8>,
}

/// One event of a watch.
#[derive(Debug, Clone)]
pub struct WatchEvent {
    /// `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK` or `ERROR`.
    pub kind: String,
    /// The object as it is now (a `Status` for `ERROR`).
    pub object: Value,
}

impl Watch {
    /// The next event; `None` when the server ended the stream (its
    /// `timeoutSeconds` passed).
    pub async fn next(&mut self) -> Result<Option<WatchEvent>, ApiError> {
        loop {
            if let Some(end) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let v: Value = serde_json::from_slice(&line)
                    .map_err(|e| ApiError::local(format!("a watch event that is not JSON: {e}")))?;
                return Ok(Some(WatchEvent {
                    kind: v["type"].as_str().unwrap_or_default().to_string(),
                    object: v["object"].clone(),
                }));
            }
            match self.resp.chunk().await {
                Ok(Some(chunk)) => self.buf.extend_from_slice(&chunk),
                // A last line without its newline (a server that answered
                // with one object, not a stream) is read as a line.
                Ok(None) if self.buf.iter().any(|b| !b.is_ascii_whitespace()) => {
                    self.buf.push(b'\n')
                }
                Ok(None) => return Ok(None),
                Err(e) => return Err(ApiError::local(format!("the watch stream failed: {e}"))),
            }
        }
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Channel numbers of the exec subprotocol.
const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
/// v5: `[255, channel]` closes that channel (stdin's end of input).
const CLOSE: u8 = 255;

/// Splits an exec WebSocket into the shim's output stream and its stdin.
fn bridge(ws: Ws, protocol: String, keepalive: Duration) -> ExecStream {
    let v5 = protocol.starts_with("v5.");
    let (mut sink, mut stream) = ws.split();
    let (tx, rx) =
        tokio::sync::mpsc::unbounded_channel::<Result<LogOutput, bollard::errors::Error>>();
    tokio::spawn(async move {
        while let Some(msg) = stream.next().await {
            let chunk = match msg {
                Ok(Message::Binary(b)) if b.len() > 1 => {
                    let data = b.slice(1..);
                    match b[0] {
                        STDOUT => LogOutput::StdOut { message: data },
                        STDERR => LogOutput::StdErr { message: data },
                        ERROR => match exec_status(&data) {
                            Some(why) => LogOutput::StdErr {
                                message: Bytes::from(format!("[exec ended: {why}]")),
                            },
                            None => continue,
                        },
                        _ => continue,
                    }
                }
                Ok(Message::Close(_)) => break,
                Ok(_) => continue,
                Err(e) => {
                    let _ = tx.send(Ok(LogOutput::StdErr {
                        message: Bytes::from(format!("[exec stream failed: {e}]")),
                    }));
                    break;
                }
            };
            if tx.send(Ok(chunk)).is_err() {
                break;
            }
        }
    });
    let (input, mut from_host) = tokio::io::duplex(1 << 16);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 1 << 16];
        buf[0] = STDIN;
        // Load balancers and proxies between r2e and the API server cut
        // connections idle for minutes, which an agent waiting for its model
        // is: a ping keeps the stream alive.
        let mut keepalive = tokio::time::interval(keepalive);
        keepalive.tick().await;
        loop {
            let msg = tokio::select! {
                read = from_host.read(&mut buf[1..]) => match read {
                    Ok(0) | Err(_) => {
                        if v5 {
                            let _ = sink
                                .send(Message::Binary(Bytes::from_static(&[CLOSE, STDIN])))
                                .await;
                        }
                        let _ = sink.close().await;
                        return;
                    }
                    Ok(n) => Message::Binary(Bytes::copy_from_slice(&buf[..n + 1])),
                },
                _ = keepalive.tick() => Message::Ping(Bytes::new()),
            };
            if sink.send(msg).await.is_err() {
                return;
            }
        }
    });
    let output = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    ExecStream {
        output: Box::pin(output),
        input: Box::pin(input),
        protocol,
    }
}

/// The message of a non-success exec status on the error channel.
fn exec_status(data: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(data).ok()?;
    if v["status"].as_str() == Some("Success") {
        return None;
    }
    Some(
        v["message"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| String::from_utf8_lossy(data).into_owned()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn kubeconfig_contexts_tokens_and_data() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "file-token\n").unwrap();
        let doc: Value = serde_yaml::from_str(
            r#"
apiVersion: v1
kind: Config
current-context: a
clusters:
- name: c1
  cluster: {server: "https://10.0.0.1:6443/", certificate-authority-data: "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K"}
- name: c2
  cluster: {server: "http://127.0.0.1:8001", insecure-skip-tls-verify: true}
users:
- name: u1
  user: {token: "abc"}
- name: u2
  user: {tokenFile: token}
contexts:
- name: a
  context: {cluster: c1, user: u1, namespace: team}
- name: b
  context: {cluster: c2, user: u2}
"#,
        )
        .unwrap();
        let a = parse_kubeconfig(&doc, None, dir.path()).unwrap();
        assert_eq!(a.server, "https://10.0.0.1:6443");
        assert_eq!(
            a.namespace,
            Some((
                "team".to_string(),
                NamespaceSource::KubeconfigContext("a".into())
            ))
        );
        assert_eq!(a.bearer().await.unwrap().as_deref(), Some("abc"));
        assert_eq!(split_pem(a.ca_pem.as_deref().unwrap()).len(), 1);
        let b = parse_kubeconfig(&doc, Some("b"), dir.path()).unwrap();
        assert_eq!(b.server, "http://127.0.0.1:8001");
        assert!(b.insecure);
        assert_eq!(b.namespace, None, "context b names no namespace");
        assert_eq!(b.bearer().await.unwrap().as_deref(), Some("file-token"));
        let err = parse_kubeconfig(&doc, Some("nope"), dir.path())
            .err()
            .unwrap();
        assert_eq!(err, "no context named \"nope\"");
    }

    /// In a cluster, the service account's mounted `namespace` file names
    /// the namespace (what kubectl uses there).
    #[test]
    fn the_service_account_names_its_namespace() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.crt"), "").unwrap();
        std::fs::write(dir.path().join("namespace"), "trainers\n").unwrap();
        let c = Credentials::service_account(dir.path(), "fd00::1", "443").unwrap();
        assert_eq!(c.server, "https://[fd00::1]:443");
        assert_eq!(
            c.namespace,
            Some(("trainers".to_string(), NamespaceSource::ServiceAccount))
        );
        std::fs::remove_file(dir.path().join("namespace")).unwrap();
        let c = Credentials::service_account(dir.path(), "10.0.0.1", "6443").unwrap();
        assert_eq!(c.namespace, None);
    }

    fn plugin(dir: &Path, name: &str, script: &str) -> ExecPlugin {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        ExecPlugin {
            command: path.display().to_string(),
            args: vec!["get-token".into()],
            env: vec![("WHO".into(), "r2e".into())],
            api_version: "client.authentication.k8s.io/v1beta1".into(),
            install_hint: Some("install it with `apt-get install cloud-auth`".into()),
        }
    }

    /// A failing plugin's error names it, its exit status, the end of its
    /// stderr and the kubeconfig's installHint; a hung one is killed.
    #[tokio::test]
    async fn a_failing_or_hung_plugin_says_which_and_why() {
        let dir = tempfile::tempdir().unwrap();
        let ok = plugin(
            dir.path(),
            "ok",
            r#"echo "{\"status\":{\"token\":\"$1-$WHO-$(echo "$KUBERNETES_EXEC_INFO" | grep -c v1beta1)\"}}""#,
        );
        assert_eq!(
            ok.run(Duration::from_secs(30)).await.unwrap(),
            ("get-token-r2e-1".to_string(), EXEC_TOKEN_TTL)
        );

        let failing = plugin(
            dir.path(),
            "failing",
            "for i in $(seq 1 3000); do echo noise $i >&2; done; echo 'token expired: run login' >&2; exit 3",
        );
        let e = failing
            .run(Duration::from_secs(30))
            .await
            .unwrap_err()
            .message;
        assert!(e.contains(&failing.command), "{e}");
        assert!(e.contains("exit status: 3"), "{e}");
        assert!(e.contains("token expired: run login"), "{e}");
        assert!(!e.contains("noise 1\n"), "only the tail of stderr: {e}");
        assert!(
            e.contains("installHint of the kubeconfig): install it with"),
            "{e}"
        );

        let bad_time = plugin(
            dir.path(),
            "bad-time",
            r#"echo '{"status":{"token":"x","expirationTimestamp":"tomorrow"}}'"#,
        );
        let e = bad_time
            .run(Duration::from_secs(30))
            .await
            .unwrap_err()
            .message;
        assert!(
            e.contains("expirationTimestamp \"tomorrow\" that is not RFC 3339"),
            "{e}"
        );

        let hung = plugin(dir.path(), "hung", "exec sleep 30");
        let e = hung
            .run(Duration::from_millis(300))
            .await
            .unwrap_err()
            .message;
        assert!(e.contains("did not finish within 0.3 s (killed)"), "{e}");

        let missing = ExecPlugin {
            command: dir.path().join("nope").display().to_string(),
            ..failing
        };
        let e = missing
            .run(Duration::from_secs(30))
            .await
            .unwrap_err()
            .message;
        assert!(
            e.contains("cannot be run") && e.contains("apt-get install cloud-auth"),
            "{e}"
        );
    }

    #[test]
    fn exec_status_success_is_silent() {
        assert_eq!(exec_status(br#"{"status":"Success"}"#), None);
        assert_eq!(
            exec_status(br#"{"status":"Failure","message":"container not found"}"#).as_deref(),
            Some("container not found")
        );
    }
}
