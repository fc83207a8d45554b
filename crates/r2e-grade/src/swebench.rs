//! SWE-bench verdicts: the log gate, FAIL_TO_PASS/PASS_TO_PASS classification,
//! the resolution rule and `report.json`.
//!
//! Mirrors `swebench/harness/grading.py` (`get_logs_eval`,
//! `get_eval_tests_report`, `get_resolution_status`, `get_eval_report`) in
//! both rule generations (see [`Rules`]).

use crate::{
    json::to_python_json,
    parse::Parser,
    rules::{EvalType, Rules},
    status::{StatusMap, TestStatus},
};
use memchr::memmem;
use regex::Regex;
use serde::{Serialize, Serializer, ser::SerializeMap};
use std::{borrow::Cow, sync::LazyLock};

/// Marker the eval script prints before running the tests.
pub const START_TEST_OUTPUT: &str = ">>>>> Start Test Output";
/// Marker the eval script prints after the tests.
pub const END_TEST_OUTPUT: &str = ">>>>> End Test Output";
/// Markers whose presence anywhere in the log means "patch not applied".
pub const FAILURE_MARKERS: [&str; 4] = [
    ">>>>> Patch Apply Failed",
    ">>>>> Reset Failed",
    ">>>>> Tests Errored",
    ">>>>> Tests Timed Out",
];
/// Marker of the test command's exit status (5.x eval scripts).
pub const TEST_EXIT_CODE: &str = ">>>>> Test Exit Code";

/// Evidence that a (non-Python) test runner ran, for 5.x's empty-log check.
static SUITE_RAN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?m)Executed [1-9]\d* of \d+",
        r"|TOTAL: [1-9]\d* (?:SUCCESS|FAILED)",
        r"|[1-9]\d* passing",
        r"|Tests:[\s\x1c-\x1f]+[1-9]\d*",
        r"|Test Suites:[\s\x1c-\x1f]+(?:\d+ \w+, )*[1-9]\d* total",
        r"|^# tests [1-9]\d*",
        r"|[1-9]\d* specs?, \d+ failures?",
        r"|': ok$",
    ))
    .expect("static regex")
});

/// `>>>>> Test Exit Code: N`.
static EXIT_CODE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r">>>>> Test Exit Code:[\s\x1c-\x1f]*(-?\d+)").expect("static regex")
});

/// 5.x's infrastructure-failure signatures: (reason, environment tier?, pattern).
static INFRA_SIGNATURES: LazyLock<Vec<(&'static str, bool, Regex)>> = LazyLock::new(|| {
    [
        (
            "browser_launch_failed",
            true,
            r"Failed to launch|Failed to connect to the bus",
        ),
        (
            "display_unavailable",
            true,
            r"cannot open display|Missing X server|unable to open X display",
        ),
        (
            "out_of_memory",
            true,
            r"Cannot allocate memory|OutOfMemoryError|^Killed$",
        ),
        (
            "container_unavailable",
            true,
            r"Error response from daemon|Cannot connect to the Docker daemon",
        ),
        (
            "network_unreachable",
            true,
            r"Could not resolve host|Temporary failure in name resolution",
        ),
        (
            "missing_module",
            false,
            r"Cannot find module|MODULE_NOT_FOUND|ModuleNotFoundError",
        ),
        (
            "no_tests_collected",
            false,
            r"no tests ran|collected 0 items",
        ),
        (
            "tests_timed_out",
            false,
            r"Timeout error: \d+ seconds exceeded",
        ),
    ]
    .into_iter()
    .map(|(reason, env, p)| {
        (
            reason,
            env,
            Regex::new(&format!("(?m){p}")).expect("static regex"),
        )
    })
    .collect()
});

/// The text of a log file as the harness sees it: Python's text-mode
/// `open(path).read()` translates `\r\n` and lone `\r` to `\n`.
pub fn universal_newlines(log: &str) -> Cow<'_, str> {
    if memchr::memchr(b'\r', log.as_bytes()).is_none() {
        return Cow::Borrowed(log);
    }
    Cow::Owned(log.replace("\r\n", "\n").replace('\r', "\n"))
}

