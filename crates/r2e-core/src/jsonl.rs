//! JSON Lines files that long runs append to and resume from: trajectories,
//! verifier scores, mined commits. A run killed while writing leaves at most a
//! torn last line (no newline); readers ignore it and writers cut it off
//! before appending, so every complete line is a row and no row is lost.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::Write;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

/// What can go wrong reading or writing a JSONL file.
#[derive(Debug, thiserror::Error)]
pub enum JsonlError {
    /// The file could not be read or written.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        error: std::io::Error,
    },
    /// A complete line is not a row of the expected kind.
    #[error("{}: line {line}: not a valid row: {error} (fix or remove the line)", path.display())]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The cause.
        error: serde_json::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> JsonlError + '_ {
    move |error| JsonlError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Reads every row of a JSONL file (blank lines skipped; a torn last line ignored).
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, JsonlError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    parse(path, &text)
}

fn parse<T: DeserializeOwned>(path: &Path, text: &str) -> Result<Vec<T>, JsonlError> {
    let complete = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(row) => out.push(row),
            Err(_) if i + 1 == lines.len() && !complete => break,
            Err(error) => {
                return Err(JsonlError::Line {
                    path: path.to_path_buf(),
                    line: i + 1,
                    error,
                });
            }
        }
    }
    Ok(out)
}

/// Appends rows of type `T` to a JSONL file, one line each, synced as each is
/// written, so that a run can stop at any moment and resume.
pub struct JsonlWriter<T> {
    path: PathBuf,
    file: std::fs::File,
    rows: PhantomData<fn(&T)>,
}

impl<T: Serialize + DeserializeOwned> JsonlWriter<T> {
    /// Opens `path` for appending (creating it and its directory) and returns
    /// the rows already in it, to skip on resume. A torn last line from an
    /// interrupted run is cut off.
    pub fn open(path: &Path) -> Result<(Self, Vec<T>), JsonlError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io(path)(e)),
        };
        let done = parse(path, &text)?;
        let keep = if text.is_empty() || text.ends_with('\n') {
            text.len()
        } else {
            text.rfind('\n').map_or(0, |i| i + 1)
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io(path))?;
        file.set_len(keep as u64).map_err(io(path))?;
        let writer = JsonlWriter {
            path: path.to_path_buf(),
            file,
            rows: PhantomData,
        };
        Ok((writer, done))
    }

    /// Appends one row as one line and syncs it to disk.
    pub fn append(&mut self, row: &T) -> Result<(), JsonlError> {
        let mut line = serde_json::to_vec(row).map_err(|e| io(&self.path)(e.into()))?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.sync_data())
            .map_err(io(&self.path))
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_last_line_is_dropped_and_the_writer_resumes_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/t.jsonl");
        let (mut w, done) = JsonlWriter::<Vec<u32>>::open(&path).unwrap();
        assert!(done.is_empty());
        w.append(&vec![1]).unwrap();
        drop(w);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("[2, 3");
        std::fs::write(&path, &text).unwrap();
        assert_eq!(read::<Vec<u32>>(&path).unwrap(), vec![vec![1]]);
        let (mut w, done) = JsonlWriter::<Vec<u32>>::open(&path).unwrap();
        assert_eq!(done, vec![vec![1]]);
        w.append(&vec![4]).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "[1]\n[4]\n");
    }

    #[test]
    fn a_bad_line_in_the_middle_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        std::fs::write(&path, "[1]\nnot json\n[2]\n").unwrap();
        let err = read::<Vec<u32>>(&path).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(JsonlWriter::<Vec<u32>>::open(&path).is_err());
    }
}
