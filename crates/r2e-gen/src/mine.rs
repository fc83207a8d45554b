//! Stage 1: mine a repository's history into [`MinedCommit`] rows.
//!
//! The history is walked with gix from a tip (HEAD by default), newest commit
//! first. Each commit is diffed against its parent entirely in process: tree
//! diff (`gix::diff::tree`), rename detection (exact ids, then git's
//! similarity estimate ≥ 50% as `git diff -M`), line diffs with imara-diff,
//! unified-diff text the way `git diff` prints it (so `git apply` takes it),
//! and Python entities with tree-sitter-python ([`crate::python`], and
//! R2E-Gym's view in [`crate::gym`]). Merge and root commits are recorded
//! with a [`SkipReason`] and not analysed.
//!
//! [`mine_to_jsonl`] spreads commits over worker threads (each with its own
//! thread-local view of one [`gix::ThreadSafeRepository`]) and appends rows to
//! the output as they finish, so a killed run loses at most the rows in flight;
//! rerunning skips the hashes already written and drops a torn last line.

use crate::classify::classify;
use crate::error::{Error, Result};
use crate::jsonl;
use crate::model::{FileChange, FileKind, FileStatus, MinedCommit, SkipReason, rfc3339};
use crate::python::PyParser;
use crate::udiff::{self, CONTEXT, quote_path};
use gix::ObjectId;
use gix::bstr::ByteSlice;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Options of [`mine_to_jsonl`].
#[derive(Debug, Clone, Default)]
pub struct MineOptions {
    /// Mine only the newest N commits reachable from the tip.
    pub max_commits: Option<usize>,
    /// Worker threads; 0 means one per available core.
    pub workers: usize,
    /// Where to start: a reference name (`HEAD`, `main`, `refs/tags/v1`) or a full
    /// commit id; `None` means HEAD.
    pub rev: Option<String>,
    /// Record merge commits as skipped instead of mining them against their
    /// first parent (R2E-Gym mines them).
    pub skip_merges: bool,
}

/// Progress reported by [`mine_to_jsonl`].
#[derive(Debug)]
pub enum MineEvent<'a> {
    /// The commit list is known.
    Planned {
        /// Commits selected from the history.
        total: usize,
        /// Of those, already in the output file from an earlier run.
        already_done: usize,
    },
    /// One commit was mined and its row written.
    Mined(&'a MinedCommit),
}

/// What [`mine_to_jsonl`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MineSummary {
    /// Commits selected from the history.
    pub total: usize,
    /// Commits skipped because the output already had them.
    pub already_done: usize,
    /// Rows written by this run.
    pub mined: usize,
    /// Rows written by this run with a skip reason, by [`SkipReason::label`].
    pub skipped: BTreeMap<String, usize>,
}

/// Whether `spec` names a remote repository rather than a local path.
pub fn is_url(spec: &str) -> bool {
    if Path::new(spec).exists() {
        return false;
    }
    spec.contains("://") || (spec.contains('@') && spec.contains(':') && !spec.starts_with('/'))
}

/// Turns `--repo` into a local repository path: local paths are returned as
/// they are, URLs are cloned bare into `cache_dir` (once; a later call reuses
/// the clone).
pub fn resolve_repo(spec: &str, cache_dir: &Path) -> Result<PathBuf> {
    if !is_url(spec) {
        let p = PathBuf::from(spec);
        if !p.exists() {
            return Err(Error::NoSuchPath(p));
        }
        return Ok(p);
    }
    let name: String = spec
        .trim_end_matches('/')
        .trim_end_matches(".git")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let dest = cache_dir.join(format!("{name}.git"));
    if dest.exists() && gix::open(&dest).is_ok() {
        return Ok(dest);
    }
    std::fs::create_dir_all(cache_dir).map_err(|e| Error::io(cache_dir, e))?;
    clone_bare(spec, &dest)?;
    Ok(dest)
}

#[cfg(feature = "clone")]
fn clone_bare(url: &str, dest: &Path) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| Error::Clone {
        url: url.to_string(),
        dest: dest.to_path_buf(),
        message: e.to_string(),
    };
    let mut prepare = gix::prepare_clone_bare(url, dest).map_err(|e| err(&e))?;
    prepare
        .fetch_only(gix::progress::Discard, &AtomicBool::new(false))
        .map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(not(feature = "clone"))]
