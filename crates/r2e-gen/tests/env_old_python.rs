//! Stage 3 on older Pythons than Debian ships, from the Ubuntu base images
//! that `r2e image bootstrap` makes and CI builds: focal's 3.8 serves a
//! package whose code uses a name the standard library dropped in 3.10, after
//! 3.11 fails it; bionic's 3.6 serves code that uses `async` as a name (a
//! keyword from 3.7 on), after 3.11 and 3.8 fail it.

mod common;

use common::Repo;
use r2e_gen::env::{EnvOutcome, EnvRow};
use std::process::Command;

/// June 2023: 3.11 is the newest Python released, and is tried first.
const JUN_2023: u64 = 1_685_577_600;
const DAY: u64 = 86_400;

/// A repository with a `setup.py` for package `name` and two commits: `lib`
/// and `test` (the first), then `fix` and `fix_test` added to them. Returns
/// the repository and the second commit.
fn repo(name: &str, lib: &str, test: &str, fix: &str, fix_test: &str) -> (Repo, String) {
    let mut r = Repo::new();
    r.write(
        "setup.py",
        format!(
            "from setuptools import setup\n\nsetup(name=\"{name}\", version=\"0.1\", packages=[\"{name}\"])\n"
        ),
    );
    let (lib_path, test_path) = (
        format!("{name}/__init__.py"),
        format!("tests/test_{name}.py"),
    );
    r.write(&lib_path, lib);
    r.write(&test_path, test);
    r.commit_at("Initial commit", JUN_2023 - DAY);
    r.write(&lib_path, format!("{lib}\n{fix}"));
    r.write(&test_path, format!("{test}\n{fix_test}"));
    let hash = r.commit_at("the fix", JUN_2023);
    (r, hash)
}

/// The row of commit `fix` after building `r`'s environments with the
/// Pythons of `images`.
async fn build(r: &Repo, fix: &str, name: &str, images: &[&str]) -> EnvRow {
    let run = common::build_all(r, images, name).await;
    run.rows
        .into_iter()
        .find(|r| r.hash == fix)
        .expect("fix row")
}

/// The Pythons tried for `row`, each with its failure's label.
fn tried(row: &EnvRow) -> Vec<(&str, Option<&str>)> {
    row.attempts
        .iter()
        .map(|a| (a.setup.python.as_str(), a.label()))
        .collect()
}

/// [`common::python_in`], then removes the image.
fn python_in(image: &str, code: &str) -> String {
    let out = common::python_in(image, code);
    let _ = Command::new("docker").args(["rmi", "-f", image]).output();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn code_that_needs_python_3_8_builds_on_ubuntu_focal() {
    let lib = "import collections\n\n\nclass Store(collections.MutableMapping):\n    def __init__(self):\n        self.d = {}\n\n    def __getitem__(self, k):\n        return self.d[k]\n\n    def __setitem__(self, k, v):\n        self.d[k] = v\n\n    def __delitem__(self, k):\n        del self.d[k]\n\n    def __iter__(self):\n        return iter(self.d)\n\n    def __len__(self):\n        return len(self.d)\n";
    let (r, fix) = repo(
        "oldmap",
        lib,
        "from oldmap import Store\n\n\ndef test_set():\n    s = Store()\n    s[1] = 2\n    assert s[1] == 2\n",
        "    def get(self, k, default=None):\n        return self.d.get(k, default)\n",
        "\ndef test_get_missing():\n    assert Store().get(3) is None\n",
    );
    let row = build(&r, &fix, "oldmap", &["r2e/base:bookworm", "r2e/base:focal"]).await;
    assert_eq!(row.outcome, EnvOutcome::Built, "{row:#?}");
    assert_eq!(
        tried(&row),
        vec![("3.11", Some("python_too_new")), ("3.8", None)],
        "{row:#?}"
    );
    assert_eq!(
        python_in(
            &row.image,
            "import sys, oldmap; s = oldmap.Store(); s[1] = 2; print(sys.version_info[:2], len(s))"
        ),
        "(3, 8) 1"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn code_that_needs_python_3_6_builds_on_ubuntu_bionic() {
    let (r, fix) = repo(
        "oldasync",
        "def run(job, async=False):\n    return (job, async)\n",
        "from oldasync import run\n\n\ndef test_run():\n    assert run(1) == (1, False)\n",
        "\ndef run_all(jobs, async=False):\n    return [run(j, async) for j in jobs]\n",
        "\ndef test_run_all():\n    from oldasync import run_all\n    assert run_all([1]) == [(1, False)]\n",
    );
    let images = ["r2e/base:bookworm", "r2e/base:focal", "r2e/base:bionic"];
    let row = build(&r, &fix, "oldasync", &images).await;
    assert_eq!(row.outcome, EnvOutcome::Built, "{row:#?}");
    assert_eq!(
        tried(&row),
        vec![
            ("3.11", Some("python_too_new")),
            ("3.8", Some("python_too_new")),
            // The setuptools that serves 3.6 has no PEP 660 editable
            // builds: the checkout goes on the path instead.
            ("3.6", Some("no_editable")),
            ("3.6", None)
        ],
        "{row:#?}"
    );
    assert_eq!(
        python_in(
            &row.image,
            "import sys, oldasync; print(sys.version_info[:2], oldasync.run_all([2]))"
        ),
        "(3, 6) [(2, False)]"
    );
}
