//! Build orchestration: candidates grouped into dependency sets by the key
//! of their metadata and date, one search per set, the environment saved as
//! an image, and one row per commit appended to `envs.jsonl` (resumable).

use super::install::{Cutoffs, TOOLS_FLOOR};
use super::meta::EnvSpec;
use super::python;
use super::search::search;
use super::types::{
    EnvEvent, EnvOptions, EnvOutcome, EnvRow, EnvSummary, KEY_LABEL, RepoOverride, Setup, VENV,
};
use crate::error::{Error, Result};
use crate::images::ImageKind;
use crate::model::{MinedCommit, rfc3339};
use crate::validate::{RepoArchive, docker_name, repo_name, revs_of};
use futures_util::StreamExt;
use r2e_core::jsonl::JsonlWriter;
use r2e_sandbox::Sandbox;
use r2e_sandbox::docker::DockerProvider;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// The version of the way environments are made (install script, search):
/// part of every set's key, so that an image made the old way is not reused
/// once it changes.
const RECIPE: u32 = 4;

/// The text of `path` at `rev` in the repository at `repo` (git CLI).
fn git_show(repo: &Path, rev: &str, path: &str) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["show", &format!("{rev}:{path}")])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The environment spec of commit `rev` of the repository at `repo`.
pub fn read_spec(repo: &Path, rev: &str) -> Result<EnvSpec> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["ls-tree", "-r", "--name-only", rev])
        .output()
        .map_err(|e| Error::io(repo, e))?;
    if !out.status.success() {
        return Err(Error::git(
            format!("git ls-tree {rev}"),
            String::from_utf8_lossy(&out.stderr).trim(),
        ));
    }
    let files: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    Ok(EnvSpec::from_files(&files, &|p| git_show(repo, rev, p)))
}

/// 64-bit FNV-1a, as 12 hex digits: a stable key across runs and builds.
fn fnv12(data: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")[..12].to_string()
}

/// The dependency-set key of a commit: its spec (not where it was read
/// from), the repository's overrides and its sharing window.
fn set_key(spec: &EnvSpec, ov: &RepoOverride, commit_time: i64, share_days: u32) -> String {
    let window = if share_days == 0 {
        commit_time
    } else {
        commit_time.div_euclid(i64::from(share_days) * 86_400)
    };
    let spec = EnvSpec {
        sources: Vec::new(),
        dev_tools: Vec::new(),
        ..spec.clone()
    };
    let data = serde_json::json!({
        "recipe": RECIPE,
        "spec": spec,
        "override": ov,
        "window": window,
    });
    fnv12(data.to_string().as_bytes())
}

/// One dependency set: the commits sharing an environment.
pub(super) struct Set<'a> {
    pub(super) key: String,
    pub(super) spec: EnvSpec,
    /// Earliest first.
    pub(super) commits: Vec<&'a MinedCommit>,
}

