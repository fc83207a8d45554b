//! `r2e gen images`: the images SWE-Gen saved (environment layers,
//! workspaces, task images) with the disk each adds, and their removal.

use clap::Args;
use comfy_table::{CellAlignment, Table, presets::UTF8_FULL_CONDENSED};
use r2e_gen::images::{GenImage, ImageKind, list};
use r2e_sandbox::docker::DockerProvider;
use r2e_sandbox::images::remove_all;
use std::process::ExitCode;

/// Arguments of `r2e gen images`.
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Only the images of this repository (the name tasks carry in `repo`).
    #[arg(long)]
    repo: Option<String>,
    /// Only images of this kind: env, workspace or task (repeatable).
    #[arg(long = "kind", value_name = "KIND", value_parser = parse_kind)]
    kinds: Vec<ImageKind>,
    /// Remove the listed images. Tasks whose image is removed no longer run;
    /// workspaces are only needed while validating.
    #[arg(long)]
    remove: bool,
}

fn parse_kind(s: &str) -> Result<ImageKind, String> {
    ImageKind::parse(s).ok_or_else(|| format!("unknown kind {s:?}: use env, workspace or task"))
}

/// Runs `r2e gen images`.
pub async fn run(a: ImagesArgs) -> anyhow::Result<ExitCode> {
    let provider = DockerProvider::connect().await?;
    let images = list(&provider, a.repo.as_deref(), &a.kinds).await?;
    if images.is_empty() {
        println!("no SWE-Gen images{}", scope(&a));
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}", table(&images));
    let total: u64 = images.iter().map(|g| g.info.own_size).sum();
    println!(
        "{} images{}, {} above the images they were made from",
        images.len(),
        scope(&a),
        super::human_bytes(total)
    );
    if !a.remove {
        println!("remove them with the same command and --remove");
        return Ok(ExitCode::SUCCESS);
    }
    let infos: Vec<_> = images.iter().map(|g| g.info.clone()).collect();
    let mut removed = 0usize;
    let mut freed = 0u64;
    let mut failed = Vec::new();
    for (info, result) in remove_all(provider.client(), &infos).await {
        match result {
            Ok(()) => {
                removed += 1;
                freed += info.own_size;
            }
            Err(e) => failed.push(format!("{}: {e}", info.name())),
        }
    }
    println!(
        "removed {removed} images, {} freed",
        super::human_bytes(freed)
    );
    if failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for f in &failed {
        eprintln!("error: {f}");
    }
    anyhow::bail!(
        "{} images were not removed (a container may still use them: `r2e sandbox gc --all`)",
        failed.len()
    )
}

/// " of REPO" and " of kind K" as the filters say.
fn scope(a: &ImagesArgs) -> String {
    let mut s = String::new();
    if let Some(r) = &a.repo {
        s += &format!(" of {r}");
    }
    if !a.kinds.is_empty() {
        let kinds: Vec<&str> = a.kinds.iter().map(|k| k.label()).collect();
        s += &format!(" ({})", kinds.join(", "));
    }
    s
}

fn table(images: &[GenImage]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "repository",
        "kind",
        "image",
        "created",
        "own size",
    ]);
    for g in images {
        let created = r2e_gen::model::rfc3339(g.info.created, 0);
        t.add_row(vec![
            g.repo.clone(),
            g.kind.to_string(),
            g.info.name(),
            created[..16].replace('T', " "),
            super::human_bytes(g.info.own_size),
        ]);
    }
    if let Some(col) = t.column_mut(4) {
        col.set_cell_alignment(CellAlignment::Right);
    }
    t
}
