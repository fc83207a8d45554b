//! Writing tasks: JSON Lines, a JSON array, or Parquet, chosen by the file name.
//!
//! Files are written next to their destination under a temporary name and renamed
//! into place by [`TaskWriter::finish`], so an interrupted write never leaves a
//! truncated dataset behind.

use super::parquet_io::ParquetSink;
use super::{DatasetError, FileFormat, FileKind};
use crate::task::Task;
use flate2::Compression;
use flate2::write::GzEncoder;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The path that means standard output (JSON Lines).
pub const STDOUT: &str = "-";

/// Where text output goes.
enum Out {
    Stdout(io::StdoutLock<'static>),
    Plain(BufWriter<File>),
    Gzip(Box<GzEncoder<BufWriter<File>>>),
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Out::Stdout(w) => w.write(buf),
            Out::Plain(w) => w.write(buf),
            Out::Gzip(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Out::Stdout(w) => w.flush(),
            Out::Plain(w) => w.flush(),
            Out::Gzip(w) => w.flush(),
        }
    }
}

impl Out {
    fn finish(self) -> io::Result<()> {
        match self {
            Out::Stdout(mut w) => w.flush(),
            Out::Plain(w) => w
                .into_inner()
                .map_err(io::IntoInnerError::into_error)?
                .sync_all(),
            Out::Gzip(w) => w
                .finish()?
                .into_inner()
                .map_err(io::IntoInnerError::into_error)?
                .sync_all(),
        }
    }
}

enum Sink {
    Jsonl(Out),
    Json { out: Out, written: usize },
    Parquet(ParquetSink),
}

/// Writes tasks one at a time; see [`create`].
pub struct TaskWriter {
    /// Taken by [`TaskWriter::finish`].
    sink: Option<Sink>,
    /// The destination, as given (`-` for standard output).
    path: PathBuf,
    /// The temporary file being written, until [`TaskWriter::finish`] renames it.
    partial: Option<PathBuf>,
}

/// Starts writing a dataset to `path`, in the format its name asks for: `.jsonl`
/// (one task per line), `.json` (an array), `.parquet` (one column per task field,
/// structured fields JSON-encoded); `.jsonl.gz` and `.json.gz` are compressed.
/// `-` writes JSON Lines to standard output.
pub fn create(path: &Path) -> Result<TaskWriter, DatasetError> {
    if path.as_os_str() == STDOUT {
        return Ok(TaskWriter {
            sink: Some(Sink::Jsonl(Out::Stdout(io::stdout().lock()))),
            path: path.to_owned(),
            partial: None,
        });
    }
    let kind = FileKind::of(path).ok_or_else(|| DatasetError::UnsupportedFile {
        path: path.to_owned(),
    })?;
    let partial = partial_path(path);
    let file = File::create(&partial).map_err(DatasetError::io(&partial))?;
    let sink = match kind.format {
        FileFormat::Jsonl => Sink::Jsonl(text_out(file, kind.gzip)),
        FileFormat::Json => Sink::Json {
            out: text_out(file, kind.gzip),
            written: 0,
        },
        FileFormat::Parquet => match ParquetSink::new(file, path) {
            Ok(sink) => Sink::Parquet(sink),
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                return Err(e);
            }
        },
    };
    Ok(TaskWriter {
        sink: Some(sink),
        path: path.to_owned(),
        partial: Some(partial),
    })
}

fn text_out(file: File, gzip: bool) -> Out {
    let file = BufWriter::new(file);
    if gzip {
        Out::Gzip(Box::new(GzEncoder::new(file, Compression::default())))
    } else {
        Out::Plain(file)
    }
}

/// `dir/.name.partial`: hidden, so a directory reader never picks it up.
fn partial_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.partial"))
}

impl TaskWriter {
    /// Appends one task.
    pub fn write(&mut self, task: &Task) -> Result<(), DatasetError> {
        let path = &self.path;
        let Some(sink) = &mut self.sink else {
            return Ok(());
        };
        match sink {
            Sink::Jsonl(out) => write_line(out, task).map_err(DatasetError::io(path)),
            Sink::Json { out, written } => {
                let separator: &[u8] = if *written == 0 { b"[\n" } else { b",\n" };
                *written += 1;
                out.write_all(separator)
                    .and_then(|()| serde_json::to_writer(&mut *out, task).map_err(io::Error::from))
                    .map_err(DatasetError::io(path))
            }
            Sink::Parquet(sink) => sink.push(task, path),
        }
    }

    /// Completes the file and moves it into place.
    pub fn finish(mut self) -> Result<(), DatasetError> {
        let path = self.path.clone();
        let Some(sink) = self.sink.take() else {
            return Ok(());
        };
        match sink {
            Sink::Jsonl(out) => out.finish().map_err(DatasetError::io(&path))?,
            Sink::Json { mut out, written } => {
                let end: &[u8] = if written == 0 { b"[]\n" } else { b"\n]\n" };
                out.write_all(end)
                    .and_then(|()| out.finish())
                    .map_err(DatasetError::io(&path))?;
            }
            Sink::Parquet(sink) => sink.finish(&path)?,
        }
        if let Some(partial) = self.partial.take() {
            std::fs::rename(&partial, &path).map_err(DatasetError::io(&path))?;
        }
        Ok(())
    }
}

impl Drop for TaskWriter {
    fn drop(&mut self) {
        if let Some(partial) = &self.partial {
            let _ = std::fs::remove_file(partial);
        }
    }
}

fn write_line(out: &mut Out, task: &Task) -> io::Result<()> {
    serde_json::to_writer(&mut *out, task)?;
    out.write_all(b"\n")
}

/// Writes `tasks` to `path`; see [`create`] for the formats.
pub fn write(path: &Path, tasks: &[Task]) -> Result<(), DatasetError> {
    let mut writer = create(path)?;
    for task in tasks {
        writer.write(task)?;
    }
    writer.finish()
}
