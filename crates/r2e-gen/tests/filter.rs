//! Stage 2 on the mined history: the funnel, the kept rows, config files.

mod common;

use common::history;
use r2e_gen::filter::{FilterConfig, filter_jsonl};
use r2e_gen::{MinedCommit, jsonl};

#[test]
fn funnel_counts_each_rule() {
    let h = history();
    let dir = tempfile::tempdir().expect("tempdir");
    let commits = dir.path().join("commits.jsonl");
    common::mine_all(&h.repo.path(), &commits);
    let out = dir.path().join("candidates.jsonl");
    let rejected = dir.path().join("rejected.jsonl");
    let funnel =
        filter_jsonl(&commits, &out, Some(&rejected), &FilterConfig::default()).expect("filter");
    let counts: Vec<(&str, usize)> = funnel
        .removed
        .iter()
        .map(|(r, n)| (r.as_str(), *n))
        .collect();
    assert_eq!(
        counts,
        [
            ("analysed", 1), // the root (the merge is mined against its first parent)
            ("has_non_test_change", 0),
            ("non_test_files", 2), // refactor over 6 files; misc over 6
            ("non_test_edited_lines", 0),
            ("patch_chars", 0),
            ("file_types", 1),  // docs only
            ("code_change", 1), // comments and docstring only
            ("bug_edit", 0),
            ("test_entity_edit", 1), // fix without tests
            ("test_match", 0),
        ]
    );
    assert_eq!((funnel.input, funnel.kept, funnel.kept_merges), (9, 3, 1));
    let kept: Vec<MinedCommit> = jsonl::read_rows(&out).expect("kept");
    let mut kept: Vec<&str> = kept.iter().map(|r| r.hash.as_str()).collect();
    kept.sort();
    // The merge brings the feature branch in whole: the same change.
    let mut want = vec![
        h.fix_with_test.as_str(),
        h.feature.as_str(),
        h.merge.as_str(),
    ];
    want.sort();
    assert_eq!(kept, want);
    let rejected = std::fs::read_to_string(&rejected).expect("rejected");
    assert_eq!(rejected.lines().count(), 6);
    assert!(rejected.contains(&format!(
        "{{\"hash\":\"{}\",\"rule\":\"code_change\",\"skipped\":null}}",
        h.comment_only
    )));
    assert!(funnel.to_string().contains("test_entity_edit"));

    // Switching rules off through a config file changes the funnel.
    let cfg = dir.path().join("filter.json");
    std::fs::write(
        &cfg,
        r#"{"test_entity_edit": {"enabled": false}, "test_match": {"enabled": false},
           "file_types": {"allowed_extensions": ["py", "md", "bin", "sh"]}}"#,
    )
    .expect("write cfg");
    let config = FilterConfig::load(&cfg).expect("load");
    assert_eq!(config.non_test_files.less_than, 5);
    let funnel = filter_jsonl(&commits, &out, None, &config).expect("filter");
    assert_eq!(funnel.removed_by("test_entity_edit"), 0);
    assert_eq!(funnel.removed_by("file_types"), 1);
    // The fix without a test is kept now.
    assert_eq!(funnel.removed_by("bug_edit"), 0);
    assert_eq!(funnel.kept, 4);
}

#[test]
fn config_typos_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("f.json");
    std::fs::write(&cfg, r#"{"non_test_file": {"less_than": 3}}"#).expect("write");
    let err = FilterConfig::load(&cfg).expect_err("typo");
    assert!(err.to_string().contains("unknown field"), "{err}");
}

#[test]
fn default_config_round_trips() {
    let text = serde_json::to_string_pretty(&FilterConfig::default()).expect("json");
    let back: FilterConfig = serde_json::from_str(&text).expect("parse");
    assert_eq!(back, FilterConfig::default());
}
