//! Stage 3 on an older Python than Debian ships: Ubuntu focal's 3.8
//! (`r2e image bootstrap --suite focal`, which CI builds) serves a package
//! whose code uses a name the standard library dropped in 3.10, after 3.11
//! fails it.

mod common;

use common::Repo;
use r2e_gen::env::{EnvOptions, EnvOutcome, EnvRow, PythonImage, build_envs};
use r2e_sandbox::docker::DockerProvider;
use std::process::Command;

#[tokio::test(flavor = "multi_thread")]
async fn code_that_needs_python_3_8_builds_on_ubuntu_focal() {
    // June 2023: 3.11 is the newest Python released, and is tried first.
    let jun_2023: u64 = 1_685_577_600;
    let day = 86_400;
    let mut r = Repo::new();
    r.write(
        "setup.py",
        "from setuptools import setup\n\nsetup(name=\"oldmap\", version=\"0.1\", packages=[\"oldmap\"])\n",
    );
    let lib = "import collections\n\n\nclass Store(collections.MutableMapping):\n    def __init__(self):\n        self.d = {}\n\n    def __getitem__(self, k):\n        return self.d[k]\n\n    def __setitem__(self, k, v):\n        self.d[k] = v\n\n    def __delitem__(self, k):\n        del self.d[k]\n\n    def __iter__(self):\n        return iter(self.d)\n\n    def __len__(self):\n        return len(self.d)\n";
    r.write("oldmap/__init__.py", lib);
    let test = "from oldmap import Store\n\n\ndef test_set():\n    s = Store()\n    s[1] = 2\n    assert s[1] == 2\n";
    r.write("tests/test_oldmap.py", test);
    r.commit_at("Initial commit", jun_2023 - day);
    r.write(
        "oldmap/__init__.py",
        format!(
            "{lib}\n    def get(self, k, default=None):\n        return self.d.get(k, default)\n"
        ),
    );
    r.write(
        "tests/test_oldmap.py",
        format!("{test}\n\ndef test_get_missing():\n    assert Store().get(3) is None\n"),
    );
    let fix = r.commit_at("get of a missing key", jun_2023);

    let dir = tempfile::tempdir().expect("tempdir");
    let commits = dir.path().join("commits.jsonl");
    common::mine_all(&r.path(), &commits);
    let provider = DockerProvider::connect().await.expect("docker");
    let mut pythons = Vec::new();
    for image in ["r2e/base:bookworm", "r2e/base:focal"] {
        let python = PythonImage::probe(&provider, image)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "{image}: {e} (build it with `r2e image bootstrap --suite {}`)",
                    &image[9..]
                )
            });
        pythons.push(python);
    }
    let opts = EnvOptions {
        pythons,
        repo_name: Some("oldmap".into()),
        ..Default::default()
    };
    let envs = dir.path().join("envs.jsonl");
    build_envs(&provider, &r.path(), &commits, &envs, &opts, &|_| {})
        .await
        .expect("envs");
    let rows: Vec<EnvRow> = r2e_core::jsonl::read(&envs).expect("rows");
    let row = rows.iter().find(|r| r.hash == fix).expect("fix row");
    assert_eq!(row.outcome, EnvOutcome::Built, "{row:#?}");
    let tried: Vec<(&str, Option<&str>)> = row
        .attempts
        .iter()
        .map(|a| (a.setup.python.as_str(), a.label()))
        .collect();
    assert_eq!(
        tried,
        vec![("3.11", Some("python_too_new")), ("3.8", None)],
        "{row:#?}"
    );
    let out = Command::new("docker")
        .args(["run", "--rm", "--entrypoint", "python", &row.image, "-c"])
        .arg(
            "import sys, oldmap; s = oldmap.Store(); s[1] = 2; print(sys.version_info[:2], len(s))",
        )
        .output()
        .expect("docker run");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "(3, 8) 1",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = Command::new("docker")
        .args(["rmi", "-f", &row.image])
        .output();
}
