//! The API on a real server on 127.0.0.1 with real Docker: a whole episode
//! through HTTP, admission (capacity, queue, 503), TTL reaping, idempotent
//! deletes, a killed sandbox as an infra error (never a 0), the token, and
//! bounded bodies.

use r2e_core::Task;
use r2e_sandbox::Provider;
use r2e_sandbox::docker::DockerProvider;
use r2e_server::{ServerConfig, check_bind, serve};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

fn image() -> String {
    std::env::var("R2E_TEST_IMAGE").unwrap_or_else(|_| "r2e/base:bookworm".into())
}

/// A running server and its address; dropping it stops the server.
struct Server {
    url: String,
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<r2e_server::Shutdown>>,
    http: reqwest::Client,
    token: Option<String>,
}

impl Server {
    async fn start(config: ServerConfig) -> Server {
        let docker = DockerProvider::connect().await.expect("a Docker daemon");
        let provider: Arc<dyn Provider> = Arc::new(docker);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel();
        let token = config.token.clone();
        let done = tokio::spawn(async move {
            serve(listener, provider, config, async {
                let _ = rx.await;
            })
            .await
            .unwrap()
        });
        Server {
            url,
            stop: Some(tx),
            done: Some(done),
            http: reqwest::Client::new(),
            token,
        }
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}{path}", self.url));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .req(reqwest::Method::POST, path)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.req(reqwest::Method::GET, path).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn delete(&self, path: &str) -> Value {
        let r = self
            .req(reqwest::Method::DELETE, path)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        r.json().await.unwrap()
    }

    async fn metrics(&self) -> String {
        self.req(reqwest::Method::GET, "/metrics")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn stop(mut self) -> r2e_server::Shutdown {
        let _ = self.stop.take().unwrap().send(());
        self.done.take().unwrap().await.unwrap()
    }
}

async fn demo(name: &str) -> Task {
    let p = DockerProvider::connect().await.expect("a Docker daemon");
    let tasks = r2e_eval::demo::build(&p, &image()).await.unwrap();
    tasks
        .into_iter()
        .find(|t| t.task_id.ends_with(name))
        .unwrap()
}

