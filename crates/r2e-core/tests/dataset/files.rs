//! Dataset files: JSON Lines, JSON, Parquet (single files and directories of
//! shards), gzip, conversion round trips, malformed rows and `--skip-bad`.

use crate::common::{
    Col, R2E_GYM_COLUMNS, SWE_BENCH_COLUMNS, SWE_GYM_COLUMNS, fixture, fixture_rows, write_parquet,
};
use r2e_core::Task;
use r2e_core::dataset::{self, DatasetError, LoadOptions, Loaded};
use r2e_core::row::ConvertOptions;
use r2e_core::summary::Summary;
use serde_json::{Value, json};
use std::path::Path;

const FIXTURES: [&str; 4] = [
    "r2e-gym-lite.jsonl",
    "swe-bench-verified.jsonl",
    "swe-gym.jsonl",
    "swe-smith.jsonl",
];

fn load(path: &Path) -> Loaded {
    dataset::load(path, &LoadOptions::default()).unwrap()
}

fn load_err(path: &Path) -> String {
    dataset::load(path, &LoadOptions::default())
        .unwrap_err()
        .to_string()
}

fn tasks_of(name: &str) -> Vec<Task> {
    load(&fixture(name)).tasks
}

fn all_fixture_tasks() -> Vec<Task> {
    FIXTURES.iter().flat_map(|name| tasks_of(name)).collect()
}

#[test]
fn reads_json_lines_fixtures() {
    let counts: Vec<usize> = FIXTURES.iter().map(|name| tasks_of(name).len()).collect();
    assert_eq!(counts, [2, 3, 1, 1]);
}

#[test]
fn reads_json_arrays_and_json_lines_saved_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let rows = fixture_rows("swe-bench-verified.jsonl");
    let expected = tasks_of("swe-bench-verified.jsonl");

    let array = dir.path().join("swe-bench.json");
    std::fs::write(&array, serde_json::to_string_pretty(&rows).unwrap()).unwrap();
    assert_eq!(load(&array).tasks, expected);

    let lines = dir.path().join("swe-bench-lines.json");
    std::fs::copy(fixture("swe-bench-verified.jsonl"), &lines).unwrap();
    assert_eq!(load(&lines).tasks, expected);
}

#[test]
fn reads_hugging_face_parquet_shards() {
    let dir = tempfile::tempdir().unwrap();

    let swe = dir.path().join("test-00000-of-00001.parquet");
    write_parquet(
        &swe,
        &fixture_rows("swe-bench-verified.jsonl"),
        SWE_BENCH_COLUMNS,
    );
    assert_eq!(load(&swe).tasks, tasks_of("swe-bench-verified.jsonl"));

    let gym = dir.path().join("swe-gym.parquet");
    write_parquet(&gym, &fixture_rows("swe-gym.jsonl"), SWE_GYM_COLUMNS);
    assert_eq!(load(&gym).tasks, tasks_of("swe-gym.jsonl"));

    // nebius/SWE-rebench stores `version` as int64.
    let mut rows = fixture_rows("swe-gym.jsonl");
    rows[0]["version"] = json!(3);
    let columns: Vec<(&str, Col)> = SWE_GYM_COLUMNS
        .iter()
        .map(|&(name, col)| (name, if name == "version" { Col::Int } else { col }))
        .collect();
    let rebench = dir.path().join("rebench.parquet");
    write_parquet(&rebench, &rows, &columns);
    assert_eq!(load(&rebench).tasks[0].version.as_deref(), Some("3"));
}

