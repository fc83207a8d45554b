//! Stage 3 in Docker, against PyPI through uv: environments are pinned to
//! the commit's date (a fix that needs `packaging<22` validates only because
//! `--exclude-newer` keeps packaging 22 out), commits with the same metadata
//! share one image, a module the tests import but the metadata does not
//! declare is found and added, development tools whose old releases do not
//! build are left out, a Python whose standard library lacks a
//! module the code imports is passed over for an older one, a package that
//! does not import on its dependencies gets no environment, and a rerun
//! builds nothing.

mod common;

use common::{Repo, python_in};
use r2e_gen::env::{
    EnvEvent, EnvOptions, EnvOutcome, EnvRow, Method, PythonImage, build_envs, load_env_map,
};
use r2e_gen::validate::{Outcome, ValidateOptions, ValidatedCommit};
use r2e_sandbox::docker::DockerProvider;
use std::collections::HashMap;
use std::process::Command;
use std::sync::Mutex;

/// 2022-11-15T00:00:00Z: packaging 21.3 is the newest release (22.0, without
/// `LegacyVersion`, came out in December 2022), and Python 3.11 is a month old.
const NOV_2022: u64 = 1_668_470_400;
const DAY: u64 = 86_400;

const SETUP: &str = "from setuptools import setup\n\nsetup(\n    name=\"verlib\",\n    version=\"0.1\",\n    packages=[\"verlib\"],\n    install_requires=[\"packaging\"],\n)\n";

const LIB_V1: &str = "from packaging import version\n\n\ndef is_legacy(v):\n    \"\"\"Whether v is not a PEP 440 version.\"\"\"\n    return False\n";

const TEST_V1: &str =
    "from verlib import is_legacy\n\n\ndef test_pep440():\n    assert not is_legacy(\"1.0\")\n";

struct Verlib {
    repo: Repo,
    legacy: String,
    none: String,
    yaml: String,
}

