//! Container image names: the sources' own conventions and user templates.
//!
//! By default a task runs in the image its source names:
//!
//! * R2E-Gym rows carry it in `docker_image` (e.g. `namanjain12/aiohttp_final:<commit>`);
//!   a row without one gets R2E-Gym's naming scheme (see [`r2e_gym_image`]);
//! * SWE-smith rows carry it in `image_name`, used as is;
//! * SWE-bench rows use the harness convention
//!   `swebench/sweb.eval.x86_64.<instance_id>:latest`, with the id lowercased and
//!   `__` spelled `_1776_` (see [`swebench_image`]).
//!
//! An [`ImageTemplate`] replaces that choice for every row, e.g. to pull from a
//! mirror: `--image-template 'mirror.local/{image}'`. The placeholders are listed in
//! [`PLACEHOLDERS`].

use crate::task::{SourceFormat, Task};
use std::fmt;
use std::str::FromStr;

/// Docker Hub namespace of SWE-bench's prebuilt instance images.
pub const SWEBENCH_NAMESPACE: &str = "swebench";

/// Architecture segment of SWE-bench image names.
pub const SWEBENCH_ARCH: &str = "x86_64";

/// The SWE-bench spelling of an instance id inside an image name: lowercased, with
/// `__` (not allowed in Docker Hub repository names) replaced by `_1776_`, as
/// `swebench.harness.test_spec.TestSpec.instance_image_key` does.
pub fn swebench_id(instance_id: &str) -> String {
    instance_id.to_lowercase().replace("__", "_1776_")
}

/// The prebuilt SWE-bench image of an instance, e.g. `django__django-11099` →
/// `swebench/sweb.eval.x86_64.django_1776_django-11099:latest`.
pub fn swebench_image(instance_id: &str) -> String {
    format!(
        "{SWEBENCH_NAMESPACE}/sweb.eval.{SWEBENCH_ARCH}.{}:latest",
        swebench_id(instance_id)
    )
}

/// Docker Hub namespace of R2E-Gym's published per-commit images.
pub const R2E_GYM_NAMESPACE: &str = "namanjain12";

/// R2E-Gym's image for a commit of a repository, e.g. `aiohttp` at `f0d7…` →
/// `namanjain12/aiohttp_final:f0d7…`.
pub fn r2e_gym_image(repo_name: &str, commit: &str) -> String {
    format!("{R2E_GYM_NAMESPACE}/{repo_name}_final:{commit}")
}

/// One template placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    TaskId,
    SwebenchId,
    Repo,
    RepoName,
    Commit,
    BaseCommit,
    Image,
}

/// Every placeholder an [`ImageTemplate`] understands, with what it stands for.
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    (
        "task_id",
        "the task id: SWE-bench instance_id, or repo@commit for R2E-Gym rows",
    ),
    ("instance_id", "same as {task_id}"),
    (
        "swebench_id",
        "the task id lowercased with \"__\" spelled \"_1776_\" (SWE-bench image spelling)",
    ),
    (
        "repo",
        "the repository as the row names it (owner/name or name)",
    ),
    ("repo_name", "the repository without its owner"),
    (
        "commit",
        "the commit in the task id for R2E-Gym rows, otherwise the base commit",
    ),
    ("base_commit", "the commit the repository is checked out at"),
    (
        "image",
        "the image the source itself names (docker_image, image_name) or its convention gives",
    ),
];

