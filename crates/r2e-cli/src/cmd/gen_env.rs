//! `r2e gen env`: stage 3 of SWE-Gen, a pinned environment per candidate
//! commit (the logic is `r2e_gen::env`; this module parses arguments, finds
//! the Python images, shows progress and prints the summary).

use anyhow::Context;
use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use indicatif::{ProgressBar, ProgressStyle};
use r2e_gen::env::python::PyVersion;
use r2e_gen::env::{EnvEvent, EnvOptions, EnvOutcome, EnvSummary, Overrides, PythonImage};
use r2e_sandbox::docker::DockerProvider;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `r2e gen env`.
#[derive(Debug, Clone, Args)]
pub struct EnvArgs {
    /// The repository the candidates come from (a local clone).
    #[arg(long)]
    pub repo: PathBuf,
    /// Candidate commits (output of `r2e gen filter`).
    #[arg(long)]
    pub candidates: PathBuf,
    /// Output JSONL, one row per candidate (resumable): the environment image,
    /// the Python, method and pins that worked, and every try.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub settings: EnvSettings,
    /// Repository name for images (default: the directory name).
    #[arg(long)]
    pub name: Option<String>,
    /// Limits of the install sandboxes (which always have network access).
    #[command(flatten)]
    pub sandbox: super::limits::SandboxArgs,
}

/// The environment settings `r2e gen env` and `r2e gen run` share.
#[derive(Debug, Clone, Args)]
pub struct EnvSettings {
    /// An image with python3 (the first on its PATH), git and uv the search
    /// may use (repeatable), e.g. one of yours with an older Python.
    /// Default: whichever base images `r2e image bootstrap --suite S` makes
    /// exist (r2e/base:S for focal 3.8, bullseye 3.9, jammy 3.10, bookworm
    /// 3.11, noble 3.12, trixie 3.13).
    #[arg(long = "python", visible_alias = "python-image", value_name = "IMAGE")]
    pub python_images: Vec<String>,
    /// Also try these Pythons, downloaded by uv, e.g. 3.7,3.8: from GitHub, or
    /// from the mirror that UV_PYTHON_INSTALL_MIRROR or
    /// UV_PYTHON_DOWNLOADS_JSON_URL names (passed to the installs, as are
    /// UV_INDEX_URL, UV_DEFAULT_INDEX, UV_INDEX and UV_EXTRA_INDEX_URL).
    #[arg(long, value_delimiter = ',', value_name = "VERSIONS")]
    pub managed_python: Vec<String>,
    /// Per-repository overrides (TOML): Pythons, extra requirements, build
    /// constraints, a pre-install command, a custom install command.
    #[arg(long = "env-config", value_name = "TOML")]
    pub env_config: Option<PathBuf>,
    /// Dependency sets built at the same time.
    #[arg(long = "env-workers", default_value_t = 2)]
    pub env_workers: usize,
    /// Tries per dependency set (Pythons × build-tool pins × install methods).
    #[arg(long, default_value_t = 8)]
    pub max_attempts: usize,
    /// Commits with the same metadata share an environment when made within
    /// this many days of each other (0: one per commit date).
    #[arg(long, default_value_t = 90)]
    pub share_days: u32,
    /// Seconds one install may take.
    #[arg(long, default_value_t = 1200.0, value_parser = super::positive_secs)]
    pub install_timeout: f64,
    /// Try the commits whose environment failed in an earlier run again.
    #[arg(long)]
    pub retry_failed: bool,
    /// Give every try its own uv cache instead of sharing ~/.cache/r2e/uv
    /// (downloads and builds are then repeated on each try).
    #[arg(long)]
    pub no_shared_cache: bool,
}

