//! The provider's configuration file (`--provider-config k8s.toml`): where
//! pods go (namespace, credentials) and how they are made (resources, node
//! placement, pull secrets, service account, runtime class, the shim image).
//!
//! The commented example is in docs/scaling.md (a test here parses it).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How the shim binary gets into a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ShimDelivery {
    /// An init container from [`KubeConfig::shim_image`] copies it into the
    /// pod's `/.r2e` volume (needs the image in a registry the nodes reach).
    #[default]
    Image,
    /// The pod waits in `sh` until r2e uploads the shim through an exec
    /// stream (needs `sh` and `head` in the task image; one more API call).
    Upload,
}

/// A toleration, as in a pod spec.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Toleration {
    /// Taint key (empty with `Exists`: every taint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `Equal` or `Exists`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// Taint value (with `Equal`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<String>,
    /// How long a `NoExecute` taint is tolerated.
    #[serde(
        default,
        rename = "tolerationSeconds",
        alias = "toleration_seconds",
        skip_serializing_if = "Option::is_none"
    )]
    pub toleration_seconds: Option<i64>,
}

/// Resource requests and limits of the sandbox container (Kubernetes
/// quantities: `500m`, `2`, `1Gi`). A sandbox's own memory and CPU limits
/// fill `limits` where this leaves them out.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// What the scheduler reserves on a node.
    #[serde(default)]
    pub requests: BTreeMap<String, String>,
    /// Hard caps (a container over its memory limit is OOM-killed).
    #[serde(default)]
    pub limits: BTreeMap<String, String>,
}

/// The Kubernetes provider's settings.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubeConfig {
    /// Namespace of the pods (default, as kubectl: the kubeconfig context's,
    /// or the service account's in a cluster, else `default`).
    pub namespace: Option<String>,
    /// Kubeconfig file (default: `$KUBECONFIG`, then `~/.kube/config`).
    pub kubeconfig: Option<PathBuf>,
    /// Context in the kubeconfig (default: its current context).
    pub context: Option<String>,
    /// Use the pod's service account (`/var/run/secrets/kubernetes.io/serviceaccount`).
    pub in_cluster: bool,
    /// The image holding the static shim (built by `r2e image shim`).
    pub shim_image: String,
    /// How the shim gets into pods.
    pub shim_delivery: ShimDelivery,
    /// `Always`, `IfNotPresent` or `Never` for the task image.
    pub image_pull_policy: Option<String>,
    /// Secrets for pulling private images.
    pub image_pull_secrets: Vec<String>,
    /// Service account of the pods (none mounted into the sandbox either way).
    pub service_account: Option<String>,
    /// Runtime class (`gvisor`, `kata`) for stronger isolation.
    pub runtime_class: Option<String>,
    /// Node labels a sandbox node must carry.
    pub node_selector: BTreeMap<String, String>,
    /// Taints sandbox pods tolerate.
    pub tolerations: Vec<Toleration>,
    /// Container resources.
    pub resources: Resources,
    /// `activeDeadlineSeconds`: the pod is killed after this long even if r2e died.
    pub active_deadline_secs: u64,
    /// Longest wait from create to the shim's hello.
    pub start_timeout_secs: u64,
    /// Extra labels on every pod.
    pub labels: BTreeMap<String, String>,
    /// Seconds between pings on an idle exec stream (proxies and load
    /// balancers cut connections idle for longer than their timeout).
    pub keepalive_secs: u64,
}

impl Default for KubeConfig {
    fn default() -> Self {
        KubeConfig {
            namespace: None,
            kubeconfig: None,
            context: None,
            in_cluster: false,
            shim_image: format!("r2e-shim:{}", env!("CARGO_PKG_VERSION")),
            shim_delivery: ShimDelivery::Image,
            image_pull_policy: None,
            image_pull_secrets: Vec::new(),
            service_account: None,
            runtime_class: None,
            node_selector: BTreeMap::new(),
            tolerations: Vec::new(),
            resources: Resources::default(),
            active_deadline_secs: 4 * 3600,
            start_timeout_secs: 600,
            labels: BTreeMap::new(),
            keepalive_secs: 30,
        }
    }
}

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read the Kubernetes provider config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("{path}: {message}\n  hint: see the commented example in docs/scaling.md")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A value is out of range.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong and what to write instead.
        message: String,
    },
}

