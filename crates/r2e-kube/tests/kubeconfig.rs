//! What the provider takes from a kubeconfig, against the scripted API
//! server: the namespace (the provider config's, else the context's, else
//! `default`, as kubectl) and tokens from an exec credential plugin, which is
//! a real script here that counts its runs: one refresh for many concurrent
//! requests, another when its `expirationTimestamp` passes, and one when the
//! server refuses its token (401, answered by the relay of `common/relay.rs`).

#[path = "common/relay.rs"]
mod relay;

use r2e_kube::testing::FakeCluster;
use r2e_kube::{KubeProvider, NamespaceSource};
use r2e_sandbox::{Provider, SandboxSpec};
use relay::start_relay;
use reqwest::Method;
use std::path::{Path, PathBuf};

/// Writes a kubeconfig for `cluster` whose context `fake` has `namespace`
/// (if any) and whose user is `user` (YAML flow mapping), and a provider
/// config using it with `extra` lines.
fn files(
    cluster: &FakeCluster,
    dir: &Path,
    namespace: Option<&str>,
    user: &str,
    extra: &str,
) -> PathBuf {
    files_for(&cluster.url, dir, namespace, user, extra)
}

/// [`files`] for an API server at `url`.
fn files_for(url: &str, dir: &Path, namespace: Option<&str>, user: &str, extra: &str) -> PathBuf {
    let ns = namespace
        .map(|n| format!(", namespace: {n}"))
        .unwrap_or_default();
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\nclusters:\n- name: fake\n  cluster: {{server: \"{}\"}}\n\
             users:\n- name: me\n  user: {user}\ncontexts:\n- name: fake\n  context: {{cluster: fake, user: me{ns}}}\n",
            url
        ),
    )
    .unwrap();
    let config = dir.join("k8s.toml");
    std::fs::write(
        &config,
        format!(
            "kubeconfig = \"{}\"\nshim_image = \"registry.test/r2e-shim:1\"\n{extra}",
            kubeconfig.display()
        ),
    )
    .unwrap();
    config
}

#[tokio::test(flavor = "multi_thread")]
async fn the_namespace_is_the_configs_else_the_contexts_else_default() {
    let cluster = FakeCluster::start().await;
    let dir = tempfile::tempdir().unwrap();

    let config = files(&cluster, dir.path(), Some("team-a"), "{}", "");
    let p = KubeProvider::open(Some(&config)).unwrap();
    assert_eq!(p.namespace(), "team-a");
    assert_eq!(
        p.namespace_source(),
        &NamespaceSource::KubeconfigContext("fake".into())
    );
    assert_eq!(
        p.namespace_source().to_string(),
        "kubeconfig context \"fake\""
    );
    // The pods really go there.
    let sb = p.start(&SandboxSpec::new("r2e/task:abc")).await.unwrap();
    sb.close().await.unwrap();
    assert!(
        cluster
            .log()
            .contains(&"POST /api/v1/namespaces/team-a/pods".to_string()),
        "{:?}",
        cluster.log()
    );

    let config = files(
        &cluster,
        dir.path(),
        Some("team-a"),
        "{}",
        "namespace = \"mine\"\n",
    );
    let p = KubeProvider::open(Some(&config)).unwrap();
    assert_eq!(
        (p.namespace(), p.namespace_source()),
        ("mine", &NamespaceSource::ProviderConfig)
    );

    let config = files(&cluster, dir.path(), None, "{}", "");
    let p = KubeProvider::open(Some(&config)).unwrap();
    assert_eq!(
        (p.namespace(), p.namespace_source()),
        ("default", &NamespaceSource::Default)
    );
}

/// An exec plugin whose runs are counted (one line each in `count`), slow
/// enough that concurrent requests overlap its run; run N gives token `tN`
/// and `status` fields `extra` (e.g. an expirationTimestamp).
fn counting_plugin(dir: &Path, extra: &str) -> (PathBuf, PathBuf) {
    let count = dir.join("count");
    let script = dir.join("credential-plugin");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho run >> {count}\nn=$(wc -l < {count})\nsleep 0.5\n\
             echo '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\
             \"status\":{{\"token\":\"t'$n'\"{extra}}}}}'\n",
            count = count.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    (script, count)
}

/// The kubeconfig user running `script` as its exec plugin.
fn exec_user(script: &Path) -> String {
    format!(
        "{{exec: {{apiVersion: client.authentication.k8s.io/v1, command: \"{}\", args: [get-token], \
         installHint: \"see the docs\"}}}}",
        script.display()
    )
}

