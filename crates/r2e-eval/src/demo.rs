//! A small, real task set for trying r2e without any registry: a Python
//! package with three bugs, built into an image from a base image (such as
//! the one `r2e image bootstrap` makes). Each task has its issue text, the
//! fixing patch, a test patch, FAIL_TO_PASS and PASS_TO_PASS, all produced by
//! git inside the image, so the patches are exactly what git applies.

use r2e_core::{SourceFormat, Task};
use r2e_sandbox::docker::DockerProvider;
use r2e_sandbox::{ExecOptions, Sandbox, SandboxError, SandboxSpec};

/// Repository name of the demo tasks.
pub const DEMO_REPO: &str = "r2e-demo/calc";

/// The buggy module at the base commit.
const CALC: &str = "\"\"\"Small arithmetic helpers.\"\"\"


def add(a, b):
    return a - b


def sub(a, b):
    return a - b


def mul(a, b):
    return a + b


def mean(values):
    return sum(values) // len(values)
";

/// One bug: the function, its fixed body line, the issue text, and a test.
struct Bug {
    name: &'static str,
    buggy: &'static str,
    fixed: &'static str,
    issue: &'static str,
    test: &'static str,
}

const BUGS: [Bug; 3] = [
    Bug {
        name: "add",
        buggy: "def add(a, b):\n    return a - b\n",
        fixed: "def add(a, b):\n    return a + b\n",
        issue: "calc.add returns the difference\n\n`calc.add(2, 3)` returns -1; it should return 5.",
        test: "import unittest\nfrom calc import add, sub\n\n\nclass AddTest(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n\n    def test_sub(self):\n        self.assertEqual(sub(5, 3), 2)\n",
    },
    Bug {
        name: "mul",
        buggy: "def mul(a, b):\n    return a + b\n",
        fixed: "def mul(a, b):\n    return a * b\n",
        issue: "calc.mul adds instead of multiplying\n\n`calc.mul(3, 4)` gives 7, expected 12.",
        test: "import unittest\nfrom calc import mul, sub\n\n\nclass MulTest(unittest.TestCase):\n    def test_mul(self):\n        self.assertEqual(mul(3, 4), 12)\n\n    def test_sub(self):\n        self.assertEqual(sub(1, 1), 0)\n",
    },
    Bug {
        name: "mean",
        buggy: "    return sum(values) // len(values)\n",
        fixed: "    return sum(values) / len(values)\n",
        issue: "calc.mean truncates\n\n`calc.mean([1, 2])` returns 1 instead of 1.5.",
        test: "import unittest\nfrom calc import mean, sub\n\n\nclass MeanTest(unittest.TestCase):\n    def test_mean(self):\n        self.assertEqual(mean([1, 2]), 1.5)\n\n    def test_sub(self):\n        self.assertEqual(sub(2, 3), -1)\n",
    },
];

/// The fix of the demo task whose issue text is `problem_statement`: the
/// buggy lines of `calc.py` and their replacement (for scripted agents in
/// tests and benchmarks; a model has to find these itself).
pub fn fix_for(problem_statement: &str) -> Option<(&'static str, &'static str)> {
    BUGS.iter()
        .find(|b| problem_statement.contains(b.issue))
        .map(|b| (b.buggy.trim_end(), b.fixed.trim_end()))
}

/// Failures of building the demo.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The sandbox failed.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// A git step in the sandbox failed.
    #[error("building the demo repository: `{step}` failed: {stderr}")]
    Git {
        /// The command.
        step: String,
        /// Its stderr.
        stderr: String,
    },
    /// The engine could not save the image.
    #[error("saving the demo image: {0}")]
    Commit(String),
}

/// Image label holding the demo's tasks as JSON, so a built image is reused.
const TASKS_LABEL: &str = "dev.r2e.demo.tasks";

/// Builds the demo image from `base_image` (reusing it when one was already
/// built from the same base image and sources) and returns its tasks, whose
/// test command and log parser are set in `extra`.
pub async fn build(provider: &DockerProvider, base_image: &str) -> Result<Vec<Task>, DemoError> {
    let base_id = r2e_sandbox::image::image_id(provider.client(), base_image)
        .await?
        .ok_or_else(|| SandboxError::ImageNotFound {
            image: base_image.to_string(),
        })?;
    let image = format!("{DEMO_REPO}:{}", source_digest(&base_id));
    if let Some(tasks) = built_tasks(provider, &image).await {
        return Ok(tasks);
    }
    let sb = provider.start_docker(&SandboxSpec::new(base_image)).await?;
    let result = build_in(&sb, provider, &image).await;
    sb.close().await?;
    result
}

