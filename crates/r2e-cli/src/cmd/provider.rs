//! Which engine runs a command's sandboxes: `--provider docker` (the local
//! daemon, or `DOCKER_HOST`) or `--provider kubernetes --provider-config
//! k8s.toml` (pods through an API server; see `r2e_kube::config`). Flattened
//! into the commands that start sandboxes through the `Provider` trait
//! (`eval`, `serve`, `dataset check`) and into `sandbox gc` and `doctor`;
//! `run` and `verify exec`, whose `--provider` names the model's wire
//! protocol, take `--sandbox-provider` ([`SandboxProviderArgs`]).

use clap::{Args, ValueEnum};
use r2e_kube::KubeProvider;
use r2e_sandbox::Provider;
use r2e_sandbox::docker::DockerProvider;
use std::path::PathBuf;
use std::sync::Arc;

/// A sandbox engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ProviderKind {
    /// Containers on a Docker daemon.
    #[default]
    Docker,
    /// Pods on a Kubernetes cluster.
    Kubernetes,
}

/// `--provider` and `--provider-config`.
#[derive(Debug, Clone, Default, Args)]
pub struct ProviderArgs {
    /// Where sandboxes run (also spelt --sandbox-provider).
    #[arg(
        long,
        alias = "sandbox-provider",
        value_enum,
        default_value_t,
        env = "R2E_PROVIDER",
        help_heading = "Sandbox provider"
    )]
    pub provider: ProviderKind,
    /// The Kubernetes provider's TOML file (namespace, credentials, shim
    /// image, resources, placement; see docs/scaling.md) [default: every
    /// key at its default, the kubeconfig's cluster].
    #[arg(
        long,
        value_name = "FILE",
        env = "R2E_PROVIDER_CONFIG",
        help_heading = "Sandbox provider"
    )]
    pub provider_config: Option<PathBuf>,
}

/// `--sandbox-provider` and `--provider-config`, for the commands whose
/// `--provider` names the model's wire protocol (`run`, `verify exec`).
#[derive(Debug, Clone, Default, Args)]
pub struct SandboxProviderArgs {
    /// Where sandboxes run (--provider is the model's protocol here).
    #[arg(
        long,
        value_enum,
        default_value_t,
        env = "R2E_PROVIDER",
        help_heading = "Sandbox provider"
    )]
    pub sandbox_provider: ProviderKind,
    /// The Kubernetes provider's TOML file (see docs/scaling.md).
    #[arg(
        long,
        value_name = "FILE",
        env = "R2E_PROVIDER_CONFIG",
        help_heading = "Sandbox provider"
    )]
    pub provider_config: Option<PathBuf>,
}

impl SandboxProviderArgs {
    /// The same choice as [`ProviderArgs`].
    pub fn choice(&self) -> ProviderArgs {
        ProviderArgs {
            provider: self.sandbox_provider,
            provider_config: self.provider_config.clone(),
        }
    }
}

/// A connected provider, by kind.
pub enum Connected {
    /// The Docker provider.
    Docker(DockerProvider),
    /// The Kubernetes provider.
    Kube(KubeProvider),
}

impl ProviderArgs {
    /// Connects to the chosen engine.
    pub async fn connect_kind(&self) -> anyhow::Result<Connected> {
        if self.provider == ProviderKind::Docker && self.provider_config.is_some() {
            anyhow::bail!("--provider-config is for --provider kubernetes");
        }
        Ok(match self.provider {
            ProviderKind::Docker => Connected::Docker(DockerProvider::connect().await?),
            ProviderKind::Kubernetes => {
                Connected::Kube(KubeProvider::open(self.provider_config.as_deref())?)
            }
        })
    }

    /// Connects, then removes what killed r2e processes left behind (see
    /// [`sweep`]): the provider a command starts its sandboxes from.
    pub async fn connect(&self) -> anyhow::Result<Arc<dyn Provider>> {
        let connected = self.connect_kind().await?;
        sweep(&connected).await;
        Ok(match connected {
            Connected::Docker(p) => Arc::new(p),
            Connected::Kube(p) => Arc::new(p),
        })
    }
}

/// Removes sandboxes whose r2e process is gone before a run adds its own
/// (Docker: containers and socket folders; Kubernetes: finished pods and
/// pods of dead processes on this host). Live ones are not touched.
pub async fn sweep(connected: &Connected) {
    match connected {
        Connected::Docker(p) => super::sweep_leftovers(p).await,
        Connected::Kube(p) => match p.gc(false).await {
            Ok(r) => {
                if !r.removed.is_empty() {
                    eprintln!(
                        "deleted {} pod(s) left by r2e processes that were killed or finished",
                        r.removed.len()
                    );
                }
                for (name, why) in &r.failed {
                    tracing::warn!("deleting pod {name} left by a killed run: {why}");
                }
            }
            Err(e) => tracing::warn!("deleting pods left by killed runs: {e}"),
        },
    }
}
