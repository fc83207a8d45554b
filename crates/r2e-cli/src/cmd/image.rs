//! `r2e image`: base images built without a registry.

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use r2e_sandbox::image::{BootstrapOptions, Bootstrapped, bootstrap};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Image subcommands.
#[derive(Debug, Subcommand)]
pub enum ImageCmd {
    /// Build a Python base image from Debian packages (debootstrap), no registry needed.
    ///
    /// The image gets python3, venv, pip, git, ca-certificates and uv, plus the
    /// host's CA bundle and /etc/pip.conf so that pip and uv work behind a
    /// TLS-intercepting proxy. An existing tag is reused unless --force.
    Bootstrap(BootstrapArgs),
    /// Build the shim image the Kubernetes provider's pods copy the shim
    /// from: `FROM scratch` with the embedded static shim at /r2e-shim,
    /// imported into the local Docker engine. Push it to a registry the
    /// nodes pull from and name it as shim_image in the provider config.
    Shim(ShimArgs),
}

/// Arguments of `r2e image shim`.
#[derive(Debug, Args)]
pub struct ShimArgs {
    /// Image reference to create, e.g. registry.example.com/r2e-shim:VERSION.
    #[arg(long, default_value_t = format!("r2e-shim:{}", env!("CARGO_PKG_VERSION")))]
    tag: String,
}

/// Arguments of `r2e image bootstrap`.
#[derive(Debug, Args)]
pub struct BootstrapArgs {
    /// Suite to build: Debian bullseye (Python 3.9), bookworm (3.11),
    /// trixie (3.13), or Ubuntu focal (3.8), jammy (3.10), noble (3.12).
    #[arg(long, default_value = "bookworm")]
    suite: String,
    /// Image reference to create [default: r2e/base:<suite>].
    #[arg(long)]
    tag: Option<String>,
    /// Rebuild even if the tag exists.
    #[arg(long)]
    force: bool,
    /// Mirror to bootstrap from [default: deb.debian.org for Debian suites,
    /// archive.ubuntu.com for Ubuntu's].
    #[arg(long)]
    mirror: Option<String>,
    /// Extra Debian package to install (repeatable).
    #[arg(long = "package", value_name = "PKG")]
    packages: Vec<String>,
    /// Do not install uv.
    #[arg(long)]
    no_uv: bool,
}

/// Runs an image subcommand.
pub fn run(cmd: ImageCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ImageCmd::Bootstrap(a) => super::block_on(bootstrap_cmd(a))?,
        ImageCmd::Shim(a) => super::block_on(async move {
            let docker = r2e_sandbox::docker::connect().await?;
            let id = r2e_kube::shim_image::build(&docker, &a.tag).await?;
            println!("{} ({id})", a.tag);
            println!(
                "push it with `docker push {}` and set shim_image = \"{}\" in the provider config",
                a.tag, a.tag
            );
            Ok(ExitCode::SUCCESS)
        })?,
    }
}

async fn bootstrap_cmd(a: BootstrapArgs) -> anyhow::Result<ExitCode> {
    let docker = r2e_sandbox::docker::connect().await?;
    let tag = a.tag.unwrap_or_else(|| format!("r2e/base:{}", a.suite));
    let mut opts = BootstrapOptions::new(&a.suite, &tag);
    opts.force = a.force;
    if let Some(mirror) = a.mirror {
        opts.mirror = mirror;
    }
    opts.extra_packages = a.packages;
    opts.install_uv = !a.no_uv;
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {msg}",
    )?);
    bar.enable_steady_tick(Duration::from_millis(120));
    let started = Instant::now();
    let step = |msg: &str| {
        // A bar that draws nothing (stderr is a log or a pipe) prints
        // nothing with println either: the steps then go out as lines.
        if bar.is_hidden() {
            eprintln!("  · [{:>4.0} s] {msg}", started.elapsed().as_secs_f64());
        } else {
            bar.println(format!("  · {msg}"));
        }
        bar.set_message(msg.to_string());
    };
    let outcome = bootstrap(&docker, &opts, &step).await;
    bar.finish_and_clear();
    match outcome? {
        Bootstrapped::Reused { id } => {
            println!(
                "{tag} already exists ({}); kept it. Use --force to rebuild.",
                short(&id)
            );
        }
        Bootstrapped::Built { id, size } => println!(
            "built {tag} ({}, {:.0} MB) in {:.0} s",
            short(&id),
            size as f64 / 1e6,
            started.elapsed().as_secs_f64()
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn short(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..id.len().min(12)]
}
