//! Pods as r2e makes and reads them: the manifest of one sandbox (labels,
//! deadline, the shim's volume and init container, placement and resources
//! from the config) and what a pod's status means while r2e waits for it.

use crate::config::{KubeConfig, ShimDelivery};
use r2e_sandbox::SandboxSpec;
use r2e_sandbox::shim::SHIM_PATH_IN_SANDBOX;
use r2e_shim::SOCKET_ENV as SHIM_SOCKET_ENV;
use serde_json::{Value, json};

/// Label on every pod r2e makes.
pub const SANDBOX_LABEL: &str = r2e_sandbox::SANDBOX_LABEL;
/// Label naming the r2e process that made the pod: `<host>-<pid>`.
pub const OWNER_LABEL: &str = "dev.r2e.owner";
/// Label naming the host of the r2e process that made the pod.
pub const OWNER_HOST_LABEL: &str = "dev.r2e.owner-host";
/// Label naming the r2e run (one provider instance) that made the pod.
pub const RUN_LABEL: &str = "dev.r2e.run-id";
/// Label numbering the environment within its run.
pub const ENV_LABEL: &str = "dev.r2e.env-id";
/// Label set to `off` on pods whose sandbox should have no network (a
/// NetworkPolicy selecting it enforces that; see docs/scaling.md).
pub const NETWORK_LABEL: &str = "dev.r2e.network";
/// The sandbox container's name.
pub const CONTAINER: &str = "sandbox";
/// The shim's volume, mounted at `/.r2e`.
const VOLUME: &str = "r2e";
/// Where the shim image keeps the binary.
pub const SHIM_IN_IMAGE: &str = "/r2e-shim";

/// A label value Kubernetes accepts: at most 63 of `[A-Za-z0-9._-]`,
/// alphanumeric at both ends.
pub fn label_value(s: &str) -> String {
    let v: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(63)
        .collect();
    v.trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

/// Who made a pod, as labels say it.
#[derive(Debug, Clone)]
pub struct Owner {
    /// `<host>-<pid>`.
    pub owner: String,
    /// The host, as a label value.
    pub host: String,
    /// The run id.
    pub run: String,
}

/// The pod manifest of one sandbox.
pub fn manifest(
    name: &str,
    spec: &SandboxSpec,
    config: &KubeConfig,
    owner: &Owner,
    env_id: u64,
) -> Value {
    let mut labels = serde_json::Map::new();
    for (k, v) in config.labels.iter() {
        labels.insert(k.clone(), json!(label_value(v)));
    }
    // The spec's labels become annotations (values are free text there;
    // keys are made valid names).
    let annotations: serde_json::Map<String, Value> = spec
        .labels
        .iter()
        .map(|(k, v)| (label_value(k), json!(v)))
        .collect();
    labels.insert(SANDBOX_LABEL.into(), json!("1"));
    labels.insert(OWNER_LABEL.into(), json!(owner.owner));
    labels.insert(
        r2e_sandbox::OWNER_PID_LABEL.into(),
        json!(std::process::id().to_string()),
    );
    labels.insert(OWNER_HOST_LABEL.into(), json!(owner.host));
    labels.insert(RUN_LABEL.into(), json!(owner.run));
    labels.insert(ENV_LABEL.into(), json!(env_id.to_string()));
    if !spec.network {
        labels.insert(NETWORK_LABEL.into(), json!("off"));
    }
    let mount = json!([{"name": VOLUME, "mountPath": "/.r2e"}]);
    // Images that r2e committed from a Docker sandbox of the socket
    // transport carry its `R2E_SHIM_SOCKET` in their environment; here the
    // shim serves on the exec stream's stdio, which an empty value selects
    // (a pod cannot unset a variable of its image).
    let env: Vec<Value> = std::iter::once(json!({"name": SHIM_SOCKET_ENV, "value": ""}))
        .chain(spec.env.iter().map(|(k, v)| json!({"name": k, "value": v})))
        .collect();
    let (command, init) = match config.shim_delivery {
        ShimDelivery::Image => (
            json!([SHIM_PATH_IN_SANDBOX]),
            json!([{
                "name": "r2e-shim",
                "image": config.shim_image,
                "command": [SHIM_IN_IMAGE, "--install", SHIM_PATH_IN_SANDBOX],
                "volumeMounts": mount,
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
            }]),
        ),
        // No shim image: wait in sh until r2e uploads the shim, then become it.
        ShimDelivery::Upload => (
            json!([
                "/bin/sh",
                "-c",
                format!(
                    "while [ ! -x {SHIM_PATH_IN_SANDBOX} ]; do sleep 0.2; done; exec {SHIM_PATH_IN_SANDBOX}"
                )
            ]),
            json!([]),
        ),
    };
    let mut limits = serde_json::Map::new();
    if let Some(b) = spec.limits.memory_bytes {
        limits.insert("memory".into(), json!(b.to_string()));
    }
    if let Some(c) = spec.limits.cpus {
        limits.insert(
            "cpu".into(),
            json!(format!("{}m", (c * 1000.0).round() as u64)),
        );
    }
    for (k, v) in &config.resources.limits {
        limits.insert(k.clone(), json!(v));
    }
    let mut container = json!({
        "name": CONTAINER,
        "image": spec.image,
        "command": command,
        "args": [],
        "stdin": true,
        "stdinOnce": false,
        "tty": false,
        "env": env,
        "volumeMounts": mount,
        "resources": {"requests": config.resources.requests, "limits": limits},
    });
    if let Some(dir) = &spec.workdir {
        container["workingDir"] = json!(dir);
    }
    if let Some(p) = &config.image_pull_policy {
        container["imagePullPolicy"] = json!(p);
    }
    let mut pod_spec = json!({
        "restartPolicy": "Never",
        "activeDeadlineSeconds": config.active_deadline_secs,
        "terminationGracePeriodSeconds": 0,
        "automountServiceAccountToken": false,
        "enableServiceLinks": false,
        "initContainers": init,
        "containers": [container],
        "volumes": [{"name": VOLUME, "emptyDir": {}}],
    });
    if !config.node_selector.is_empty() {
        pod_spec["nodeSelector"] = json!(config.node_selector);
    }
    if !config.tolerations.is_empty() {
        pod_spec["tolerations"] = json!(config.tolerations);
    }
    if !config.image_pull_secrets.is_empty() {
        pod_spec["imagePullSecrets"] = config
            .image_pull_secrets
            .iter()
            .map(|s| json!({"name": s}))
            .collect();
    }
    if let Some(sa) = &config.service_account {
        pod_spec["serviceAccountName"] = json!(sa);
    }
    if let Some(rc) = &config.runtime_class {
        pod_spec["runtimeClassName"] = json!(rc);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels, "annotations": annotations},
        "spec": pod_spec,
    })
}