impl KubeConfig {
    /// Reads and checks `path`, or gives every key at its default when
    /// there is no file (the `--provider-config` / `provider_config` rule).
    pub fn load_or_default(path: Option<&Path>) -> Result<Self, ConfigError> {
        path.map_or_else(|| Ok(Self::default()), Self::load)
    }

    /// Reads and checks a TOML file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and checks TOML text (`path` names it in errors; a relative
    /// `kubeconfig` is relative to its folder, `~/` is the home folder).
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let mut config: KubeConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim().to_string(),
        })?;
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        if let Some(k) = config.kubeconfig.take() {
            config.kubeconfig = Some(match (k.strip_prefix("~"), std::env::var_os("HOME")) {
                (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
                _ if k.is_relative() => path.parent().unwrap_or(Path::new(".")).join(k),
                _ => k,
            });
        }
        if config.namespace.as_deref() == Some("") {
            return Err(invalid(
                "namespace is empty: name one, or leave the key out to use the kubeconfig context's"
                    .into(),
            ));
        }
        if let Some(p) = &config.image_pull_policy
            && !["Always", "IfNotPresent", "Never"].contains(&p.as_str())
        {
            return Err(invalid(format!(
                "image_pull_policy = {p:?}: expected \"Always\", \"IfNotPresent\" or \"Never\""
            )));
        }
        if config.active_deadline_secs == 0
            || config.start_timeout_secs == 0
            || config.keepalive_secs == 0
        {
            return Err(invalid(
                "active_deadline_secs, start_timeout_secs and keepalive_secs must be positive"
                    .into(),
            ));
        }
        if config.shim_delivery == ShimDelivery::Image && config.shim_image.is_empty() {
            return Err(invalid(
                "shim_image is empty: build one with `r2e image shim --tag REGISTRY/r2e-shim:VERSION`, \
                 or set shim_delivery = \"upload\""
                    .into(),
            ));
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of docs/scaling.md is a valid file and means what it says.
    #[test]
    fn the_documented_example_parses() {
        let doc = include_str!("../../../docs/scaling.md");
        let start = doc.find("```toml\n").expect("a toml block") + 8;
        let text = &doc[start..start + doc[start..].find("```").unwrap()];
        let c = KubeConfig::parse(text, Path::new("docs/scaling.md")).unwrap();
        assert_eq!(c.namespace.as_deref(), Some("r2e"));
        assert_eq!(c.runtime_class.as_deref(), Some("gvisor"));
        assert_eq!(c.tolerations[0].operator.as_deref(), Some("Exists"));
        assert_eq!(c.resources.requests["memory"], "1Gi");
        assert_eq!(c.node_selector["r2e.dev/pool"], "sandboxes");
        assert_eq!(c.shim_delivery, ShimDelivery::Image);
    }

    #[test]
    fn bad_values_say_what_to_write() {
        let p = Path::new("k8s.toml");
        let e = KubeConfig::parse("image_pull_policy = \"Sometimes\"", p).unwrap_err();
        assert!(
            e.to_string()
                .contains("expected \"Always\", \"IfNotPresent\" or \"Never\""),
            "{e}"
        );
        let e = KubeConfig::parse("namespce = \"x\"", p).unwrap_err();
        assert!(e.to_string().contains("unknown field `namespce`"), "{e}");
        let e = KubeConfig::parse("namespace = \"\"", p).unwrap_err();
        assert!(e.to_string().contains("leave the key out"), "{e}");
        let e = KubeConfig::parse("shim_image = \"\"", p).unwrap_err();
        assert!(e.to_string().contains("r2e image shim"), "{e}");
        assert_eq!(KubeConfig::parse("", p).unwrap(), KubeConfig::default());
        let c =
            KubeConfig::parse("kubeconfig = \"kc.yaml\"", Path::new("/etc/r2e/k8s.toml")).unwrap();
        assert_eq!(c.kubeconfig.unwrap(), Path::new("/etc/r2e/kc.yaml"));
        let c = KubeConfig::parse("kubeconfig = \"~/.kube/config\"", p).unwrap();
        let home = PathBuf::from(std::env::var_os("HOME").unwrap());
        assert_eq!(c.kubeconfig.unwrap(), home.join(".kube/config"));
    }
}
