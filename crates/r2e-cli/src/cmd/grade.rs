//! `r2e grade`: grade one test log against one dataset row and print the report.
//!
//! For SWE-bench rows the output is the harness's `report.json`, byte for byte
//! (`{instance_id: {patch_is_None, patch_exists, patch_successfully_applied,
//! resolved, tests_status}}`); for R2E-Gym rows it is the reward and the
//! comparison with `expected_output_json` in the same style.

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use r2e_core::row::{ConvertOptions, task_from_value};
use r2e_grade::{
    GradeOptions, Graded, Parser, Rules, grade::plan, grade_task, json::to_python_json,
};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Arguments of `r2e grade`.
#[derive(Debug, Args)]
pub struct GradeArgs {
    /// The dataset row (one JSON object: SWE-bench, SWE-Gym, SWE-smith, R2E-Gym or r2e task).
    #[arg(long, value_name = "ROW.json")]
    task: PathBuf,
    /// The test log (SWE-bench's test_output.txt, or the test run's output); `-` reads stdin.
    #[arg(long, value_name = "FILE")]
    log: PathBuf,
    /// Log parser instead of the task's (pytest, pytest_options, pytest_v2, matplotlib,
    /// seaborn, sympy, django, r2e_gym, or a SWE-bench name such as parse_log_django).
    #[arg(long, value_name = "NAME")]
    parser: Option<String>,
    /// SWE-bench rule generation: v4 (swebench 4.x, the rules of most published reports),
    /// v5 (swebench 5.x), or auto (v5 for rows carrying log_parser/eval_type/eval_script).
    #[arg(long, value_enum, default_value_t = RulesArg::Auto)]
    rules: RulesArg,
    /// Reparse the whole log when nothing is found between the test-output markers
    /// (swebench 4.0.5 and 4.1.0 did; always on with v5 rules).
    #[arg(long)]
    whole_log_fallback: bool,
    /// The prediction's model_patch was None: report patch_is_None without grading the log.
    #[arg(long)]
    patch_is_none: bool,
    /// Also write the per-test statuses the parser found (JSON object, in log order).
    #[arg(long, value_name = "FILE")]
    status_map: Option<PathBuf>,
    /// Exit with 1 when the task is not resolved (0 when it is; 2 on errors).
    #[arg(long)]
    exit_code: bool,
}

/// `--rules` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RulesArg {
    /// Follow the row's shape.
    Auto,
    /// swebench 4.x.
    V4,
    /// swebench 5.x.
    V5,
}

/// Runs `r2e grade`.
pub fn run(a: GradeArgs) -> anyhow::Result<ExitCode> {
    let task = read_task(&a.task)?;
    let log = read_log(&a.log)?;
    let opts = GradeOptions {
        parser: a.parser.as_deref().map(str::parse::<Parser>).transpose()?,
        rules: match a.rules {
            RulesArg::Auto => None,
            RulesArg::V4 => Some(Rules::V4),
            RulesArg::V5 => Some(Rules::V5),
        },
        whole_log_fallback: a.whole_log_fallback,
        patch_is_none: a.patch_is_none,
    };
    let (parser, rules) =
        plan(&task, &opts).with_context(|| format!("grading task {}", task.task_id))?;
    let graded =
        grade_task(&task, &log, &opts).with_context(|| format!("grading task {}", task.task_id))?;
    println!("{}", graded.to_json());
    if let Some(path) = &a.status_map {
        std::fs::write(path, to_python_json(graded.statuses()) + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let how = match graded {
        Graded::SweBench(_) => format!("parser {parser}, rules {rules}"),
        Graded::R2eGym(_) => format!("parser {parser}"),
    };
    eprintln!("{}: {} ({how})", task.task_id, summary(&graded));
    Ok(match (a.exit_code, graded.resolved()) {
        (true, false) => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    })
}

/// One line for people: the verdict and the counts behind it.
fn summary(graded: &Graded) -> String {
    match graded {
        Graded::SweBench(g) => {
            let entry = &g.report.entry;
            match (&g.resolution, &entry.tests_status) {
                (Some(res), Some(t)) => {
                    let count = |o: &r2e_grade::swebench::Outcome| {
                        format!("{}/{}", o.success.len(), o.success.len() + o.failure.len())
                    };
                    format!(
                        "{} — FAIL_TO_PASS {}, PASS_TO_PASS {}, {} tests parsed",
                        res.as_str(),
                        count(&t.fail_to_pass),
                        count(&t.pass_to_pass),
                        g.statuses.len()
                    )
                }
                _ if entry.patch_is_none => "not graded (model_patch is None)".to_owned(),
                _ => {
                    "not graded: the log failed the harness's checks (markers missing, patch apply \
                      failed, tests errored or timed out)"
                        .to_owned()
                }
            }
        }
        Graded::R2eGym(g) => {
            let c = &g.comparison;
            format!(
                "reward {} — {} matched, {} mismatched, {} missing, {} unexpected",
                g.reward(),
                c.matched.len(),
                c.mismatched.len(),
                c.missing.len(),
                c.unexpected.len()
            )
        }
    }
}

fn read_task(path: &Path) -> anyhow::Result<r2e_core::Task> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut rows = serde_json::Deserializer::from_str(&text).into_iter::<serde_json::Value>();
    let row = match rows.next() {
        Some(row) => row.with_context(|| format!("{} is not valid JSON", path.display()))?,
        None => bail!(
            "{} is empty; expected one dataset row (a JSON object)",
            path.display()
        ),
    };
    if rows.next().is_some() {
        bail!(
            "{} holds more than one row; `r2e grade` grades one row (extract it first, e.g. with `sed -n 5p`)",
            path.display()
        );
    }
    task_from_value(&row, &ConvertOptions::default())
        .with_context(|| format!("reading the row in {}", path.display()))
}

fn read_log(path: &Path) -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("reading the log from stdin")?;
    } else {
        bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    }
    Ok(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}
