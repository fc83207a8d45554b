//! Byte-for-byte conformance with R2E-Gym's tool scripts.
//!
//! `conformance/cases.json` lists tool calls against the files of
//! `conformance/corpus.json`; `conformance/expected/` holds what R2E-Gym's
//! scripts answered (written by `conformance/generate.py`, which is not needed
//! here). Each case gets a fresh copy of the corpus under
//! `/tmp/r2e-conformance-XXXXXXXX/testbed` — the same length as the
//! generator's root, so clipping happens at the same characters — and every
//! observation must equal the stored one once `{ROOT}` is put back.
//!
//! Where a case says so, both sides are normalised before comparing:
//! - `sort_lines`: directory listings and per-file search results come in
//!   `readdir` order, a property of the file system (the order itself is
//!   checked against `find` below);
//! - `mask_digits`: a clipped listing of names that differ only in digits;
//! - `drop_frames`: traceback frames inside the Python library, which depend
//!   on the Python installation (r2e prints only the exception line).
//!
//! A step with `argv` instead of `args` runs the tool's script with that
//! command line (as `r2e tool NAME …` does) instead of an environment's
//! action, which for `finish` never runs the script; its expected text is
//! the runtime's output.
//!
//! A case marked `known_difference` (with the reason) is run and reported but
//! not required to match.

use r2e_tools::ToolBox;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/conformance");

fn load(name: &str) -> Value {
    let path = format!("{DIR}/{name}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Creates the entries (`text`, `hex`, `dir`, `symlink`) under `root`.
fn lay_out(root: &Path, entries: &[Value]) {
    for e in entries {
        let path = root.join(e["path"].as_str().expect("path"));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        if e.get("dir").is_some() {
            std::fs::create_dir_all(&path).expect("mkdir");
        } else if let Some(target) = e["symlink"].as_str() {
            std::os::unix::fs::symlink(target, &path).expect("symlink");
        } else if let Some(h) = e["hex"].as_str() {
            std::fs::write(&path, hex(h)).expect("write");
        } else {
            std::fs::write(&path, e["text"].as_str().expect("text")).expect("write");
        }
    }
}

/// A fresh copy of the corpus (plus `extra`), in a root as long as the
/// generator's.
fn corpus(extra: &[Value]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("r2e-conformance-")
        .rand_bytes(8)
        .tempdir_in("/tmp")
        .expect("tempdir");
    let root = dir.path().join("testbed");
    std::fs::create_dir(&root).expect("mkdir");
    let corpus = load("corpus.json");
    lay_out(&root, corpus["entries"].as_array().expect("entries"));
    lay_out(&root, extra);
    (dir, root)
}

fn substitute(v: &Value, root: &str) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace("{ROOT}", root)),
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, root)).collect()),
        other => other.clone(),
    }
}

fn normalize(text: &str, modes: &[Value]) -> String {
    let mut text = text.to_string();
    for m in modes {
        text = match m.as_str() {
            Some("sort_lines") => {
                let mut lines: Vec<&str> = text.split('\n').collect();
                lines.sort_unstable();
                lines.join("\n")
            }
            Some("mask_digits") => text
                .chars()
                .map(|c| if c.is_ascii_digit() { 'N' } else { c })
                .collect(),
            Some("drop_frames") => {
                let mut out = Vec::new();
                let mut in_frames = false;
                for line in text.split('\n') {
                    if line == "Traceback (most recent call last):" {
                        in_frames = true;
                    } else if !(in_frames && line.starts_with("  ")) {
                        in_frames = false;
                        out.push(line);
                    }
                }
                out.join("\n")
            }
            other => panic!("unknown normalisation {other:?}"),
        };
    }
    text
}

