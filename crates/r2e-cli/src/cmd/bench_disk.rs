//! `r2e bench disk`: disk per validated SWE-Gen task above its shared
//! environment layer, against an environment per task (what one image per
//! commit with its own dependency install costs, as R2E-Gym's per-commit
//! images do), measured in the same run on the same tasks.
//!
//! A synthetic package with a real dependency (`packaging`, from PyPI) and a
//! history of bug fixes with tests is made in a scratch directory; stages 1,
//! 3 and 4 run on it (mine, env, validate); the engine's image sizes give the
//! layers.

use anyhow::Context;
use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use r2e_gen::env::{EnvOptions, PythonImage, build_envs, load_env_map};
use r2e_gen::images::ImageKind;
use r2e_gen::mine::{MineOptions, mine_to_jsonl};
use r2e_gen::validate::{Outcome, ValidateOptions, ValidatedCommit, validate_jsonl};
use r2e_sandbox::docker::DockerProvider;
use r2e_sandbox::images::remove_all;
use std::path::Path;
use std::process::{Command, ExitCode};

/// Arguments of `r2e bench disk`.
#[derive(Debug, Args)]
pub struct BenchDiskArgs {
    /// Bug fixes (each with a test) in the synthetic history.
    #[arg(long, default_value_t = 8)]
    fixes: usize,
    /// The Python image environments are built in.
    #[arg(long, default_value = super::DEFAULT_IMAGE)]
    python: String,
    /// Keep the images the run made (removed by default).
    #[arg(long)]
    keep_images: bool,
}

/// 2024-06-03T00:00:00Z: the synthetic history's first commit.
const START: u64 = 1_717_372_800;

/// Runs `r2e bench disk`.
pub fn run(a: BenchDiskArgs) -> anyhow::Result<ExitCode> {
    super::block_on(async move {
        let provider = DockerProvider::connect().await?;
        super::until_interrupted(&provider, measure(&provider, &a)).await
    })?
}