/// Where a pod stands while r2e waits for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Not yet running; the reason so far.
    Waiting(String),
    /// The sandbox container runs.
    Running,
    /// It never will: an infrastructure failure, said in full.
    Failed(String),
}

/// Pull and create failures that do not fix themselves.
const FATAL_WAITING: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];

/// Reads a pod's status.
pub fn phase(pod: &Value) -> Phase {
    let name = pod["metadata"]["name"].as_str().unwrap_or("?");
    let status = &pod["status"];
    let node = pod["spec"]["nodeName"].as_str().unwrap_or("no node yet");
    match status["phase"].as_str().unwrap_or("Pending") {
        "Failed" | "Succeeded" => return Phase::Failed(ended(pod)),
        _ => {}
    }
    for (kind, list) in [
        ("init container", &status["initContainerStatuses"]),
        ("container", &status["containerStatuses"]),
    ] {
        for cs in list.as_array().into_iter().flatten() {
            let image = cs["image"].as_str().unwrap_or("?");
            let waiting = &cs["state"]["waiting"];
            if let Some(reason) = waiting["reason"].as_str()
                && FATAL_WAITING.contains(&reason)
            {
                let hint = if cs["name"].as_str() == Some("r2e-shim") {
                    "\n  hint: build and push the shim image (`r2e image shim --tag REGISTRY/r2e-shim:VERSION`, \
                     then `docker push`) and set shim_image, or set shim_delivery = \"upload\""
                } else if reason.contains("Pull") || reason == "InvalidImageName" {
                    "\n  hint: check the image name, that the nodes can reach its registry, and image_pull_secrets"
                } else {
                    ""
                };
                return Phase::Failed(format!(
                    "pod {name}: {kind} {} cannot start on node {node}: {reason}: image {image}: {}{hint}",
                    cs["name"].as_str().unwrap_or("?"),
                    waiting["message"].as_str().unwrap_or("no message"),
                ));
            }
            let term = &cs["state"]["terminated"];
            if kind == "init container" && term.is_object() && term["exitCode"].as_i64() != Some(0)
            {
                return Phase::Failed(format!(
                    "pod {name}: the shim's init container (image {image}) failed on node {node}: exit code {}, {}",
                    term["exitCode"].as_i64().unwrap_or(-1),
                    term["message"]
                        .as_str()
                        .or(term["reason"].as_str())
                        .unwrap_or("no message"),
                ));
            }
        }
    }
    for c in status["conditions"].as_array().into_iter().flatten() {
        if c["type"] == "PodScheduled" && c["status"] == "False" && c["reason"] == "Unschedulable" {
            return Phase::Failed(format!(
                "pod {name} (image {}) is unschedulable: {}\n  hint: lower resources.requests, add nodes, \
                 or fix node_selector/tolerations in the provider config",
                pod["spec"]["containers"][0]["image"]
                    .as_str()
                    .unwrap_or("?"),
                c["message"].as_str().unwrap_or("no message"),
            ));
        }
    }
    let running = status["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|cs| cs["name"] == CONTAINER && cs["state"]["running"].is_object());
    if status["phase"] == "Running" && running {
        return Phase::Running;
    }
    let why = status["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(
            status["initContainerStatuses"]
                .as_array()
                .into_iter()
                .flatten(),
        )
        .find_map(|cs| cs["state"]["waiting"]["reason"].as_str())
        .unwrap_or(status["phase"].as_str().unwrap_or("Pending"));
    Phase::Waiting(format!("{why} on {node}"))
}

/// A sentence about a pod that stopped (evicted, deadline, container exit).
pub fn ended(pod: &Value) -> String {
    let name = pod["metadata"]["name"].as_str().unwrap_or("?");
    let status = &pod["status"];
    let node = pod["spec"]["nodeName"].as_str().unwrap_or("no node");
    let image = pod["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or("?");
    let reason = status["reason"].as_str().unwrap_or_default();
    let message = status["message"].as_str().unwrap_or_default();
    let what = match reason {
        "Evicted" => "was evicted",
        "DeadlineExceeded" => "reached its activeDeadlineSeconds",
        "" => "stopped",
        _ => "failed",
    };
    let mut s = format!(
        "pod {name} (image {image}) on node {node} {what} (phase {}{}{})",
        status["phase"].as_str().unwrap_or("?"),
        if reason.is_empty() {
            String::new()
        } else {
            format!(", reason {reason}")
        },
        if message.is_empty() {
            String::new()
        } else {
            format!(": {message}")
        },
    );
    for cs in status["containerStatuses"].as_array().into_iter().flatten() {
        let t = &cs["state"]["terminated"];
        if t.is_object() {
            s.push_str(&format!(
                "; container {} exited with code {} ({})",
                cs["name"].as_str().unwrap_or("?"),
                t["exitCode"].as_i64().unwrap_or(-1),
                t["reason"].as_str().unwrap_or("no reason"),
            ));
            if t["reason"] == "OOMKilled" {
                s.push_str(": killed: out of memory");
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(status: Value) -> Value {
        json!({"metadata": {"name": "r2e-x"}, "spec": {"nodeName": "n1", "containers": [{"image": "img:1"}]}, "status": status})
    }

    #[test]
    fn phases_from_status() {
        assert_eq!(
            phase(&pod(json!({"phase": "Pending"}))),
            Phase::Waiting("Pending on n1".into())
        );
        assert_eq!(
            phase(&pod(
                json!({"phase": "Running", "containerStatuses": [{"name": "sandbox", "state": {"running": {}}}]})
            )),
            Phase::Running
        );
        let Phase::Failed(m) = phase(&pod(json!({"phase": "Pending", "containerStatuses": [
            {"name": "sandbox", "image": "img:1", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}}]})))
        else {
            panic!()
        };
        assert!(
            m.contains("ImagePullBackOff") && m.contains("img:1") && m.contains("n1"),
            "{m}"
        );
        let Phase::Failed(m) = phase(&pod(
            json!({"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory."}),
        )) else {
            panic!()
        };
        assert!(
            m.contains("was evicted") && m.contains("low on resource"),
            "{m}"
        );
    }

    #[test]
    fn label_values_are_valid() {
        assert_eq!(label_value("My Host!-12"), "My_Host_-12");
        assert_eq!(label_value(&"a".repeat(80)).len(), 63);
        assert_eq!(label_value("-x-"), "x");
    }
}
