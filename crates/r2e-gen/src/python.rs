//! Python entities with tree-sitter-python: which functions, classes and methods a
//! change added, edited or deleted.
//!
//! Entities are module-level `def`s (functions), `class`es (also nested in class
//! bodies: `Outer.Inner`) and `def`s directly in class bodies (methods:
//! `Class.method`); decorators belong to the entity they decorate. Nested
//! functions are part of the entity around them. Entities are matched between the
//! old and new file by qualified name and kind; an entity in both is *edited* when
//! its code differs once comments and string-only statements (docstrings) are
//! dropped and whitespace is normalised.
//!
//! The comparison hashes the syntax tree's tokens, with block boundaries and
//! statement separators marked, so moving a statement into or out of a block
//! counts as an edit while re-indenting a comment does not. To stay fast on large
//! files only entities that hold a changed line (on either side) are normalised;
//! the others are byte-identical on both sides and hashed as raw text, and a
//! class's hash is built from its methods' hashes. The new side is parsed
//! incrementally from the old tree when the caller has it ([`PyParser::parse_edited`]).
//! All walks are iterative: deeply nested expressions cannot overflow the stack.

use crate::model::{Entity, EntityKind, PyChanges};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{DefaultHasher, Hasher};
use std::ops::Range;
use tree_sitter::{InputEdit, Node, Parser, Point, Tree};

/// Node kind ids of the grammar, looked up once (comparing ids is much cheaper
/// than comparing kind names).
#[derive(Debug, Clone, Copy)]
struct Kinds {
    function: u16,
    class: u16,
    decorated: u16,
    block: u16,
    expression_statement: u16,
    string: u16,
    concatenated_string: u16,
    comment: u16,
    line_continuation: u16,
    import: u16,
    import_from: u16,
    future_import: u16,
}

impl Kinds {
    fn new(lang: &tree_sitter::Language) -> Self {
        let id = |k: &str| lang.id_for_node_kind(k, true);
        Kinds {
            function: id("function_definition"),
            class: id("class_definition"),
            decorated: id("decorated_definition"),
            block: id("block"),
            expression_statement: id("expression_statement"),
            string: id("string"),
            concatenated_string: id("concatenated_string"),
            comment: id("comment"),
            line_continuation: id("line_continuation"),
            import: id("import_statement"),
            import_from: id("import_from_statement"),
            future_import: id("future_import_statement"),
        }
    }

    fn is_string(&self, n: Node<'_>) -> bool {
        let k = n.kind_id();
        k == self.string || k == self.concatenated_string
    }

    /// Comments, line continuations and string-only statements (docstrings).
    fn skipped(&self, n: Node<'_>) -> bool {
        let k = n.kind_id();
        if k == self.comment || k == self.line_continuation {
            return true;
        }
        k == self.expression_statement
            && n.named_child_count() == 1
            && n.named_child(0).is_some_and(|c| self.is_string(c))
    }
}

/// A reusable tree-sitter parser for Python (one per thread).
pub struct PyParser {
    parser: Parser,
    kinds: Kinds,
}

impl std::fmt::Debug for PyParser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PyParser")
    }
}

/// Byte offset of the start of each line, plus the text's length at the end
/// (so line `i` spans `starts[i]..starts[i + 1]`).
fn line_starts(text: &str) -> Vec<usize> {
    let mut starts = Vec::with_capacity(text.len() / 32 + 2);
    starts.push(0);
    starts.extend(memchr_newlines(text.as_bytes()).map(|i| i + 1));
    if *starts.last().unwrap_or(&0) != text.len() {
        starts.push(text.len());
    }
    starts
}

fn memchr_newlines(b: &[u8]) -> impl Iterator<Item = usize> + '_ {
    b.iter()
        .enumerate()
        .filter(|(_, c)| **c == b'\n')
        .map(|(i, _)| i)
}

/// The point of the start of line `line` (or the end of the text).
fn point_of(starts: &[usize], text: &str, line: usize) -> Point {
    let byte = starts[line.min(starts.len() - 1)];
    if byte == text.len() && !text.is_empty() && !text.ends_with('\n') {
        let last = starts.len() - 2;
        return Point {
            row: last,
            column: byte - starts[last],
        };
    }
    Point {
        row: line,
        column: 0,
    }
}