fn clone_bare(url: &str, _dest: &Path) -> Result<()> {
    Err(Error::CloneUnsupported(url.to_string()))
}

/// Opens a local repository (work tree or bare) for use from many threads.
pub fn open(path: &Path) -> Result<gix::ThreadSafeRepository> {
    if !path.exists() {
        return Err(Error::NoSuchPath(path.to_path_buf()));
    }
    gix::ThreadSafeRepository::open(path).map_err(|e| Error::NotARepository {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// The commits reachable from `rev` (HEAD if `None`), newest first, at most `max`.
pub fn list_commits(
    repo: &gix::Repository,
    rev: Option<&str>,
    max: Option<usize>,
) -> Result<Vec<ObjectId>> {
    let tip = resolve_rev(repo, rev)?;
    let walk = repo
        .rev_walk([tip])
        .sorting(gix::revision::walk::Sorting::ByCommitTime(
            Default::default(),
        ))
        .all()
        .map_err(|e| Error::git("walking the history", e))?;
    let mut ids = Vec::new();
    for info in walk {
        if max.is_some_and(|m| ids.len() >= m) {
            break;
        }
        let info = info.map_err(|e| Error::git("walking the history", e))?;
        ids.push(info.id);
    }
    Ok(ids)
}

fn resolve_rev(repo: &gix::Repository, rev: Option<&str>) -> Result<ObjectId> {
    let rev = rev.unwrap_or("HEAD");
    if rev == "HEAD" {
        return repo
            .head_id()
            .map(|id| id.detach())
            .map_err(|e| Error::git("reading HEAD (is the repository empty?)", e));
    }
    if let Ok(id) = ObjectId::from_hex(rev.as_bytes()) {
        return Ok(id);
    }
    let mut reference = repo.find_reference(rev).map_err(|e| {
        Error::git(
            format!("finding reference {rev:?} (give a branch, tag or full commit id)"),
            e,
        )
    })?;
    reference
        .peel_to_id()
        .map(|id| id.detach())
        .map_err(|e| Error::git(format!("resolving {rev:?} to a commit"), e))
}

/// Mines commits of one repository on one thread, reusing its buffers.
pub struct Miner {
    repo: gix::Repository,
    parser: PyParser,
    tree_state: gix::diff::tree::State,
    trees: TreeCache,
    skip_merges: bool,
}

impl std::fmt::Debug for Miner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Miner")
            .field("repo", &self.repo.path())
            .finish()
    }
}

/// One side of a changed path.
#[derive(Clone, Copy)]
struct Side {
    id: ObjectId,
    mode: u16,
}

struct RawChange {
    path: String,
    old_path: Option<String>,
    old: Option<Side>,
    new: Option<Side>,
    similarity: Option<u32>,
}

const MODE_COMMIT: u16 = 0o160000;

/// Most commits a worker takes at a time (fewer on short histories, so that all
/// workers get some).
const MAX_CHUNK: usize = 256;

impl Miner {
    /// Creates a miner over a thread-local repository handle.
    pub fn new(mut repo: gix::Repository) -> Self {
        repo.object_cache_size_if_unset(16 * 1024 * 1024);
        Self {
            repo,
            parser: PyParser::new(),
            tree_state: Default::default(),
            trees: TreeCache {
                entries: Vec::new(),
            },
            skip_merges: false,
        }
    }

    /// Records merge commits as skipped instead of mining them against their
    /// first parent.
    pub fn with_skip_merges(mut self, skip: bool) -> Self {
        self.skip_merges = skip;
        self
    }

    /// Mines one commit. Never fails: problems end up as [`SkipReason::Error`].
    pub fn mine(&mut self, id: ObjectId) -> MinedCommit {
        let mut row = MinedCommit::empty(id.to_string());
        if let Err(e) = self.mine_into(id, &mut row) {
            row.files.clear();
            row.gold_patch.clear();
            row.test_patch.clear();
            row.skipped = Some(SkipReason::Error {
                message: e.to_string(),
            });
        }
        row
    }

    fn mine_into(&mut self, id: ObjectId, row: &mut MinedCommit) -> Result<()> {
        let repo = &self.repo;
        let commit = repo
            .find_commit(id)
            .map_err(|e| Error::git(format!("reading commit {id}"), e))?;
        let author = commit
            .author()
            .map_err(|e| Error::git("decoding the author", e))?;
        let author_time = author
            .time()
            .map_err(|e| Error::git("decoding the author date", e))?;
        row.author = author.name.to_str_lossy().trim().to_string();
        row.author_time = author_time.seconds;
        row.author_date = rfc3339(author_time.seconds, author_time.offset);
        row.commit_time = commit
            .time()
            .map(|t| t.seconds)
            .unwrap_or(author_time.seconds);
        let message = commit.message_raw_sloppy().to_str_lossy();
        row.message = message.trim_end().to_string();
        row.subject = row.message.lines().next().unwrap_or("").trim().to_string();
        let parents: Vec<ObjectId> = commit.parent_ids().map(|p| p.detach()).collect();
        row.parent = parents.first().map(|p| p.to_string());
        match parents.len() {
            0 => {
                row.skipped = Some(SkipReason::Root);
                return Ok(());
            }
            1 => {}
            n if self.skip_merges => {
                row.skipped = Some(SkipReason::Merge { parents: n });
                return Ok(());
            }
            _ => row.merge = true,
        }
        let new_tree = commit
            .tree_id()
            .map_err(|e| Error::git("reading the commit's tree", e))?
            .detach();
        let parent = repo
            .find_commit(parents[0])
            .map_err(|e| Error::git(format!("reading parent {}", parents[0]), e))?;
        let old_tree = parent
            .tree_id()
            .map_err(|e| Error::git("reading the parent's tree", e))?
            .detach();
        drop((commit, parent));
        let changes = self.tree_changes(old_tree, new_tree)?;
        for change in changes {
            self.file_change(change, row)?;
        }
        Ok(())
    }

    /// Entities of one Python file; the old tree comes from the cache when the
    /// parent's version was seen, the new one is parsed incrementally from it.
    fn python_changes(
        &mut self,
        c: &RawChange,
        old: &str,
        new: &str,
        d: &udiff::TextDiff,
        want_calls: bool,
    ) -> crate::model::PyChanges {
        let cached = c.old.and_then(|s| self.trees.get(s.id));
        let old_tree = match cached {
            Some(t) => Some(t),
            None => self.parser.parse(old),
        };
        let new_tree = match &old_tree {
            Some(t) => self.parser.parse_edited(t, old, new, &d.ranges),
            None => self.parser.parse(new),
        };
        let (Some(old_tree), Some(new_tree)) = (old_tree, new_tree) else {
            return crate::model::PyChanges {
                parse_error: true,
                code_changed: true,
                gym: Some(crate::model::GymChanges {
                    syntax_error: true,
                    ..Default::default()
                }),
                ..Default::default()
            };
        };
        let mut out = self.parser.changes_of_trees(
            &old_tree,
            old,
            &new_tree,
            new,
            &d.old_changed,
            &d.new_changed,
            want_calls,
        );
        out.gym = Some(crate::gym::gym_changes(
            &old_tree,
            old,
            &new_tree,
            new,
            d,
            &out.edited,
            want_calls,
        ));
        if let Some(s) = c.old {
            self.trees.put(s.id, old_tree);
        }
        if let Some(s) = c.new {
            self.trees.put(s.id, new_tree);
        }
        out
    }

    fn blob(&self, id: ObjectId) -> Result<Vec<u8>> {
        Ok(self
            .repo
            .find_blob(id)
            .map_err(|e| Error::git(format!("reading blob {id}"), e))?
            .take_data())
    }

    /// Changed files between two trees, with renames paired up.
    fn tree_changes(&mut self, old_tree: ObjectId, new_tree: ObjectId) -> Result<Vec<RawChange>> {
        use gix::diff::tree::recorder::Change;
        let hash_kind = self.repo.object_hash();
        let old_data = self
            .repo
            .find_tree(old_tree)
            .map_err(|e| Error::git("reading a tree", e))?
            .detach()
            .data;
        let new_data = self
            .repo
            .find_tree(new_tree)
            .map_err(|e| Error::git("reading a tree", e))?
            .detach()
            .data;
        let mut recorder = gix::diff::tree::Recorder::default();
        gix::diff::tree(
            gix::objs::TreeRefIter::from_bytes(&old_data, hash_kind),
            gix::objs::TreeRefIter::from_bytes(&new_data, hash_kind),
            &mut self.tree_state,
            &self.repo.objects,
            &mut recorder,
        )
        .map_err(|e| Error::git("diffing trees", e))?;
        let side = |mode: gix::objs::tree::EntryMode, id: ObjectId| {
            (!mode.is_tree()).then_some(Side {
                id,
                mode: mode.value(),
            })
        };
        let mut out = Vec::new();
        for rec in recorder.records {
            let (path, old, new) = match rec {
                Change::Addition {
                    entry_mode,
                    oid,
                    path,
                    ..
                } => (path, None, side(entry_mode, oid)),
                Change::Deletion {
                    entry_mode,
                    oid,
                    path,
                    ..
                } => (path, side(entry_mode, oid), None),
                Change::Modification {
                    previous_entry_mode,
                    previous_oid,
                    entry_mode,
                    oid,
                    path,
                } => (
                    path,
                    side(previous_entry_mode, previous_oid),
                    side(entry_mode, oid),
                ),
            };
            if old.is_none() && new.is_none() {
                continue;
            }
            out.push(RawChange {
                path: path.to_str_lossy().into_owned(),
                old_path: None,
                old,
                new,
                similarity: None,
            });
        }
        self.pair_renames(&mut out)?;
        Ok(out)
    }

    /// Pairs deletions with additions: identical blobs first, then the most
    /// similar text (≥ 50% of lines in common) when the sets are small.
    fn pair_renames(&self, changes: &mut Vec<RawChange>) -> Result<()> {
        let is_file = |s: &Side| s.mode != MODE_COMMIT;
        let dels: Vec<usize> = (0..changes.len())
            .filter(|&i| changes[i].new.is_none() && changes[i].old.as_ref().is_some_and(is_file))
            .collect();
        let adds: Vec<usize> = (0..changes.len())
            .filter(|&i| changes[i].old.is_none() && changes[i].new.as_ref().is_some_and(is_file))
            .collect();
        if dels.is_empty() || adds.is_empty() {
            return Ok(());
        }
        let mut by_id: HashMap<ObjectId, Vec<usize>> = HashMap::new();
        for &d in &dels {
            if let Some(o) = changes[d].old {
                by_id.entry(o.id).or_default().push(d);
            }
        }
        let mut pairs: Vec<(usize, usize, u32)> = Vec::new(); // (del, add, similarity)
        let mut used_del = vec![false; changes.len()];
        let mut open_adds = Vec::new();
        for &a in &adds {
            let Some(n) = changes[a].new else { continue };
            match by_id.get_mut(&n.id).and_then(|v| v.pop()) {
                Some(d) => {
                    used_del[d] = true;
                    pairs.push((d, a, 100));
                }
                None => open_adds.push(a),
            }
        }
        let open_dels: Vec<usize> = dels.iter().copied().filter(|&d| !used_del[d]).collect();
        if !open_dels.is_empty()
            && !open_adds.is_empty()
            && open_dels.len() * open_adds.len() <= 400
        {
            // Each file's chunks are counted once, not once per pair.
            let texts = |ids: &[usize], old: bool| -> Result<Vec<Option<Chunks>>> {
                ids.iter()
                    .map(|&i| {
                        let side = if old { changes[i].old } else { changes[i].new };
                        let Some(side) = side else { return Ok(None) };
                        let data = self.blob(side.id)?;
                        Ok((!is_binary(&data))
                            .then(|| String::from_utf8(data).ok())
                            .flatten()
                            .map(|t| Chunks::new(&t)))
                    })
                    .collect()
            };
            let del_texts = texts(&open_dels, true)?;
            let add_texts = texts(&open_adds, false)?;
            for (ai, &a) in open_adds.iter().enumerate() {
                let Some(at) = &add_texts[ai] else { continue };
                let mut best: Option<(usize, u32)> = None;
                for (di, &d) in open_dels.iter().enumerate() {
                    if used_del[d] {
                        continue;
                    }
                    let Some(dt) = &del_texts[di] else { continue };
                    let sim = similarity(dt, at);
                    if sim >= 50 && best.is_none_or(|(_, s)| sim > s) {
                        best = Some((d, sim));
                    }
                }
                if let Some((d, sim)) = best {
                    used_del[d] = true;
                    pairs.push((d, a, sim));
                }
            }
        }
        let mut remove = vec![false; changes.len()];
        for (d, a, sim) in pairs {
            let old_path = std::mem::take(&mut changes[d].path);
            changes[a].old = changes[d].old;
            changes[a].old_path = Some(old_path);
            changes[a].similarity = Some(sim);
            remove[d] = true;
        }
        let mut i = 0;
        changes.retain(|_| {
            i += 1;
            !remove[i - 1]
        });
        Ok(())
    }

    fn file_change(&mut self, c: RawChange, row: &mut MinedCommit) -> Result<()> {
        let status = match (&c.old, &c.new, &c.old_path) {
            (_, _, Some(_)) => FileStatus::Renamed,
            (None, Some(_), _) => FileStatus::Added,
            (Some(_), None, _) => FileStatus::Deleted,
            _ => FileStatus::Modified,
        };
        let kind = classify(&c.path);
        let mut fc = FileChange {
            path: c.path.clone(),
            old_path: c.old_path.clone(),
            status,
            kind,
            added: 0,
            removed: 0,
            hunks: 0,
            patch_chars: 0,
            omitted: None,
            python: None,
        };
        let is_submodule = |s: &Option<Side>| s.is_some_and(|s| s.mode == MODE_COMMIT);
        if is_submodule(&c.old) || is_submodule(&c.new) {
            fc.omitted = Some("submodule".into());
            row.files.push(fc);
            return Ok(());
        }
        // Exact renames need no content.
        let exact_rename = c.old.zip(c.new).is_some_and(|(o, n)| o.id == n.id);
        let old = match c.old {
            Some(s) if !exact_rename => self.blob(s.id)?,
            _ => Vec::new(),
        };
        let new = match c.new {
            Some(s) if !exact_rename => self.blob(s.id)?,
            _ => Vec::new(),
        };
        let mut hunks_text = String::new();
        if !exact_rename {
            if is_binary(&old) || is_binary(&new) {
                fc.omitted = Some("binary".into());
            } else {
                match (std::str::from_utf8(&old), std::str::from_utf8(&new)) {
                    (Ok(o), Ok(n)) => {
                        let d = udiff::diff_text(o, n, CONTEXT);
                        fc.added = d.added;
                        fc.removed = d.removed;
                        fc.hunks = d.hunks;
                        if fc.is_python() {
                            fc.python =
                                Some(self.python_changes(&c, o, n, &d, kind == FileKind::Test));
                        }
                        hunks_text = d.hunks_text;
                    }
                    _ => fc.omitted = Some("not_utf8".into()),
                }
            }
        }
        if fc.omitted.is_none() {
            let mut text = header(&c, status);
            if !hunks_text.is_empty() {
                let a = match status {
                    FileStatus::Added => "/dev/null".to_string(),
                    _ => quote_path("a/", c.old_path.as_deref().unwrap_or(&c.path)),
                };
                let b = match status {
                    FileStatus::Deleted => "/dev/null".to_string(),
                    _ => quote_path("b/", &c.path),
                };
                text.push_str(&format!("--- {a}\n+++ {b}\n"));
                text.push_str(&hunks_text);
            }
            fc.patch_chars = text.chars().count() as u32;
            if kind == FileKind::Test {
                row.test_patch.push_str(&text);
            } else {
                row.gold_patch.push_str(&text);
            }
        }
        row.added += fc.added;
        row.removed += fc.removed;
        row.files.push(fc);
        Ok(())
    }
}

/// The most recently used syntax trees by blob id: the old side of a commit is
/// usually the new side of the commit mined just before it.
struct TreeCache {
    entries: Vec<(ObjectId, tree_sitter::Tree)>,
}

impl TreeCache {
    const CAPACITY: usize = 48;

    fn get(&mut self, id: ObjectId) -> Option<tree_sitter::Tree> {
        let i = self.entries.iter().position(|(k, _)| *k == id)?;
        let entry = self.entries.remove(i);
        let tree = entry.1.clone();
        self.entries.push(entry);
        Some(tree)
    }

    fn put(&mut self, id: ObjectId, tree: tree_sitter::Tree) {
        if self.entries.iter().any(|(k, _)| *k == id) {
            return;
        }
        if self.entries.len() >= Self::CAPACITY {
            self.entries.remove(0);
        }
        self.entries.push((id, tree));
    }
}

/// git's test for binary content: a NUL byte in the first 8000 bytes.
fn is_binary(data: &[u8]) -> bool {
    data[..data.len().min(8000)].contains(&0)
}

/// A text cut as `git diff -M` cuts it to estimate similarity
/// (diffcore-delta): into chunks that end at a newline or after 64 bytes (a
/// CR before an LF left out), counted.
struct Chunks {
    /// The text's size in bytes.
    len: usize,
    /// How often each chunk occurs.
    counts: HashMap<Vec<u8>, usize>,
}

impl Chunks {
    fn new(s: &str) -> Chunks {
        let mut counts: HashMap<Vec<u8>, usize> = HashMap::new();
        let bytes = s.as_bytes();
        let mut chunk = Vec::with_capacity(64);
        for (i, &c) in bytes.iter().enumerate() {
            if c == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
                continue;
            }
            chunk.push(c);
            if c == b'\n' || chunk.len() >= 64 {
                *counts.entry(std::mem::take(&mut chunk)).or_default() += 1;
            }
        }
        if !chunk.is_empty() {
            *counts.entry(chunk).or_default() += 1;
        }
        Chunks {
            len: s.len(),
            counts,
        }
    }
}

