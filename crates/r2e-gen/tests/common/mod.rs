//! Builds real git repositories with the `git` CLI for the tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A scratch repository with deterministic authors and dates.
pub struct Repo {
    pub dir: tempfile::TempDir,
    n: u64,
}

/// What `code` prints when run by the `python` of `image`.
pub fn python_in(image: &str, code: &str) -> String {
    let out = Command::new("docker")
        .args(["run", "--rm", "--entrypoint", "python", image, "-c", code])
        .output()
        .expect("docker run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// What [`build_all`] made: the run's summary and rows, and the mined
/// `commits.jsonl` and its `envs.jsonl` (in `dir`).
pub struct EnvRun {
    pub dir: tempfile::TempDir,
    pub commits: PathBuf,
    pub envs: PathBuf,
    pub summary: r2e_gen::env::EnvSummary,
    pub rows: Vec<r2e_gen::env::EnvRow>,
}

/// Builds the environments of every commit of `repo` (images named `name`)
/// with the Pythons of the base images `images`.
pub async fn build_all(repo: &Repo, images: &[&str], name: &str) -> EnvRun {
    build_all_with(repo, images, name, |_| {}).await
}

/// [`build_all`] with the options changed by `tweak` (after the base
/// images' Pythons are in).
pub async fn build_all_with(
    repo: &Repo,
    images: &[&str],
    name: &str,
    tweak: impl FnOnce(&mut r2e_gen::env::EnvOptions),
) -> EnvRun {
    let dir = tempfile::tempdir().expect("tempdir");
    let commits = dir.path().join("commits.jsonl");
    mine_all(&repo.path(), &commits);
    let provider = r2e_sandbox::docker::DockerProvider::connect()
        .await
        .expect("docker");
    let mut pythons = Vec::new();
    for image in images {
        let python = r2e_gen::env::PythonImage::probe(&provider, image)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "{image}: {e} (build it with `r2e image bootstrap --suite {}`)",
                    image.trim_start_matches("r2e/base:")
                )
            });
        pythons.push(python);
    }
    let mut opts = r2e_gen::env::EnvOptions {
        pythons,
        repo_name: Some(name.into()),
        ..Default::default()
    };
    tweak(&mut opts);
    let envs = dir.path().join("envs.jsonl");
    let summary =
        r2e_gen::env::build_envs(&provider, &repo.path(), &commits, &envs, &opts, &|_| {})
            .await
            .expect("envs");
    let rows = r2e_core::jsonl::read(&envs).expect("rows");
    EnvRun {
        dir,
        commits,
        envs,
        summary,
        rows,
    }
}

/// Mines every commit of `repo` into `out` with the default options.
pub fn mine_all(repo: &Path, out: &Path) {
    r2e_gen::mine::mine_to_jsonl(repo, out, &Default::default(), &mut |_| {}).expect("mine");
}

/// Validates the commits of `commits` (mined from `repo`) into
/// `dir/validated.jsonl` and returns the summary and every row.
pub async fn validate_all(
    repo: &Path,
    commits: &Path,
    dir: &Path,
    opts: &r2e_gen::validate::ValidateOptions,
) -> (
    r2e_gen::validate::ValidateSummary,
    Vec<r2e_gen::validate::ValidatedCommit>,
) {
    let provider = r2e_sandbox::docker::DockerProvider::connect()
        .await
        .expect("docker");
    let out = dir.join("validated.jsonl");
    let summary =
        r2e_gen::validate::validate_jsonl(&provider, repo, commits, &out, opts, &mut |_| {})
            .await
            .expect("validate");
    (summary, r2e_core::jsonl::read(&out).expect("rows"))
}

/// A `git` command with no user or system configuration.
pub fn git_cmd(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Ada Tester")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Ada Tester")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com");
    c
}