async fn measure(provider: &DockerProvider, a: &BenchDiskArgs) -> anyhow::Result<ExitCode> {
    let tmp = tempfile::tempdir()?;
    let repo = tmp.path().join("diskbench");
    build_repo(&repo, a.fixes)?;
    let commits = tmp.path().join("commits.jsonl");
    mine_to_jsonl(&repo, &commits, &MineOptions::default(), &mut |_| {})?;
    let name = format!("diskbench-{}", std::process::id());
    let python = PythonImage::probe(provider, &a.python).await?;
    println!(
        "{} fixes, environments on Python {} ({}), dependencies from PyPI",
        a.fixes, python.version, a.python
    );
    let envs = tmp.path().join("envs.jsonl");
    let env_summary = build_envs(
        provider,
        &repo,
        &commits,
        &envs,
        &EnvOptions {
            pythons: vec![python],
            repo_name: Some(name.clone()),
            ..Default::default()
        },
        &|_| {},
    )
    .await?;
    anyhow::ensure!(
        env_summary.images == 1,
        "expected one shared environment, got {env_summary:?}"
    );
    let validated = tmp.path().join("validated.jsonl");
    validate_jsonl(
        provider,
        &repo,
        &commits,
        &validated,
        &ValidateOptions {
            repo_name: Some(name.clone()),
            envs: Some(load_env_map(&envs)?),
            ..Default::default()
        },
        &mut |_| {},
    )
    .await?;
    let rows: Vec<ValidatedCommit> = r2e_core::jsonl::read(&validated)?;
    let tasks: Vec<&ValidatedCommit> = rows
        .iter()
        .filter(|r| r.outcome == Outcome::Valid)
        .collect();
    anyhow::ensure!(!tasks.is_empty(), "no task validated: {rows:#?}");
    // The engine's sizes of the layers this run saved: each image's bytes
    // above the one it was made from (the environment above the Python
    // image, each task above the environment).
    let images = r2e_gen::images::list(provider, Some(&name), &[]).await?;
    let own = |kind: ImageKind| {
        images
            .iter()
            .filter(move |g| g.kind == kind)
            .map(|g| g.info.own_size)
    };
    let env_layer = own(ImageKind::Env).next().context("no environment image")?;
    let mut per_task: Vec<u64> = own(ImageKind::Task).collect();
    anyhow::ensure!(
        per_task.len() == tasks.len(),
        "a task image is missing: {images:#?}"
    );
    per_task.sort_unstable();
    let median = per_task[per_task.len() / 2];
    let max = *per_task.last().unwrap_or(&0);
    let unshared = env_layer + median;
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(vec!["layer", "size"]);
    t.add_row(vec![
        "shared environment (venv + repository), once".to_string(),
        super::human_bytes(env_layer),
    ]);
    t.add_row(vec![
        format!("per task above it, median of {}", tasks.len()),
        super::human_bytes(median),
    ]);
    t.add_row(vec![
        "per task above it, max".to_string(),
        super::human_bytes(max),
    ]);
    t.add_row(vec![
        "baseline: an environment per task".to_string(),
        super::human_bytes(unshared),
    ]);
    println!("{t}");
    println!(
        "disk per task: {} vs {} with an environment per task ({:.0}x less); target ≤ 10 MB: {}",
        super::human_bytes(median),
        super::human_bytes(unshared),
        unshared as f64 / median.max(1) as f64,
        if max <= 10 * 1024 * 1024 {
            "met"
        } else {
            "missed"
        }
    );
    if !a.keep_images {
        let infos: Vec<_> = images.iter().map(|g| g.info.clone()).collect();
        for (_, result) in remove_all(provider.client(), &infos).await {
            if let Err(e) = result {
                eprintln!("warning: {e}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A git repository with a package that uses `packaging` and `fixes` bug
/// fixes, each changing one function and adding a test that fails before it.
fn build_repo(dir: &Path, fixes: usize) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("vers"))?;
    std::fs::create_dir_all(dir.join("tests"))?;
    let git = |args: &[&str], date: Option<u64>| -> anyhow::Result<()> {
        let mut c = Command::new("git");
        c.current_dir(dir)
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "bench")
            .env("GIT_AUTHOR_EMAIL", "bench@example.com")
            .env("GIT_COMMITTER_NAME", "bench")
            .env("GIT_COMMITTER_EMAIL", "bench@example.com");
        if let Some(d) = date {
            c.env("GIT_AUTHOR_DATE", format!("{d} +0000"))
                .env("GIT_COMMITTER_DATE", format!("{d} +0000"));
        }
        let out = c.output()?;
        anyhow::ensure!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    };
    git(&["init", "-q", "-b", "main"], None)?;
    std::fs::write(
        dir.join("setup.py"),
        "from setuptools import setup\n\nsetup(name=\"vers\", version=\"1.0\", packages=[\"vers\"], install_requires=[\"packaging\"])\n",
    )?;
    let funcs: Vec<String> = (0..fixes)
        .map(|i| {
            format!(
                "def bump_{i}(v):\n    \"\"\"Version v with its part {i} raised by {i} + 1.\"\"\"\n    parts = list(version.Version(v).release) + [0] * {i}\n    parts[{i}] += {i}\n    return \".\".join(map(str, parts))\n"
            )
        })
        .collect();
    let write_lib = |funcs: &[String]| -> anyhow::Result<()> {
        std::fs::write(
            dir.join("vers/__init__.py"),
            format!("from packaging import version\n\n\n{}", funcs.join("\n\n")),
        )?;
        Ok(())
    };
    write_lib(&funcs)?;
    let mut tests = String::from("import vers\n");
    std::fs::write(dir.join("tests/test_vers.py"), &tests)?;
    git(&["add", "-A"], None)?;
    git(&["commit", "-q", "-m", "Initial version"], Some(START))?;
    let mut funcs = funcs;
    for i in 0..fixes {
        funcs[i] = funcs[i].replace(&format!("+= {i}\n"), &format!("+= {i} + 1\n"));
        write_lib(&funcs)?;
        let want: Vec<String> = (0..=i)
            .map(|k| {
                if k == i {
                    (i + 1).to_string()
                } else {
                    "0".into()
                }
            })
            .collect();
        let input = vec!["0"; i + 1].join(".");
        tests.push_str(&format!(
            "\n\ndef test_bump_{i}():\n    assert vers.bump_{i}(\"{input}\").startswith(\"{}\")\n",
            want.join(".")
        ));
        std::fs::write(dir.join("tests/test_vers.py"), &tests)?;
        git(&["add", "-A"], None)?;
        let msg = format!("Fix bump_{i}: raise by one more");
        git(
            &["commit", "-q", "-m", &msg],
            Some(START + (i as u64 + 1) * 3600),
        )?;
    }
    Ok(())
}