fn runs(count: &Path) -> usize {
    std::fs::read_to_string(count)
        .unwrap_or_default()
        .lines()
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_share_one_run_of_the_credential_plugin() {
    let cluster = FakeCluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (script, count) = counting_plugin(dir.path(), "");
    let config = files(&cluster, dir.path(), None, &exec_user(&script), "");
    let p = KubeProvider::open(Some(&config)).unwrap();
    // Each request on its own task, so they run on all the workers at once.
    let calls = (0..16).map(|_| {
        let p = p.clone();
        tokio::spawn(async move { p.api().call(Method::GET, "/version", None).await })
    });
    for answer in futures_util::future::join_all(calls).await {
        assert_eq!(answer.unwrap().unwrap()["gitVersion"], "v1.31.0-fake");
    }
    assert_eq!(runs(&count), 1, "the plugin ran more than once");
    // The cached token serves later requests too.
    p.api().call(Method::GET, "/version", None).await.unwrap();
    assert_eq!(runs(&count), 1);
}

/// A token is used until shortly before the plugin's `expirationTimestamp`.
#[tokio::test(flavor = "multi_thread")]
async fn the_plugins_expiration_timestamp_decides_when_it_runs_again() {
    let cluster = FakeCluster::start().await;
    for (expires, expected_runs) in [
        ("2000-01-01T00:00:00Z", 2),
        ("2999-01-01T00:00:00+02:00", 1),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let extra = format!(",\"expirationTimestamp\":\"{expires}\"");
        let (script, count) = counting_plugin(dir.path(), &extra);
        let config = files(&cluster, dir.path(), None, &exec_user(&script), "");
        let p = KubeProvider::open(Some(&config)).unwrap();
        for _ in 0..2 {
            p.api().call(Method::GET, "/version", None).await.unwrap();
        }
        assert_eq!(runs(&count), expected_runs, "a token expiring {expires}");
    }
}

/// A plugin's token that the API server refuses (401) is replaced once, as
/// client-go does: a revoked token costs one retry, a refused account fails.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_token_is_replaced_by_running_the_plugin_again() {
    let cluster = FakeCluster::start().await;
    for (refused, expected) in [(&["t1"][..], Ok(2)), (&["t1", "t2", "t3"][..], Err(2))] {
        let refused: Vec<String> = refused.iter().map(|t| format!("Bearer {t}\r\n")).collect();
        let policy = move |head: &str| {
            refused
                .iter()
                .any(|r| head.contains(r.as_str()))
                .then(|| (401, "Unauthorized".to_string()))
        };
        let (url, _) = start_relay(&cluster.url, Box::new(policy)).await;
        let dir = tempfile::tempdir().unwrap();
        let (script, count) = counting_plugin(dir.path(), "");
        let config = files_for(&url, dir.path(), None, &exec_user(&script), "");
        let p = KubeProvider::open(Some(&config)).unwrap();
        let answer = p.api().call(Method::GET, "/version", None).await;
        match expected {
            Ok(n) => {
                assert_eq!(answer.unwrap()["gitVersion"], "v1.31.0-fake");
                assert_eq!(runs(&count), n);
            }
            Err(n) => {
                let e = answer.unwrap_err();
                assert_eq!(e.status, Some(401), "{e:?}");
                assert!(
                    e.message.contains("check the kubeconfig user"),
                    "{}",
                    e.message
                );
                assert_eq!(runs(&count), n, "one retry, no more");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_credential_plugin_fails_the_request_saying_why() {
    let cluster = FakeCluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("broken-plugin");
    std::fs::write(
        &script,
        "#!/bin/sh\necho 'error: the refresh token has expired' >&2\nexit 2\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let user = format!(
        "{{exec: {{command: \"{}\", installHint: \"run `cloud auth login` first\"}}}}",
        script.display()
    );
    let config = files(&cluster, dir.path(), None, &user, "");
    let p = KubeProvider::open(Some(&config)).unwrap();
    let e = p
        .api()
        .call(Method::GET, "/version", None)
        .await
        .unwrap_err()
        .message;
    for part in [
        script.display().to_string().as_str(),
        "exit status: 2",
        "the refresh token has expired",
        "run `cloud auth login` first",
    ] {
        assert!(e.contains(part), "{part:?} missing from: {e}");
    }
    assert!(
        cluster.log().is_empty(),
        "no request without a token: {:?}",
        cluster.log()
    );
}