/// Builds the environments of the candidates in `candidates` (JSONL of
/// [`MinedCommit`]) of the repository at `repo`, appending one [`EnvRow`] per
/// candidate to `out`; commits already in `out` are skipped, and a set whose
/// image already exists is not built again.
pub async fn build_envs(
    provider: &DockerProvider,
    repo: &Path,
    candidates: &Path,
    out: &Path,
    opts: &EnvOptions,
    on_event: &(dyn Fn(EnvEvent) + Sync),
) -> Result<EnvSummary> {
    let rows: Vec<MinedCommit> = crate::jsonl::read_rows(candidates)?;
    if opts.retry_failed && out.exists() {
        let kept: Vec<EnvRow> = r2e_core::jsonl::read::<EnvRow>(out)?
            .into_iter()
            .filter(|r| r.outcome != EnvOutcome::Failed)
            .collect();
        let tmp = out.with_extension("jsonl.tmp");
        let mut text = String::new();
        for r in &kept {
            text.push_str(&serde_json::to_string(r).map_err(|e| Error::BadRow {
                path: out.to_path_buf(),
                line: 0,
                message: e.to_string(),
            })?);
            text.push('\n');
        }
        std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, out).map_err(|e| Error::io(out, e))?;
    }
    let (mut writer, done) = JsonlWriter::<EnvRow>::open(out)?;
    let done_hashes: BTreeSet<&str> = done.iter().map(|r| r.hash.as_str()).collect();
    let name = opts
        .repo_name
        .clone()
        .map(|n| docker_name(&n))
        .unwrap_or_else(|| repo_name(repo));
    let ov = opts.overrides.for_repo(&name).clone();
    let todo: Vec<&MinedCommit> = rows
        .iter()
        .filter(|c| !done_hashes.contains(c.hash.as_str()))
        .collect();
    let already_done = rows.len() - todo.len();
    // Earlier runs' images, by key.
    let mut built: HashMap<String, EnvRow> = HashMap::new();
    for r in &done {
        if r.outcome == EnvOutcome::Built && r.built_at == r.hash {
            built.insert(r.key.clone(), r.clone());
        }
    }
    let mut sets: BTreeMap<String, Set> = BTreeMap::new();
    let mut new_rows = Vec::new();
    for c in todo {
        let mut row = EnvRow {
            hash: c.hash.clone(),
            repo: name.clone(),
            outcome: EnvOutcome::Skipped,
            reason: None,
            key: String::new(),
            image: String::new(),
            built_at: String::new(),
            setup: Setup::default(),
            exclude_newer: String::new(),
            tools_exclude_newer: String::new(),
            spec: EnvSpec::default(),
            attempts: Vec::new(),
        };
        if c.skipped.is_some() || c.parent.is_none() {
            row.reason = Some("not_analysed".into());
            new_rows.push(row);
            continue;
        }
        let spec = match read_spec(repo, &c.hash) {
            Ok(s) => s,
            Err(e) => {
                row.outcome = EnvOutcome::Failed;
                row.reason = Some(format!("metadata: {e}"));
                new_rows.push(row);
                continue;
            }
        };
        let key = set_key(&spec, &ov, c.commit_time, opts.share_days);
        sets.entry(key.clone())
            .or_insert_with(|| Set {
                key,
                spec,
                commits: Vec::new(),
            })
            .commits
            .push(c);
    }
    for row in &new_rows {
        writer.append(row)?;
    }
    for set in sets.values_mut() {
        set.commits.sort_by_key(|c| (c.commit_time, c.hash.clone()));
    }
    // Sets whose image an earlier run built only get rows.
    let mut to_build = Vec::new();
    for set in sets.into_values() {
        match built.get(&set.key) {
            Some(prev) if provider.image_exists(&prev.image).await? => {
                for c in &set.commits {
                    writer.append(&member_row(prev, c))?;
                }
            }
            _ => to_build.push(set),
        }
    }
    on_event(EnvEvent::Planned {
        commits: rows.len(),
        already_done,
        sets: to_build.len(),
    });
    if !to_build.is_empty() {
        // The repository is packed once and copied into every try's sandbox.
        let archive = RepoArchive::new(
            repo,
            &revs_of(to_build.iter().flat_map(|s| s.commits.iter().copied())),
        )?;
        let (ov, name, archive) = (&ov, &name, &archive);
        let mut stream = futures_util::stream::iter(to_build)
            .map(|set| async move {
                let rows = build_set(provider, archive, &set, ov, name, opts, on_event).await;
                (set.key.clone(), rows)
            })
            .buffer_unordered(opts.workers.max(1));
        while let Some((key, rows)) = stream.next().await {
            let rows = rows?;
            for r in &rows {
                writer.append(r)?;
            }
            on_event(EnvEvent::SetDone {
                key,
                outcome: rows.first().map_or(EnvOutcome::Failed, |r| r.outcome),
                commits: rows.len(),
            });
        }
    }
    let all: Vec<EnvRow> = r2e_core::jsonl::read(out)?;
    let mut summary = EnvSummary {
        input: rows.len(),
        already_done,
        ..Default::default()
    };
    let mut images = BTreeSet::new();
    for r in &all {
        match r.outcome {
            EnvOutcome::Built => {
                summary.built += 1;
                images.insert(r.image.clone());
            }
            EnvOutcome::Failed => {
                summary.failed += 1;
                let label = r
                    .reason
                    .as_deref()
                    .and_then(|x| x.split([':', ' ']).next())
                    .unwrap_or("failed");
                *summary.failures.entry(label.to_string()).or_default() += 1;
            }
            EnvOutcome::Skipped => summary.skipped += 1,
        }
    }
    summary.images = images.len();
    Ok(summary)
}

