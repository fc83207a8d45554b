//! Eval scripts and test directives for SWE-bench-shaped rows, checked against
//! what the SWE-bench harness (4.x and 5.x) produces for the same rows.

use r2e_core::Task;
use r2e_core::row::{ConvertOptions, task_from_value};
use r2e_eval::spec::{
    Generation, SpecError, eval_script, eval_script_with, test_directives, test_files,
};
use serde_json::{Value, json};

fn task(row: Value) -> Task {
    task_from_value(&row, &ConvertOptions::default()).expect("valid row")
}

fn row(id: &str, repo: &str, version: &str, base: &str, test_patch: &str) -> Value {
    json!({
        "instance_id": id,
        "repo": repo,
        "version": version,
        "base_commit": base,
        "problem_statement": "issue text",
        "patch": "",
        "test_patch": test_patch,
        "FAIL_TO_PASS": "[]",
        "PASS_TO_PASS": "[]",
    })
}

const DJANGO_BASE: &str = "d26b2424437dabeeca94d7900b37d2df4410da0c";

/// A modified test module, a new data file and a new test module.
const DJANGO_PATCH: &str = concat!(
    "diff --git a/tests/auth_tests/test_validators.py b/tests/auth_tests/test_validators.py\n",
    "--- a/tests/auth_tests/test_validators.py\n",
    "+++ b/tests/auth_tests/test_validators.py\n",
    "@@ -237,6 +237,6 @@ def test_unicode_validator(self):\n",
    "         invalid_usernames = [\n",
    "            \"o'connell\",\n",
    "-            \"en-dash\",\n",
    "+            \"en-dash\", 'trailingnewline\\n',\n",
    "         ]\n",
    "         v = validators.UnicodeUsernameValidator()\n",
    "         for valid in valid_usernames:\n",
    "diff --git a/tests/auth_tests/fixtures/users.json b/tests/auth_tests/fixtures/users.json\n",
    "new file mode 100644\n",
    "--- /dev/null\n",
    "+++ b/tests/auth_tests/fixtures/users.json\n",
    "@@ -0,0 +1 @@\n",
    "+[]\n",
    "diff --git a/tests/auth_tests/models/proxy.py b/tests/auth_tests/models/proxy.py\n",
    "new file mode 100644\n",
    "--- /dev/null\n",
    "+++ b/tests/auth_tests/models/proxy.py\n",
    "@@ -0,0 +1 @@\n",
    "+from django.db import models\n",
);

fn django() -> Task {
    task(row(
        "django__django-11099",
        "django/django",
        "3.0",
        DJANGO_BASE,
        DJANGO_PATCH,
    ))
}

const SYMPY_BASE: &str = "cffd4e0f86fefd4802349a9f9b19ed70934ea354";

const SYMPY_PATCH: &str = concat!(
    "diff --git a/sympy/core/tests/test_basic.py b/sympy/core/tests/test_basic.py\n",
    "--- a/sympy/core/tests/test_basic.py\n",
    "+++ b/sympy/core/tests/test_basic.py\n",
    "@@ -34,6 +34,12 @@ def test_structure():\n",
    "     assert bool(b1)\n",
    " \n",
    " \n",
    "+def test_immutable():\n",
    "+    assert not hasattr(b1, '__dict__')\n",
    "+    with raises(AttributeError):\n",
    "+        b1.x = 1\n",
    "+\n",
    "+\n",
    " def test_equality():\n",
    "     instances = [b1, b2, b3, b21, Basic(b1, b1, b1), Basic]\n",
    "     for i, b_i in enumerate(instances):\n",
);

fn sympy() -> Task {
    task(row(
        "sympy__sympy-20590",
        "sympy/sympy",
        "1.7",
        SYMPY_BASE,
        SYMPY_PATCH,
    ))
}

/// The lines every SWE-bench script starts with, up to the repo's install command.
fn swebench_head(base: &str, eval_commands: &str, install: &str) -> String {
    format!(
        "#!/bin/bash\nset -uxo pipefail\nsource /opt/miniconda3/bin/activate\nconda activate testbed\n\
         cd /testbed\n{eval_commands}git config --global --add safe.directory /testbed\ncd /testbed\n\
         git status\ngit show\ngit -c core.fileMode=false diff {base}\n\
         source /opt/miniconda3/bin/activate\nconda activate testbed\n{install}\n"
    )
}