#[test]
fn a_directory_of_shards_is_one_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let rows = fixture_rows("r2e-gym-lite.jsonl");
    // Written out of order: files are read in path order.
    write_parquet(
        &data.join("train-00001-of-00002.parquet"),
        &rows[1..],
        R2E_GYM_COLUMNS,
    );
    write_parquet(
        &data.join("train-00000-of-00002.parquet"),
        &rows[..1],
        R2E_GYM_COLUMNS,
    );
    std::fs::write(dir.path().join("README.md"), "---\nlicense: mit\n---\n").unwrap();
    std::fs::create_dir(dir.path().join(".cache")).unwrap();
    std::fs::write(dir.path().join(".cache/stale.jsonl"), "not json\n").unwrap();

    let tasks = load(dir.path()).tasks;
    assert_eq!(tasks, tasks_of("r2e-gym-lite.jsonl"));
    assert_eq!(tasks[0].repo, "aiohttp");
    assert_eq!(tasks[1].repo, "pillow");
    assert_eq!(tasks[0].extra["num_non_test_files"], json!(2));
    assert_eq!(tasks[0].extra["relevant_files"], rows[0]["relevant_files"]);
}

#[test]
fn conversion_round_trips_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let tasks = all_fixture_tasks();
    for name in [
        "tasks.jsonl",
        "tasks.json",
        "tasks.parquet",
        "tasks.jsonl.gz",
        "tasks.json.gz",
    ] {
        let path = dir.path().join(name);
        dataset::write(&path, &tasks).unwrap();
        let back = load(&path).tasks;
        assert_eq!(back, tasks, "{name}");
        // Converting the converted file changes nothing.
        let again = dir.path().join(format!("again-{name}"));
        dataset::write(&again, &back).unwrap();
        assert_eq!(load(&again).tasks, tasks, "again-{name}");
    }
    let gz = std::fs::read(dir.path().join("tasks.jsonl.gz")).unwrap();
    assert_eq!(gz[..2], [0x1f, 0x8b]);
    let jsonl = std::fs::read_to_string(dir.path().join("tasks.jsonl")).unwrap();
    assert_eq!(jsonl.lines().count(), tasks.len());
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("tasks.json")).unwrap())
            .unwrap();
    assert_eq!(json.as_array().map(Vec::len), Some(tasks.len()));
    // No temporary files are left behind.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
}

#[test]
fn empty_datasets_write_valid_files() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["empty.jsonl", "empty.json", "empty.parquet"] {
        let path = dir.path().join(name);
        dataset::write(&path, &[]).unwrap();
        assert!(load(&path).tasks.is_empty(), "{name}");
    }
}

#[test]
fn an_unfinished_writer_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.parquet");
    let mut writer = dataset::create(&path).unwrap();
    writer.write(&tasks_of("swe-gym.jsonl")[0]).unwrap();
    drop(writer);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// A JSON Lines file with good and bad rows, and the messages the bad ones get.
fn malformed_dataset(dir: &Path) -> (std::path::PathBuf, Vec<String>) {
    let good = fixture_rows("swe-bench-verified.jsonl");
    let mut missing = good[1].clone();
    missing.as_object_mut().unwrap().remove("problem_statement");
    let mut wrong_type = good[1].clone();
    wrong_type["FAIL_TO_PASS"] = json!(42);
    let mut bad_encoding = good[1].clone();
    bad_encoding["PASS_TO_PASS"] = json!("[\"test_help_text\"");
    let lines = [
        good[0].to_string(),
        r#"{"instance_id": "django__django-11099", "repo": "#.to_owned(),
        missing.to_string(),
        String::new(),
        wrong_type.to_string(),
        bad_encoding.to_string(),
        r#"{"question": "not a task"}"#.to_owned(),
        good[2].to_string(),
    ];
    let path = dir.join("tasks.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let at = |row: usize, message: &str| format!("{}: row {row}: {message}", path.display());
    let messages = vec![
        at(
            2,
            "not valid JSON (EOF while parsing a value at line 1 column 48)",
        ),
        at(3, r#"field "problem_statement": missing"#),
        at(
            5,
            r#"field "FAIL_TO_PASS": expected a list of strings or a JSON-encoded list, got 42"#,
        ),
        at(
            6,
            r#"field "PASS_TO_PASS": JSON-encoded list is not valid JSON (EOF while parsing a list at line 1 column 17)"#,
        ),
        at(
            7,
            "unknown row format: expected the fields of an R2E-Gym row (repo_name, commit_hash), \
             a SWE-bench row (instance_id) or an r2e task (task_id, source); found question",
        ),
    ];
    (path, messages)
}

#[test]
fn a_malformed_row_stops_the_load_with_file_row_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let (path, messages) = malformed_dataset(dir.path());
    assert_eq!(load_err(&path), messages[0]);
}

#[test]
fn skip_bad_reports_every_bad_row_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (path, messages) = malformed_dataset(dir.path());
    let opts = LoadOptions {
        skip_bad: true,
        ..Default::default()
    };
    let loaded = dataset::load(&path, &opts).unwrap();
    let ids: Vec<&str> = loaded.tasks.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(ids, ["astropy__astropy-12907", "sympy__sympy-20590"]);
    let reported: Vec<String> = loaded.skipped.iter().map(ToString::to_string).collect();
    assert_eq!(reported, messages);

    // The streaming form reports the same rows through a callback.
    let mut seen = Vec::new();
    let mut count = 0;
    let skipped = dataset::for_each(
        &path,
        &opts,
        |_| {
            count += 1;
            Ok(())
        },
        |bad| seen.push(bad.row),
    )
    .unwrap();
    assert_eq!((count, skipped, seen), (2, 5, vec![2, 3, 5, 6, 7]));
}

