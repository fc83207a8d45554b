//! The images SWE-Gen makes: the labels that mark them, what each one is for
//! (an environment layer, a workspace, a task image), and listing them by
//! repository and kind so that `r2e gen images` can show and remove them.

use crate::env::KEY_LABEL;
use crate::validate::COMMIT_LABEL;
use r2e_sandbox::SandboxError;
use r2e_sandbox::docker::DockerProvider;
use r2e_sandbox::images::{ImageInfo, list_labelled};
use std::collections::HashMap;

/// Image label holding the name of the repository an image was made for.
pub const REPO_LABEL: &str = "dev.r2e.gen.repo";
/// Image label saying what an image is for ([`ImageKind::label`]).
pub const KIND_LABEL: &str = "dev.r2e.gen.kind";

/// What an image SWE-Gen made is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ImageKind {
    /// A dependency set installed with the repository at `/testbed`
    /// (`r2e gen env`); task images are made on top of it.
    Env,
    /// A Python image plus the repository's history, where validation runs
    /// when no environments were built.
    Workspace,
    /// One task: the repository at the fix's parent (`r2e gen validate`).
    Task,
}

impl ImageKind {
    /// Every kind, in the order they are built.
    pub const ALL: [ImageKind; 3] = [ImageKind::Env, ImageKind::Workspace, ImageKind::Task];

    /// The value of [`KIND_LABEL`] for this kind.
    pub fn label(self) -> &'static str {
        match self {
            ImageKind::Env => "env",
            ImageKind::Workspace => "workspace",
            ImageKind::Task => "task",
        }
    }

    /// The kind named by `s` (a [`label`](Self::label)).
    pub fn parse(s: &str) -> Option<ImageKind> {
        ImageKind::ALL.into_iter().find(|k| k.label() == s)
    }

    /// The labels an image of this kind for repository `repo` is saved with.
    pub fn labels(self, repo: &str) -> HashMap<String, String> {
        HashMap::from([
            (REPO_LABEL.to_string(), repo.to_string()),
            (KIND_LABEL.to_string(), self.label().to_string()),
        ])
    }

    /// The kind of an image with `labels`. Images inherit their parent's
    /// labels, so the kind label comes first; images saved before it existed
    /// are told apart by the labels only their kind sets.
    pub fn of(labels: &HashMap<String, String>) -> Option<ImageKind> {
        if let Some(kind) = labels.get(KIND_LABEL) {
            return ImageKind::parse(kind);
        }
        if labels.contains_key(COMMIT_LABEL) {
            Some(ImageKind::Task)
        } else if labels.contains_key(KEY_LABEL) {
            Some(ImageKind::Env)
        } else if labels.contains_key(REPO_LABEL) {
            Some(ImageKind::Workspace)
        } else {
            None
        }
    }
}

impl std::fmt::Display for ImageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// An image SWE-Gen made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenImage {
    /// The repository it was made for (the task rows' `repo`).
    pub repo: String,
    /// What it is for.
    pub kind: ImageKind,
    /// The engine's view of it.
    pub info: ImageInfo,
}

/// Lists the images SWE-Gen made, for repository `repo` only when given, of
/// the `kinds` given (all kinds when empty), oldest first.
pub async fn list(
    provider: &DockerProvider,
    repo: Option<&str>,
    kinds: &[ImageKind],
) -> Result<Vec<GenImage>, SandboxError> {
    Ok(list_labelled(provider.client(), REPO_LABEL)
        .await?
        .into_iter()
        .filter_map(|info| {
            let kind = ImageKind::of(&info.labels)?;
            let name = info.labels.get(REPO_LABEL)?.clone();
            Some(GenImage {
                repo: name,
                kind,
                info,
            })
        })
        .filter(|g| repo.is_none_or(|r| g.repo == r))
        .filter(|g| kinds.is_empty() || kinds.contains(&g.kind))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_kind_label_wins_over_inherited_labels() {
        // A task image made on an environment layer inherits its key label.
        let mut l = ImageKind::Env.labels("calc");
        l.insert(KEY_LABEL.into(), "abc".into());
        l.extend(ImageKind::Task.labels("calc"));
        l.insert(COMMIT_LABEL.into(), "f00".into());
        assert_eq!(ImageKind::of(&l), Some(ImageKind::Task));
    }

    #[test]
    fn images_without_the_kind_label_are_told_apart_by_their_own_labels() {
        let repo = (REPO_LABEL, "calc");
        assert_eq!(
            ImageKind::of(&labels(&[repo, (KEY_LABEL, "k"), (COMMIT_LABEL, "c")])),
            Some(ImageKind::Task)
        );
        assert_eq!(
            ImageKind::of(&labels(&[repo, (KEY_LABEL, "k")])),
            Some(ImageKind::Env)
        );
        assert_eq!(ImageKind::of(&labels(&[repo])), Some(ImageKind::Workspace));
        assert_eq!(ImageKind::of(&labels(&[("other", "x")])), None);
        assert_eq!(ImageKind::of(&labels(&[(KIND_LABEL, "bogus")])), None);
    }
}