const DJANGO_LOCALE: &str = "sed -i '/en_US.UTF-8/s/^# //g' /etc/locale.gen && locale-gen\n\
                             export LANG=en_US.UTF-8\nexport LANGUAGE=en_US:en\nexport LC_ALL=en_US.UTF-8\n";

#[test]
fn django_script_matches_swebench_4() {
    let reset = format!("git checkout {DJANGO_BASE} tests/auth_tests/test_validators.py\n");
    let want = format!(
        "{head}{reset}git apply -v - <<'EOF_114329324912'\n{DJANGO_PATCH}\nEOF_114329324912\n\
         : '>>>>> Start Test Output'\n\
         ./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1 auth_tests.test_validators auth_tests.models.proxy\n\
         : '>>>>> End Test Output'\n{reset}",
        head = swebench_head(DJANGO_BASE, DJANGO_LOCALE, "python -m pip install -e ."),
    );
    assert_eq!(eval_script(&django()).unwrap(), want);
}

#[test]
fn django_directives_are_dotted_modules_without_data_files() {
    assert_eq!(
        test_directives(&django()),
        ["auth_tests.test_validators", "auth_tests.models.proxy"]
    );
    // New files are applied but not reset: they do not exist at the base commit.
    assert_eq!(
        test_files(DJANGO_PATCH),
        ["tests/auth_tests/test_validators.py"]
    );
}

#[test]
fn sympy_script_uses_bin_test_on_file_paths() {
    let reset = format!("git checkout {SYMPY_BASE} sympy/core/tests/test_basic.py\n");
    let want = format!(
        "{head}{reset}git apply -v - <<'EOF_114329324912'\n{SYMPY_PATCH}\nEOF_114329324912\n\
         : '>>>>> Start Test Output'\n\
         PYTHONWARNINGS='ignore::UserWarning,ignore::SyntaxWarning' bin/test -C --verbose sympy/core/tests/test_basic.py\n\
         : '>>>>> End Test Output'\n{reset}",
        head = swebench_head(SYMPY_BASE, "", "python -m pip install -e ."),
    );
    assert_eq!(eval_script(&sympy()).unwrap(), want);
    assert_eq!(
        test_directives(&sympy()),
        ["sympy/core/tests/test_basic.py"]
    );
}

#[test]
fn swebench_5_derives_the_delimiter_and_records_the_exit_code() {
    let script = eval_script_with(&sympy(), Generation::V5).unwrap();
    let v4 = eval_script(&sympy()).unwrap();
    // Delimiter as swebench 5.x's generate_heredoc_delimiter names it (checked with Python).
    assert_eq!(
        script,
        v4.replace("EOF_114329324912", "EOF_ef652a21d17b").replace(
            "\n: '>>>>> End Test Output'\n",
            "\nSWEBENCH_TEST_EXIT_CODE=$?\n: '>>>>> End Test Output'\n\
             echo \">>>>> Test Exit Code: $SWEBENCH_TEST_EXIT_CODE\"\n",
        )
    );
    let django = eval_script_with(&django(), Generation::V5).unwrap();
    assert!(
        django.contains("git apply -v - <<'EOF_5cb582c8934b'\n"),
        "{django}"
    );
}