/// Runs git in `dir`, panicking with its stderr on failure; returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_cmd(dir).args(args).output().expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Repo {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        git(dir.path(), &["init", "-q", "-b", "main"]);
        Repo { dir, n: 0 }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, content).expect("write");
    }

    pub fn git(&self, args: &[&str]) -> String {
        git(self.dir.path(), args)
    }

    pub fn chmod_x(&self, rel: &str) {
        use std::os::unix::fs::PermissionsExt;
        let p = self.dir.path().join(rel);
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    /// Commits everything with a date one hour after the previous commit.
    pub fn commit(&mut self, msg: &str) -> String {
        self.n += 1;
        self.commit_dated(msg, &format!("{} +0100", 1_700_000_000 + self.n * 3600))
    }

    /// Commits everything as of `unix` seconds, UTC (author and committer date).
    pub fn commit_at(&mut self, msg: &str, unix: u64) -> String {
        self.commit_dated(msg, &format!("{unix} +0000"))
    }

    fn commit_dated(&mut self, msg: &str, date: &str) -> String {
        self.git(&["add", "-A"]);
        let out = git_cmd(self.dir.path())
            .args(["commit", "-q", "--allow-empty", "-m", msg])
            .env("GIT_AUTHOR_DATE", date)
            .env("GIT_COMMITTER_DATE", date)
            .output()
            .expect("git commit");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.head()
    }

    pub fn merge(&mut self, branch: &str, msg: &str) -> String {
        self.n += 1;
        let date = format!("{} +0100", 1_700_000_000 + self.n * 3600);
        let out = git_cmd(self.dir.path())
            .args(["merge", "-q", "--no-ff", "-m", msg, branch])
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .output()
            .expect("git merge");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.head()
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"]).trim().to_string()
    }
}

pub const CALC_V1: &str = r#""""Small calculator."""


def add(a, b):
    return a + b


def div(a, b):
    return a / b


class Stats:
    def __init__(self, values):
        self.values = list(values)

    def mean(self):
        return sum(self.values) / len(self.values)

    def total(self):
        return sum(self.values)
"#;

pub const TEST_V1: &str = r#"from pkg.calc import add, div, Stats


def test_add():
    assert add(1, 2) == 3


def test_div():
    assert div(6, 3) == 2
"#;

/// The commits of [`history`], by role.
pub struct History {
    pub repo: Repo,
    pub root: String,
    pub fix_with_test: String,
    pub fix_without_test: String,
    pub docs: String,
    pub refactor: String,
    pub comment_only: String,
    pub feature: String,
    pub misc: String,
    pub merge: String,
}