/// What the log gate found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEval {
    /// The harness's "patch successfully applied": the log passed the gate.
    pub applied: bool,
    /// Per-test statuses (empty when the gate failed).
    pub statuses: StatusMap,
}

/// `get_logs_eval` on the text of a log (after [`universal_newlines`]):
/// checks the failure and start/end markers, parses the text
/// between the markers and, per `rules`, falls back to the whole log and checks
/// the recorded exit code.
///
/// `whole_log_fallback` reparses the whole log when nothing was found between
/// the markers; swebench 4.0.5 and 4.1.0 did this, earlier 4.x did not, 5.x
/// always does (it is implied by [`Rules::V5`]).
pub fn evaluate_log(log: &str, parser: Parser, rules: Rules, whole_log_fallback: bool) -> LogEval {
    let not_applied = LogEval {
        applied: false,
        statuses: StatusMap::new(),
    };
    let has = |needle: &str| memmem::find(log.as_bytes(), needle.as_bytes());
    if FAILURE_MARKERS.iter().any(|m| has(m).is_some()) {
        return not_applied;
    }
    let (Some(start), Some(_)) = (has(START_TEST_OUTPUT), has(END_TEST_OUTPUT)) else {
        return not_applied;
    };
    // `log.split(START)[1].split(END)[0]`
    let after = &log[start + START_TEST_OUTPUT.len()..];
    let cut = [START_TEST_OUTPUT, END_TEST_OUTPUT]
        .iter()
        .filter_map(|m| memmem::find(after.as_bytes(), m.as_bytes()))
        .min();
    let sliced = cut.map_or(after, |end| &after[..end]);
    let mut statuses = parser.parse(sliced, rules);
    if statuses.is_empty() && (whole_log_fallback || rules == Rules::V5) {
        statuses = parser.parse(log, rules);
    }
    if rules == Rules::V5 {
        if statuses.is_empty() && !SUITE_RAN.is_match(log) {
            return not_applied;
        }
        let exit_nonzero = EXIT_CODE
            .captures(log)
            .is_some_and(|c| c[1].chars().any(|d| d != '0' && d != '-'));
        if exit_nonzero && !statuses.is_empty() && !statuses.iter().any(|(_, s)| s.is_fail()) {
            return not_applied;
        }
    }
    LogEval {
        applied: true,
        statuses,
    }
}

/// 5.x's advisory classification of a log that failed the gate: the first
/// matching signature's reason, and whether it is an environment fault.
pub fn classify_infra_failure(log: &str) -> Option<(&'static str, bool)> {
    INFRA_SIGNATURES
        .iter()
        .find(|(_, _, re)| re.is_match(log))
        .map(|&(reason, env, _)| (reason, env))
}

/// Success and failure lists of one test category.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// Tests that met the expectation.
    pub success: Vec<String>,
    /// Tests that did not.
    pub failure: Vec<String>,
}

/// `tests_status` of a report: the four categories SWE-bench writes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TestsStatus {
    /// Tests that must go from failing to passing.
    #[serde(rename = "FAIL_TO_PASS")]
    pub fail_to_pass: Outcome,
    /// Tests that must keep passing.
    #[serde(rename = "PASS_TO_PASS")]
    pub pass_to_pass: Outcome,
    /// Always empty, as in the harness (it does not compute them when writing reports).
    #[serde(rename = "FAIL_TO_FAIL")]
    pub fail_to_fail: Outcome,
    /// Always empty, as in the harness.
    #[serde(rename = "PASS_TO_FAIL")]
    pub pass_to_fail: Outcome,
}

/// Resolution of an instance (`ResolvedStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resolution {
    /// All F2P tests pass and all P2P tests keep passing.
    Full,
    /// Some but not all F2P tests pass, and all P2P tests keep passing.
    Partial,
    /// Anything else.
    No,
}

