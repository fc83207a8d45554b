//! The normalised task model every other crate consumes.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which published row format a task was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceFormat {
    /// R2E-Gym rows (`repo_name`, `docker_image`, `commit_hash`, `expected_output_json`, ...).
    R2eGym,
    /// SWE-bench rows (`instance_id`, `base_commit`, `FAIL_TO_PASS`, ...); also SWE-smith and SWE-Gym.
    SweBench,
    /// Tasks SWE-Gen (`r2e gen`) made from a repository's commits: SWE-bench
    /// rows in every field, graded as they are (rows written before this
    /// format existed say `swe_bench`, with `extra.generator = "r2e-gen"`).
    SweGen,
}

/// How a task's tests are run and graded, whatever format it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grading {
    /// R2E-Gym's: the hidden test files and `run_tests.sh` in the image, the
    /// log compared with the expected status of every test.
    R2eGym,
    /// SWE-bench's: the eval script applies the test patch and runs the
    /// tests; FAIL_TO_PASS and PASS_TO_PASS must pass.
    SweBench,
}

impl SourceFormat {
    /// Every format, in display order.
    pub const ALL: [SourceFormat; 3] = [
        SourceFormat::R2eGym,
        SourceFormat::SweBench,
        SourceFormat::SweGen,
    ];

    /// Human-readable name, as the datasets themselves spell it.
    pub fn label(self) -> &'static str {
        match self {
            SourceFormat::R2eGym => "R2E-Gym",
            SourceFormat::SweBench => "SWE-bench",
            SourceFormat::SweGen => "SWE-Gen",
        }
    }

    /// The name used in serialised tasks (`r2e_gym`, `swe_bench`, `swe_gen`).
    pub fn key(self) -> &'static str {
        match self {
            SourceFormat::R2eGym => "r2e_gym",
            SourceFormat::SweBench => "swe_bench",
            SourceFormat::SweGen => "swe_gen",
        }
    }

    /// Parses [`SourceFormat::key`] back.
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.key() == key)
    }

    /// How tasks of this format are graded: SWE-Gen's as SWE-bench's.
    pub fn grading(self) -> Grading {
        match self {
            SourceFormat::R2eGym => Grading::R2eGym,
            SourceFormat::SweBench | SourceFormat::SweGen => Grading::SweBench,
        }
    }
}

impl std::fmt::Display for SourceFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// A hidden test file: brought into the sandbox only at reward time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestFile {
    /// Path relative to the repository root.
    pub path: String,
    /// Full file contents.
    pub content: String,
}

/// One executable task: a repository at a commit, an issue text and the hidden
/// tests that decide the reward, normalised from any supported row format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Stable identifier: SWE-bench `instance_id`, or `repo@commit` for R2E-Gym rows.
    pub task_id: String,
    /// The row format the task came from.
    pub source: SourceFormat,
    /// Repository, `owner/name` where known (R2E-Gym rows carry only the name).
    pub repo: String,
    /// Commit the sandbox's repository is checked out at.
    pub base_commit: String,
    /// Container image the task runs in.
    pub image: String,
    /// The issue text shown to the agent.
    pub problem_statement: String,
    /// SWE-bench hints (issue comments before the fix), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hints_text: Option<String>,
    /// The reference fix (unified diff), empty when the source has none.
    #[serde(default)]
    pub gold_patch: String,
    /// Diff that adds or changes the hidden tests (SWE-bench), empty when absent.
    #[serde(default)]
    pub test_patch: String,
    /// Hidden test files as whole files (R2E-Gym), empty when absent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test_files: Vec<TestFile>,
    /// Tests that must go from failing to passing.
    #[serde(default)]
    pub fail_to_pass: Vec<String>,
    /// Tests that must keep passing.
    #[serde(default)]
    pub pass_to_pass: Vec<String>,
    /// Expected status per test (R2E-Gym's `expected_output_json`), empty when absent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub expected_statuses: BTreeMap<String, String>,
    /// SWE-bench environment version (selects the test command and log parser).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// SWE-bench environment setup commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment_setup_commit: Option<String>,
    /// Creation time as given by the source (ISO 8601 in SWE-bench).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Every source field not mapped above, kept so conversions lose nothing.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}