#[test]
fn other_repos_take_their_specs() {
    let cases = [
        (
            "astropy/astropy",
            "5.1",
            "pytest -rA astropy/io/tests/test_x.py",
            "python -m pip install -e .[test] --verbose",
        ),
        (
            "astropy/astropy",
            "1.3",
            "pytest -rA -vv -o console_output_style=classic --tb=no astropy/io/tests/test_x.py",
            "python -m pip install -e .[test] --verbose",
        ),
        (
            "sphinx-doc/sphinx",
            "3.5",
            "tox --current-env -epy39 -v -- astropy/io/tests/test_x.py",
            "python -m pip install -e .[test]",
        ),
        (
            "mwaskom/seaborn",
            "0.12",
            "pytest --no-header -rA astropy/io/tests/test_x.py",
            "python -m pip install -e .[dev]",
        ),
        (
            "scikit-learn/scikit-learn",
            "0.22",
            "pytest -rA astropy/io/tests/test_x.py",
            "python -m pip install -v --no-use-pep517 --no-build-isolation -e .",
        ),
        (
            "psf/requests",
            "2.0",
            "pytest -rA astropy/io/tests/test_x.py",
            "python -m pip install .",
        ),
        (
            "django/django",
            "1.9",
            "./tests/runtests.py --verbosity 2 astropy.io.tests.test_x",
            "python setup.py install",
        ),
    ];
    let patch = "diff --git a/astropy/io/tests/test_x.py b/astropy/io/tests/test_x.py\n\
                 --- a/astropy/io/tests/test_x.py\n+++ b/astropy/io/tests/test_x.py\n@@ -1 +1 @@\n-a\n+b\n";
    for (repo, version, test_line, install) in cases {
        let script = eval_script(&task(row("x__y-1", repo, version, "abc", patch))).unwrap();
        let lines: Vec<&str> = script.lines().collect();
        let start = lines
            .iter()
            .position(|l| l.contains(">>>>> Start Test Output"))
            .unwrap();
        assert_eq!(lines[start + 1], test_line, "{repo} {version}");
        assert!(
            lines.contains(&install),
            "{repo} {version}: no `{install}` in\n{script}"
        );
    }
    // Django 1.x–2.2 set the locale through exports.
    let old = eval_script(&task(row("x__y-1", "django/django", "2.2", "abc", patch))).unwrap();
    assert!(old.contains("cd /testbed\nexport LANG=en_US.UTF-8\nexport LC_ALL=en_US.UTF-8\n"));
}

#[test]
fn reset_files_follow_unidiff() {
    let patch = concat!(
        "diff --git a/tests/test_gone.py b/tests/test_gone.py\n",
        "deleted file mode 100644\n",
        "--- a/tests/test_gone.py\n",
        "+++ /dev/null\n",
        "@@ -1,2 +0,0 @@\n",
        "-def test_gone():\n",
        "---- a/looks/like/a/header.py\n",
        "diff --git a/tests/test_old.py b/tests/test_new.py\n",
        "similarity index 90%\n",
        "rename from tests/test_old.py\n",
        "rename to tests/test_new.py\n",
        "--- a/tests/test_old.py\n",
        "+++ b/tests/test_new.py\n",
        "@@ -1 +1 @@\n",
        "-a\n",
        "+b\n",
        "diff --git a/tests/baseline/img.png b/tests/baseline/img.png\n",
        "index 6666666..7777777 100644\n",
        "Binary files a/tests/baseline/img.png and b/tests/baseline/img.png differ\n",
        "diff --git a/tests/baseline/new.png b/tests/baseline/new.png\n",
        "new file mode 100644\n",
        "Binary files /dev/null and b/tests/baseline/new.png differ\n",
        "diff --git a/tests/mode.py b/tests/mode.py\n",
        "old mode 100644\n",
        "new mode 100755\n",
    );
    assert_eq!(
        test_files(patch),
        [
            "tests/test_gone.py",
            "tests/test_old.py",
            "tests/baseline/img.png",
            "tests/mode.py"
        ]
    );
    let t = task(row("x__y-1", "pytest-dev/pytest", "7.4", "abc", patch));
    assert_eq!(
        test_directives(&t),
        ["tests/test_gone.py", "tests/test_new.py", "tests/mode.py"]
    );
}

#[test]
fn directives_come_from_any_line_naming_a_diff() {
    // SWE-bench's regex is not anchored: a diff quoted inside a test counts too,
    // and the path is what follows the last ` b/`.
    let patch = concat!(
        "diff --git a/testing/test_patchy.py b/testing/test_patchy.py\n",
        "--- a/testing/test_patchy.py\n",
        "+++ b/testing/test_patchy.py\n",
        "@@ -1 +1,2 @@\n",
        " SAMPLE = '''\n",
        "+ quoted: diff --git a/x b/y b/z.py\n",
    );
    let t = task(row("x__y-1", "pytest-dev/pytest", "7.4", "abc", patch));
    assert_eq!(test_directives(&t), ["testing/test_patchy.py", "z.py"]);
    assert_eq!(test_files(patch), ["testing/test_patchy.py"]);
}

