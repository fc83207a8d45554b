//! `r2e bench grade`: log-parser throughput on large logs of real shape,
//! measured against merely reading the same bytes (counting lines) in the same run.

use anyhow::bail;
use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use r2e_grade::{Parser, Rules, StatusMap, synth};
use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Arguments of `r2e bench grade`.
#[derive(Debug, Args)]
pub struct BenchGradeArgs {
    /// Size of each generated log, in MB (10^6 bytes).
    #[arg(long, default_value_t = 200)]
    size_mb: usize,
    /// Timed runs per measurement; the fastest one counts.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Parse throughput to meet, in MB/s.
    #[arg(long, default_value_t = 100.0)]
    target_mb_s: f64,
    /// Exit with 1 when a parser misses the target.
    #[arg(long)]
    enforce: bool,
}

/// The fastest of `runs` timings of `f`; the result of the last run is returned
/// and dropped by the caller, outside the timing.
fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..runs.max(1) {
        drop(out.take());
        let t = Instant::now();
        let r = black_box(f());
        best = best.min(t.elapsed());
        out = Some(r);
    }
    (best, out.expect("at least one run"))
}

fn mb_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

/// Runs `r2e bench grade`.
pub fn run(a: BenchGradeArgs) -> anyhow::Result<ExitCode> {
    type Generator = fn(usize) -> synth::SynthLog;
    let cases: [(&str, Parser, Generator); 2] = [
        ("pytest -rA", Parser::Pytest, synth::pytest_log),
        ("django --verbosity 2", Parser::Django, synth::django_log),
    ];
    println!(
        "r2e bench grade — {} MB per log, best of {} runs",
        a.size_mb, a.runs
    );
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "log",
        "size",
        "lines",
        "tests",
        "count lines",
        "parse",
        "parse / count lines",
        "target",
    ]);
    let mut all_met = true;
    for (name, parser, generate) in cases {
        let log = generate(a.size_mb * 1_000_000);
        let bytes = log.text.len();
        let (read_time, lines) =
            best_of(a.runs, || log.text.bytes().filter(|&b| b == b'\n').count());
        let (parse_time, parsed): (_, StatusMap) =
            best_of(a.runs, || parser.parse(&log.text, Rules::V5));
        if parsed != log.expected {
            bail!(
                "{name}: the {parser} parser found {} tests where the generated log has {}",
                parsed.len(),
                log.expected.len()
            );
        }
        let (read, parse) = (mb_s(bytes, read_time), mb_s(bytes, parse_time));
        let met = parse >= a.target_mb_s;
        all_met &= met;
        t.add_row(vec![
            format!("{name} ({parser})"),
            format!("{:.0} MB", bytes as f64 / 1e6),
            lines.to_string(),
            parsed.len().to_string(),
            format!("{read:.0} MB/s"),
            format!("{parse:.0} MB/s"),
            format!("{:.2}", parse / read),
            format!(
                "≥ {:.0} MB/s: {}",
                a.target_mb_s,
                if met { "met" } else { "MISSED" }
            ),
        ]);
    }
    println!("{t}");
    Ok(if a.enforce && !all_met {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
