//! Stage 3 on older Pythons than Debian ships, from the Ubuntu base images
//! that `r2e image bootstrap` makes and CI builds: focal's 3.8 serves a
//! package whose code uses a name the standard library dropped in 3.10, after
//! 3.11 fails it; bionic's 3.6 serves code that uses `async` as a name (a
//! keyword from 3.7 on), after 3.11 and 3.8 fail it. And uv's managed
//! Pythons (`--managed-python`) from a mirror, where GitHub is not reachable.

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

/// A package whose code subclasses `collections.MutableMapping` (gone in
/// 3.10), and the commit that adds a method and its test.
fn oldmap() -> (Repo, String) {
    let lib = "import collections\n\n\nclass Store(collections.MutableMapping):\n    def __init__(self):\n        self.d = {}\n\n    def __getitem__(self, k):\n        return self.d[k]\n\n    def __setitem__(self, k, v):\n        self.d[k] = v\n\n    def __delitem__(self, k):\n        del self.d[k]\n\n    def __iter__(self):\n        return iter(self.d)\n\n    def __len__(self):\n        return len(self.d)\n";
    repo(
        "oldmap",
        lib,
        "from oldmap import Store\n\n\ndef test_set():\n    s = Store()\n    s[1] = 2\n    assert s[1] == 2\n",
        "    def get(self, k, default=None):\n        return self.d.get(k, default)\n",
        "\ndef test_get_missing():\n    assert Store().get(3) is None\n",
    )
}

/// Checks that `row` was built on 3.8 after 3.11 failed, and that its
/// image's Python is 3.8 and serves the package.
fn assert_built_on_3_8(row: &EnvRow) {
    assert_eq!(row.outcome, EnvOutcome::Built, "{row:#?}");
    assert_eq!(
        tried(row),
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
async fn code_that_needs_python_3_8_builds_on_ubuntu_focal() {
    let (r, fix) = oldmap();
    let row = build(&r, &fix, "oldmap", &["r2e/base:bookworm", "r2e/base:focal"]).await;
    assert_built_on_3_8(&row);
}

/// `--managed-python 3.8` on a machine without GitHub: uv downloads the
/// interpreter from where the host's `UV_PYTHON_DOWNLOADS_JSON_URL` says (a
/// mirror), which the search passes to its installs. The mirror here is an
/// HTTP server of the test serving a relocatable CPython 3.8 in
/// python-build-standalone's `install_only` layout, made from focal's.
#[tokio::test(flavor = "multi_thread")]
async fn code_that_needs_python_3_8_builds_on_a_uv_managed_python_from_a_mirror() {
    let mirror = tempfile::tempdir().unwrap();
    let archive = "cpython-3.8-x86_64-unknown-linux-gnu-install_only.tar.gz";
    let made = Command::new("docker")
        .args(["run", "--rm", "--network", "none", "-v"])
        .arg(format!("{}:/out", mirror.path().display()))
        .args(["--entrypoint", "sh", "r2e/base:focal", "-c"])
        .arg(format!(
            "set -e; p=/tmp/pbs/python; mkdir -p $p/bin $p/lib; \
             cp /usr/bin/python3.8 $p/bin/; cp -a /usr/lib/python3.8 $p/lib/; \
             find $p -type l -lname '/*' -delete; ln -s python3.8 $p/bin/python3; \
             tar czf /out/{archive} -C /tmp/pbs python"
        ))
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{made:?} (build focal with `r2e image bootstrap --suite focal`)"
    );
    let port = serve_files(mirror.path().to_path_buf());
    let host = docker_bridge_gateway();
    let entry = serde_json::json!({
        "cpython-3.8.2-linux-x86_64-gnu": {
            "name": "cpython", "arch": {"family": "x86_64", "variant": null},
            "os": "linux", "libc": "gnu", "major": 3, "minor": 8, "patch": 2,
            "prerelease": "", "url": format!("http://{host}:{port}/{archive}"),
            "sha256": null, "variant": null, "build": null
        }
    });
    std::fs::write(mirror.path().join("downloads.json"), entry.to_string()).unwrap();
    let (r, fix) = oldmap();
    let run = common::build_all_with(&r, &["r2e/base:bookworm"], "oldmapuv", |opts| {
        let version = r2e_gen::env::python::PyVersion::parse("3.8").unwrap();
        let managed = r2e_gen::env::PythonImage::managed(version, "r2e/base:bookworm");
        opts.pythons.push(managed);
        opts.uv_env = vec![(
            "UV_PYTHON_DOWNLOADS_JSON_URL".into(),
            format!("http://{host}:{port}/downloads.json"),
        )];
    })
    .await;
    let row = run
        .rows
        .into_iter()
        .find(|r| r.hash == fix)
        .expect("fix row");
    assert_built_on_3_8(&row);
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

/// Serves the files of `dir` over HTTP on every interface (containers reach
/// it through the bridge's gateway); returns the port.
fn serve_files(dir: std::path::PathBuf) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut line = String::new();
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            // The rest of the request head.
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                header.clear();
            }
            let name = line.split_whitespace().nth(1).unwrap_or("/");
            let reply = match std::fs::read(dir.join(name.trim_start_matches('/'))) {
                Ok(body) => {
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    r.extend(body);
                    r
                }
                Err(_) => {
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_vec()
                }
            };
            let _ = conn.write_all(&reply);
        }
    });
    port
}

/// The host's address as containers on Docker's default bridge see it:
/// their default route's gateway.
fn docker_bridge_gateway() -> String {
    let out = Command::new("docker")
        .args([
            "run",
            "--rm",
            "--entrypoint",
            "cat",
            "r2e/base:bookworm",
            "/proc/net/route",
        ])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    // Columns: Iface Destination Gateway ...; addresses in little-endian hex.
    let gateway = table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.get(1) == Some(&"00000000"))
        .and_then(|f| u32::from_str_radix(f.get(2)?, 16).ok())
        .unwrap_or_else(|| panic!("no default route in a container: {out:?}"));
    std::net::Ipv4Addr::from(gateway.swap_bytes()).to_string()
}