/// How similar two texts are, in percent, as `git diff -M` estimates it: the
/// bytes of the chunks they share (as a multiset) over the larger size.
/// Texts whose sizes differ by more than half the larger are not similar.
fn similarity(a: &Chunks, b: &Chunks) -> u32 {
    let longer = a.len.max(b.len);
    if longer == 0 {
        return 100;
    }
    if (longer - a.len.min(b.len)) * 2 > longer {
        return 0;
    }
    let copied: usize = a
        .counts
        .iter()
        .filter_map(|(k, n)| b.counts.get(k).map(|m| k.len() * n.min(m)))
        .sum();
    (copied * 100 / longer) as u32
}

/// The `diff --git` header and extended header lines of one file.
fn header(c: &RawChange, status: FileStatus) -> String {
    let a_path = c.old_path.as_deref().unwrap_or(&c.path);
    let mut h = format!(
        "diff --git {} {}\n",
        quote_path("a/", a_path),
        quote_path("b/", &c.path)
    );
    let short = |id: ObjectId| id.to_hex_with_len(7).to_string();
    const ZERO: &str = "0000000";
    match (status, c.old, c.new) {
        (FileStatus::Added, _, Some(n)) => {
            h.push_str(&format!(
                "new file mode {:06o}\nindex {ZERO}..{}\n",
                n.mode,
                short(n.id)
            ));
        }
        (FileStatus::Deleted, Some(o), _) => {
            h.push_str(&format!(
                "deleted file mode {:06o}\nindex {}..{ZERO}\n",
                o.mode,
                short(o.id)
            ));
        }
        (_, Some(o), Some(n)) => {
            if o.mode != n.mode {
                h.push_str(&format!(
                    "old mode {:06o}\nnew mode {:06o}\n",
                    o.mode, n.mode
                ));
            }
            if let Some(old_path) = &c.old_path {
                h.push_str(&format!(
                    "similarity index {}%\nrename from {}\nrename to {}\n",
                    c.similarity.unwrap_or(100),
                    quote_path("", old_path),
                    quote_path("", &c.path)
                ));
            }
            if o.id != n.id {
                if o.mode == n.mode {
                    h.push_str(&format!(
                        "index {}..{} {:06o}\n",
                        short(o.id),
                        short(n.id),
                        n.mode
                    ));
                } else {
                    h.push_str(&format!("index {}..{}\n", short(o.id), short(n.id)));
                }
            }
        }
        _ => {}
    }
    h
}

