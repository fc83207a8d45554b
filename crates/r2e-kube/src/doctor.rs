//! `r2e doctor --provider kubernetes`: the checks, each with its timing —
//! the API server answers, the credentials may do what r2e does (a
//! SelfSubjectAccessReview per verb), and one pod makes the whole round trip
//! (create, Running, the shim's hello over exec, one command, delete).

use crate::{KubeProvider, ShimDelivery};
use r2e_sandbox::{Provider, SandboxSpec};
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};

/// The permissions r2e needs in its namespace: (verb, resource, subresource).
pub const PERMISSIONS: &[(&str, &str, &str)] = &[
    ("create", "pods", ""),
    ("get", "pods", ""),
    ("list", "pods", ""),
    ("watch", "pods", ""),
    ("delete", "pods", ""),
    ("create", "pods", "exec"),
];

/// One check's outcome.
#[derive(Debug, Clone)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// What was found, or what to do.
    pub detail: String,
    /// How long it took.
    pub took: Duration,
}

/// Runs the checks; the round trip starts a sandbox from `image` (the shim
/// image itself by default: the shim serves requests without a shell).
pub async fn run(provider: &KubeProvider, image: Option<&str>) -> Vec<Check> {
    let mut checks = Vec::new();
    let t = Instant::now();
    let version = provider.api().call(Method::GET, "/version", None).await;
    let reachable = version.is_ok();
    checks.push(Check {
        name: format!("API server {}", provider.api().server()),
        ok: reachable,
        detail: match version {
            Ok(v) => format!("Kubernetes {}", v["gitVersion"].as_str().unwrap_or("?")),
            Err(e) => e.message,
        },
        took: t.elapsed(),
    });
    if !reachable {
        return checks;
    }
    for (verb, resource, sub) in PERMISSIONS {
        let t = Instant::now();
        let review = json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {
                "namespace": provider.namespace(), "verb": verb, "resource": resource, "subresource": sub,
            }},
        });
        let what = if sub.is_empty() {
            format!("{verb} {resource}")
        } else {
            format!("{verb} {resource}/{sub}")
        };
        let answer = provider
            .api()
            .call(
                Method::POST,
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                Some(&review),
            )
            .await;
        let (ok, detail) = match answer {
            Ok(v) if v["status"]["allowed"] == true => (true, "allowed".to_string()),
            Ok(v) => (
                false,
                format!(
                    "not allowed in namespace {}{}; grant it with a Role and RoleBinding (docs/scaling.md)",
                    provider.namespace(),
                    v["status"]["reason"]
                        .as_str()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ),
            ),
            Err(e) => (false, e.message),
        };
        checks.push(Check {
            name: format!("RBAC: {what}"),
            ok,
            detail,
            took: t.elapsed(),
        });
    }
    // The shim image (FROM scratch) serves only where an init container
    // delivers the shim: an upload needs `sh` and `head` in the pod's image.
    let image = match (image, provider.config().shim_delivery) {
        (Some(image), _) => image.to_string(),
        (None, ShimDelivery::Image) => provider.config().shim_image.clone(),
        (None, ShimDelivery::Upload) => {
            checks.push(Check {
                name: "pod round trip".into(),
                ok: false,
                detail: "with shim_delivery = \"upload\" the pod needs an image with sh and head: \
                         pass --image IMAGE (one the nodes can pull)"
                    .into(),
                took: Duration::ZERO,
            });
            return checks;
        }
    };
    let t = Instant::now();
    let started = provider.start(&SandboxSpec::new(image.clone())).await;
    let sb = match started {
        Ok(sb) => sb,
        Err(e) => {
            checks.push(Check {
                name: format!("pod round trip ({image})"),
                ok: false,
                detail: e.to_string(),
                took: t.elapsed(),
            });
            return checks;
        }
    };
    checks.push(Check {
        name: "pod start (create → Running → shim hello)".into(),
        ok: true,
        detail: format!(
            "pod {} from {image}, shim {}",
            sb.id(),
            provider.config().shim_image
        ),
        took: t.elapsed(),
    });
    // Requests through the shim (`stat /`): the step cost of this cluster.
    let mut times = Vec::new();
    let mut failure = None;
    for _ in 0..5 {
        let t = Instant::now();
        match sb.ping().await {
            Ok(()) => times.push(t.elapsed()),
            Err(e) => {
                failure = Some(e.to_string());
                break;
            }
        }
    }
    times.sort();
    checks.push(Check {
        name: "requests through the shim (5 × stat /)".into(),
        ok: failure.is_none(),
        detail: failure.unwrap_or_else(|| {
            format!(
                "median {:?}, max {:?}",
                times[times.len() / 2],
                times[times.len() - 1]
            )
        }),
        took: times.iter().sum(),
    });
    let t = Instant::now();
    let closed = sb.close().await;
    checks.push(Check {
        name: "pod delete".into(),
        ok: closed.is_ok(),
        detail: closed.err().map(|e| e.to_string()).unwrap_or_default(),
        took: t.elapsed(),
    });
    checks
}