#[test]
fn observations_match_r2e_gym_byte_for_byte() {
    let cases = load("cases.json");
    let codes = load("expected/exit_codes.json");
    let mut total = 0;
    let mut failures: Vec<String> = Vec::new();
    let mut known = Vec::new();
    for case in cases["cases"].as_array().expect("cases") {
        let name = case["name"].as_str().expect("name");
        let failures_before = failures.len();
        let extra = case["extra"].as_array().cloned().unwrap_or_default();
        let (_dir, root) = corpus(&extra);
        let root_str = root.to_str().expect("utf-8 root").to_string();
        let modes = case["normalize"].as_array().cloned().unwrap_or_default();
        let timeout = case["timeout"]
            .as_u64()
            .unwrap_or(r2e_tools::DEFAULT_TIMEOUT_SECS);
        let mut tools = ToolBox::new(&root).with_timeout_secs(timeout);
        for (k, step) in case["steps"].as_array().expect("steps").iter().enumerate() {
            total += 1;
            let id = format!("{name}.{k}");
            let tool = step["tool"].as_str().expect("tool");
            // An `argv` step runs the script with that command line, as
            // `r2e tool NAME …` does, and is compared on the runtime's
            // output alone.
            let (obs, text) = if let Some(argv) = step["argv"].as_array() {
                let words: Vec<String> = argv
                    .iter()
                    .map(|w| substitute(w, &root_str).as_str().expect("word").to_string())
                    .collect();
                let obs = tools.call_argv(tool, &words);
                let text = obs.output.clone();
                (obs, text)
            } else {
                let args: Map<String, Value> = step["args"]
                    .as_object()
                    .expect("args")
                    .iter()
                    .map(|(key, v)| (key.clone(), substitute(v, &root_str)))
                    .collect();
                let obs = tools.call(tool, &args);
                let text = obs.text();
                (obs, text)
            };
            let expected = std::fs::read_to_string(format!("{DIR}/expected/{id}.txt"))
                .expect("expected output")
                .replace("{ROOT}", &root_str);
            let (want, got) = (normalize(&expected, &modes), normalize(&text, &modes));
            if want != got {
                failures.push(format!(
                    "{id}: observation differs\n--- expected\n{want}\n--- actual\n{got}\n"
                ));
            }
            if codes[&id].as_i64() != Some(i64::from(obs.exit_code)) {
                failures.push(format!(
                    "{id}: exit code {} != expected {}",
                    obs.exit_code, codes[&id]
                ));
            }
        }
        if let Some(files) = case["files"].as_array() {
            let want: BTreeMap<String, String> =
                serde_json::from_value(load(&format!("expected/{name}.files.json")))
                    .expect("files json");
            for f in files {
                let f = f.as_str().expect("file");
                let got = std::fs::read(root.join(f)).unwrap_or_default();
                if got != hex(&want[f]) {
                    failures.push(format!(
                        "{name}: file {f} differs\n--- expected\n{:?}\n--- actual\n{:?}",
                        String::from_utf8_lossy(&hex(&want[f])),
                        String::from_utf8_lossy(&got)
                    ));
                }
            }
        }
        if let Some(reason) = case["known_difference"].as_str() {
            let differs = failures.len() > failures_before;
            failures.truncate(failures_before);
            known.push(format!(
                "{name} ({}): {reason}",
                if differs { "differs" } else { "now identical" }
            ));
        }
    }
    for f in &failures {
        eprintln!("{f}");
    }
    for k in &known {
        eprintln!("known difference: {k}");
    }
    eprintln!(
        "conformance: {} steps, {} failing, {} known differences",
        total,
        failures.len(),
        known.len()
    );
    assert!(
        failures.is_empty(),
        "{} conformance failures",
        failures.len()
    );
}

/// The native directory listing walks in the order GNU `find` does on this
/// file system (the conformance cases compare listings as sorted lines).
#[test]
fn directory_listing_order_matches_find() {
    if std::process::Command::new("find")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: no find");
        return;
    }
    let (_dir, root) = corpus(&[]);
    let mut tools = ToolBox::new(&root);
    for sub in ["pkg", "search", "many", "concise"] {
        let dir = root.join(sub);
        let dir = dir.to_str().expect("utf-8 root");
        let find = std::process::Command::new("find")
            .args([
                dir,
                "-maxdepth",
                "2",
                "-not",
                "-path",
                "*/.*",
                "(",
                "-type",
                "d",
                "-o",
                "-name",
                "*.py",
                ")",
            ])
            .output()
            .expect("find");
        let args = serde_json::json!({"command": "view", "path": dir});
        let obs = tools.call("file_editor", args.as_object().expect("object"));
        let listing = obs
            .output
            .split_once('\n')
            .map(|(_, rest)| rest)
            .unwrap_or_default();
        assert_eq!(
            format!("{}\n", String::from_utf8_lossy(&find.stdout)),
            listing,
            "{sub}"
        );
    }
}