#[test]
fn parquet_rows_are_numbered_by_position() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = fixture_rows("swe-bench-verified.jsonl");
    rows[1]["problem_statement"] = Value::Null;
    let path = dir.path().join("shard.parquet");
    write_parquet(&path, &rows, SWE_BENCH_COLUMNS);
    assert_eq!(
        load_err(&path),
        format!(
            r#"{}: row 2: field "problem_statement": missing"#,
            path.display()
        )
    );
}

#[test]
fn unreadable_inputs_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "[{\"instance_id\": 1},").unwrap();
    assert_eq!(
        load_err(&broken),
        format!(
            "{}: not valid JSON: EOF while parsing a value at line 1 column 20",
            broken.display()
        )
    );

    let csv = dir.path().join("tasks.csv");
    std::fs::write(&csv, "a,b\n").unwrap();
    assert!(load_err(&csv).ends_with(
        "tasks.csv: unknown file type (expected .jsonl, .ndjson, .json, .parquet; .jsonl.gz and .json.gz also work)"
    ));

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert_eq!(
        load_err(&empty),
        format!(
            "{}: no .jsonl, .json or .parquet files in this directory",
            empty.display()
        )
    );

    let not_parquet = dir.path().join("fake.parquet");
    std::fs::write(&not_parquet, "PAR1 but not really").unwrap();
    assert!(matches!(
        dataset::load(&not_parquet, &LoadOptions::default()),
        Err(DatasetError::Parquet { .. })
    ));

    assert!(matches!(
        dataset::load(&dir.path().join("missing.jsonl"), &LoadOptions::default()),
        Err(DatasetError::Io { .. })
    ));
    assert!(matches!(
        dataset::write(&dir.path().join("out.txt"), &[]),
        Err(DatasetError::UnsupportedFile { .. })
    ));
}

#[test]
fn load_options_apply_the_image_template() {
    let opts = LoadOptions {
        convert: ConvertOptions {
            image_template: Some("registry.internal/{swebench_id}:latest".parse().unwrap()),
        },
        skip_bad: false,
    };
    let tasks = dataset::load(&fixture("swe-bench-verified.jsonl"), &opts)
        .unwrap()
        .tasks;
    assert_eq!(
        tasks[2].image,
        "registry.internal/sympy_1776_sympy-20590:latest"
    );
}

#[test]
fn info_counts_per_repository_and_source() {
    let mut tasks = all_fixture_tasks();
    tasks.push(tasks[2].clone());
    insta::assert_snapshot!(Summary::of(&tasks).to_string());
}