#[test]
fn rows_carrying_an_eval_script_default_to_swebench_5() {
    let mut r = row("x__y-1", "owner/js-lib", "1.0", "abc", "");
    r["eval_script"] = json!(
        "#!/bin/bash\nset -uxo pipefail\ncd /testbed\n: '>>>>> Start Test Output'\nnpx jest\n: '>>>>> End Test Output'\ngit checkout abc\n"
    );
    let t = task(r);
    assert_eq!(Generation::for_task(&t), Generation::V5);
    assert_eq!(
        eval_script(&t).unwrap(),
        "#!/bin/bash\nset -uxo pipefail\ncd /testbed\n: '>>>>> Start Test Output'\nnpx jest\n\
         SWEBENCH_TEST_EXIT_CODE=$?\n: '>>>>> End Test Output'\n\
         echo \">>>>> Test Exit Code: $SWEBENCH_TEST_EXIT_CODE\"\ngit checkout abc\n"
    );
    // Generation 4 never read that column.
    let err = eval_script_with(&t, Generation::V4)
        .unwrap_err()
        .to_string();
    assert!(err.contains("generation v5 runs it"), "{err}");
}

#[test]
fn tasks_without_a_spec_run_the_rows_test_cmd() {
    let mut r = row("acme__widgets-7", "acme/widgets", "0.3", "abc", SYMPY_PATCH);
    r["test_cmd"] = json!("python -m pytest -rA sympy/core/tests/test_basic.py");
    assert_eq!(
        eval_script(&task(r)).unwrap(),
        format!(
            "#!/bin/bash\nset -uxo pipefail\ncd /testbed\n\
             git checkout abc sympy/core/tests/test_basic.py\n\
             git apply -v - <<'EOF_114329324912'\n{SYMPY_PATCH}\nEOF_114329324912\n\
             : '>>>>> Start Test Output'\npython -m pytest -rA sympy/core/tests/test_basic.py\n\
             : '>>>>> End Test Output'\ngit checkout abc sympy/core/tests/test_basic.py\n"
        )
    );
    // Nothing to reset or apply: only the test command between the markers.
    let mut r = row("acme__widgets-8", "acme/widgets", "0.3", "abc", "");
    r["test_cmd"] = json!("make check");
    assert_eq!(
        eval_script(&task(r)).unwrap(),
        "#!/bin/bash\nset -uxo pipefail\ncd /testbed\n: '>>>>> Start Test Output'\nmake check\n: '>>>>> End Test Output'\n"
    );
}

#[test]
fn missing_test_command_says_what_to_set() {
    let err = eval_script(&task(row("x__y-1", "acme/widgets", "1.0", "abc", ""))).unwrap_err();
    assert!(matches!(err, SpecError::NoTestCommand { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("x__y-1") && msg.contains("`test_cmd`") && msg.contains("acme/widgets"),
        "{msg}"
    );

    let msg = eval_script(&task(row("x__y-2", "pallets/flask", "9.9", "abc", "")))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("cover versions 2.0, 2.1, 2.2, 2.3, 3.0, 3.1, not `9.9`"),
        "{msg}"
    );

    let mut r = row("x__y-3", "acme/widgets", "1.0", "abc", "");
    r["test_cmd"] = json!(["pytest"]);
    assert!(matches!(
        eval_script(&task(r)),
        Err(SpecError::FieldType {
            field: "test_cmd",
            ..
        })
    ));
}

#[test]
fn generation_parses_from_the_command_line() {
    assert_eq!("v4".parse::<Generation>(), Ok(Generation::V4));
    assert_eq!("V5".parse::<Generation>(), Ok(Generation::V5));
    assert!("v3".parse::<Generation>().is_err());
    assert_eq!(Generation::V5.to_string(), "v5");
}
