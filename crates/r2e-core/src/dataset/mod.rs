//! Dataset files: reading task rows from JSON Lines, JSON and Parquet, writing tasks
//! back out.
//!
//! A dataset is a file or a directory. A directory is searched recursively (hidden
//! entries skipped) and its files are read in path order, so a Hugging Face snapshot
//! with `data/train-00000-of-00013.parquet` … is one dataset. File types go by name:
//!
//! | name ends in | read as |
//! |---|---|
//! | `.jsonl`, `.ndjson` (optionally `.gz`) | one row per line; rows are numbered by line |
//! | `.json` (optionally `.gz`) | an array of rows, or a sequence of objects (JSON Lines saved as `.json`) |
//! | `.parquet` | one row per record; nested columns become JSON values |
//!
//! Each row is converted by [`crate::row`]. [`open`] streams tasks; [`load`] and
//! [`for_each`] add `skip_bad` handling on top; [`create`] and [`write()`] write.

mod parquet_io;
mod read;
mod write;

use crate::row::{ConvertOptions, RowError};
use crate::task::Task;
use std::path::{Path, PathBuf};

pub use read::TaskStream;
pub use write::{STDOUT, TaskWriter, create, write};

/// The on-disk formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// JSON Lines: one JSON object per line.
    Jsonl,
    /// A JSON document: an array of objects.
    Json,
    /// Apache Parquet.
    Parquet,
}

/// A file's format and whether it is gzip-compressed, as told by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileKind {
    /// The format.
    pub format: FileFormat,
    /// Whether the content is gzip-compressed (`.gz`, JSON formats only).
    pub gzip: bool,
}

impl FileKind {
    /// Recognises a dataset file by its name (case-insensitively).
    pub fn of(path: &Path) -> Option<FileKind> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        let (stem, gzip) = match name.strip_suffix(".gz") {
            Some(stem) => (stem, true),
            None => (name.as_str(), false),
        };
        let format = if stem.ends_with(".jsonl") || stem.ends_with(".ndjson") {
            FileFormat::Jsonl
        } else if stem.ends_with(".json") {
            FileFormat::Json
        } else if stem.ends_with(".parquet") && !gzip {
            FileFormat::Parquet
        } else {
            return None;
        };
        Some(FileKind { format, gzip })
    }
}

/// How to read a dataset.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// How rows become tasks.
    pub convert: ConvertOptions,
    /// Skip malformed rows (they are reported in [`Loaded::skipped`]) instead of
    /// failing on the first one.
    pub skip_bad: bool,
}

/// A malformed row: where it is and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: row {row}: {error}", path.display())]
pub struct BadRow {
    /// The file the row is in.
    pub path: PathBuf,
    /// 1-based row number: the line for JSON Lines, the position otherwise.
    pub row: usize,
    /// What is wrong.
    pub error: RowError,
}

/// Why a dataset could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// A file could not be opened, read or written.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
    /// The name does not say which format the file is in.
    #[error(
        "{}: unknown file type (expected .jsonl, .ndjson, .json, .parquet; .jsonl.gz and .json.gz also work)",
        path.display()
    )]
    UnsupportedFile {
        /// The file.
        path: PathBuf,
    },
    /// A directory holds no dataset files.
    #[error("{}: no .jsonl, .json or .parquet files in this directory", path.display())]
    NoFiles {
        /// The directory.
        path: PathBuf,
    },
    /// A `.json` file is not valid JSON.
    #[error("{}: not valid JSON: {message}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A Parquet file could not be read or written.
    #[error("{}: Parquet: {error}", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The Parquet library's error.
        error: parquet::errors::ParquetError,
    },
    /// A row could not be converted.
    #[error(transparent)]
    Row(#[from] BadRow),
}

impl DatasetError {
    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DatasetError + '_ {
        move |error| DatasetError::Io {
            path: path.to_owned(),
            error,
        }
    }

    pub(crate) fn parquet(
        path: &Path,
    ) -> impl FnOnce(parquet::errors::ParquetError) -> DatasetError + '_ {
        move |error| DatasetError::Parquet {
            path: path.to_owned(),
            error,
        }
    }
}

/// The tasks of a dataset, and the rows that were skipped.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The tasks, in file and row order.
    pub tasks: Vec<Task>,
    /// Malformed rows skipped because of [`LoadOptions::skip_bad`].
    pub skipped: Vec<BadRow>,
}

/// The dataset files under `path`: the file itself, or the files of a directory,
/// recursively, in path order.
pub fn dataset_files(path: &Path) -> Result<Vec<PathBuf>, DatasetError> {
    let meta = std::fs::metadata(path).map_err(DatasetError::io(path))?;
    if !meta.is_dir() {
        return match FileKind::of(path) {
            Some(_) => Ok(vec![path.to_owned()]),
            None => Err(DatasetError::UnsupportedFile {
                path: path.to_owned(),
            }),
        };
    }
    let mut files = Vec::new();
    collect_files(path, &mut files)?;
    if files.is_empty() {
        return Err(DatasetError::NoFiles {
            path: path.to_owned(),
        });
    }
    Ok(files)
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), DatasetError> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(DatasetError::io(dir))? {
        let entry = entry.map_err(DatasetError::io(dir))?;
        if !entry.file_name().to_string_lossy().starts_with('.') {
            entries.push(entry.path());
        }
    }
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_files(&path, files)?;
        } else if FileKind::of(&path).is_some() {
            files.push(path);
        }
    }
    Ok(())
}

/// Streams the tasks of the dataset at `path`; see [`TaskStream`].
pub fn open(path: &Path, opts: &ConvertOptions) -> Result<TaskStream, DatasetError> {
    Ok(TaskStream::new(dataset_files(path)?, opts.clone()))
}

/// Reads a dataset, handing each task to `on_task` and, with
/// [`LoadOptions::skip_bad`], each malformed row to `on_bad`.
///
/// Stops at the first error that is not a skipped row, and at the first error
/// `on_task` returns. Returns the number of skipped rows.
pub fn for_each(
    path: &Path,
    opts: &LoadOptions,
    mut on_task: impl FnMut(Task) -> Result<(), DatasetError>,
    mut on_bad: impl FnMut(BadRow),
) -> Result<usize, DatasetError> {
    let mut skipped = 0;
    for item in open(path, &opts.convert)? {
        match item {
            Ok(task) => on_task(task)?,
            Err(DatasetError::Row(bad)) if opts.skip_bad => {
                skipped += 1;
                on_bad(bad);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(skipped)
}

/// Reads a whole dataset into memory.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Loaded, DatasetError> {
    let mut loaded = Loaded::default();
    for_each(
        path,
        opts,
        |task| {
            loaded.tasks.push(task);
            Ok(())
        },
        |bad| loaded.skipped.push(bad),
    )?;
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::{FileFormat, FileKind};
    use std::path::Path;

    #[test]
    fn kinds_go_by_name() {
        let kind = |name: &str| FileKind::of(Path::new(name)).map(|k| (k.format, k.gzip));
        assert_eq!(kind("a/train.JSONL"), Some((FileFormat::Jsonl, false)));
        assert_eq!(kind("x.ndjson.gz"), Some((FileFormat::Jsonl, true)));
        assert_eq!(kind("x.json.gz"), Some((FileFormat::Json, true)));
        assert_eq!(
            kind("train-00000-of-00002.parquet"),
            Some((FileFormat::Parquet, false))
        );
        assert_eq!(kind("x.parquet.gz"), None);
        assert_eq!(kind("README.md"), None);
    }
}
