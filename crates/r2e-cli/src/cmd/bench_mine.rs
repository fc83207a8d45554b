//! `r2e bench mine`: commits per second of SWE-Gen stages 1+2 (mine + filter)
//! on a synthetic Python repository with thousands of commits, against
//! R2E-Gym's approach measured in the same run on the same repository: per
//! commit, `git diff` and two `git log` subprocesses, `git show` of the old and
//! new version of every changed file, and Python's `ast` on both versions of
//! each `.py` file (a small script written here, run with the same number of
//! worker processes).

use anyhow::{Context, bail};
use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use r2e_gen::filter::{FilterConfig, filter_jsonl};
use r2e_gen::mine::{MineOptions, mine_to_jsonl};
use std::io::Write;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

/// Arguments of `r2e bench mine`.
#[derive(Debug, Args)]
pub struct BenchMineArgs {
    /// Commits in the synthetic history.
    #[arg(long, default_value_t = 3000)]
    commits: usize,
    /// Python modules in the synthetic package (each with a test module).
    #[arg(long, default_value_t = 12)]
    modules: usize,
    /// Commits the R2E-Gym-style baseline processes (the newest ones); its rate
    /// is per commit, so a sample keeps the run short.
    #[arg(long, default_value_t = 400)]
    baseline_commits: usize,
    /// Worker threads for r2e and worker processes for the baseline (0: one per core).
    #[arg(long, default_value_t = 0)]
    workers: usize,
    /// Speed-up over the baseline to meet.
    #[arg(long, default_value_t = 50.0)]
    target: f64,
    /// Exit with 1 when the target is missed.
    #[arg(long)]
    enforce: bool,
    /// Build the repository here (kept) instead of a temporary directory.
    #[arg(long)]
    keep: Option<std::path::PathBuf>,
}