/// A digest of everything the demo image is made from.
fn source_digest(base_id: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let parts = [base_id, CALC].into_iter().chain(
        BUGS.iter()
            .flat_map(|b| [b.name, b.buggy, b.fixed, b.issue, b.test]),
    );
    for part in parts {
        for byte in part.bytes().chain([0]) {
            h ^= u64::from(byte);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// The tasks stored on an already built demo image.
async fn built_tasks(provider: &DockerProvider, image: &str) -> Option<Vec<Task>> {
    let info = provider.client().inspect_image(image).await.ok()?;
    let json = info.config?.labels?.remove(TASKS_LABEL)?;
    serde_json::from_str(&json).ok()
}

async fn git(sb: &dyn Sandbox, cmd: &str) -> Result<String, DemoError> {
    let opts = ExecOptions {
        cwd: Some("/testbed".into()),
        env: vec![
            ("GIT_AUTHOR_NAME".into(), "r2e".into()),
            ("GIT_AUTHOR_EMAIL".into(), "demo@r2e".into()),
            ("GIT_COMMITTER_NAME".into(), "r2e".into()),
            ("GIT_COMMITTER_EMAIL".into(), "demo@r2e".into()),
            ("GIT_AUTHOR_DATE".into(), "2026-01-01T00:00:00Z".into()),
            ("GIT_COMMITTER_DATE".into(), "2026-01-01T00:00:00Z".into()),
        ],
        ..Default::default()
    };
    let out = sb.exec(cmd, &opts).await?;
    if out.exit_code != 0 {
        return Err(DemoError::Git {
            step: cmd.to_string(),
            stderr: out.stderr_text().trim().to_string(),
        });
    }
    Ok(out.stdout_text().into_owned())
}

async fn build_in(
    sb: &r2e_sandbox::docker::DockerSandbox,
    provider: &DockerProvider,
    image: &str,
) -> Result<Vec<Task>, DemoError> {
    sb.write_file("/testbed/calc.py", CALC.as_bytes(), None)
        .await?;
    sb.write_file("/testbed/tests/__init__.py", b"", None)
        .await?;
    git(
        sb,
        "git init -q && git add -A && git commit -qm 'calc: arithmetic helpers'",
    )
    .await?;
    let commit = git(sb, "git rev-parse HEAD").await?.trim().to_string();
    let mut tasks = Vec::new();
    for bug in &BUGS {
        sb.write_file(
            "/testbed/calc.py",
            CALC.replace(bug.buggy, bug.fixed).as_bytes(),
            None,
        )
        .await?;
        let gold = git(sb, "git diff && git checkout -q -- calc.py").await?;
        let test_path = format!("tests/test_{}.py", bug.name);
        sb.write_file(&format!("/testbed/{test_path}"), bug.test.as_bytes(), None)
            .await?;
        let test_patch = git(
            sb,
            &format!("git add {test_path} && git diff --cached && git rm -q --cached {test_path} && rm {test_path}"),
        )
        .await?;
        tasks.push(task(bug, &commit, gold, test_patch));
    }
    for t in &mut tasks {
        t.image = image.to_string();
    }
    let labels = std::collections::HashMap::from([(
        TASKS_LABEL.to_string(),
        serde_json::to_string(&tasks).expect("tasks serialize"),
    )]);
    provider
        .commit(sb, image, labels, &[])
        .await
        .map_err(|e| DemoError::Commit(e.to_string()))?;
    Ok(tasks)
}

fn task(bug: &Bug, commit: &str, gold_patch: String, test_patch: String) -> Task {
    let module = format!("tests.test_{}", bug.name);
    let class = format!("{}{}Test", bug.name[..1].to_uppercase(), &bug.name[1..]);
    let id = |test: &str| format!("{test} ({module}.{class}.{test})");
    let mut extra = serde_json::Map::new();
    extra.insert(
        "test_cmd".into(),
        format!("python3 -m unittest -v {module}").into(),
    );
    extra.insert("log_parser".into(), "django".into());
    Task {
        task_id: format!("r2e-demo__calc-{}", bug.name),
        source: SourceFormat::SweBench,
        repo: DEMO_REPO.into(),
        base_commit: commit.into(),
        image: String::new(),
        problem_statement: bug.issue.into(),
        hints_text: None,
        gold_patch,
        test_patch,
        test_files: Vec::new(),
        fail_to_pass: vec![id(&format!("test_{}", bug.name))],
        pass_to_pass: vec![id("test_sub")],
        expected_statuses: Default::default(),
        version: None,
        environment_setup_commit: None,
        created_at: None,
        extra,
    }
}
