//! Agent configurations: the system and instance prompts, the action format,
//! and where they came from — r2e's own templates (`prompts/*.j2`, Jinja
//! syntax) or an R2E-Gym agent-config YAML file (Python `str.format`
//! placeholders), so that a model runs with exactly the prompts it was
//! trained with.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How the model calls tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionFormat {
    /// Native function calling: the tools' JSON schemas go with each request
    /// and the model answers with tool calls.
    Native,
    /// `<function=NAME><parameter=KEY>value</parameter></function>` text in
    /// the reply, for models trained that way (R2E-Gym's non-function-calling
    /// agents); the tool docs are part of the system prompt.
    Xml,
}

impl ActionFormat {
    /// `native` or `xml`, as trajectories record it.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionFormat::Native => "native",
            ActionFormat::Xml => "xml",
        }
    }
}

impl std::str::FromStr for ActionFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "native" | "fn" | "function" => Ok(ActionFormat::Native),
            "xml" | "text" => Ok(ActionFormat::Xml),
            other => Err(format!(
                "unknown action format `{other}`: use `native` (function calling) or `xml` (<function=…> text)"
            )),
        }
    }
}

/// The placeholder syntax of a prompt template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// Jinja (`{{ name }}`, `{% if %}`), r2e's own templates.
    Jinja,
    /// Python `str.format` (`{name}`, `{{` for a brace), R2E-Gym's YAML files.
    PyFormat,
    /// Used as written (R2E-Gym's system prompts are not formatted).
    Verbatim,
}

/// A prompt template.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    /// The template text.
    pub text: String,
    /// Its placeholder syntax.
    pub syntax: Syntax,
}

/// The values prompts can use.
#[derive(Debug, Clone, Default)]
pub struct PromptVars {
    /// The issue text.
    pub problem_statement: String,
    /// The repository inside the sandbox (`/testbed`).
    pub working_dir: String,
    /// The task's test patch (R2E-Gym's `{gt_patch}`).
    pub test_patch: String,
    /// The file the testing agent writes, relative to `working_dir`.
    pub test_file: String,
}

/// What can go wrong with an agent configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        error: std::io::Error,
    },
    /// The file is not an R2E-Gym agent config.
    #[error("{}: not an R2E-Gym agent config (expected YAML with system_prompt and instance_prompt): {error}", path.display())]
    Yaml {
        /// The file.
        path: PathBuf,
        /// The cause.
        error: serde_yaml::Error,
    },
    /// A template uses a placeholder r2e does not fill, or is malformed.
    #[error("{what}: {message}")]
    Template {
        /// Which prompt.
        what: String,
        /// What is wrong.
        message: String,
    },
}

/// An agent's prompts and action format.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    /// The name trajectories record (`edit`, `testing`, or the YAML file's stem).
    pub name: String,
    /// The system prompt.
    pub system: Prompt,
    /// The first user message.
    pub instance: Prompt,
    /// How the model calls tools.
    pub action_format: ActionFormat,
}

/// The fields of an R2E-Gym agent-config file that r2e uses.
#[derive(Deserialize)]
struct R2eGymYaml {
    system_prompt: String,
    instance_prompt: String,
    #[serde(default)]
    llm_name: Option<String>,
}

impl AgentConfig {
    /// r2e's edit agent: resolve the issue by changing the repository.
    pub fn edit(action_format: ActionFormat) -> Self {
        Self::builtin(
            "edit",
            include_str!("../prompts/edit_system.j2"),
            include_str!("../prompts/edit_instance.j2"),
            action_format,
        )
    }

    /// r2e's testing agent: write tests that reproduce the issue (the
    /// execution-based verifier's test writer).
    pub fn testing(action_format: ActionFormat) -> Self {
        Self::builtin(
            "testing",
            include_str!("../prompts/testing_system.j2"),
            include_str!("../prompts/testing_instance.j2"),
            action_format,
        )
    }

    fn builtin(name: &str, system: &str, instance: &str, action_format: ActionFormat) -> Self {
        AgentConfig {
            name: name.into(),
            system: Prompt {
                text: system.into(),
                syntax: Syntax::Jinja,
            },
            instance: Prompt {
                text: instance.into(),
                syntax: Syntax::Jinja,
            },
            action_format,
        }
    }