async fn create(s: &Server, task: &Task) -> String {
    let (status, v) = s.post("/v1/envs", json!({ "task": task })).await;
    assert_eq!(status, 200, "{v}");
    v["env_id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oracle_episode_through_http_earns_the_reward() {
    let task = demo("-mul").await;
    let s = Server::start(ServerConfig::default()).await;
    let (status, v) = s.post("/v1/envs", json!({ "task": task })).await;
    assert_eq!(status, 200, "{v}");
    let id = v["env_id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 32, "128 random bits");
    assert!(v["instruction"].as_str().unwrap().contains("calc.mul"));
    let steps = [
        json!({"tool": "file_editor", "args": {"command": "create", "path": "/tmp/gold.patch", "file_text": task.gold_patch}}),
        json!({"text": "Apply it.\n<function=execute_bash><parameter=cmd>git apply /tmp/gold.patch</parameter></function>"}),
        json!({"text": "no call in this reply"}),
        json!({"text": "<function=finish></function>"}),
    ];
    let mut last = Value::Null;
    for step in steps {
        let (status, v) = s.post(&format!("/v1/envs/{id}/step"), step).await;
        assert_eq!(status, 200, "{v}");
        last = v;
    }
    assert_eq!(last["done"], true);
    let (_, patch) = s.get(&format!("/v1/envs/{id}/patch")).await;
    assert_eq!(patch["patch"], task.gold_patch.as_str());
    let (status, r) = s
        .post(&format!("/v1/envs/{id}/reward"), json!({"log": true}))
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        (r["value"].clone(), r["status"].clone()),
        (json!(1.0), json!("resolved"))
    );
    assert!(r["log"].as_str().unwrap().contains("test_mul"));
    let (_, fork) = s.post(&format!("/v1/envs/{id}/fork"), json!({})).await;
    let child = fork["env_id"].as_str().unwrap().to_string();
    let (_, child_patch) = s.get(&format!("/v1/envs/{child}/patch")).await;
    assert_eq!(child_patch["patch"], task.gold_patch.as_str());
    assert_eq!(s.delete(&format!("/v1/envs/{id}")).await["deleted"], true);
    assert_eq!(
        s.delete(&format!("/v1/envs/{id}")).await["deleted"],
        false,
        "twice is fine"
    );
    let (status, v) = s
        .post(&format!("/v1/envs/{id}/step"), json!({"tool": "finish"}))
        .await;
    assert_eq!(
        (status, v["error"]["kind"].clone()),
        (404, json!("not_found"))
    );
    let metrics = s.metrics().await;
    assert!(
        metrics.contains("r2e_rewards_total{status=\"resolved\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("r2e_envs_live 1"), "{metrics}");
    let (_, health) = s.get("/v1/health").await;
    assert_eq!(health["active"], 1);
    assert_eq!(s.stop().await.closed, 1, "shutdown removes what is left");
}

#[tokio::test(flavor = "multi_thread")]
async fn creates_beyond_capacity_wait_in_the_queue_then_get_503() {
    let task = demo("-add").await;
    let s = Arc::new(
        Server::start(ServerConfig {
            capacity: 1,
            queue: 1,
            ..ServerConfig::default()
        })
        .await,
    );
    let first = create(&s, &task).await;
    let waiting = {
        let (s, task) = (s.clone(), task.clone());
        tokio::spawn(async move { create(&s, &task).await })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while s.get("/v1/health").await.1["queued"] != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the second create never queued"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = s
        .req(reqwest::Method::POST, "/v1/envs")
        .json(&json!({ "task": task }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["kind"], "overloaded");
    s.delete(&format!("/v1/envs/{first}")).await;
    let second = waiting.await.unwrap();
    s.delete(&format!("/v1/envs/{second}")).await;
    Arc::try_unwrap(s).ok().unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_environments_are_reaped_but_never_mid_call() {
    let task = demo("-add").await;
    let s = Server::start(ServerConfig {
        ttl: Duration::from_secs(1),
        ..ServerConfig::default()
    })
    .await;
    let busy = create(&s, &task).await;
    let idle = create(&s, &task).await;
    // A call longer than the TTL keeps its environment.
    let (status, v) = s
        .post(
            &format!("/v1/envs/{busy}/exec"),
            json!({"cmd": "sleep 3; echo survived", "timeout": 10}),
        )
        .await;
    assert_eq!(
        (status, v["stdout"].clone()),
        (200, json!("survived\n")),
        "{v}"
    );
    let (status, _) = s
        .post(&format!("/v1/envs/{busy}/heartbeat"), json!({}))
        .await;
    assert_eq!(status, 200);
    let (status, v) = s
        .post(&format!("/v1/envs/{idle}/heartbeat"), json!({}))
        .await;
    assert_eq!(
        (status, v["error"]["kind"].clone()),
        (404, json!("not_found"))
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(s.get("/v1/health").await.1["active"], 0);
    let metrics = s.metrics().await;
    assert!(metrics.contains("r2e_envs_reaped_total 2"), "{metrics}");
    s.stop().await;
}

/// A client's environment lives past the TTL while the client holds it
/// (heartbeats), and is reaped one TTL after the client lets go without a
/// delete (a trainer that died).
#[tokio::test(flavor = "multi_thread")]
async fn a_held_environment_outlives_the_ttl_and_a_dropped_one_is_reaped() {
    use r2e_env::EnvFactory;
    let task = demo("-add").await;
    let s = Server::start(ServerConfig {
        ttl: Duration::from_secs(1),
        ..ServerConfig::default()
    })
    .await;
    let remote = r2e_server::client::Remote::new(&s.url, None, json!({}));
    let env = remote.create(&task).await.unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let patch = env.patch().await.expect("a held environment is not reaped");
    assert_eq!(patch, "");
    drop(env);
    let reaped = async {
        while s.get("/v1/health").await.1["active"] != 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), reaped)
        .await
        .expect("a dropped environment is reaped one TTL later");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_sandbox_is_an_infra_error_never_a_zero() {
    let task = demo("-mul").await;
    let s = Server::start(ServerConfig::default()).await;
    let id = create(&s, &task).await;
    // The container's id is not in the API; find it by the environment's hostname.
    let (_, v) = s
        .post(&format!("/v1/envs/{id}/exec"), json!({"cmd": "hostname"}))
        .await;
    let host = v["stdout"].as_str().unwrap().trim().to_string();
    let killed = std::process::Command::new("docker")
        .args(["kill", &host])
        .output()
        .unwrap();
    assert!(killed.status.success());
    let (status, v) = s
        .post(
            &format!("/v1/envs/{id}/step"),
            json!({"tool": "execute_bash", "args": {"cmd": "true"}}),
        )
        .await;
    assert_eq!(
        (status, v["error"]["kind"].clone()),
        (502, json!("sandbox_died")),
        "{v}"
    );
    let (status, r) = s.post(&format!("/v1/envs/{id}/reward"), json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(
        (r["status"].clone(), r["value"].clone()),
        (json!("infra_error"), Value::Null),
        "{r}"
    );
    s.delete(&format!("/v1/envs/{id}")).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_is_required_and_bodies_are_bounded() {
    assert!(check_bind(&"0.0.0.0:7878".parse().unwrap(), None).is_err());
    assert!(check_bind(&"0.0.0.0:7878".parse().unwrap(), Some("t")).is_ok());
    assert!(check_bind(&"127.0.0.1:7878".parse().unwrap(), None).is_ok());
    let s = Server::start(ServerConfig {
        token: Some("s3cret".into()),
        max_body: 4096,
        ..ServerConfig::default()
    })
    .await;
    let bare = reqwest::Client::new()
        .get(format!("{}/v1/health", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status().as_u16(), 401);
    let wrong = reqwest::Client::new()
        .get(format!("{}/v1/health", s.url))
        .bearer_auth("s3cres")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    assert_eq!(s.get("/v1/health").await.0, 200);
    let big = json!({ "task": {"task_id": "x".repeat(10_000)} });
    let (status, v) = s.post("/v1/envs", big).await;
    assert_eq!(
        (status, v["error"]["kind"].clone()),
        (413, json!("too_large")),
        "{v}"
    );
    let (status, v) = s.post("/v1/envs", json!({"nothing": 1})).await;
    assert_eq!(
        (status, v["error"]["kind"].clone()),
        (400, json!("bad_request")),
        "{v}"
    );
    let (status, v) = s
        .post(
            "/v1/envs",
            json!({"task": {"task_id": "t"}, "options": {"memroy": "1g"}}),
        )
        .await;
    assert!(status == 400 || status == 422, "{status} {v}");
    s.stop().await;
}