/// Mines the history of the repository at `repo_path` into `out` (JSONL),
/// appending to what an earlier run wrote and skipping the commits it has.
pub fn mine_to_jsonl(
    repo_path: &Path,
    out: &Path,
    opts: &MineOptions,
    on_event: &mut dyn FnMut(MineEvent<'_>),
) -> Result<MineSummary> {
    let ts = open(repo_path)?;
    let ids = list_commits(&ts.to_thread_local(), opts.rev.as_deref(), opts.max_commits)?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let done = jsonl::prepare_resume(out)?;
    let todo: Vec<ObjectId> = ids
        .iter()
        .copied()
        .filter(|id| !done.contains(&id.to_string()))
        .collect();
    let mut summary = MineSummary {
        total: ids.len(),
        already_done: ids.len() - todo.len(),
        ..Default::default()
    };
    on_event(MineEvent::Planned {
        total: summary.total,
        already_done: summary.already_done,
    });
    if todo.is_empty() {
        return Ok(summary);
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out)
        .map_err(|e| Error::io(out, e))?;
    let mut writer = std::io::BufWriter::with_capacity(1 << 20, file);
    let workers = match opts.workers {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        n => n,
    }
    .min(todo.len());
    let chunk = (todo.len() / (workers * 4)).clamp(1, MAX_CHUNK);
    let skip_merges = opts.skip_merges;
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = std::sync::mpsc::sync_channel::<MinedCommit>(workers * 8);
    let result = std::thread::scope(|s| -> Result<()> {
        for w in 0..workers {
            let tx = tx.clone();
            let (ts, todo, next, stop, chunk) = (&ts, &todo, &next, &stop, chunk);
            std::thread::Builder::new()
                .name(format!("r2e-mine-{w}"))
                .stack_size(16 * 1024 * 1024)
                .spawn_scoped(s, move || {
                    let mut miner = Miner::new(ts.to_thread_local()).with_skip_merges(skip_merges);
                    // Runs of consecutive commits, mined oldest first, so that a
                    // file's old version is usually the tree parsed just before.
                    'work: while !stop.load(Ordering::Relaxed) {
                        let start = next.fetch_add(chunk, Ordering::Relaxed);
                        if start >= todo.len() {
                            break;
                        }
                        let end = (start + chunk).min(todo.len());
                        for &id in todo[start..end].iter().rev() {
                            if stop.load(Ordering::Relaxed) || tx.send(miner.mine(id)).is_err() {
                                break 'work;
                            }
                        }
                    }
                })
                .map_err(|e| Error::io("<worker thread>", e))?;
        }
        drop(tx);
        let mut last_flush = Instant::now();
        let mut line = Vec::with_capacity(1 << 16);
        for row in rx {
            line.clear();
            let written = serde_json::to_writer(&mut line, &row)
                .map_err(std::io::Error::other)
                .and_then(|()| {
                    line.push(b'\n');
                    writer.write_all(&line)
                })
                .and_then(|()| {
                    if last_flush.elapsed() > Duration::from_millis(250) {
                        last_flush = Instant::now();
                        writer.flush()
                    } else {
                        Ok(())
                    }
                });
            if let Err(e) = written {
                stop.store(true, Ordering::Relaxed);
                return Err(Error::io(out, e));
            }
            summary.mined += 1;
            if let Some(r) = &row.skipped {
                *summary.skipped.entry(r.label().to_string()).or_default() += 1;
            }
            on_event(MineEvent::Mined(&row));
        }
        Ok(())
    });
    let flushed = writer.flush().map_err(|e| Error::io(out, e));
    result?;
    flushed?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::Chunks;

    fn similarity(a: &str, b: &str) -> u32 {
        super::similarity(&Chunks::new(a), &Chunks::new(b))
    }

    #[test]
    fn similarity_weighs_bytes_as_git_does() {
        assert_eq!(similarity("a\nb\n", "a\nb\n"), 100);
        // A CR before an LF is not content, but the sizes count it.
        assert_eq!(similarity("a\nb\n", "a\r\nb\r\n"), 66);
        // Most lines kept, but the long one (most of the bytes) rewritten: git
        // sees no rename where a line count would.
        let long = "x".repeat(60);
        let old = format!("a\nb\nc\nd\n{long}\n");
        let new = format!("a\nb\nc\nd\n{}\n", "y".repeat(60));
        assert!(similarity(&old, &new) < 50, "{}", similarity(&old, &new));
        // A size change of more than half is never a rename.
        assert_eq!(similarity("a\n", &"a\n".repeat(10)), 0);
    }
}