impl PyParser {
    /// Creates a parser with the Python grammar loaded.
    pub fn new() -> Self {
        let lang: tree_sitter::Language = tree_sitter_python::LANGUAGE.into();
        let mut parser = Parser::new();
        // The grammar is compiled in and matches the runtime's ABI; failure here
        // is a build problem, not an input problem.
        parser
            .set_language(&lang)
            .expect("tree-sitter-python grammar matches the tree-sitter runtime");
        Self {
            parser,
            kinds: Kinds::new(&lang),
        }
    }

    /// Parses a whole file.
    pub fn parse(&mut self, src: &str) -> Option<Tree> {
        self.parser.parse(src, None)
    }

    /// Parses `new` reusing `old_tree` (the tree of `old`), given the line hunks
    /// that turn `old` into `new` (`(old lines, new lines)`, 0-based, in order).
    pub fn parse_edited(
        &mut self,
        old_tree: &Tree,
        old: &str,
        new: &str,
        hunks: &[(Range<u32>, Range<u32>)],
    ) -> Option<Tree> {
        let old_starts = line_starts(old);
        let new_starts = line_starts(new);
        let mut tree = old_tree.clone();
        for (b, a) in hunks {
            let (bs, be, as_, ae) = (
                b.start as usize,
                b.end as usize,
                a.start as usize,
                a.end as usize,
            );
            let start_byte = new_starts[as_];
            let removed = old_starts[be] - old_starts[bs];
            let start_position = point_of(&new_starts, new, as_);
            // End of the removed text, in the coordinates of the partly edited text.
            let old_end = point_of(&old_starts, old, be);
            let old_end_position = if old_end.column == 0 {
                Point {
                    row: as_ + (be - bs),
                    column: 0,
                }
            } else {
                Point {
                    row: as_ + (be - bs).saturating_sub(1),
                    column: old_end.column,
                }
            };
            tree.edit(&InputEdit {
                start_byte,
                old_end_byte: start_byte + removed,
                new_end_byte: new_starts[ae],
                start_position,
                old_end_position,
                new_end_position: point_of(&new_starts, new, ae),
            });
        }
        self.parser.parse(new, Some(&tree))
    }

    /// Compares the entities of the old and new text of one file, diffing and
    /// parsing both. With `want_calls`, added and edited entities list the names
    /// they call.
    pub fn changes(&mut self, old: &str, new: &str, want_calls: bool) -> PyChanges {
        let d = crate::udiff::diff_text(old, new, 0);
        match (self.parse(old), self.parse(new)) {
            (Some(ot), Some(nt)) => self.changes_of_trees(
                &ot,
                old,
                &nt,
                new,
                &d.old_changed,
                &d.new_changed,
                want_calls,
            ),
            _ => PyChanges {
                parse_error: true,
                code_changed: old != new,
                ..Default::default()
            },
        }
    }

    /// [`PyParser::changes`] on trees the caller parsed (and may cache), given
    /// the sorted 1-based line numbers removed from the old and added to the new
    /// text. Entities without a changed line on either side count as unchanged.
    #[allow(clippy::too_many_arguments)]
    pub fn changes_of_trees(
        &self,
        old_tree: &Tree,
        old: &str,
        new_tree: &Tree,
        new: &str,
        old_changed: &[u32],
        new_changed: &[u32],
        want_calls: bool,
    ) -> PyChanges {
        let k = self.kinds;
        let old_mod = Skeleton::new(&k, old_tree, old);
        let new_mod = Skeleton::new(&k, new_tree, new);
        // Entities holding a changed line on either side get normalised hashes.
        let mut touched: HashSet<(&str, EntityKind)> = HashSet::new();
        old_mod.touched(old_changed, &mut touched);
        new_mod.touched(new_changed, &mut touched);
        let old_hashes = old_mod.hashes(&k, &touched);
        let new_hashes = new_mod.hashes(&k, &touched);
        let mut out = PyChanges {
            code_changed: old_hashes.module != new_hashes.module,
            parse_error: old_tree.root_node().has_error() || new_tree.root_node().has_error(),
            ..Default::default()
        };
        let old_index = old_mod.index(&old_hashes.defs);
        let new_index = new_mod.index(&new_hashes.defs);
        let entity = |d: &Def<'_>| Entity {
            name: d.name.clone(),
            kind: d.kind,
            start_line: d.start,
            end_line: d.end,
            calls: if want_calls {
                calls(d.node, new.as_bytes())
            } else {
                Vec::new()
            },
        };
        for (i, d) in new_mod.defs.iter().enumerate() {
            let key = (d.name.as_str(), d.kind);
            let Some(&(first, new_hash)) = new_index.get(&key) else {
                continue;
            };
            if first != i {
                continue; // a later duplicate of the same name
            }
            match old_index.get(&key) {
                None => out.added.push(entity(d)),
                Some(&(_, old_hash)) if old_hash != new_hash => out.edited.push(entity(d)),
                Some(_) => {}
            }
        }
        for (i, d) in old_mod.defs.iter().enumerate() {
            let key = (d.name.as_str(), d.kind);
            if old_index.get(&key).map(|&(first, _)| first) != Some(i) {
                continue;
            }
            if !new_index.contains_key(&key) {
                out.deleted.push(Entity {
                    name: d.name.clone(),
                    kind: d.kind,
                    start_line: d.start,
                    end_line: d.end,
                    calls: Vec::new(),
                });
            }
        }
        let mut stmts: HashSet<&str> = HashSet::new();
        old_mod.touched_statements(&k, old_changed, &mut stmts);
        new_mod.touched_statements(&k, new_changed, &mut stmts);
        out.statements = stmts.len() as u32;
        out
    }
}