    /// Loads an R2E-Gym agent-config YAML file (`edit_fn_calling.yaml`,
    /// `edit_non_fn_calling.yaml`, …). The action format follows the file:
    /// XML when the system prompt documents `<function=…>` calls, native
    /// otherwise. Returns the config and the file's `llm_name`, if any.
    pub fn from_r2e_gym_yaml(path: &Path) -> Result<(Self, Option<String>), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        let raw: R2eGymYaml = serde_yaml::from_str(&text).map_err(|error| ConfigError::Yaml {
            path: path.to_path_buf(),
            error,
        })?;
        let action_format = if raw.system_prompt.contains("<function=") {
            ActionFormat::Xml
        } else {
            ActionFormat::Native
        };
        let config = AgentConfig {
            name: path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "r2e-gym".into()),
            system: Prompt {
                text: raw.system_prompt,
                syntax: Syntax::Verbatim,
            },
            instance: Prompt {
                text: raw.instance_prompt,
                syntax: Syntax::PyFormat,
            },
            action_format,
        };
        // Fail now, not at the first task, on placeholders r2e cannot fill.
        config
            .render_instance(&PromptVars::default())
            .map_err(|e| match e {
                ConfigError::Template { message, .. } => ConfigError::Template {
                    what: format!("{}: instance_prompt", path.display()),
                    message,
                },
                other => other,
            })?;
        Ok((config, raw.llm_name))
    }

    /// The system prompt for a task.
    pub fn render_system(&self, vars: &PromptVars) -> Result<String, ConfigError> {
        self.render(&self.system, "system prompt", vars)
    }

    /// The instance prompt (first user message) for a task.
    pub fn render_instance(&self, vars: &PromptVars) -> Result<String, ConfigError> {
        self.render(&self.instance, "instance prompt", vars)
    }

    fn render(
        &self,
        prompt: &Prompt,
        what: &str,
        vars: &PromptVars,
    ) -> Result<String, ConfigError> {
        let err = |message: String| ConfigError::Template {
            what: format!("{} {what}", self.name),
            message,
        };
        match prompt.syntax {
            Syntax::Verbatim => Ok(prompt.text.clone()),
            Syntax::Jinja => {
                let mut env = minijinja::Environment::new();
                env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
                env.set_keep_trailing_newline(true);
                let ctx = minijinja::context! {
                    problem_statement => vars.problem_statement,
                    working_dir => vars.working_dir,
                    test_patch => vars.test_patch,
                    test_file => vars.test_file,
                    action_format => self.action_format.as_str(),
                    tool_docs => r2e_tools::xml_docs(),
                };
                env.render_str(&prompt.text, ctx)
                    .map(|s| s.trim_end().to_string())
                    .map_err(|e| err(e.to_string()))
            }
            Syntax::PyFormat => {
                let mut values = BTreeMap::new();
                values.insert("problem_statement", vars.problem_statement.as_str());
                values.insert("working_dir", vars.working_dir.as_str());
                values.insert("gt_patch", vars.test_patch.as_str());
                values.insert("test_patch_hint", "");
                values.insert("candidate_patch", "");
                values.insert("candidate_patch_correctness", "incorrect");
                py_format(&prompt.text, &values).map_err(err)
            }
        }
    }
}

/// Python's `str.format` with named fields only: `{name}` (a format spec or
/// conversion after the name is ignored), `{{` and `}}` for braces.
fn py_format(template: &str, values: &BTreeMap<&str, &str>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' if chars.peek().map(|p| p.1) == Some('{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek().map(|p| p.1) == Some('}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let rest = &template[i + 1..];
                let Some(end) = rest.find('}') else {
                    return Err(format!(
                        "a `{{` at byte {i} is never closed (write `{{{{` for a brace)"
                    ));
                };
                let field = &rest[..end];
                let name = field.split([':', '!']).next().unwrap_or("").trim();
                let Some(value) = values.get(name) else {
                    return Err(format!(
                        "placeholder `{{{field}}}` is not one r2e fills (known: {})",
                        values.keys().copied().collect::<Vec<_>>().join(", ")
                    ));
                };
                out.push_str(value);
                for _ in 0..field.chars().count() + 1 {
                    chars.next();
                }
            }
            '}' => {
                return Err(format!(
                    "a single `}}` at byte {i} (write `}}}}` for a brace)"
                ));
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_format_fills_names_and_unescapes_braces() {
        let mut v = BTreeMap::new();
        v.insert("problem_statement", "boom {x}");
        assert_eq!(
            py_format("a {{b}} <{problem_statement}> {problem_statement!s}", &v).unwrap(),
            "a {b} <boom {x}> boom {x}"
        );
        assert!(py_format("{nope}", &v).unwrap_err().contains("nope"));
        assert!(py_format("x } y", &v).is_err());
        assert!(py_format("x { y", &v).is_err());
    }

    #[test]
    fn builtin_prompts_render_in_both_formats() {
        let vars = PromptVars {
            problem_statement: "it breaks".into(),
            working_dir: "/testbed".into(),
            ..PromptVars::default()
        };
        let xml = AgentConfig::edit(ActionFormat::Xml);
        let system = xml.render_system(&vars).unwrap();
        assert!(system.contains("<function=FUNCTION_NAME>"), "{system}");
        assert!(system.contains("file_editor"));
        let native = AgentConfig::edit(ActionFormat::Native);
        assert!(!native.render_system(&vars).unwrap().contains("<function="));
        let instance = native.render_instance(&vars).unwrap();
        assert!(
            instance.contains("<issue>\nit breaks\n</issue>"),
            "{instance}"
        );
    }
}