impl Resolution {
    /// The harness's label: `RESOLVED_FULL`, `RESOLVED_PARTIAL` or `RESOLVED_NO`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "RESOLVED_FULL",
            Self::Partial => "RESOLVED_PARTIAL",
            Self::No => "RESOLVED_NO",
        }
    }
}

impl TestsStatus {
    /// `get_resolution_status`: F2P and P2P rates (1 when a category is empty);
    /// FULL when both are 1, PARTIAL when F2P is strictly between 0 and 1 and P2P is 1.
    pub fn resolution(&self) -> Resolution {
        let f2p = &self.fail_to_pass;
        let p2p_ok = self.pass_to_pass.failure.is_empty();
        if f2p.failure.is_empty() && p2p_ok {
            Resolution::Full
        } else if !f2p.success.is_empty() && !f2p.failure.is_empty() && p2p_ok {
            Resolution::Partial
        } else {
            Resolution::No
        }
    }
}

/// Where one expected test lands.
enum Verdict {
    Success,
    Failure,
    /// In neither list (e.g. a SKIPPED test under the 4.x rules).
    Neither,
}

/// `get_eval_tests_report` (FAIL_TO_FAIL/PASS_TO_FAIL left empty, as in reports).
pub fn tests_status(
    statuses: &StatusMap,
    fail_to_pass: &[String],
    pass_to_pass: &[String],
    eval_type: EvalType,
    rules: Rules,
) -> TestsStatus {
    let judge = |tests: &[String], p2p: bool| {
        let mut out = Outcome::default();
        for t in tests {
            let list = match classify(statuses, t, eval_type, rules, p2p) {
                Verdict::Success => &mut out.success,
                Verdict::Failure => &mut out.failure,
                Verdict::Neither => continue,
            };
            list.push(t.clone());
        }
        out
    };
    TestsStatus {
        fail_to_pass: judge(fail_to_pass, false),
        pass_to_pass: judge(pass_to_pass, true),
        ..TestsStatus::default()
    }
}

fn classify(sm: &StatusMap, test: &str, eval_type: EvalType, rules: Rules, p2p: bool) -> Verdict {
    if eval_type == EvalType::FailOnly {
        return match sm.get(test) {
            Some(TestStatus::Failed) => Verdict::Failure,
            _ => Verdict::Success,
        };
    }
    let status = match rules {
        Rules::V4 => sm.get(test),
        Rules::V5 => resolve_truncated(sm, test),
    };
    match status {
        Some(s) if s.is_pass() => Verdict::Success,
        Some(TestStatus::Skipped) if rules == Rules::V5 => match p2p {
            true => Verdict::Success,
            false => Verdict::Failure,
        },
        None => Verdict::Failure,
        Some(s) if s.is_fail() => Verdict::Failure,
        Some(_) => Verdict::Neither,
    }
}

/// 5.x's `_resolve_case`: an exact name, or, for a name with more `[` than `]`
/// (an id truncated inside its parameters), the first recorded name it
/// prefixes, provided all such names agree on passing vs not passing.
fn resolve_truncated<'m>(sm: &'m StatusMap, test: &str) -> Option<&'m TestStatus> {
    if let Some(s) = sm.get(test) {
        return Some(s);
    }
    if test.matches('[').count() <= test.matches(']').count() {
        return None;
    }
    let mut matches = sm
        .iter()
        .filter(|(k, _)| k.starts_with(test))
        .map(|(_, s)| s);
    let first = matches.next()?;
    matches
        .all(|s| s.is_pass() == first.is_pass())
        .then_some(first)
}

