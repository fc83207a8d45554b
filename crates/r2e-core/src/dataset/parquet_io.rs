//! Parquet through the `parquet` crate's record and column APIs (no Arrow).
//!
//! Reading turns each record into a JSON object, whatever the schema: strings,
//! numbers, lists, maps and structs map to their JSON counterparts, so Hugging Face
//! shards read like any other rows. Writing stores one column per [`Task`] field,
//! all UTF-8 strings; structured fields are JSON-encoded, as Hugging Face does for
//! SWE-bench's test lists.

use super::DatasetError;
use crate::task::Task;
use parquet::basic::{Compression, ZstdLevel};
use parquet::data_type::{ByteArray, ByteArrayType};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::SerializedFileReader;
use parquet::file::writer::SerializedFileWriter;
use parquet::record::reader::RowIter;
use parquet::schema::parser::parse_message_type;
use serde_json::Value;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

/// The records of one Parquet file.
pub(super) struct Records {
    rows: RowIter<'static>,
    row: usize,
}

impl Records {
    pub fn open(path: &Path) -> Result<Records, DatasetError> {
        let file = File::open(path).map_err(DatasetError::io(path))?;
        let reader = SerializedFileReader::new(file).map_err(DatasetError::parquet(path))?;
        Ok(Records {
            rows: reader.into_iter(),
            row: 0,
        })
    }

    pub fn next(&mut self, path: &Path) -> Option<Result<(usize, Value), DatasetError>> {
        let record = self.rows.next()?;
        self.row += 1;
        Some(
            record
                .map(|record| (self.row, record.to_json_value()))
                .map_err(DatasetError::parquet(path)),
        )
    }
}

type Encode = fn(&Task) -> Result<Option<String>, serde_json::Error>;

/// One written column: its name, whether it may be null, and how to fill it.
struct Column {
    name: &'static str,
    optional: bool,
    encode: Encode,
}

const fn text(name: &'static str, encode: Encode) -> Column {
    Column {
        name,
        optional: false,
        encode,
    }
}

const fn nullable(name: &'static str, encode: Encode) -> Column {
    Column {
        name,
        optional: true,
        encode,
    }
}

/// The task columns, in [`Task`] field order. The names are the task's serde
/// names, so the native row reader reads the files back.
const COLUMNS: [Column; 17] = [
    text("task_id", |t| Ok(Some(t.task_id.clone()))),
    text("source", |t| Ok(Some(t.source.key().to_owned()))),
    text("repo", |t| Ok(Some(t.repo.clone()))),
    text("base_commit", |t| Ok(Some(t.base_commit.clone()))),
    text("image", |t| Ok(Some(t.image.clone()))),
    text("problem_statement", |t| {
        Ok(Some(t.problem_statement.clone()))
    }),
    nullable("hints_text", |t| Ok(t.hints_text.clone())),
    text("gold_patch", |t| Ok(Some(t.gold_patch.clone()))),
    text("test_patch", |t| Ok(Some(t.test_patch.clone()))),
    text("test_files", |t| {
        serde_json::to_string(&t.test_files).map(Some)
    }),
    text("fail_to_pass", |t| {
        serde_json::to_string(&t.fail_to_pass).map(Some)
    }),
    text("pass_to_pass", |t| {
        serde_json::to_string(&t.pass_to_pass).map(Some)
    }),
    text("expected_statuses", |t| {
        serde_json::to_string(&t.expected_statuses).map(Some)
    }),
    nullable("version", |t| Ok(t.version.clone())),
    nullable("environment_setup_commit", |t| {
        Ok(t.environment_setup_commit.clone())
    }),
    nullable("created_at", |t| Ok(t.created_at.clone())),
    text("extra", |t| serde_json::to_string(&t.extra).map(Some)),
];

/// Tasks per row group: bounded memory for datasets whose rows carry whole files.
const ROW_GROUP_TASKS: usize = 256;

fn schema() -> String {
    let mut schema = String::from("message task {\n");
    for column in &COLUMNS {
        let repetition = if column.optional {
            "optional"
        } else {
            "required"
        };
        schema.push_str(&format!("  {repetition} binary {} (UTF8);\n", column.name));
    }
    schema.push('}');
    schema
}

/// Writes tasks to a Parquet file, a row group at a time.
pub(super) struct ParquetSink {
    writer: SerializedFileWriter<File>,
    /// Encoded cells of the tasks not yet written, one array per task.
    pending: Vec<[Option<String>; COLUMNS.len()]>,
}

impl ParquetSink {
    pub fn new(file: File, path: &Path) -> Result<ParquetSink, DatasetError> {
        let schema = parse_message_type(&schema()).map_err(DatasetError::parquet(path))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .build();
        let writer = SerializedFileWriter::new(file, Arc::new(schema), Arc::new(props))
            .map_err(DatasetError::parquet(path))?;
        Ok(ParquetSink {
            writer,
            pending: Vec::new(),
        })
    }

    pub fn push(&mut self, task: &Task, path: &Path) -> Result<(), DatasetError> {
        let mut cells: [Option<String>; COLUMNS.len()] = Default::default();
        for (cell, column) in cells.iter_mut().zip(&COLUMNS) {
            *cell = (column.encode)(task).map_err(|e| DatasetError::io(path)(e.into()))?;
        }
        self.pending.push(cells);
        if self.pending.len() >= ROW_GROUP_TASKS {
            self.flush(path)?;
        }
        Ok(())
    }

    fn flush(&mut self, path: &Path) -> Result<(), DatasetError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut group = self
            .writer
            .next_row_group()
            .map_err(DatasetError::parquet(path))?;
        for (index, column) in COLUMNS.iter().enumerate() {
            let Some(mut writer) = group.next_column().map_err(DatasetError::parquet(path))? else {
                break;
            };
            let mut values = Vec::with_capacity(self.pending.len());
            let mut levels = Vec::with_capacity(self.pending.len());
            for cells in &mut self.pending {
                let cell = cells[index].take();
                levels.push(i16::from(cell.is_some()));
                if let Some(text) = cell {
                    values.push(ByteArray::from(text.into_bytes()));
                }
            }
            let levels = column.optional.then_some(levels.as_slice());
            writer
                .typed::<ByteArrayType>()
                .write_batch(&values, levels, None)
                .map_err(DatasetError::parquet(path))?;
            writer.close().map_err(DatasetError::parquet(path))?;
        }
        group.close().map_err(DatasetError::parquet(path))?;
        self.pending.clear();
        Ok(())
    }

    pub fn finish(mut self, path: &Path) -> Result<(), DatasetError> {
        self.flush(path)?;
        self.writer.close().map_err(DatasetError::parquet(path))?;
        Ok(())
    }
}