impl EnvSettings {
    /// The options of `r2e_gen::env`, probing each Python image.
    pub async fn options(
        &self,
        provider: &DockerProvider,
        name: Option<String>,
    ) -> anyhow::Result<EnvOptions> {
        let explicit = !self.python_images.is_empty();
        let images: Vec<String> = if explicit {
            self.python_images.clone()
        } else {
            let mut found = Vec::new();
            for suite in r2e_sandbox::image::SUITES {
                let image = format!("r2e/base:{}", suite.name);
                if provider.image_exists(&image).await? {
                    found.push(image);
                }
            }
            found
        };
        anyhow::ensure!(
            !images.is_empty(),
            "no Python image to build environments in: build one with \
             `r2e image bootstrap --suite bookworm --tag r2e/base:bookworm` \
             (focal: Python 3.8, bullseye: 3.9, trixie: 3.13, …), or pass --python IMAGE"
        );
        let mut pythons = Vec::new();
        for image in &images {
            pythons.push(
                PythonImage::probe(provider, image)
                    .await
                    .with_context(|| format!("{image} cannot build environments"))?,
            );
        }
        for v in &self.managed_python {
            let version = PyVersion::parse(v)
                .with_context(|| format!("--managed-python {v}: not a version like 3.10"))?;
            pythons.push(PythonImage::managed(version, &pythons[0].image));
        }
        let overrides = match &self.env_config {
            Some(path) => Overrides::load(path)?,
            None => Overrides::default(),
        };
        Ok(EnvOptions {
            pythons,
            repo_name: name,
            workers: self.env_workers,
            max_attempts: self.max_attempts,
            share_days: self.share_days,
            install_timeout_secs: self.install_timeout,
            overrides,
            retry_failed: self.retry_failed,
            uv_cache: (!self.no_shared_cache).then(|| r2e_sandbox::shim::cache_dir().join("uv")),
            limits: r2e_sandbox::Limits::default(),
            uv_env: r2e_gen::env::host_uv_env(),
        })
    }
}

/// Runs `r2e gen env`.
pub async fn run(a: EnvArgs) -> anyhow::Result<ExitCode> {
    // Installs download packages: the network is always on here (a config
    // file's `network` is for the other commands).
    anyhow::ensure!(
        a.sandbox.network != Some(super::limits::Network::Off),
        "r2e gen env downloads packages: its sandboxes need the network (drop --network off)"
    );
    let sandbox = a.sandbox.resolve()?;
    let provider = DockerProvider::connect().await?;
    let mut opts = a.settings.options(&provider, a.name.clone()).await?;
    opts.limits = sandbox.limits;
    let found: Vec<String> = opts
        .pythons
        .iter()
        .map(|p| format!("{} ({})", p.version, p.image))
        .collect();
    eprintln!("Pythons: {}", found.join(", "));
    let bar = ProgressBar::hidden();
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} environments [{bar:30}] {pos}/{len} dependency sets, {msg}, ETA {eta}",
        )?
        .progress_chars("=> "),
    );
    let on_event = |e: EnvEvent| match e {
        EnvEvent::Planned {
            commits,
            already_done,
            sets,
        } => {
            super::r#gen::start_bar(
                &bar,
                "candidates",
                commits,
                already_done,
                &a.out,
                sets,
                "building",
            );
        }
        EnvEvent::Attempt { key, attempt } => {
            let how = match attempt.label() {
                None => "ok".to_string(),
                Some(label) => label.to_string(),
            };
            bar.set_message(format!(
                "{key}: Python {} {} → {how}",
                attempt.setup.python,
                attempt
                    .setup
                    .method
                    .map_or(String::new(), |m| format!("{m:?}"))
            ));
        }
        EnvEvent::SetDone { .. } => super::advance(&bar, 1),
    };
    let work =
        r2e_gen::env::build_envs(&provider, &a.repo, &a.candidates, &a.out, &opts, &on_event);
    let Some(result) = super::or_interrupted(&provider, &bar, work).await else {
        return Ok(ExitCode::from(130));
    };
    let summary =
        result.with_context(|| format!("building environments for {}", a.candidates.display()))?;
    bar.finish_and_clear();
    println!("{}", summary_table(&summary));
    println!(
        "funnel: {} candidates → {} with an environment ({} images); rows in {}",
        summary.input,
        summary.built,
        summary.images,
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Outcomes and failure labels of an environment run.
pub fn summary_table(s: &EnvSummary) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(vec!["outcome", "commits"]);
    let outcomes = [
        (EnvOutcome::Built, s.built),
        (EnvOutcome::Skipped, s.skipped),
    ];
    for (o, n) in outcomes {
        t.add_row(vec![format!("{o:?}").to_lowercase(), n.to_string()]);
    }
    for (label, n) in &s.failures {
        t.add_row(vec![format!("failed: {label}"), n.to_string()]);
    }
    t
}
