//! What an eval script takes from a test patch: the test directives (the paths
//! handed to the test command) and the files reset before and after the tests.
//!
//! Both follow the SWE-bench harness exactly, quirks included, because they end
//! up in the script byte for byte:
//!
//! - directives are every match of the regex `diff --git a/.* b/(.*)` over the
//!   patch text (any line, not only headers; the path after the *last* ` b/`),
//!   less data files by extension;
//! - reset files are the source (`a/…`) side of each file the `unidiff` parser
//!   finds, new files (`/dev/null`) left out — a port of `unidiff.PatchSet`'s
//!   file bookkeeping, hunks skipped by their line counts.

/// Endings that mark a directive as data rather than a test (SWE-bench's
/// `NON_TEST_EXTS`; `csv` has no dot there either).
const NON_TEST_EXTS: [&str; 11] = [
    ".json", ".png", "csv", ".txt", ".md", ".jpg", ".jpeg", ".pkl", ".yml", ".yaml", ".toml",
];

/// The test paths the patch touches, in patch order, before any per-repo
/// rewriting.
pub(super) fn directive_paths(test_patch: &str) -> Vec<&str> {
    const HEADER: &str = "diff --git a/";
    test_patch
        .split('\n')
        .filter_map(|line| {
            let rest = &line[line.find(HEADER)? + HEADER.len()..];
            Some(&rest[rest.rfind(" b/")? + 3..])
        })
        .filter(|path| !NON_TEST_EXTS.iter().any(|ext| path.ends_with(ext)))
        .collect()
}

/// Django runs tests by module: `tests/a/b.py` becomes `a.b`.
pub(super) fn django_module(path: &str) -> String {
    let path = path.strip_suffix(".py").unwrap_or(path);
    let path = path.strip_prefix("tests/").unwrap_or(path);
    path.replace('/', ".")
}

/// The files a test patch changes that exist before it (SWE-bench's
/// `get_modified_files`): these are checked out at the base commit before the
/// patch is applied and again after the tests ran. Paths are relative to the
/// repository, in patch order; files the patch creates are left out.
pub fn test_files(test_patch: &str) -> Vec<String> {
    let mut parser = FileParser::default();
    let mut lines = test_patch.split_inclusive('\n').peekable();
    while let Some(line) = lines.next() {
        if let Some(hunk) = HunkHeader::parse(line) {
            parser.in_header = false;
            hunk.skip_body(&mut lines);
        } else {
            parser.line(line);
        }
    }
    parser
        .sources
        .into_iter()
        .filter_map(|source| source.strip_prefix("a/").map(str::to_owned))
        .collect()
}

/// `unidiff`'s file-level state, reduced to the source name of each file.
#[derive(Default)]
struct FileParser<'a> {
    /// Source name of every file found so far (`/dev/null` for new files).
    sources: Vec<&'a str>,
    /// Index in `sources` of the file being read, if any.
    current: Option<usize>,
    /// Inside a `diff --git` header or other patch info (unidiff's `patch_info`).
    in_header: bool,
    /// The last `--- ` name seen, for a file started by its `+++ ` line.
    pending_source: &'a str,
}

impl<'a> FileParser<'a> {
    fn line(&mut self, line: &'a str) {
        let text = line.strip_suffix('\n').unwrap_or(line);
        if let Some(rest) = text.strip_prefix("diff --git ")
            && let Some(source) = git_header_source(rest)
        {
            self.sources.push(source);
            self.current = Some(self.sources.len() - 1);
            self.in_header = true;
        } else if is_mode_line(text, "new file mode ") {
            if let Some(i) = self.current.filter(|_| self.in_header) {
                self.sources[i] = "/dev/null";
            }
        } else if is_mode_line(text, "deleted file mode ") {
            // Changes the target side only.
        } else if let Some(name) = header_name(text, "--- ") {
            self.pending_source = name;
            if self.current.is_some_and(|i| self.sources[i] != name) {
                self.current = None;
            }
        } else if header_name(text, "+++ ").is_some() {
            if self.current.is_none() {
                self.sources.push(self.pending_source);
                self.current = Some(self.sources.len() - 1);
                self.in_header = false;
            }
        } else if text.starts_with("\\ No newline at end of file")
            || (line == "\n" && self.current.is_some())
        {
            // Belongs to the file being read.
        } else {
            if !self.in_header {
                self.current = None;
                self.in_header = true;
            }
            if let Some(source) = binary_diff_source(text) {
                if self.current.is_none() {
                    self.sources.push(source);
                }
                self.current = None;
                self.in_header = false;
            } else if line == "GIT binary patch\n" {
                self.current = None;
                self.in_header = false;
            }
        }
    }
}