/// A small Python package whose history has one commit of each kind.
pub fn history() -> History {
    let mut r = Repo::new();
    r.write("README.md", "# pkg\n\nA calculator.\n");
    r.write("pkg/__init__.py", "");
    r.write("pkg/calc.py", CALC_V1);
    r.write("pkg/legacy.py", "def old_helper(x):\n    y = x * 2\n    z = y + 1\n    w = z - 3\n    return w\n\n\ndef other():\n    return 1\n");
    r.write("pkg/obsolete.py", "X = 1\n");
    r.write("pkg/version.py", "VERSION = '1.0'");
    r.write("pkg/data.bin", [0u8, 1, 2, 3, 0, 255]);
    r.write("scripts/run.sh", "#!/bin/sh\necho run\n");
    r.write("tests/test_calc.py", TEST_V1);
    let root = r.commit("Initial commit");

    let calc = CALC_V1.replace(
        "def div(a, b):\n    return a / b\n",
        "def div(a, b):\n    if b == 0:\n        raise ValueError(\"division by zero\")\n    return a / b\n",
    );
    r.write("pkg/calc.py", &calc);
    let test = format!(
        "import pytest\n{}\n\ndef test_div_by_zero():\n    with pytest.raises(ValueError):\n        div(1, 0)\n",
        TEST_V1
    );
    r.write("tests/test_calc.py", &test);
    let fix_with_test =
        r.commit("Fix div by zero\n\nRaise ValueError instead of ZeroDivisionError.");

    let calc = calc.replace(
        "    def mean(self):\n        return",
        "    def mean(self):\n        if not self.values:\n            return 0.0\n        return",
    );
    r.write("pkg/calc.py", &calc);
    let fix_without_test = r.commit("Fix mean of empty stats");

    r.write(
        "README.md",
        "# pkg\n\nA small calculator.\n\n## Usage\n\nImport it.\n",
    );
    let docs = r.commit("Docs: usage");

    let mut refactor_calc = calc.clone();
    for i in 0..5 {
        r.write(
            &format!("pkg/ops{i}.py"),
            format!("def op{i}(a, b):\n    return a * {i} + b\n"),
        );
        refactor_calc.push_str(&format!(
            "\n\ndef use_op{i}(a):\n    from pkg.ops{i} import op{i}\n    return op{i}(a, a)\n"
        ));
    }
    r.write("pkg/calc.py", &refactor_calc);
    let refactor = r.commit("Refactor: split operations into modules");

    let commented = refactor_calc.replace(
        "def add(a, b):\n    return a + b\n",
        "def add(a, b):\n    \"\"\"Add two numbers.\"\"\"\n    # plain addition\n    return a + b  # no overflow in Python\n",
    );
    r.write("pkg/calc.py", &commented);
    let comment_only = r.commit("Document add");

    r.git(&["checkout", "-q", "-b", "feature"]);
    let featured = commented.replace(
        "    def total(self):\n        return sum(self.values)\n",
        "    def total(self):\n        return sum(self.values)\n\n    def count(self):\n        return len(self.values)\n",
    );
    r.write("pkg/calc.py", &featured);
    r.write(
        "tests/test_calc.py",
        format!("{test}\n\ndef test_count():\n    assert Stats([1, 2]).count() == 2\n"),
    );
    let feature = r.commit("Add Stats.count");

    r.git(&["checkout", "-q", "main"]);
    r.git(&["mv", "pkg/legacy.py", "pkg/old_legacy.py"]);
    r.write("pkg/old_legacy.py", "def old_helper(x):\n    y = x * 2\n    z = y + 1\n    w = z - 4\n    return w\n\n\ndef other():\n    return 1\n");
    r.git(&["rm", "-q", "pkg/obsolete.py"]);
    r.write("pkg/version.py", "VERSION = '1.1'");
    r.write("pkg/data.bin", [0u8, 9, 9, 9]);
    r.chmod_x("scripts/run.sh");
    r.write("pkg/new module.py", "def spaced():\n    return 'ok'\n");
    let misc = r.commit("Misc: rename legacy, drop obsolete, bump version");

    let merge = r.merge("feature", "Merge branch 'feature'");
    History {
        repo: r,
        root,
        fix_with_test,
        fix_without_test,
        docs,
        refactor,
        comment_only,
        feature,
        misc,
        merge,
    }
}

/// An image with pytest: the base image plus `pip install pytest` (built once).
pub fn pytest_image() -> String {
    // Tests of one binary run in parallel: one builds the image, the others
    // wait for it (they would race for the container's name).
    static BUILDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    let base = std::env::var("R2E_TEST_IMAGE").unwrap_or_else(|_| "r2e/base:bookworm".into());
    let image = "r2e-gen-test/pytest:bookworm".to_string();
    let exists = Command::new("docker")
        .args(["image", "inspect", &image])
        .output()
        .expect("docker runs")
        .status
        .success();
    if exists {
        return image;
    }
    let name = format!("r2e-gen-pytest-{}", std::process::id());
    let run = Command::new("docker")
        .args(["run", "--name", &name, &base, "sh", "-c"])
        .arg("python3 -m pip install -q --break-system-packages pytest")
        .output()
        .expect("docker run");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let commit = Command::new("docker")
        .args(["commit", &name, &image])
        .output()
        .expect("docker commit");
    let _ = Command::new("docker").args(["rm", "-f", &name]).output();
    assert!(commit.status.success());
    image
}