/// The row of commit `c` sharing the environment of `built`.
fn member_row(built: &EnvRow, c: &MinedCommit) -> EnvRow {
    EnvRow {
        hash: c.hash.clone(),
        attempts: if c.hash == built.hash {
            built.attempts.clone()
        } else {
            Vec::new()
        },
        ..built.clone()
    }
}

/// Builds one set and returns the rows of its commits.
async fn build_set(
    provider: &DockerProvider,
    archive: &RepoArchive,
    set: &Set<'_>,
    ov: &RepoOverride,
    name: &str,
    opts: &EnvOptions,
    on_event: &(dyn Fn(EnvEvent) + Sync),
) -> Result<Vec<EnvRow>> {
    let rep = set.commits[0];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let deps = ov
        .exclude_newer
        .clone()
        .unwrap_or_else(|| rfc3339(rep.commit_time, 0));
    let floor = python::day_seconds(TOOLS_FLOOR).unwrap_or(0);
    let dated_tools = if python::day_seconds(&deps).is_some_and(|d| d >= floor) {
        deps.clone()
    } else {
        TOOLS_FLOOR.to_string()
    };
    let cut = Cutoffs {
        deps,
        tools: rfc3339(now, 0),
        dated_tools,
    };
    let image = format!("r2e-gen/{name}-env:{}", set.key);
    let key = set.key.clone();
    let found = search(provider, archive, set, ov, &cut, opts, &|a| {
        on_event(EnvEvent::Attempt {
            key: key.clone(),
            attempt: a.clone(),
        })
    })
    .await;
    let mut row = EnvRow {
        hash: rep.hash.clone(),
        repo: name.to_string(),
        outcome: EnvOutcome::Failed,
        reason: None,
        key: set.key.clone(),
        image: String::new(),
        built_at: rep.hash.clone(),
        setup: Setup::default(),
        exclude_newer: cut.deps,
        tools_exclude_newer: cut.tools,
        spec: set.spec.clone(),
        attempts: found.attempts,
    };
    match found.env {
        Some((t, sb)) => {
            let mut labels = ImageKind::Env.labels(name);
            labels.insert(KEY_LABEL.to_string(), set.key.clone());
            let env = [
                format!(
                    "PATH={VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                ),
                format!("VIRTUAL_ENV={VENV}"),
            ];
            let saved = provider.commit(&sb, &image, labels, &env).await;
            let _ = sb.close().await;
            saved?;
            row.outcome = EnvOutcome::Built;
            row.image = image;
            row.setup = t.setup();
        }
        None => {
            row.reason = Some(match row.attempts.last() {
                Some(a) if found.no_older => format!(
                    "no_python_old_enough: the code needs a Python older than any available \
                     ({} tries; last: {}); add one with --python IMAGE (an image with an older \
                     python3, git and uv) or --managed-python VERSION",
                    row.attempts.len(),
                    a.error.as_deref().unwrap_or("")
                ),
                Some(a) => format!(
                    "{} ({} tries; last: {})",
                    a.label().unwrap_or("failed"),
                    row.attempts.len(),
                    a.error.as_deref().unwrap_or("")
                ),
                None => "no_python: no Python to try (see --python)".to_string(),
            });
        }
    }
    Ok(set.commits.iter().map(|c| member_row(&row, c)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_within_a_window() {
        let spec = EnvSpec {
            requires: vec!["six".into()],
            ..Default::default()
        };
        let ov = RepoOverride::default();
        let day = 86_400;
        let a = set_key(&spec, &ov, 100 * day, 90);
        assert_eq!(a, set_key(&spec, &ov, 101 * day, 90));
        assert_ne!(a, set_key(&spec, &ov, 200 * day, 90));
        let other = EnvSpec {
            requires: vec!["six<2".into()],
            ..Default::default()
        };
        assert_ne!(a, set_key(&other, &ov, 100 * day, 90));
        let moved = EnvSpec {
            sources: vec!["setup.py".into()],
            ..spec.clone()
        };
        assert_eq!(a, set_key(&moved, &ov, 100 * day, 90));
        assert_eq!(a.len(), 12);
    }
}