impl Default for PyParser {
    fn default() -> Self {
        Self::new()
    }
}

/// One definition of a file: its outer node (decorators included).
struct Def<'t> {
    name: String,
    kind: EntityKind,
    start: u32,
    end: u32,
    node: Node<'t>,
    /// Index of the enclosing class in the skeleton's defs.
    parent: Option<usize>,
}

/// The definitions of a file, found by walking only the module and class bodies.
struct Skeleton<'t> {
    src: &'t str,
    root: Node<'t>,
    defs: Vec<Def<'t>>,
}

struct Hashes {
    module: u64,
    defs: Vec<u64>,
}

/// Whether a line of `changed` (sorted line numbers) falls in `start..=end`.
pub(crate) fn overlaps(changed: &[u32], start: u32, end: u32) -> bool {
    let k = changed.partition_point(|&l| l < start);
    k < changed.len() && changed[k] <= end
}

impl<'t> Skeleton<'t> {
    fn new(k: &Kinds, tree: &'t Tree, src: &'t str) -> Self {
        let root = tree.root_node();
        let mut defs: Vec<Def<'t>> = Vec::new();
        // (container, qualified prefix, inside a class body, parent def index)
        let mut stack: Vec<(Node<'t>, String, bool, Option<usize>)> =
            vec![(root, String::new(), false, None)];
        let mut cursor = root.walk();
        while let Some((container, prefix, in_class, parent)) = stack.pop() {
            let mut nested = Vec::new();
            for child in container.named_children(&mut cursor) {
                let def = if child.kind_id() == k.decorated {
                    match child.child_by_field_name("definition") {
                        Some(d) => d,
                        None => continue,
                    }
                } else {
                    child
                };
                let kind = match def.kind_id() {
                    id if id == k.function && in_class => EntityKind::Method,
                    id if id == k.function => EntityKind::Function,
                    id if id == k.class => EntityKind::Class,
                    _ => continue,
                };
                let Some(name_node) = def.child_by_field_name("name") else {
                    continue;
                };
                let name = format!("{prefix}{}", &src[name_node.byte_range()]);
                let idx = defs.len();
                if kind == EntityKind::Class
                    && let Some(body) = def.child_by_field_name("body")
                {
                    nested.push((body, format!("{name}."), true, Some(idx)));
                }
                defs.push(Def {
                    name,
                    kind,
                    start: child.start_position().row as u32 + 1,
                    end: child.end_position().row as u32 + 1,
                    node: child,
                    parent,
                });
            }
            stack.extend(nested.into_iter().rev());
        }
        Skeleton { src, root, defs }
    }

    fn touched<'a>(&'a self, changed: &[u32], out: &mut HashSet<(&'a str, EntityKind)>) {
        for d in &self.defs {
            if overlaps(changed, d.start, d.end) {
                out.insert((d.name.as_str(), d.kind));
            }
        }
    }

    /// Entity hashes (normalised for touched entities, raw text otherwise; a class
    /// from its own tokens and its members' hashes) and the module's hash.
    fn hashes(&self, k: &Kinds, touched: &HashSet<(&str, EntityKind)>) -> Hashes {
        let src = self.src.as_bytes();
        let mut defs = vec![0u64; self.defs.len()];
        // Children come after their class in `defs`; compute members first.
        let mut subst: Vec<(usize, u64)> = Vec::new();
        for i in (0..self.defs.len()).rev() {
            let d = &self.defs[i];
            defs[i] = if !touched.contains(&(d.name.as_str(), d.kind)) {
                let mut h = DefaultHasher::new();
                h.write(&src[d.node.byte_range()]);
                h.finish()
            } else if d.kind == EntityKind::Class {
                subst.clear();
                subst.extend(
                    self.defs
                        .iter()
                        .enumerate()
                        .filter(|(_, m)| m.parent == Some(i))
                        .map(|(j, m)| (m.node.id(), defs[j])),
                );
                norm_hash(k, d.node, src, &subst)
            } else {
                norm_hash(k, d.node, src, &[])
            };
        }
        subst.clear();
        subst.extend(
            self.defs
                .iter()
                .enumerate()
                .filter(|(_, d)| d.parent.is_none())
                .map(|(j, d)| (d.node.id(), defs[j])),
        );
        let module = norm_hash(k, self.root, src, &subst);
        Hashes { module, defs }
    }

    /// Name and kind → (index of first occurrence, hash over all occurrences).
    fn index(&self, hashes: &[u64]) -> HashMap<(&str, EntityKind), (usize, u64)> {
        let mut m: HashMap<(&str, EntityKind), (usize, u64)> = HashMap::new();
        for (i, d) in self.defs.iter().enumerate() {
            m.entry((d.name.as_str(), d.kind))
                .and_modify(|(_, h)| *h = h.rotate_left(5) ^ hashes[i])
                .or_insert((i, hashes[i]));
        }
        m
    }

    /// Adds the text of top-level statements that hold a changed line.
    fn touched_statements(&self, k: &Kinds, changed: &[u32], out: &mut HashSet<&'t str>) {
        if changed.is_empty() {
            return;
        }
        let mut cursor = self.root.walk();
        for child in self.root.named_children(&mut cursor) {
            let id = child.kind_id();
            if [
                k.function,
                k.class,
                k.decorated,
                k.import,
                k.import_from,
                k.future_import,
                k.comment,
            ]
            .contains(&id)
            {
                continue;
            }
            let s = child.start_position().row as u32 + 1;
            let e = child.end_position().row as u32 + 1;
            if overlaps(changed, s, e) {
                out.insert(&self.src[child.byte_range()]);
            }
        }
    }
}

/// Hash of a subtree's tokens without comments and string-only statements;
/// nodes listed in `subst` (by id) contribute the given hash instead.
fn norm_hash(k: &Kinds, root: Node<'_>, src: &[u8], subst: &[(usize, u64)]) -> u64 {
    let mut h = DefaultHasher::new();
    // For each entered ancestor below `root`: whether it is a block.
    let mut blocks: Vec<bool> = Vec::new();
    let mut c = root.walk();
    'outer: loop {
        let n = c.node();
        let mut entered = false;
        if !k.skipped(n) {
            if blocks.last() == Some(&true) {
                h.write_u8(b';');
            }
            let id = n.kind_id();
            let sub =
                if !subst.is_empty() && (id == k.function || id == k.class || id == k.decorated) {
                    subst
                        .iter()
                        .find(|(nid, _)| *nid == n.id())
                        .map(|(_, v)| *v)
                } else {
                    None
                };
            if let Some(v) = sub {
                h.write_u64(v);
            } else if k.is_string(n) || n.child_count() == 0 {
                h.write(&src[n.byte_range()]);
                h.write_u8(0);
            } else {
                let is_block = id == k.block;
                if is_block {
                    h.write_u8(b'{');
                }
                if c.goto_first_child() {
                    blocks.push(is_block);
                    entered = true;
                } else if is_block {
                    h.write_u8(b'}');
                }
            }
        }
        if entered {
            continue;
        }
        loop {
            if blocks.is_empty() {
                break 'outer;
            }
            if c.goto_next_sibling() {
                continue 'outer;
            }
            c.goto_parent();
            if blocks.pop() == Some(true) {
                h.write_u8(b'}');
            }
        }
    }
    h.finish()
}

