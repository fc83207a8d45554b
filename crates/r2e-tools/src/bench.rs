//! Speed of the native tools against R2E-Gym's Python scripts run as a
//! process per call (what an R2E-Gym sandbox does), on a generated corpus:
//! `file_editor view` of 20 lines and a directory `search`.

use crate::ToolBox;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// One operation's timings.
#[derive(Clone, Debug)]
pub struct BenchRow {
    /// What was timed.
    pub name: &'static str,
    /// Median time of one in-process call.
    pub native: Duration,
    /// Median time of one reference script run, if the reference was run.
    pub reference: Option<Duration>,
    /// Whether both printed the same text (when the reference was run).
    pub identical: Option<bool>,
}

/// The timings of [`bench()`].
#[derive(Clone, Debug)]
pub struct BenchReport {
    /// Calls per operation and side.
    pub iterations: usize,
    /// One row per operation.
    pub rows: Vec<BenchRow>,
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "r2e-tools: medians of {} calls", self.iterations)?;
        writeln!(
            f,
            "{:<24} {:>12} {:>14} {:>9}  output",
            "operation", "native", "python script", "speed-up"
        )?;
        for r in &self.rows {
            let (reference, ratio, same) = match (r.reference, r.identical) {
                (Some(t), Some(same)) => (
                    format!("{:.2?}", t),
                    format!("{:.0}x", t.as_secs_f64() / r.native.as_secs_f64().max(1e-9)),
                    if same { "identical" } else { "DIFFERS" },
                ),
                _ => ("-".into(), "-".into(), "-"),
            };
            writeln!(
                f,
                "{:<24} {:>12} {:>14} {:>9}  {same}",
                r.name,
                format!("{:.2?}", r.native),
                reference,
                ratio
            )?;
        }
        Ok(())
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

/// A Python module of about 600 lines and a package of 200 modules.
fn make_corpus(root: &Path) -> std::io::Result<()> {
    let mut module = String::new();
    for i in 0..60 {
        module.push_str(&format!(
            "\n\nclass Model{i}(Base):\n    \"\"\"Model {i}.\"\"\"\n\n    def method(self, x, y=None):\n        if x is None:\n            return y\n        total = x + {i}\n        return total * 2\n"
        ));
    }
    std::fs::write(root.join("module.py"), &module)?;
    for d in 0..10 {
        let dir = root.join(format!("pkg/sub{d}"));
        std::fs::create_dir_all(&dir)?;
        for f in 0..20 {
            let body = if f % 7 == 0 {
                module.replace("total", "needle")
            } else {
                module.clone()
            };
            std::fs::write(dir.join(format!("mod{f}.py")), body)?;
        }
    }
    Ok(())
}

/// Copies the reference scripts into `bin` with their state file moved there.
fn install_reference(reference: &Path, bin: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(bin)?;
    for tool in ["file_editor", "search"] {
        let src = std::fs::read_to_string(reference.join(format!("{tool}.py")))?;
        let state = bin.join("editor_state.json");
        let src = src.replace("/var/tmp/editor_state.json", &state.to_string_lossy());
        std::fs::write(bin.join(tool), src)?;
    }
    Ok(())
}

/// Times each operation `iterations` times in-process and, when `reference`
/// (a directory with R2E-Gym's `file_editor.py` and `search.py`) is given,
/// as `python <script> …` processes too, checking both print the same text.
pub fn bench(
    reference: Option<&Path>,
    python: &str,
    iterations: usize,
) -> std::io::Result<BenchReport> {
    let dir = std::env::temp_dir().join(format!("r2e-tools-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let root = dir.join("testbed");
    std::fs::create_dir_all(&root)?;
    make_corpus(&root)?;
    let bin = dir.join("bin");
    if let Some(r) = reference {
        install_reference(r, &bin)?;
    }
    let module = root.join("module.py").to_string_lossy().into_owned();
    let pkg = root.join("pkg").to_string_lossy().into_owned();
    let ops: [(&'static str, &str, Value); 2] = [
        (
            "file_editor view 20 lines",
            "file_editor",
            json!({"command": "view", "path": module, "view_range": [1, 20]}),
        ),
        (
            "search in 200 files",
            "search",
            json!({"search_term": "needle", "path": pkg}),
        ),
    ];
    let mut tools = ToolBox::new(&root);
    let mut rows = Vec::new();
    for (name, tool, args) in ops {
        let args = args.as_object().cloned().unwrap_or_default();
        let mut native = Vec::with_capacity(iterations);
        let mut output = String::new();
        for _ in 0..iterations {
            let t = Instant::now();
            output = tools.call(tool, &args).output;
            native.push(t.elapsed());
        }
        let (reference_time, identical) = match reference {
            Some(_) => {
                let words = crate::argv::command_line(&args);
                let mut samples = Vec::with_capacity(iterations);
                let mut printed = Vec::new();
                for _ in 0..iterations {
                    let t = Instant::now();
                    printed = Command::new(python)
                        .arg(bin.join(tool))
                        .args(&words)
                        .current_dir(&root)
                        .output()?
                        .stdout;
                    samples.push(t.elapsed());
                }
                (Some(median(samples)), Some(printed == output.as_bytes()))
            }
            None => (None, None),
        };
        rows.push(BenchRow {
            name,
            native: median(native),
            reference: reference_time,
            identical,
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(BenchReport { iterations, rows })
}

/// The default location of the reference scripts, if present:
/// `$R2E_GYM_TOOLS`.
pub fn reference_dir() -> Option<PathBuf> {
    std::env::var_os("R2E_GYM_TOOLS")
        .map(PathBuf::from)
        .filter(|p| p.join("file_editor.py").is_file())
}
