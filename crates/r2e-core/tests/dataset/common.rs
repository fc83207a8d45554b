//! Shared test helpers: the fixture rows, and a writer for Hugging Face-shaped
//! Parquet shards built with the `parquet` crate's column API.
//!
//! The fixtures in `tests/fixtures/` copy the shapes of the published datasets:
//! `r2e-gym-lite.jsonl` (R2E-Gym/R2E-Gym-Lite: JSON-encoded `parsed_commit_content`,
//! `execution_result_content` and `expected_output_json`), `swe-bench-verified.jsonl`
//! (the Hugging Face copy of SWE-bench Verified: JSON-encoded `FAIL_TO_PASS` /
//! `PASS_TO_PASS`), `swe-gym.jsonl` (plain lists) and `swe-smith.jsonl` (a bug
//! patch and a repository-level `image_name`).

use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Path of a file in `tests/fixtures`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The rows of a JSON Lines fixture.
pub fn fixture_rows(name: &str) -> Vec<Value> {
    std::fs::read_to_string(fixture(name))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// A Parquet column type, as `datasets` writes them.
#[derive(Debug, Clone, Copy)]
pub enum Col {
    /// `string`
    Str,
    /// `int64`
    Int,
    /// `list<string>` (3-level LIST encoding)
    StrList,
}

/// Writes `rows` as one Parquet file with the given columns (missing values are nulls).
pub fn write_parquet(path: &Path, rows: &[Value], columns: &[(&str, Col)]) {
    let mut schema = String::from("message hf_dataset {\n");
    for (name, col) in columns {
        schema.push_str(&match col {
            Col::Str => format!("  optional binary {name} (UTF8);\n"),
            Col::Int => format!("  optional int64 {name};\n"),
            Col::StrList => format!(
                "  optional group {name} (LIST) {{ repeated group list {{ optional binary element (UTF8); }} }}\n"
            ),
        });
    }
    schema.push('}');
    let schema = Arc::new(parse_message_type(&schema).unwrap());
    let file = std::fs::File::create(path).unwrap();
    let props = Arc::new(WriterProperties::builder().build());
    let mut writer = SerializedFileWriter::new(file, schema, props).unwrap();
    let mut group = writer.next_row_group().unwrap();
    for (name, col) in columns {
        let mut column = group.next_column().unwrap().unwrap();
        let cells = rows
            .iter()
            .map(|row| row.get(*name).filter(|v| !v.is_null()));
        match col {
            Col::Str => {
                let (mut values, mut defs) = (Vec::new(), Vec::new());
                for cell in cells {
                    defs.push(i16::from(cell.is_some()));
                    if let Some(cell) = cell {
                        let text = cell.as_str().unwrap_or_else(|| panic!("{name}: {cell}"));
                        values.push(ByteArray::from(text.as_bytes()));
                    }
                }
                column
                    .typed::<ByteArrayType>()
                    .write_batch(&values, Some(&defs), None)
                    .unwrap();
            }
            Col::Int => {
                let (mut values, mut defs) = (Vec::new(), Vec::new());
                for cell in cells {
                    defs.push(i16::from(cell.is_some()));
                    if let Some(cell) = cell {
                        values.push(cell.as_i64().unwrap_or_else(|| panic!("{name}: {cell}")));
                    }
                }
                column
                    .typed::<Int64Type>()
                    .write_batch(&values, Some(&defs), None)
                    .unwrap();
            }
            Col::StrList => {
                let (mut values, mut defs, mut reps) = (Vec::new(), Vec::new(), Vec::new());
                for cell in cells {
                    let items = cell.map(|c| c.as_array().unwrap_or_else(|| panic!("{name}: {c}")));
                    match items {
                        None => {
                            defs.push(0);
                            reps.push(0);
                        }
                        Some(items) if items.is_empty() => {
                            defs.push(1);
                            reps.push(0);
                        }
                        Some(items) => {
                            for (i, item) in items.iter().enumerate() {
                                defs.push(3);
                                reps.push(i16::from(i > 0));
                                values.push(ByteArray::from(item.as_str().unwrap().as_bytes()));
                            }
                        }
                    }
                }
                column
                    .typed::<ByteArrayType>()
                    .write_batch(&values, Some(&defs), Some(&reps))
                    .unwrap();
            }
        }
        column.close().unwrap();
    }
    group.close().unwrap();
    writer.close().unwrap();
}

/// The columns of an R2E-Gym-Lite shard.
pub const R2E_GYM_COLUMNS: &[(&str, Col)] = &[
    ("repo_name", Col::Str),
    ("docker_image", Col::Str),
    ("commit_hash", Col::Str),
    ("parsed_commit_content", Col::Str),
    ("execution_result_content", Col::Str),
    ("modified_files", Col::StrList),
    ("modified_entity_summaries", Col::Str),
    ("relevant_files", Col::StrList),
    ("num_non_test_files", Col::Int),
    ("num_non_test_func_methods", Col::Int),
    ("num_non_test_lines", Col::Int),
    ("prompt", Col::Str),
    ("problem_statement", Col::Str),
    ("expected_output_json", Col::Str),
];

/// The columns of the Hugging Face SWE-bench Verified shard (lists JSON-encoded).
pub const SWE_BENCH_COLUMNS: &[(&str, Col)] = &[
    ("repo", Col::Str),
    ("instance_id", Col::Str),
    ("base_commit", Col::Str),
    ("patch", Col::Str),
    ("test_patch", Col::Str),
    ("problem_statement", Col::Str),
    ("hints_text", Col::Str),
    ("created_at", Col::Str),
    ("version", Col::Str),
    ("FAIL_TO_PASS", Col::Str),
    ("PASS_TO_PASS", Col::Str),
    ("environment_setup_commit", Col::Str),
    ("difficulty", Col::Str),
];

/// The columns of a SWE-Gym shard (lists as Parquet lists).
pub const SWE_GYM_COLUMNS: &[(&str, Col)] = &[
    ("instance_id", Col::Str),
    ("hints_text", Col::Str),
    ("patch", Col::Str),
    ("created_at", Col::Str),
    ("problem_statement", Col::Str),
    ("repo", Col::Str),
    ("base_commit", Col::Str),
    ("version", Col::Str),
    ("PASS_TO_PASS", Col::StrList),
    ("FAIL_TO_PASS", Col::StrList),
    ("test_patch", Col::Str),
    ("environment_setup_commit", Col::Str),
];