/// Runs `r2e bench mine`.
pub fn run(a: BenchMineArgs) -> anyhow::Result<ExitCode> {
    let workers = match a.workers {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        n => n,
    };
    let tmp = ScratchDir::new()?;
    let repo = match &a.keep {
        Some(p) => p.clone(),
        None => tmp.path().join("repo"),
    };
    println!(
        "r2e bench mine — synthetic repository: {} commits, {} modules, {workers} worker(s)",
        a.commits, a.modules
    );
    let t = Instant::now();
    build_repo(&repo, a.commits, a.modules)?;
    println!(
        "  built {} in {:.1}s",
        repo.display(),
        t.elapsed().as_secs_f64()
    );

    // r2e: stage 1 + 2 over the whole history.
    let commits_out = tmp.path().join("commits.jsonl");
    let candidates_out = tmp.path().join("candidates.jsonl");
    let opts = MineOptions {
        workers,
        ..Default::default()
    };
    let t = Instant::now();
    let summary = mine_to_jsonl(&repo, &commits_out, &opts, &mut |_| {})?;
    let mine_secs = t.elapsed().as_secs_f64();
    let funnel = filter_jsonl(
        &commits_out,
        &candidates_out,
        None,
        &FilterConfig::default(),
    )?;
    let r2e_secs = t.elapsed().as_secs_f64();
    let r2e_rate = summary.mined as f64 / r2e_secs;

    // Baseline: R2E-Gym's subprocess-per-commit approach on the newest commits.
    let script = tmp.path().join("r2egym_style.py");
    std::fs::write(&script, BASELINE_PY)?;
    let out = Command::new("python3")
        .arg(&script)
        .arg(&repo)
        .arg(a.baseline_commits.to_string())
        .arg(workers.to_string())
        .output()
        .context("running python3 (needed for the baseline)")?;
    if !out.status.success() {
        bail!(
            "baseline script failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("baseline output: {}", String::from_utf8_lossy(&out.stdout)))?;
    let base_n = report["commits"].as_f64().unwrap_or(0.0);
    let base_secs = report["seconds"].as_f64().unwrap_or(f64::NAN);
    let base_rate = base_n / base_secs;
    let ratio = r2e_rate / base_rate;

    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "approach",
        "commits",
        "seconds",
        "commits/s",
    ]);
    t.add_row(vec![
        "r2e gen mine + filter (gix, tree-sitter, in process)".to_string(),
        summary.mined.to_string(),
        format!("{r2e_secs:.2} (mine {mine_secs:.2})"),
        format!("{r2e_rate:.0}"),
    ]);
    t.add_row(vec![
        "R2E-Gym style (git subprocesses + Python ast)".to_string(),
        format!("{base_n:.0}"),
        format!("{base_secs:.2}"),
        format!("{base_rate:.1}"),
    ]);
    println!("{t}");
    println!(
        "  funnel: {} mined → {} candidates; baseline parsed {} Python file versions",
        funnel.input, funnel.kept, report["py_files"]
    );
    let met = ratio >= a.target;
    println!(
        "  speed-up: {ratio:.0}x (target ≥ {:.0}x) {}",
        a.target,
        if met { "met" } else { "MISSED" }
    );
    Ok(if met || !a.enforce {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A directory under the system's temp dir, removed on drop.
struct ScratchDir(std::path::PathBuf);

impl ScratchDir {
    fn new() -> anyhow::Result<Self> {
        let p = std::env::temp_dir().join(format!("r2e-bench-mine-{}", std::process::id()));
        std::fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
        Ok(Self(p))
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

struct Func {
    name: String,
    body: Vec<String>,
}

struct Module {
    funcs: Vec<Func>,
    classes: Vec<(String, Vec<Func>)>,
    tests: Vec<Func>,
}

fn func(rng: &mut Rng, name: String, indent: &str) -> Func {
    let n = 4 + rng.below(8);
    let mut body = vec![format!(
        "{indent}    \"\"\"Compute {name} of the inputs.\"\"\""
    )];
    body.push(format!("{indent}    total = 0"));
    for i in 0..n {
        body.push(match rng.below(4) {
            0 => format!("{indent}    total += x * {} + y", rng.below(100)),
            1 => format!(
                "{indent}    if total > {}:\n{indent}        total -= {}",
                rng.below(1000),
                i + 1
            ),
            2 => format!(
                "{indent}    values = [v * {i} for v in range(y)]\n{indent}    total += sum(values)"
            ),
            _ => format!("{indent}    total = max(total, x - {})", rng.below(50)),
        });
    }
    body.push(format!("{indent}    return total"));
    Func { name, body }
}

impl Module {
    fn new(rng: &mut Rng, m: usize) -> Self {
        let funcs = (0..30)
            .map(|i| func(rng, format!("f{m}_{i}"), ""))
            .collect();
        let classes = (0..3)
            .map(|c| {
                let methods = (0..6)
                    .map(|i| func(rng, format!("m{c}_{i}"), "    "))
                    .collect();
                (format!("Model{m}x{c}"), methods)
            })
            .collect();
        let tests = (0..15)
            .map(|i| Func {
                name: format!("test_f{m}_{i}"),
                body: vec![format!("    assert f{m}_{i}(1, 2) is not None")],
            })
            .collect();
        Module {
            funcs,
            classes,
            tests,
        }
    }

    fn source(&self, m: usize) -> String {
        let mut s = format!(
            "\"\"\"Module {m} of the synthetic package.\"\"\"\n\nimport math\n\nSCALE = {m}\n"
        );
        for f in &self.funcs {
            s.push_str(&format!(
                "\n\ndef {}(x, y):\n{}\n",
                f.name,
                f.body.join("\n")
            ));
        }
        for (name, methods) in &self.classes {
            s.push_str(&format!("\n\nclass {name}:\n    \"\"\"A model.\"\"\"\n"));
            for f in methods {
                s.push_str(&format!(
                    "\n    def {}(self, x, y):\n{}\n",
                    f.name,
                    f.body.join("\n")
                ));
            }
        }
        s
    }

    fn test_source(&self, m: usize) -> String {
        let mut s = format!("import pytest\n\nfrom pkg.mod{m} import *\n");
        for t in &self.tests {
            s.push_str(&format!("\n\ndef {}():\n{}\n", t.name, t.body.join("\n")));
        }
        s
    }
}

/// Builds a Python repository with `commits` commits using `git fast-import`.
fn build_repo(dir: &Path, commits: usize, modules: usize) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let git = |args: &[&str]| -> anyhow::Result<()> {
        let st = Command::new("git").current_dir(dir).args(args).status()?;
        if !st.success() {
            bail!("git {args:?} failed");
        }
        Ok(())
    };
    git(&["init", "-q", "-b", "main"])?;
    let mut child = Command::new("git")
        .current_dir(dir)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .context("starting git fast-import")?;
    let mut stdin = std::io::BufWriter::new(child.stdin.take().context("fast-import stdin")?);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut mods: Vec<Module> = (0..modules).map(|m| Module::new(&mut rng, m)).collect();
    let mut readme = String::from("# pkg\n\nA synthetic package.\n");
    let mut next_id = 1000;
    for c in 0..commits {
        let mut changed: Vec<(String, String)> = Vec::new();
        let msg;
        let touch_src = |mods: &mut Vec<Module>, m: usize, changed: &mut Vec<(String, String)>| {
            changed.push((format!("pkg/mod{m}.py"), mods[m].source(m)));
        };
        let m = rng.below(modules);
        if c == 0 {
            for (i, md) in mods.iter().enumerate() {
                changed.push((format!("pkg/mod{i}.py"), md.source(i)));
                changed.push((format!("tests/test_mod{i}.py"), md.test_source(i)));
            }
            changed.push(("pkg/__init__.py".into(), String::new()));
            changed.push(("README.md".into(), readme.clone()));
            msg = "Initial commit".to_string();
        } else {
            let kind = rng.below(100);
            if kind < 55 {
                // Bug fix in one function or method, often with a test.
                let md = &mut mods[m];
                let (target, name) = if rng.below(3) == 0 {
                    let c = rng.below(md.classes.len());
                    let i = rng.below(md.classes[c].1.len());
                    (&mut md.classes[c].1[i], None)
                } else {
                    let i = rng.below(md.funcs.len());
                    let n = md.funcs[i].name.clone();
                    (&mut md.funcs[i], Some(n))
                };
                let line = 2 + rng.below(target.body.len() - 2);
                let indent = if name.is_some() { "" } else { "    " };
                target.body.insert(
                    line,
                    format!("{indent}    total += {}  # fix", rng.below(9) + 1),
                );
                if rng.below(3) == 0 {
                    target.body.remove(line + 1);
                }
                if let Some(n) = name.filter(|_| rng.below(5) < 3) {
                    next_id += 1;
                    md.tests.push(Func {
                        name: format!("test_{n}_case{next_id}"),
                        body: vec![format!("    assert {n}({}, 3) >= 0", rng.below(10))],
                    });
                    changed.push((format!("tests/test_mod{m}.py"), md.test_source(m)));
                }
                touch_src(&mut mods, m, &mut changed);
                msg = format!("Fix computation in module {m}");
            } else if kind < 65 {
                next_id += 1;
                let f = func(&mut rng, format!("feature{next_id}"), "");
                let md = &mut mods[m];
                md.tests.push(Func {
                    name: format!("test_feature{next_id}"),
                    body: vec![format!("    assert feature{next_id}(1, 1) is not None")],
                });
                md.funcs.push(f);
                changed.push((format!("tests/test_mod{m}.py"), md.test_source(m)));
                touch_src(&mut mods, m, &mut changed);
                msg = format!("Add feature{next_id}");
            } else if kind < 72 {
                readme.push_str(&format!(
                    "\nChange {c}: documented behaviour of module {m}.\n"
                ));
                changed.push(("README.md".into(), readme.clone()));
                msg = "Docs".to_string();
            } else if kind < 80 {
                let md = &mut mods[m];
                let i = rng.below(md.funcs.len());
                md.funcs[i]
                    .body
                    .insert(1, format!("    # note {c}: see the docs"));
                touch_src(&mut mods, m, &mut changed);
                msg = "Comment".to_string();
            } else if kind < 88 {
                for k in 0..6.min(modules) {
                    let mm = (m + k) % modules;
                    let i = rng.below(mods[mm].funcs.len());
                    mods[mm].funcs[i]
                        .body
                        .push(format!("    total = int(total)  # r{c}"));
                    let last = mods[mm].funcs[i].body.len() - 1;
                    mods[mm].funcs[i].body.swap(last, last - 1);
                    touch_src(&mut mods, mm, &mut changed);
                }
                msg = "Refactor: normalise totals".to_string();
            } else {
                for mm in [m, (m + 1) % modules] {
                    let i = rng.below(mods[mm].funcs.len());
                    mods[mm].funcs[i]
                        .body
                        .insert(2, format!("    y = abs(y)  # {c}"));
                    touch_src(&mut mods, mm, &mut changed);
                }
                msg = "Fix negative inputs".to_string();
            }
        }
        changed.sort();
        changed.dedup_by(|a, b| a.0 == b.0);
        let ts = 1_600_000_000 + c as u64 * 3600;
        write!(
            stdin,
            "commit refs/heads/main\nauthor Bench <bench@example.com> {ts} +0000\ncommitter Bench <bench@example.com> {ts} +0000\ndata {}\n{msg}\n",
            msg.len()
        )?;
        for (path, content) in &changed {
            write!(
                stdin,
                "M 100644 inline {path}\ndata {}\n{content}\n",
                content.len()
            )?;
        }
        stdin.write_all(b"\n")?;
    }
    stdin.flush()?;
    drop(stdin);
    if !child.wait()?.success() {
        bail!("git fast-import failed");
    }
    Ok(())
}

/// R2E-Gym's approach (store_repo_commits.py + CommitParser + CommitAnalyzer),
/// reduced to its costs: subprocesses per commit and per file, `ast` on both
/// sides of each Python file, docstring-stripped comparison of entities.
const BASELINE_PY: &str = r#"
import ast, json, subprocess, sys, time
from multiprocessing import Pool

REPO = sys.argv[1]

def git(*args):
    return subprocess.run(["git", "--no-pager", *args], cwd=REPO, capture_output=True).stdout.decode("utf-8", "replace")

def entities(src):
    tree = ast.parse(src)
    out = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out[node.name] = (node, ast.get_source_segment(src, node))
            if isinstance(node, ast.ClassDef):
                for ch in node.body:
                    if isinstance(ch, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        out[node.name + "." + ch.name] = (ch, ast.get_source_segment(src, ch))
    return out

def strip(node):
    body = getattr(node, "body", None)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
        node.body = body[1:] or [ast.Pass()]
    return ast.unparse(node)

def process(commit):
    diff = git("diff", "-p", commit + "^", commit)
    git("log", "-1", "--pretty=%B", commit)
    git("log", "-1", "--pretty=%cd", commit)
    paths = [l.split(" b/", 1)[1] for l in diff.splitlines() if l.startswith("diff --git ")]
    n = 0
    for p in paths:
        old = git("show", commit + "^:" + p)
        new = git("show", commit + ":" + p)
        if p.endswith(".py"):
            try:
                a, b = entities(old), entities(new)
            except SyntaxError:
                continue
            n += 2
            # Only entities whose source changed are unparsed (R2E-Gym unparses
            # the entities its hunks touch).
            for name in a.keys() & b.keys():
                if a[name][1] != b[name][1]:
                    strip(a[name][0]) != strip(b[name][0])
    return n

if __name__ == "__main__":
    limit, workers = int(sys.argv[2]), int(sys.argv[3])
    start = time.perf_counter()
    commits = git("log", "--pretty=format:%H", "-n", str(limit + 1)).split()
    commits = commits[:limit] if len(commits) > limit else commits[:-1]
    with Pool(processes=workers) as pool:
        py_files = sum(pool.imap(process, commits, chunksize=4))
    print(json.dumps({"commits": len(commits), "seconds": time.perf_counter() - start, "py_files": py_files}))
"#;