/// Names called in a subtree: `f` for `f(...)` and for `obj.f(...)`.
fn calls(node: Node<'_>, src: &[u8]) -> Vec<String> {
    let mut names = BTreeSet::new();
    let mut stack = vec![node];
    let mut cursor = node.walk();
    while let Some(n) = stack.pop() {
        if n.kind() == "call"
            && let Some(f) = n.child_by_field_name("function")
        {
            let name = match f.kind() {
                "identifier" => Some(f),
                "attribute" => f.child_by_field_name("attribute"),
                _ => None,
            };
            if let Some(name) = name {
                names.insert(String::from_utf8_lossy(&src[name.byte_range()]).into_owned());
            }
        }
        stack.extend(n.named_children(&mut cursor));
    }
    names.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[Entity]) -> Vec<&str> {
        v.iter().map(|e| e.name.as_str()).collect()
    }

    #[test]
    fn added_edited_deleted() {
        let old = "import os\n\nX = 1\n\ndef f(a):\n    return a\n\nclass C:\n    def m(self):\n        return 1\n\n    def gone(self):\n        pass\n\ndef g():\n    pass\n";
        let new = "import os\n\nX = 2\n\ndef f(a):\n    return a + 1\n\nclass C:\n    def m(self):\n        return 1\n\n    @property\n    def new(self):\n        return 2\n\ndef g():\n    pass\n";
        let mut p = PyParser::new();
        let c = p.changes(old, new, false);
        assert_eq!(names(&c.added), ["C.new"]);
        assert_eq!(names(&c.edited), ["f", "C"]);
        assert_eq!(names(&c.deleted), ["C.gone"]);
        assert_eq!(c.statements, 2);
        assert!(c.code_changed);
        assert_eq!(c.added[0].start_line, 12);
        assert_eq!(c.added[0].kind, EntityKind::Method);
    }

    #[test]
    fn comments_and_docstrings_are_not_edits() {
        let old = "def f(a):\n    \"\"\"Doc.\"\"\"\n    # add one\n    return a + 1\n";
        let new = "def f(a):\n    \"\"\"Better doc.\n\n    More.\n    \"\"\"\n    # add one to a\n    return a  +  1  # trailing\n";
        let mut p = PyParser::new();
        let c = p.changes(old, new, false);
        assert!(c.edited.is_empty(), "{c:?}");
        assert!(!c.code_changed);
    }

    #[test]
    fn block_structure_counts() {
        let old = "def f(a):\n    if a:\n        x = 1\n        y = 2\n";
        let new = "def f(a):\n    if a:\n        x = 1\n    y = 2\n";
        let c = PyParser::new().changes(old, new, false);
        assert_eq!(names(&c.edited), ["f"]);
    }

    #[test]
    fn calls_of_tests() {
        let new = "def test_x():\n    assert mod.parse('1') == helper(2)\n";
        let c = PyParser::new().changes("", new, true);
        assert_eq!(c.added[0].calls, ["helper", "parse"]);
    }

    #[test]
    fn incremental_parse_matches_full_parse() {
        let old = "import os\n\ndef f(a):\n    return a\n\nclass C:\n    def m(self):\n        return 1\n";
        let new = "import os\nimport sys\n\ndef f(a):\n    # c\n    return a + 1\n\nclass C:\n    def m(self):\n        return 2";
        let d = crate::udiff::diff_text(old, new, 0);
        let mut p = PyParser::new();
        let ot = p.parse(old).expect("old");
        let inc = p
            .parse_edited(&ot, old, new, &d.ranges)
            .expect("incremental");
        let full = p.parse(new).expect("full");
        assert_eq!(inc.root_node().to_sexp(), full.root_node().to_sexp());
        let a = p.changes_of_trees(&ot, old, &inc, new, &d.old_changed, &d.new_changed, false);
        let b = p.changes_of_trees(&ot, old, &full, new, &d.old_changed, &d.new_changed, false);
        assert_eq!(a, b);
        assert_eq!(names(&a.edited), ["f", "C", "C.m"]);
    }

    #[test]
    fn deep_expressions_do_not_overflow() {
        let expr: Vec<String> = (0..20_000).map(|i| format!("a{i}")).collect();
        let src = format!("x = {}\n", expr.join(" + "));
        let c = PyParser::new().changes(&src, "x = 1\n", false);
        assert!(c.code_changed);
    }
}
