//! JSONL helpers shared by the stages: resuming an output file (dropping a torn
//! last line left by a killed run) and streaming rows in.

use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader};
use std::path::Path;

/// Prepares `path` for appending and returns the `hash` of every row in it.
///
/// A missing file yields an empty set. A last line without its newline (a run
/// killed while writing) is cut off the file; any other line that is not a JSON
/// object with a string `hash` is an error, since appending would then hide it.
pub fn prepare_resume(path: &Path) -> Result<HashSet<String>> {
    #[derive(serde::Deserialize)]
    struct Key {
        hash: String,
    }
    let mut done = HashSet::new();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(done),
        Err(e) => return Err(Error::io(path, e)),
    };
    let mut reader = BufReader::new(file);
    let mut buf = Vec::new();
    let mut good_len: u64 = 0;
    let mut line_no = 0;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if buf.last() != Some(&b'\n') {
            // Torn last line: drop it.
            let f = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| Error::io(path, e))?;
            f.set_len(good_len).map_err(|e| Error::io(path, e))?;
            break;
        }
        good_len += n as u64;
        if buf.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let key: Key = serde_json::from_slice(&buf).map_err(|e| Error::BadRow {
            path: path.to_path_buf(),
            line: line_no,
            message: e.to_string(),
        })?;
        done.insert(key.hash);
    }
    Ok(done)
}

/// Calls `f` with each row of a JSONL file, in order; blank lines are skipped,
/// and so is a torn last line (no newline, not valid JSON) of a file being written.
pub fn for_each_row<T: DeserializeOwned>(
    path: &Path,
    mut f: impl FnMut(T) -> Result<()>,
) -> Result<()> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = BufReader::new(file);
    let mut buf = Vec::new();
    let mut line_no = 0;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::io(path, e))?;
        if n == 0 {
            return Ok(());
        }
        line_no += 1;
        if buf.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let row = match serde_json::from_slice(&buf) {
            Ok(row) => row,
            // A torn last line of a file still being written: stop before it.
            Err(_) if buf.last() != Some(&b'\n') => return Ok(()),
            Err(e) => {
                return Err(Error::BadRow {
                    path: path.to_path_buf(),
                    line: line_no,
                    message: e.to_string(),
                });
            }
        };
        f(row)?;
    }
}

/// Reads every row of a JSONL file.
pub fn read_rows<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let mut rows = Vec::new();
    for_each_row(path, |r| {
        rows.push(r);
        Ok(())
    })?;
    Ok(rows)
}