/// The source of a `diff --git SOURCE TARGET` header (the text after `diff --git `):
/// with `a/`/`b/` prefixes the source ends at the last ` b/`, else at the last space.
fn git_header_source(rest: &str) -> Option<&str> {
    let head = rest.split('\t').next().unwrap_or(rest);
    let split = |sep: &str, min: usize| {
        head.rmatch_indices(sep)
            .map(|(i, _)| i)
            .find(|&i| i >= min && i + sep.len() < head.len())
    };
    if head.starts_with("a/")
        && let Some(i) = split(" b/", 3)
    {
        return Some(&head[..i]);
    }
    split(" ", 1).map(|i| &head[..i])
}

/// `new file mode 100644` and the like: `prefix` then digits to the end.
fn is_mode_line(text: &str, prefix: &str) -> bool {
    text.strip_prefix(prefix)
        .is_some_and(|mode| !mode.is_empty() && mode.bytes().all(|b| b.is_ascii_digit()))
}

/// The file name of a `--- NAME[\tTIMESTAMP]` or `+++ …` line.
fn header_name<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let name = text.strip_prefix(prefix)?.split('\t').next()?;
    (!name.is_empty()).then_some(name)
}

/// The source name of a `Binary files A and B differ` line.
fn binary_diff_source(text: &str) -> Option<&str> {
    let rest = text
        .strip_prefix("Binary files ")
        .or_else(|| text.strip_prefix("Binary file "))?;
    let body = rest
        .strip_suffix(" differ")
        .or_else(|| rest.strip_suffix(" has changed"))?;
    let source = body.split(" and ").next()?.split('\t').next()?;
    (!source.is_empty()).then_some(source)
}

/// A hunk's `@@ -S[,L] +S[,L] @@` line: how many source and target lines follow.
struct HunkHeader {
    source_len: u64,
    target_len: u64,
}

impl HunkHeader {
    fn parse(line: &str) -> Option<Self> {
        let ranges = line.strip_prefix("@@ -")?;
        let (source, rest) = ranges.split_once(" +")?;
        let (target, _) = rest.split_once(" @@")?;
        Some(Self {
            source_len: range_len(source)?,
            target_len: range_len(target)?,
        })
    }

    /// Consumes the hunk's lines, counting as unidiff does; stops early at a
    /// line that cannot be part of a hunk.
    fn skip_body<'a>(&self, lines: &mut std::iter::Peekable<impl Iterator<Item = &'a str>>) {
        let (mut source, mut target) = (0, 0);
        while source < self.source_len || target < self.target_len {
            let Some(line) = lines.peek() else { return };
            match line.as_bytes().first() {
                Some(b'+') => target += 1,
                Some(b'-') => source += 1,
                Some(b' ' | b'\n' | b'\r') => {
                    source += 1;
                    target += 1;
                }
                Some(b'\\') => {}
                _ => return,
            }
            lines.next();
        }
    }
}

/// The length of `START[,LEN]` (1 when absent); `None` unless both are numbers.
fn range_len(range: &str) -> Option<u64> {
    let digits = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    let (start, len) = range.split_once(',').unwrap_or((range, "1"));
    digits(start)?;
    digits(len)
}
