//! Stage 2 on the mined history: the funnel, the kept rows, config files.

mod common;

use common::history;
use r2e_gen::filter::{FilterConfig, Preset, filter_jsonl};
use r2e_gen::{MinedCommit, jsonl};

#[test]
fn funnel_counts_each_rule() {
    let h = history();
    let dir = tempfile::tempdir().expect("tempdir");
    let commits = dir.path().join("commits.jsonl");
    common::mine_all(&h.repo.path(), &commits);
    let out = dir.path().join("candidates.jsonl");
    let rejected = dir.path().join("rejected.jsonl");
    let counts = |f: &r2e_gen::Funnel| -> Vec<(String, usize)> {
        f.removed.iter().map(|(r, n)| (r.clone(), *n)).collect()
    };
    let named = |v: &[(&str, usize)]| -> Vec<(String, usize)> {
        v.iter().map(|(r, n)| (r.to_string(), *n)).collect()
    };
    // R2E-Gym's selection (the default): the rename is not stored, and a
    // feature that only adds a method has no modified entity a test matches.
    let funnel =
        filter_jsonl(&commits, &out, Some(&rejected), &FilterConfig::default()).expect("filter");
    assert_eq!(
        counts(&funnel),
        named(&[
            ("analysed", 1),
            ("stored", 1),              // misc renames a file
            ("has_non_test_change", 0), //
            ("non_test_files", 1),      // refactor over 6 files
            ("non_test_edited_lines", 0),
            ("patch_chars", 0),
            ("file_types", 1),
            ("code_change", 1),
            ("bug_edit", 0),
            ("test_entity_edit", 1),
            ("test_match", 2), // the feature and its merge
        ])
    );
    assert_eq!((funnel.kept, funnel.kept_merges), (1, 0));

    // r2e's broader rules.
    let r2e = FilterConfig::for_preset(Preset::R2e);
    let funnel = filter_jsonl(&commits, &out, Some(&rejected), &r2e).expect("filter");
    assert_eq!(
        counts(&funnel),
        named(&[
            ("analysed", 1), // the root (the merge is mined against its first parent)
            ("stored", 0),
            ("has_non_test_change", 0),
            ("non_test_files", 2), // refactor over 6 files; misc over 6
            ("non_test_edited_lines", 0),
            ("patch_chars", 0),
            ("file_types", 1),  // docs only
            ("code_change", 1), // comments and docstring only
            ("bug_edit", 0),
            ("test_entity_edit", 1), // fix without tests
            ("test_match", 0),
        ])
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
        r#"{"preset": "r2e", "test_entity_edit": {"enabled": false}, "test_match": {"enabled": false},
           "file_types": {"allowed_extensions": ["py", "md", "bin", "sh"]}}"#,
    )
    .expect("write cfg");
    let config = FilterConfig::load(&cfg, None).expect("load");
    assert_eq!(config.non_test_files.less_than, 5);
    assert_eq!(
        (config.preset, config.bug_edit.min_edited),
        (Preset::R2e, 1)
    );
    // A preset given by the caller wins over the file's.
    let gym = FilterConfig::load(&cfg, Some(Preset::R2eGym)).expect("load");
    assert_eq!((gym.preset, gym.bug_edit.min_edited), (Preset::R2eGym, 0));
    assert!(!gym.test_entity_edit.enabled);
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
    let err = FilterConfig::load(&cfg, None).expect_err("typo");
    assert!(err.to_string().contains("unknown field"), "{err}");
}

#[test]
fn unknown_presets_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("f.json");
    std::fs::write(&cfg, r#"{"preset": "swe-smith"}"#).expect("write");
    let err = FilterConfig::load(&cfg, None).expect_err("unknown preset");
    assert!(err.to_string().contains("r2e-gym, r2e"), "{err}");
}

#[test]
fn rows_without_r2e_gym_data_are_refused_by_its_preset() {
    let h = history();
    let dir = tempfile::tempdir().expect("tempdir");
    let commits = dir.path().join("commits.jsonl");
    common::mine_all(&h.repo.path(), &commits);
    // Rows as an older r2e wrote them.
    let text = std::fs::read_to_string(&commits).expect("read");
    let mut old = String::new();
    for line in text.lines() {
        let mut row: serde_json::Value = serde_json::from_str(line).expect("row");
        for f in row["files"].as_array_mut().into_iter().flatten() {
            if let Some(p) = f.get_mut("python").and_then(|p| p.as_object_mut()) {
                p.remove("gym");
            }
        }
        old.push_str(&format!("{row}\n"));
    }
    std::fs::write(&commits, old).expect("write");
    let out = dir.path().join("kept.jsonl");
    let err = filter_jsonl(&commits, &out, None, &FilterConfig::default()).expect_err("stale");
    assert!(err.to_string().contains("--preset r2e"), "{err}");
    filter_jsonl(&commits, &out, None, &FilterConfig::for_preset(Preset::R2e)).expect("r2e");
}

#[test]
fn default_config_round_trips() {
    let text = serde_json::to_string_pretty(&FilterConfig::default()).expect("json");
    let back: FilterConfig = serde_json::from_str(&text).expect("parse");
    assert_eq!(back, FilterConfig::default());
}