/// One instance's entry in `report.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceReport {
    /// The prediction's `model_patch` was `None`.
    #[serde(rename = "patch_is_None")]
    pub patch_is_none: bool,
    /// The prediction had a patch.
    pub patch_exists: bool,
    /// The log passed the gate (markers present, no failure marker, …).
    pub patch_successfully_applied: bool,
    /// Resolution is FULL.
    pub resolved: bool,
    /// 5.x only: the gate failed on a log showing an environment fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub infra_failure: Option<bool>,
    /// 5.x only: which signature matched a log that failed the gate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub infra_failure_reason: Option<String>,
    /// Per-category lists; absent when there was no patch or the gate failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tests_status: Option<TestsStatus>,
}

/// A `report.json`: one instance id mapped to its [`InstanceReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The SWE-bench `instance_id` (the task id).
    pub instance_id: String,
    /// The instance's entry.
    pub entry: InstanceReport,
}

impl Report {
    /// The report as the harness writes it (`json.dumps(report, indent=4)`).
    pub fn to_json(&self) -> String {
        to_python_json(self)
    }
}

impl Serialize for Report {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry(&self.instance_id, &self.entry)?;
        m.end()
    }
}

/// What the harness needs to know about one instance to grade its log.
#[derive(Debug, Clone, Copy)]
pub struct Instance<'a> {
    /// `instance_id`.
    pub instance_id: &'a str,
    /// `FAIL_TO_PASS`.
    pub fail_to_pass: &'a [String],
    /// `PASS_TO_PASS`.
    pub pass_to_pass: &'a [String],
    /// The log format.
    pub parser: Parser,
    /// `pass_and_fail` or `fail_only`.
    pub eval_type: EvalType,
}

/// How to grade: rule generation, fallback and whether the prediction had a patch.
#[derive(Debug, Clone, Copy)]
pub struct GradeSettings {
    /// Rule generation.
    pub rules: Rules,
    /// Reparse the whole log when nothing is found between the markers (4.0.5–4.1.0; implied by 5.x).
    pub whole_log_fallback: bool,
    /// The prediction's `model_patch` was `None` (nothing to grade).
    pub patch_is_none: bool,
}

/// A graded SWE-bench instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweBenchGrade {
    /// `report.json`.
    pub report: Report,
    /// What the parser recorded (empty when the log failed the gate).
    pub statuses: StatusMap,
    /// FULL/PARTIAL/NO, when the log was graded at all.
    pub resolution: Option<Resolution>,
}

/// `get_eval_report` for one instance and the contents of its log file.
pub fn grade(instance: &Instance<'_>, log: &str, settings: GradeSettings) -> SweBenchGrade {
    let rules = settings.rules;
    let log = universal_newlines(log);
    let log = log.as_ref();
    let mut entry = InstanceReport {
        patch_is_none: settings.patch_is_none,
        patch_exists: !settings.patch_is_none,
        patch_successfully_applied: false,
        resolved: false,
        infra_failure: (rules == Rules::V5).then_some(false),
        infra_failure_reason: None,
        tests_status: None,
    };
    let report = |entry| Report {
        instance_id: instance.instance_id.to_owned(),
        entry,
    };
    if settings.patch_is_none {
        return SweBenchGrade {
            report: report(entry),
            statuses: StatusMap::new(),
            resolution: None,
        };
    }
    let eval = evaluate_log(log, instance.parser, rules, settings.whole_log_fallback);
    if !eval.applied {
        if rules == Rules::V5
            && let Some((reason, environment)) = classify_infra_failure(log)
        {
            entry.infra_failure = Some(environment);
            entry.infra_failure_reason = Some(reason.to_owned());
        }
        return SweBenchGrade {
            report: report(entry),
            statuses: eval.statuses,
            resolution: None,
        };
    }
    let tests = tests_status(
        &eval.statuses,
        instance.fail_to_pass,
        instance.pass_to_pass,
        instance.eval_type,
        rules,
    );
    let resolution = tests.resolution();
    entry.patch_successfully_applied = true;
    entry.resolved = resolution == Resolution::Full;
    entry.tests_status = Some(tests);
    SweBenchGrade {
        report: report(entry),
        statuses: eval.statuses,
        resolution: Some(resolution),
    }
}
