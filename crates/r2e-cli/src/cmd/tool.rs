//! `r2e tool`: run one of the agent tools on the host, with R2E-Gym's command
//! line (`r2e tool file_editor view --path F --view_range "[1, 20]"`), and
//! print exactly what the tool prints in an R2E-Gym sandbox.
//!
//! The editor's undo history lives in a state file between runs, as R2E-Gym's
//! `/var/tmp/editor_state.json` does: by default
//! `$XDG_STATE_HOME/r2e/editor_state.json` (`~/.local/state/r2e/…`).

use anyhow::Context as _;
use r2e_tools::{History, ToolBox};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `r2e tool`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  r2e tool file_editor view --path src/app.py --view_range \"[1, 20]\"\n  r2e tool search --search_term TODO --path src\n  r2e tool execute_bash --cmd 'ls -la'\n  r2e tool finish submit"
)]
pub struct ToolArgs {
    /// The tool: file_editor, search, execute_bash or finish (submit).
    #[arg(required_unless_present_any = ["schemas", "xml_docs"])]
    pub name: Option<String>,
    /// The tool's own arguments, as R2E-Gym passes them: an optional command
    /// word, then `--name value` pairs.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
    /// Directory that relative paths and commands start from (R2E-Gym: /testbed).
    #[arg(long, default_value = ".")]
    pub cwd: PathBuf,
    /// Time limit of the call in seconds.
    #[arg(long, default_value_t = r2e_tools::DEFAULT_TIMEOUT_SECS, value_parser = super::positive::<u64>)]
    pub timeout: u64,
    /// The editor's undo-history file [default: $XDG_STATE_HOME/r2e/editor_state.json].
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Print the observation message the model sees instead of the tool's output.
    #[arg(long)]
    pub observation: bool,
    /// Print the function-calling schemas (OpenAI `tools` JSON) and exit.
    #[arg(long)]
    pub schemas: bool,
    /// Print the tool descriptions for XML-style calling and exit.
    #[arg(long)]
    pub xml_docs: bool,
}

/// Where the undo history is kept when `--state` is not given.
fn default_state_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(base.join("r2e/editor_state.json"))
}

fn load_history(path: &PathBuf) -> anyhow::Result<History> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).with_context(|| {
            format!(
                "the editor state file {} is not valid; delete it to start afresh",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(History::new()),
        Err(e) => {
            Err(e).with_context(|| format!("cannot read the editor state file {}", path.display()))
        }
    }
}

fn save_history(path: &PathBuf, history: &History) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, serde_json::to_string(history)?)
        .with_context(|| format!("cannot write the editor state file {}", path.display()))
}

/// Runs `r2e tool`; the exit status is the tool's.
pub fn run(a: ToolArgs) -> anyhow::Result<ExitCode> {
    if a.schemas {
        print!("{}", r2e_tools::TOOLS_JSON);
        return Ok(ExitCode::SUCCESS);
    }
    if a.xml_docs {
        print!("{}", r2e_tools::xml_docs());
        return Ok(ExitCode::SUCCESS);
    }
    let name = a.name.unwrap_or_default();
    if !r2e_tools::TOOL_NAMES.contains(&name.as_str()) && name != "submit" {
        anyhow::bail!(
            "unknown tool {name:?}; the tools are {}",
            r2e_tools::TOOL_NAMES.join(", ")
        );
    }
    let cwd = std::fs::canonicalize(&a.cwd)
        .with_context(|| format!("the working directory {} does not exist", a.cwd.display()))?;
    let mut tools = ToolBox::new(cwd).with_timeout_secs(a.timeout);
    let state = a.state.or_else(default_state_file);
    let uses_state = name == "file_editor" && state.is_some();
    if let Some(path) = state.as_ref().filter(|_| uses_state) {
        tools.set_history(load_history(path)?);
    }
    let obs = tools.call_argv(&name, &a.args);
    if let Some(path) = state.as_ref().filter(|_| uses_state) {
        save_history(path, tools.history())?;
    }
    let text = if a.observation {
        obs.text()
    } else {
        obs.output
    };
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::from((obs.exit_code & 0xff) as u8))
}
