//! Reading rows out of dataset files, one file after another.

use super::{BadRow, DatasetError, FileFormat, FileKind, parquet_io};
use crate::row::{ConvertOptions, RowError, describe, task_from_map};
use crate::task::Task;
use serde_json::Value;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// The rows of one open file, each with its 1-based row number.
enum FileRows {
    /// JSON Lines, read line by line.
    Lines {
        reader: Box<dyn BufRead>,
        line: usize,
        buf: Vec<u8>,
    },
    /// A JSON document, parsed whole.
    Values(std::vec::IntoIter<(usize, Value)>),
    /// Parquet records.
    Parquet(parquet_io::Records),
}

fn reader(path: &Path, gzip: bool) -> Result<Box<dyn BufRead>, DatasetError> {
    let file = File::open(path).map_err(DatasetError::io(path))?;
    Ok(if gzip {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(file)))
    } else {
        Box::new(BufReader::new(file))
    })
}

impl FileRows {
    fn open(path: &Path) -> Result<FileRows, DatasetError> {
        let kind = FileKind::of(path).ok_or_else(|| DatasetError::UnsupportedFile {
            path: path.to_owned(),
        })?;
        Ok(match kind.format {
            FileFormat::Jsonl => FileRows::Lines {
                reader: reader(path, kind.gzip)?,
                line: 0,
                buf: Vec::new(),
            },
            FileFormat::Json => {
                let mut text = String::new();
                reader(path, kind.gzip)?
                    .read_to_string(&mut text)
                    .map_err(DatasetError::io(path))?;
                FileRows::Values(json_rows(&text).map_err(|message| DatasetError::Json {
                    path: path.to_owned(),
                    message,
                })?)
            }
            FileFormat::Parquet => FileRows::Parquet(parquet_io::Records::open(path)?),
        })
    }

    /// The next row: `Err` of a row error for a line that is not JSON, `Err` of
    /// another error when the file cannot be read further.
    fn next(&mut self, path: &Path) -> Option<Result<(usize, Value), DatasetError>> {
        match self {
            FileRows::Lines { reader, line, buf } => loop {
                buf.clear();
                match reader.read_until(b'\n', buf) {
                    Ok(0) => return None,
                    Ok(_) => *line += 1,
                    Err(e) => return Some(Err(DatasetError::io(path)(e))),
                }
                let text = buf.strip_suffix(b"\n").unwrap_or(buf);
                let text = text.strip_suffix(b"\r").unwrap_or(text);
                if text.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Some(match serde_json::from_slice(text) {
                    Ok(value) => Ok((*line, value)),
                    Err(e) => Err(DatasetError::Row(BadRow {
                        path: path.to_owned(),
                        row: *line,
                        error: RowError::Syntax(e.to_string()),
                    })),
                });
            },
            FileRows::Values(values) => values.next().map(Ok),
            FileRows::Parquet(records) => records.next(path),
        }
    }
}

/// Splits a JSON document into rows: the elements of a top-level array (numbered by
/// position), or a sequence of top-level values (numbered by starting line).
fn json_rows(text: &str) -> Result<std::vec::IntoIter<(usize, Value)>, String> {
    if text.trim_start().starts_with('[') {
        let values: Vec<Value> = serde_json::from_str(text).map_err(|e| e.to_string())?;
        return Ok(values
            .into_iter()
            .enumerate()
            .map(|(i, v)| (i + 1, v))
            .collect::<Vec<_>>()
            .into_iter());
    }
    let mut rows = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let mut start = 0;
    while let Some(value) = stream.next() {
        let value = value.map_err(|e| e.to_string())?;
        let skipped = text[start..].len() - text[start..].trim_start().len();
        let line = text[..start + skipped].matches('\n').count() + 1;
        rows.push((line, value));
        start = stream.byte_offset();
    }
    Ok(rows.into_iter())
}

/// The tasks of a dataset, streamed file by file, row by row.
///
/// Yields `Err(DatasetError::Row(_))` for a malformed row and carries on with the
/// next row; any other error ends the stream.
pub struct TaskStream {
    files: VecDeque<PathBuf>,
    current: Option<(PathBuf, FileRows)>,
    opts: ConvertOptions,
}

impl TaskStream {
    pub(super) fn new(files: Vec<PathBuf>, opts: ConvertOptions) -> TaskStream {
        TaskStream {
            files: files.into(),
            current: None,
            opts,
        }
    }

    fn fail(&mut self, error: DatasetError) -> Option<Result<Task, DatasetError>> {
        self.files.clear();
        self.current = None;
        Some(Err(error))
    }
}

impl Iterator for TaskStream {
    type Item = Result<Task, DatasetError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let Some((path, rows)) = &mut self.current else {
                let path = self.files.pop_front()?;
                match FileRows::open(&path) {
                    Ok(rows) => self.current = Some((path, rows)),
                    Err(e) => return self.fail(e),
                }
                continue;
            };
            let (row, value) = match rows.next(path) {
                None => {
                    self.current = None;
                    continue;
                }
                Some(Ok(row)) => row,
                Some(Err(bad @ DatasetError::Row(_))) => return Some(Err(bad)),
                Some(Err(e)) => return self.fail(e),
            };
            let converted = match value {
                Value::Object(map) => task_from_map(map, &self.opts),
                other => Err(RowError::NotAnObject(describe(&other))),
            };
            return Some(converted.map_err(|error| {
                DatasetError::Row(BadRow {
                    path: path.clone(),
                    row,
                    error,
                })
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::json_rows;

    #[test]
    fn json_documents_split_into_numbered_rows() {
        let rows: Vec<usize> = json_rows("[{\"a\":1},\n{\"a\":2}]")
            .unwrap()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(rows, [1, 2]);
        let rows: Vec<usize> = json_rows("{\"a\":1}\n\n{\n \"a\": 2\n}\n{\"a\":3}")
            .unwrap()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(rows, [1, 3, 6]);
        assert!(json_rows("[{\"a\":1},").is_err());
    }
}