/// A package whose fixes rely on `packaging.version.LegacyVersion`.
fn verlib() -> Verlib {
    let mut r = Repo::new();
    r.write("setup.py", SETUP);
    // Development tools the tests do not need: Sphinx 1.1.3's sdist does not
    // build on any Python 3 of today (`use_2to3`).
    r.write(
        "dev-requirements.txt",
        "Sphinx==1.1.3\ntox==1.5.0\npytest\n",
    );
    r.write("verlib/__init__.py", LIB_V1);
    r.write("tests/test_verlib.py", TEST_V1);
    r.commit_at("Initial commit", NOV_2022 - 30 * DAY);

    let lib = LIB_V1.replace(
        "    return False\n",
        "    return isinstance(version.parse(v), version.LegacyVersion)\n",
    );
    r.write("verlib/__init__.py", &lib);
    let tests =
        format!("{TEST_V1}\n\ndef test_legacy():\n    assert is_legacy(\"not a version\")\n");
    r.write("tests/test_verlib.py", &tests);
    let legacy = r.commit_at("Detect legacy versions", NOV_2022);

    let lib = lib.replace(
        "    return isinstance(",
        "    if v is None:\n        return False\n    return isinstance(",
    );
    r.write("verlib/__init__.py", &lib);
    let tests = format!("{tests}\n\ndef test_none():\n    assert not is_legacy(None)\n");
    r.write("tests/test_verlib.py", &tests);
    let none = r.commit_at("None is not a legacy version", NOV_2022 + DAY);

    // New metadata (a new dependency set) and a test that imports a module
    // no metadata declares.
    r.write(
        "setup.py",
        SETUP.replace("\"packaging\"", "\"packaging>=20\""),
    );
    let lib = lib.replace("    if v is None:\n", "    if v is None or v == \"\":\n");
    r.write("verlib/__init__.py", &lib);
    let tests = format!(
        "import yaml\n{tests}\n\ndef test_empty_from_yaml():\n    assert not is_legacy(yaml.safe_load(\"''\"))\n"
    );
    r.write("tests/test_verlib.py", &tests);
    let yaml = r.commit_at(
        "The empty string is not a legacy version",
        NOV_2022 + 2 * DAY,
    );
    Verlib {
        repo: r,
        legacy,
        none,
        yaml,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pins_to_the_commit_date_shares_sets_and_adds_missing_modules() {
    let v = verlib();
    let dir = tempfile::tempdir().expect("tempdir");
    let commits = dir.path().join("commits.jsonl");
    common::mine_all(&v.repo.path(), &commits);
    let provider = DockerProvider::connect().await.expect("docker");
    let bookworm = PythonImage::probe(&provider, "r2e/base:bookworm")
        .await
        .expect("probe");
    assert_eq!(bookworm.version.to_string(), "3.11");
    let opts = EnvOptions {
        pythons: vec![bookworm],
        repo_name: Some("verlib".into()),
        ..Default::default()
    };
    let envs = dir.path().join("envs.jsonl");
    let events = Mutex::new(Vec::new());
    let summary = build_envs(&provider, &v.repo.path(), &commits, &envs, &opts, &|e| {
        events.lock().expect("lock").push(e)
    })
    .await
    .expect("envs");
    let rows: Vec<EnvRow> = r2e_core::jsonl::read(&envs).expect("rows");
    let by: HashMap<&str, &EnvRow> = rows.iter().map(|r| (r.hash.as_str(), r)).collect();
    assert_eq!(rows.len(), 4, "{rows:#?}");
    assert_eq!(summary.skipped, 1, "the root commit has no parent");
    assert_eq!((summary.built, summary.images), (3, 2), "{rows:#?}");

    let legacy = by[v.legacy.as_str()];
    assert_eq!(legacy.outcome, EnvOutcome::Built, "{legacy:#?}");
    assert!(legacy.exclude_newer.starts_with("2022-11-15T00:00:00"));
    assert_eq!(legacy.setup.python, "3.11");
    assert_eq!(legacy.spec.requires, vec!["packaging"]);
    assert_eq!(
        legacy.spec.sources,
        vec!["setup.py", "dev-requirements.txt"]
    );
    // The development tools are left out, so the first try works.
    assert_eq!(legacy.spec.dev_tools, vec!["Sphinx==1.1.3", "tox==1.5.0"]);
    assert_eq!(legacy.spec.test_requires, vec!["pytest"]);
    assert_eq!(legacy.attempts.len(), 1, "{legacy:#?}");
    // The next day's fix shares the image, built at the earlier commit.
    let none = by[v.none.as_str()];
    assert_eq!((&none.image, &none.built_at), (&legacy.image, &v.legacy));
    assert!(none.attempts.is_empty());
    // The newest release before the date, not today's.
    let packaging = python_in(
        &legacy.image,
        "import packaging; print(packaging.__version__)",
    );
    assert_eq!(packaging, "21.3");
    let yaml = by[v.yaml.as_str()];
    assert_ne!(yaml.image, legacy.image);
    assert_eq!(yaml.setup.added, vec!["PyYAML"], "{yaml:#?}");
    let labels: Vec<Option<&str>> = yaml.attempts.iter().map(|a| a.label()).collect();
    assert_eq!(labels.last(), Some(&None), "{yaml:#?}");
    assert!(labels.contains(&Some("missing_module")), "{yaml:#?}");
    let pyyaml = python_in(&yaml.image, "import yaml; print(yaml.__version__)");
    assert_eq!(pyyaml, "6.0", "the newest PyYAML of November 2022");
    assert!(
        events
            .lock()
            .expect("lock")
            .iter()
            .any(|e| matches!(e, EnvEvent::Planned { sets: 2, .. }))
    );

    // Validation in those environments: every fix is a task, which needs
    // packaging < 22 and PyYAML.
    let map = load_env_map(&envs).expect("map");
    let vopts = ValidateOptions {
        repo_name: Some("verlib".into()),
        envs: Some(map),
        ..Default::default()
    };
    let (_, vrows) = common::validate_all(&v.repo.path(), &commits, dir.path(), &vopts).await;
    let vby: HashMap<&str, &ValidatedCommit> = vrows.iter().map(|r| (r.hash.as_str(), r)).collect();
    for (hash, f2p) in [
        (&v.legacy, "tests/test_verlib.py::test_legacy"),
        (&v.none, "tests/test_verlib.py::test_none"),
        (&v.yaml, "tests/test_verlib.py::test_empty_from_yaml"),
    ] {
        let row = vby[hash.as_str()];
        assert_eq!(row.outcome, Outcome::Valid, "{row:#?}");
        assert_eq!(row.fail_to_pass, vec![f2p.to_string()]);
    }

    // A rerun builds nothing and keeps the rows.
    let again = Mutex::new(0usize);
    build_envs(&provider, &v.repo.path(), &commits, &envs, &opts, &|e| {
        if let EnvEvent::Attempt { .. } = e {
            *again.lock().expect("lock") += 1;
        }
    })
    .await
    .expect("rerun");
    assert_eq!(*again.lock().expect("lock"), 0);
    assert_eq!(
        r2e_core::jsonl::read::<EnvRow>(&envs).expect("rows").len(),
        4
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn passes_over_a_python_too_new_for_the_code() {
    // Made in December 2025: Python 3.13 is the newest, but the package
    // imports `imp`, gone from 3.12 on.
    let dec_2025: u64 = 1_764_547_200;
    let mut r = Repo::new();
    r.write(
        "pyproject.toml",
        "[build-system]\nrequires = [\"setuptools>=64\"]\nbuild-backend = \"setuptools.build_meta\"\n\n[project]\nname = \"oldimp\"\nversion = \"0.1\"\nrequires-python = \">=3.8\"\n",
    );
    r.write(
        "oldimp/__init__.py",
        "import imp\n\n\ndef half(x):\n    return x // 2\n",
    );
    r.write(
        "tests/test_oldimp.py",
        "from oldimp import half\n\n\ndef test_half():\n    assert half(4) == 2\n",
    );
    r.commit_at("Initial commit", dec_2025 - DAY);
    r.write(
        "oldimp/__init__.py",
        "import imp\n\n\ndef half(x):\n    return x / 2\n",
    );
    r.write(
        "tests/test_oldimp.py",
        "from oldimp import half\n\n\ndef test_half():\n    assert half(4) == 2\n\n\ndef test_half_odd():\n    assert half(3) == 1.5\n",
    );
    let fix = r.commit_at("half of odd numbers", dec_2025);

    let run = common::build_all(&r, &["r2e/base:bookworm", "r2e/base:trixie"], "oldimp").await;
    let rows = &run.rows;
    let row = rows.iter().find(|r| r.hash == fix).expect("fix row");
    assert_eq!(row.outcome, EnvOutcome::Built, "{row:#?}");
    let tried: Vec<(&str, Option<&str>)> = row
        .attempts
        .iter()
        .map(|a| (a.setup.python.as_str(), a.label()))
        .collect();
    assert_eq!(
        tried,
        vec![("3.13", Some("python_too_new")), ("3.11", None)],
        "{row:#?}"
    );
    assert_eq!(row.setup.python, "3.11");
    assert_eq!(row.setup.method, Some(Method::Editable));
    assert_eq!(
        python_in(
            &row.image,
            "import sys, oldimp; print(sys.version_info[:2], oldimp.half(3))"
        ),
        "(3, 11) 1.5"
    );
}

/// Removes the images of `repository`: images left by an earlier run of a
/// changed search would hide the check that this run keeps none.
fn remove_images(repository: &str) {
    let old_images = Command::new("docker")
        .args(["images", "-q", repository])
        .output()
        .expect("docker images");
    for id in String::from_utf8_lossy(&old_images.stdout).split_whitespace() {
        let rmi = Command::new("docker")
            .args(["rmi", "-f", id])
            .output()
            .expect("docker rmi");
        assert!(rmi.status.success(), "{rmi:?}");
    }
}

/// Python 2 code (a `print` statement) parses on no Python 3: pytest starts,
/// but the package does not import, so no environment counts as built. A set
/// of May 2023 tries 3.11 and, the code being too old for it, not the newer
/// 3.13; a set of December 2025 tries 3.13, then the older 3.11. Both end as
/// `no_python_old_enough`, and neither leaves an image. (No syntax that 3.11
/// accepts and 3.13 rejects was found; `passes_over_a_python_too_new_for_the_code`
/// shows the move to an older Python that then works, on a removed module.)
#[tokio::test(flavor = "multi_thread")]
async fn code_older_than_every_python_gets_no_environment() {
    remove_images("r2e-gen/py2calc-env");
    let may_2023: u64 = 1_682_899_200;
    let dec_2025: u64 = 1_764_547_200;
    let mut r = Repo::new();
    r.write(
        "pyproject.toml",
        "[build-system]\nrequires = [\"setuptools>=64\"]\nbuild-backend = \"setuptools.build_meta\"\n\n[project]\nname = \"py2calc\"\nversion = \"0.1\"\n",
    );
    let lib = "def half(x):\n    print \"halving\", x\n    return x // 2\n";
    r.write("py2calc/__init__.py", lib);
    let test = "from py2calc import half\n\n\ndef test_half():\n    assert half(4) == 2\n";
    r.write("tests/test_py2calc.py", test);
    r.commit_at("Initial commit", may_2023 - DAY);
    r.write("py2calc/__init__.py", lib.replace("x // 2", "x / 2"));
    let test = format!("{test}\n\ndef test_half_odd():\n    assert half(3) == 1.5\n");
    r.write("tests/test_py2calc.py", &test);
    let old = r.commit_at("half of odd numbers", may_2023);
    r.write(
        "py2calc/__init__.py",
        lib.replace("x // 2", "x / 2.0 if x else 0"),
    );
    r.write(
        "tests/test_py2calc.py",
        format!("{test}\n\ndef test_half_zero():\n    assert half(0) == 0\n"),
    );
    let new = r.commit_at("half of zero", dec_2025);

    let run = common::build_all(&r, &["r2e/base:bookworm", "r2e/base:trixie"], "py2calc").await;
    let provider = DockerProvider::connect().await.expect("docker");
    let summary = &run.summary;
    assert_eq!(
        summary.failures.get("no_python_old_enough"),
        Some(&2),
        "{summary:#?}"
    );
    assert_eq!((summary.built, summary.images), (0, 0), "{summary:#?}");
    let rows = &run.rows;
    for (hash, tried) in [(&old, vec!["3.11"]), (&new, vec!["3.13", "3.11"])] {
        let row = rows.iter().find(|r| &r.hash == hash).expect("row");
        assert_eq!(row.outcome, EnvOutcome::Failed, "{row:#?}");
        let reason = row.reason.as_deref().unwrap_or_default();
        assert!(reason.starts_with("no_python_old_enough: "), "{reason}");
        assert!(reason.contains("--python IMAGE"), "{reason}");
        let got: Vec<(&str, Option<&str>)> = row
            .attempts
            .iter()
            .map(|a| (a.setup.python.as_str(), a.label()))
            .collect();
        let want: Vec<(&str, Option<&str>)> =
            tried.iter().map(|p| (*p, Some("python_too_new"))).collect();
        assert_eq!(got, want, "{row:#?}");
        let error = row.attempts[0].error.as_deref().unwrap_or_default();
        assert!(
            error.starts_with("python_too_new: py2calc/__init__.py does not parse"),
            "{error}"
        );
        let image = format!("r2e-gen/py2calc-env:{}", row.key);
        assert!(
            !provider.image_exists(&image).await.expect("docker"),
            "{image} kept"
        );
    }
}

/// A user's image (`r2e gen env --python IMAGE`) may keep its python3
/// elsewhere than Debian's `/usr/bin` (the official `python:3.x` images use
/// `/usr/local/bin`): the probe finds it on the image's `PATH`, and the
/// environment is made with it.
#[tokio::test(flavor = "multi_thread")]
async fn a_users_image_with_python_elsewhere_builds_environments() {
    let image = "r2e-test/python-elsewhere:latest";
    let dockerfile = "FROM r2e/base:bookworm\n\
        RUN mkdir -p /opt/py/bin && ln -s /usr/bin/python3.11 /opt/py/bin/python3 \
        && rm /usr/bin/python3\n\
        ENV PATH=/opt/py/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n";
    let mut build = Command::new("docker")
        .args(["build", "-q", "-t", image, "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("docker build");
    std::io::Write::write_all(
        &mut build.stdin.take().expect("stdin"),
        dockerfile.as_bytes(),
    )
    .expect("dockerfile");
    assert!(build.wait().expect("docker build").success());
    let provider = DockerProvider::connect().await.expect("docker");
    let python = PythonImage::probe(&provider, image).await.expect("probe");
    assert_eq!(
        (python.interpreter.as_str(), python.version.to_string()),
        ("/opt/py/bin/python3", "3.11".to_string())
    );

    let may_2023: u64 = 1_682_899_200;
    let mut r = Repo::new();
    r.write(
        "pyproject.toml",
        "[build-system]\nrequires = [\"setuptools>=64\"]\nbuild-backend = \"setuptools.build_meta\"\n\n[project]\nname = \"halver\"\nversion = \"0.1\"\n",
    );
    r.write("halver/__init__.py", "def half(x):\n    return x // 2\n");
    let test = "from halver import half\n\n\ndef test_half():\n    assert half(4) == 2\n";
    r.write("tests/test_halver.py", test);
    r.commit_at("Initial commit", may_2023 - DAY);
    r.write("halver/__init__.py", "def half(x):\n    return x / 2\n");
    r.write(
        "tests/test_halver.py",
        format!("{test}\n\ndef test_half_odd():\n    assert half(3) == 1.5\n"),
    );
    let fix = r.commit_at("half of odd numbers", may_2023);
    let dir = tempfile::tempdir().expect("tempdir");
    let commits = dir.path().join("commits.jsonl");
    common::mine_all(&r.path(), &commits);
    let opts = EnvOptions {
        pythons: vec![python],
        repo_name: Some("halver".into()),
        ..Default::default()
    };
    let envs = dir.path().join("envs.jsonl");
    build_envs(&provider, &r.path(), &commits, &envs, &opts, &|_| {})
        .await
        .expect("envs");
    let rows: Vec<EnvRow> = r2e_core::jsonl::read(&envs).expect("rows");
    let row = rows.iter().find(|r| r.hash == fix).expect("fix row");
    assert_eq!(row.outcome, EnvOutcome::Built, "{row:#?}");
    assert_eq!(
        python_in(
            &row.image,
            "import os, sys, halver; print(os.path.realpath(sys.executable), halver.half(3))"
        ),
        "/usr/bin/python3.11 1.5"
    );
}

/// A set built at a commit with the package at `movpkg/` also serves the
/// set's later commits, made after the package moved to `src/movpkg/` with
/// the same requirements (marshmallow did so in 2019): the checkout is on the
/// path, not only where the editable install pointed when it was made.
#[tokio::test(flavor = "multi_thread")]
async fn a_set_serves_commits_that_moved_the_package_under_src() {
    // 2024-06-03: setuptools 70, pytest 8.2.
    let june_2024: u64 = 1_717_372_800;
    let setup = |src: bool| {
        format!(
            "from setuptools import setup\n\nsetup(name=\"movpkg\", version=\"0.1\", \
             packages=[\"movpkg\"]{})\n",
            if src {
                ", package_dir={\"\": \"src\"}"
            } else {
                ""
            }
        )
    };
    let lib = |body: &str| {
        format!("def half(x):\n    return {body}\n\n\ndef double(x):\n    return x + x\n")
    };
    let tests = "from movpkg import double, half\n\n\ndef test_half():\n    assert half(4) == 2\n";
    let mut r = Repo::new();
    r.write("setup.py", setup(false));
    r.write("movpkg/__init__.py", lib("x // 2"));
    r.write("tests/test_movpkg.py", tests);
    r.commit_at("Initial commit", june_2024 - 3 * DAY);
    // A fix at the flat layout: the set's first commit, where it is built.
    r.write(
        "movpkg/__init__.py",
        lib("x // 2").replace("x + x", "x * 2"),
    );
    let with_double = format!("{tests}\n\ndef test_double():\n    assert double(3) == 6\n");
    r.write("tests/test_movpkg.py", &with_double);
    r.commit_at("double by multiplying", june_2024 - 2 * DAY);
    // The move, requirements unchanged.
    let moved = lib("x // 2").replace("x + x", "x * 2");
    std::fs::remove_dir_all(r.path().join("movpkg")).expect("rm");
    r.write("setup.py", setup(true));
    r.write("src/movpkg/__init__.py", &moved);
    r.commit_at("Move the package under src/", june_2024 - DAY);
    // A fix after the move.
    r.write("src/movpkg/__init__.py", moved.replace("x // 2", "x / 2"));
    r.write(
        "tests/test_movpkg.py",
        format!("{with_double}\n\ndef test_half_odd():\n    assert half(3) == 1.5\n"),
    );
    let fix = r.commit_at("half of odd numbers", june_2024);

    let run = common::build_all(&r, &["r2e/base:bookworm"], "movpkg").await;
    let summary = &run.summary;
    assert_eq!(summary.images, 1, "one set for all three commits");
    let map = load_env_map(&run.envs).expect("map");
    let vopts = ValidateOptions {
        repo_name: Some("movpkg".into()),
        envs: Some(map),
        ..Default::default()
    };
    let (_, rows) = common::validate_all(&r.path(), &run.commits, run.dir.path(), &vopts).await;
    let row = rows.iter().find(|v| v.hash == fix).expect("fix row");
    assert_eq!(row.outcome, Outcome::Valid, "{row:#?}");
    assert_eq!(row.fail_to_pass, ["tests/test_movpkg.py::test_half_odd"]);
    // The task image imports the moved package from the checkout.
    assert_eq!(
        python_in(&row.image, "import movpkg; print(movpkg.__file__)"),
        "/testbed/src/movpkg/__init__.py"
    );
}

/// An environment is built only when the package imports. The package
/// imports `packaging.utils.is_normalized_name`, which packaging 21.3 (the
/// newest release in November 2022) lacks:
/// - unpinned, the dated packaging fails the tests' collection; packaging is
///   let past the date and the set is built with a newer one;
/// - pinned `packaging==21.3` half a year later, letting it past the date
///   changes nothing: the set fails as `collection_fails`, the row's reason
///   naming the exception, and keeps no image;
/// - a commit with no test modules a year later (its own set) imports the
///   package instead, and fails as `package_import_fails`.
#[tokio::test(flavor = "multi_thread")]
async fn a_package_that_does_not_import_on_its_dependencies_gets_no_environment() {
    remove_images("r2e-gen/normname-env");
    let setup = |req: &str| {
        format!(
            "from setuptools import setup\n\nsetup(name=\"normname\", version=\"0.1\", \
             packages=[\"normname\"], install_requires=[\"{req}\"])\n"
        )
    };
    let lib = "from packaging.utils import is_normalized_name\n\n\ndef ok(name):\n    return is_normalized_name(name)\n";
    let test = "from normname import ok\n\n\ndef test_ok():\n    assert ok(\"a-b\")\n";
    let mut r = Repo::new();
    r.write("setup.py", setup("packaging"));
    r.write("normname/__init__.py", lib);
    r.write("tests/test_normname.py", test);
    r.commit_at("Initial commit", NOV_2022 - 30 * DAY);
    let lib = format!("{lib}\n\ndef bad(name):\n    return not ok(name)\n");
    r.write("normname/__init__.py", &lib);
    let test = format!(
        "{test}\n\ndef test_bad():\n    from normname import bad\n    assert bad(\"A_B\")\n"
    );
    r.write("tests/test_normname.py", &test);
    let relaxed = r.commit_at("bad names", NOV_2022);
    r.write("setup.py", setup("packaging==21.3"));
    let lib = format!("{lib}\n\ndef both(name):\n    return ok(name) or bad(name)\n");
    r.write("normname/__init__.py", &lib);
    let test = format!(
        "{test}\n\ndef test_both():\n    from normname import both\n    assert both(\"x\")\n"
    );
    r.write("tests/test_normname.py", &test);
    let pinned = r.commit_at("both", NOV_2022 + 200 * DAY);
    r.write(
        "normname/__init__.py",
        format!("{lib}\n\nNAME = \"normname\"\n"),
    );
    let untested = r.commit_at("a name", NOV_2022 + 400 * DAY);

    let run = common::build_all(&r, &["r2e/base:bookworm"], "normname").await;
    let provider = DockerProvider::connect().await.expect("docker");
    let summary = &run.summary;
    let rows = &run.rows;
    let row = |hash: &str| rows.iter().find(|r| r.hash == hash).expect("row").clone();
    let labels = |row: &EnvRow| -> Vec<Option<String>> {
        row.attempts
            .iter()
            .map(|a| a.label().map(str::to_string))
            .collect()
    };

    let built = row(&relaxed);
    assert_eq!(built.outcome, EnvOutcome::Built, "{built:#?}");
    assert_eq!(built.setup.relaxed, ["packaging"], "{built:#?}");
    assert_eq!(
        labels(&built),
        [Some("collection_fails".to_string()), None],
        "{built:#?}"
    );
    let first = built.attempts[0].error.as_deref().unwrap_or_default();
    assert!(
        first.starts_with(
            "collection_fails: tests/test_normname.py: ImportError: cannot import name \
             'is_normalized_name' from 'packaging.utils'"
        ) && first
            .ends_with("(raised in normname/__init__.py line 1), from the dependency `packaging`"),
        "{first}"
    );
    assert!(provider.image_exists(&built.image).await.expect("docker"));

    for (hash, label) in [
        (&pinned, "collection_fails"),
        (&untested, "package_import_fails"),
    ] {
        let failed = row(hash);
        assert_eq!(failed.outcome, EnvOutcome::Failed, "{failed:#?}");
        let l = Some(label.to_string());
        assert_eq!(labels(&failed), [l.clone(), l], "{failed:#?}");
        assert_eq!(
            failed.attempts[1].setup.relaxed,
            ["packaging"],
            "{failed:#?}"
        );
        let reason = failed.reason.as_deref().unwrap_or_default();
        assert!(
            reason.starts_with(&format!("{label} (2 tries; last: {label}: ")),
            "{reason}"
        );
        assert!(
            reason.contains("cannot import name 'is_normalized_name'"),
            "{reason}"
        );
        let image = format!("r2e-gen/normname-env:{}", failed.key);
        assert!(
            !provider.image_exists(&image).await.expect("docker"),
            "{image} kept"
        );
    }
    assert_eq!(
        (summary.built, summary.images, summary.failed),
        (1, 1, 2),
        "{summary:#?}"
    );
    assert_eq!(summary.failures.get("collection_fails"), Some(&1));
    assert_eq!(summary.failures.get("package_import_fails"), Some(&1));
}

/// `addopts = --cov=PKG` in pytest.ini with no pytest-cov in the metadata:
/// pytest stops with a usage error, and the plugin of the option is added as
/// a missing module is.
#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_that_addopts_asks_for_is_added() {
    let mut r = Repo::new();
    r.write(
        "setup.py",
        "from setuptools import setup\n\nsetup(name=\"covpkg\", version=\"0.1\", packages=[\"covpkg\"])\n",
    );
    r.write("pytest.ini", "[pytest]\naddopts = --cov=covpkg\n");
    let lib = "def double(x):\n    return 2 * x\n";
    r.write("covpkg/__init__.py", lib);
    let test = "from covpkg import double\n\n\ndef test_double():\n    assert double(2) == 4\n";
    r.write("tests/test_covpkg.py", test);
    r.commit_at("Initial commit", NOV_2022 - DAY);
    r.write(
        "covpkg/__init__.py",
        format!("{lib}\n\ndef half(x):\n    return x / 2\n"),
    );
    r.write(
        "tests/test_covpkg.py",
        format!(
            "{test}\n\ndef test_half():\n    from covpkg import half\n    assert half(3) == 1.5\n"
        ),
    );
    let fix = r.commit_at("half", NOV_2022);

    let run = common::build_all(&r, &["r2e/base:bookworm"], "covpkg").await;
    let rows = &run.rows;
    let row = rows.iter().find(|r| r.hash == fix).expect("fix row");
    assert_eq!(row.outcome, EnvOutcome::Built, "{row:#?}");
    let labels: Vec<Option<&str>> = row.attempts.iter().map(|a| a.label()).collect();
    assert_eq!(labels, [Some("missing_module"), None], "{row:#?}");
    assert_eq!(row.setup.added, ["pytest-cov"]);
    assert_eq!(
        python_in(&row.image, "import pytest_cov; print('ok')"),
        "ok"
    );
    let _ = Command::new("docker")
        .args(["rmi", "-f", &row.image])
        .output();
}