fn var_named(name: &str) -> Option<Var> {
    Some(match name {
        "task_id" | "instance_id" => Var::TaskId,
        "swebench_id" => Var::SwebenchId,
        "repo" => Var::Repo,
        "repo_name" => Var::RepoName,
        "commit" => Var::Commit,
        "base_commit" => Var::BaseCommit,
        "image" => Var::Image,
        _ => return None,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Var(Var),
}

/// A user-supplied image name pattern such as `myreg/{swebench_id}:latest`.
///
/// Placeholders are written `{name}`; see [`PLACEHOLDERS`]. Parsing checks every
/// placeholder up front, so a typo fails before any row is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageTemplate {
    source: String,
    parts: Vec<Part>,
}

/// Why an image template was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template is empty or only whitespace.
    #[error("image template is empty")]
    Empty,
    /// A `{` without a matching `}`.
    #[error("image template {template:?}: unclosed '{{' at byte {at}")]
    Unclosed {
        /// The template as given.
        template: String,
        /// Byte offset of the `{`.
        at: usize,
    },
    /// A `}` without a preceding `{`.
    #[error("image template {template:?}: stray '}}' at byte {at}")]
    Stray {
        /// The template as given.
        template: String,
        /// Byte offset of the `}`.
        at: usize,
    },
    /// A placeholder name that is not in [`PLACEHOLDERS`].
    #[error("image template {template:?}: unknown placeholder {{{name}}} (known: {known})")]
    UnknownPlaceholder {
        /// The template as given.
        template: String,
        /// The unknown name.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
}

impl FromStr for ImageTemplate {
    type Err = TemplateError;

    fn from_str(template: &str) -> Result<Self, Self::Err> {
        if template.trim().is_empty() {
            return Err(TemplateError::Empty);
        }
        let mut parts = Vec::new();
        let mut rest = template;
        while !rest.is_empty() {
            let offset = template.len() - rest.len();
            let next = rest.find(['{', '}']).unwrap_or(rest.len());
            if next > 0 {
                parts.push(Part::Literal(rest[..next].to_owned()));
                rest = &rest[next..];
                continue;
            }
            if rest.starts_with('}') {
                return Err(TemplateError::Stray {
                    template: template.to_owned(),
                    at: offset,
                });
            }
            let Some(close) = rest.find('}') else {
                return Err(TemplateError::Unclosed {
                    template: template.to_owned(),
                    at: offset,
                });
            };
            let name = &rest[1..close];
            let var = var_named(name).ok_or_else(|| TemplateError::UnknownPlaceholder {
                template: template.to_owned(),
                name: name.to_owned(),
                known: PLACEHOLDERS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
            parts.push(Part::Var(var));
            rest = &rest[close + 1..];
        }
        Ok(ImageTemplate {
            source: template.to_owned(),
            parts,
        })
    }
}

impl fmt::Display for ImageTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl ImageTemplate {
    /// Whether the template refers to `{image}`, the source's own image name.
    pub fn uses_source_image(&self) -> bool {
        self.parts.contains(&Part::Var(Var::Image))
    }

    /// Fills the template in for `task`; `source_image` is what `{image}` stands for.
    pub fn render(&self, task: &Task, source_image: &str) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Var(var) => out.push_str(&value_of(*var, task, source_image)),
            }
        }
        out
    }
}

fn value_of(var: Var, task: &Task, source_image: &str) -> String {
    match var {
        Var::TaskId => task.task_id.clone(),
        Var::SwebenchId => swebench_id(&task.task_id),
        Var::Repo => task.repo.clone(),
        Var::RepoName => task
            .repo
            .rsplit_once('/')
            .map_or(task.repo.as_str(), |(_, name)| name)
            .to_owned(),
        Var::Commit => match (task.source, task.task_id.rsplit_once('@')) {
            (SourceFormat::R2eGym, Some((_, commit))) => commit.to_owned(),
            _ => task.base_commit.clone(),
        },
        Var::BaseCommit => task.base_commit.clone(),
        Var::Image => source_image.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_table_matches_parser() {
        for (name, _) in PLACEHOLDERS {
            assert!(var_named(name).is_some(), "{name}");
        }
    }

    #[test]
    fn parse_errors_name_the_problem() {
        let err = "a/{nope}".parse::<ImageTemplate>().unwrap_err();
        assert!(
            err.to_string().contains("unknown placeholder {nope}"),
            "{err}"
        );
        let err = "a/{repo".parse::<ImageTemplate>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "image template \"a/{repo\": unclosed '{' at byte 2"
        );
        let err = "a}".parse::<ImageTemplate>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "image template \"a}\": stray '}' at byte 1"
        );
        assert_eq!("  ".parse::<ImageTemplate>(), Err(TemplateError::Empty));
    }
}
