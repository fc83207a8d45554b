//! Python entities with tree-sitter-python: which functions, classes and methods a
//! change added, edited or deleted.
//!
//! Entities are module-level `def`s (functions), `class`es (also nested in class
//! bodies: `Outer.Inner`) and `def`s directly in class bodies (methods:
//! `Class.method`); decorators belong to the entity they decorate. Nested
//! functions are part of the entity around them. Entities are matched between the
//! old and new file by qualified name and kind; an entity in both is *edited* when
//! its code differs once comments and string-only statements (docstrings) are
//! dropped and whitespace is normalised. The comparison walks the syntax tree and
//! hashes its tokens, with block boundaries and statement separators marked, so
//! moving a statement into or out of a block counts as an edit while re-indenting
//! a comment does not. All walks are iterative: deeply nested expressions cannot
//! overflow the stack.

use crate::model::{Entity, EntityKind, PyChanges};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{DefaultHasher, Hasher};
use tree_sitter::{Node, Parser, Tree};

/// A reusable tree-sitter parser for Python (one per thread).
pub struct PyParser {
    parser: Parser,
}

impl std::fmt::Debug for PyParser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PyParser")
    }
}

impl PyParser {
    /// Creates a parser with the Python grammar loaded.
    pub fn new() -> Self {
        let mut parser = Parser::new();
        // The grammar is compiled in and its ABI is checked by tree-sitter's own
        // tests against this exact version pair; failure here is a build error.
        parser
            .set_language(&tree_sitter_python::LANGUAGE.into())
            .expect("tree-sitter-python grammar matches the tree-sitter runtime");
        Self { parser }
    }

    fn parse(&mut self, src: &str) -> Option<Tree> {
        self.parser.parse(src, None)
    }

    /// Compares the entities of the old and new text of one file.
    ///
    /// `old_changed`/`new_changed` are the sorted 1-based line numbers removed from
    /// the old and added to the new text (for the statement count). With
    /// `want_calls`, added and edited entities list the names they call.
    pub fn changes(
        &mut self,
        old: &str,
        new: &str,
        old_changed: &[u32],
        new_changed: &[u32],
        want_calls: bool,
    ) -> PyChanges {
        let (Some(old_tree), Some(new_tree)) = (self.parse(old), self.parse(new)) else {
            return PyChanges { parse_error: true, code_changed: old != new, ..Default::default() };
        };
        let old_mod = Module::new(&old_tree, old, false);
        let new_mod = Module::new(&new_tree, new, want_calls);
        let mut out = PyChanges {
            code_changed: old_mod.hash != new_mod.hash,
            parse_error: old_mod.has_error || new_mod.has_error,
            ..Default::default()
        };
        let old_index = old_mod.index();
        let new_index = new_mod.index();
        for (i, d) in new_mod.defs.iter().enumerate() {
            if new_index.get(&(d.name.as_str(), d.kind)).map(|&(first, _)| first) != Some(i) {
                continue; // a later duplicate of the same name
            }
            match old_index.get(&(d.name.as_str(), d.kind)) {
                None => out.added.push(d.entity()),
                Some(&(_, old_hash)) => {
                    let (_, new_hash) = new_index[&(d.name.as_str(), d.kind)];
                    if old_hash != new_hash {
                        out.edited.push(d.entity());
                    }
                }
            }
        }
        for (i, d) in old_mod.defs.iter().enumerate() {
            if old_index.get(&(d.name.as_str(), d.kind)).map(|&(first, _)| first) != Some(i) {
                continue;
            }
            if !new_index.contains_key(&(d.name.as_str(), d.kind)) {
                out.deleted.push(d.entity());
            }
        }
        let mut stmts: HashSet<&str> = HashSet::new();
        old_mod.touched_statements(old_changed, &mut stmts);
        new_mod.touched_statements(new_changed, &mut stmts);
        out.statements = stmts.len() as u32;
        out
    }
}

impl Default for PyParser {
    fn default() -> Self {
        Self::new()
    }
}

struct Def {
    name: String,
    kind: EntityKind,
    start: u32,
    end: u32,
    hash: u64,
    calls: Vec<String>,
}

impl Def {
    fn entity(&self) -> Entity {
        Entity {
            name: self.name.clone(),
            kind: self.kind,
            start_line: self.start,
            end_line: self.end,
            calls: self.calls.clone(),
        }
    }
}

struct Module<'a> {
    src: &'a str,
    root: Node<'a>,
    defs: Vec<Def>,
    hash: u64,
    has_error: bool,
}

impl<'a> Module<'a> {
    fn new(tree: &'a Tree, src: &'a str, want_calls: bool) -> Self {
        let root = tree.root_node();
        let mut defs = Vec::new();
        collect_defs(root, src.as_bytes(), want_calls, &mut defs);
        Module { src, root, defs, hash: norm_hash(root, src.as_bytes()), has_error: root.has_error() }
    }

    /// Name and kind → (index of first occurrence, hash over all occurrences).
    fn index(&self) -> HashMap<(&str, EntityKind), (usize, u64)> {
        let mut m: HashMap<(&str, EntityKind), (usize, u64)> = HashMap::new();
        for (i, d) in self.defs.iter().enumerate() {
            m.entry((d.name.as_str(), d.kind))
                .and_modify(|(_, h)| *h = h.rotate_left(5) ^ d.hash)
                .or_insert((i, d.hash));
        }
        m
    }

    /// Adds the text of top-level statements that hold a changed line.
    fn touched_statements(&self, changed: &[u32], out: &mut HashSet<&'a str>) {
        if changed.is_empty() {
            return;
        }
        let mut cursor = self.root.walk();
        for child in self.root.named_children(&mut cursor) {
            if matches!(
                child.kind(),
                "function_definition"
                    | "class_definition"
                    | "decorated_definition"
                    | "import_statement"
                    | "import_from_statement"
                    | "future_import_statement"
                    | "comment"
            ) {
                continue;
            }
            let s = child.start_position().row as u32 + 1;
            let e = child.end_position().row as u32 + 1;
            let k = changed.partition_point(|&l| l < s);
            if k < changed.len() && changed[k] <= e {
                out.insert(&self.src[child.byte_range()]);
            }
        }
    }
}

fn text<'s>(node: Node<'_>, src: &'s [u8]) -> &'s [u8] {
    &src[node.byte_range()]
}

fn collect_defs(root: Node<'_>, src: &[u8], want_calls: bool, out: &mut Vec<Def>) {
    // (container node, qualified prefix, inside a class body)
    let mut stack: Vec<(Node<'_>, String, bool)> = vec![(root, String::new(), false)];
    while let Some((container, prefix, in_class)) = stack.pop() {
        let mut cursor = container.walk();
        let mut nested = Vec::new();
        for child in container.named_children(&mut cursor) {
            let def = if child.kind() == "decorated_definition" {
                match child.child_by_field_name("definition") {
                    Some(d) => d,
                    None => continue,
                }
            } else {
                child
            };
            let kind = match def.kind() {
                "function_definition" if in_class => EntityKind::Method,
                "function_definition" => EntityKind::Function,
                "class_definition" => EntityKind::Class,
                _ => continue,
            };
            let Some(name_node) = def.child_by_field_name("name") else { continue };
            let name = format!("{prefix}{}", String::from_utf8_lossy(text(name_node, src)));
            if kind == EntityKind::Class {
                if let Some(body) = def.child_by_field_name("body") {
                    nested.push((body, format!("{name}."), true));
                }
            }
            out.push(Def {
                name,
                kind,
                start: child.start_position().row as u32 + 1,
                end: child.end_position().row as u32 + 1,
                hash: norm_hash(child, src),
                calls: if want_calls { calls(child, src) } else { Vec::new() },
            });
        }
        // Keep source order: nested bodies are visited after their container's
        // siblings, but entities are sorted by position below.
        stack.extend(nested.into_iter().rev());
    }
    out.sort_by_key(|d| (d.start, d.end));
}

fn is_string_statement(node: Node<'_>) -> bool {
    if node.kind() != "expression_statement" || node.named_child_count() != 1 {
        return false;
    }
    node.named_child(0).is_some_and(|c| matches!(c.kind(), "string" | "concatenated_string"))
}

/// Comments, line continuations and string-only statements (docstrings).
fn skipped(n: Node<'_>) -> bool {
    matches!(n.kind(), "comment" | "line_continuation") || is_string_statement(n)
}

/// Hash of a subtree's tokens without comments and string-only statements.
fn norm_hash(node: Node<'_>, src: &[u8]) -> u64 {
    enum Item<'t> {
        Node(Node<'t>),
        Mark(u8),
    }
    let mut h = DefaultHasher::new();
    let mut stack = vec![Item::Node(node)];
    let mut cursor = node.walk();
    while let Some(item) = stack.pop() {
        let n = match item {
            Item::Mark(b) => {
                h.write_u8(b);
                continue;
            }
            Item::Node(n) => n,
        };
        if skipped(n) {
            continue;
        }
        match n.kind() {
            "string" | "concatenated_string" => {
                h.write(text(n, src));
                h.write_u8(0);
                continue;
            }
            _ => {}
        }
        if n.child_count() == 0 {
            h.write(text(n, src));
            h.write_u8(0);
            continue;
        }
        let is_block = n.kind() == "block";
        if is_block {
            stack.push(Item::Mark(b'}'));
        }
        let children: Vec<Node<'_>> = n.children(&mut cursor).collect();
        for c in children.into_iter().rev() {
            if skipped(c) {
                continue;
            }
            if is_block {
                stack.push(Item::Mark(b';'));
            }
            stack.push(Item::Node(c));
        }
        if is_block {
            stack.push(Item::Mark(b'{'));
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
        if n.kind() == "call" {
            if let Some(f) = n.child_by_field_name("function") {
                let name = match f.kind() {
                    "identifier" => Some(f),
                    "attribute" => f.child_by_field_name("attribute"),
                    _ => None,
                };
                if let Some(name) = name {
                    names.insert(String::from_utf8_lossy(text(name, src)).into_owned());
                }
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
        let c = p.changes(old, new, &[3, 6, 12, 13], &[3, 6, 12, 13, 14], false);
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
        let c = p.changes(old, new, &[], &[], false);
        assert!(c.edited.is_empty(), "{c:?}");
        assert!(!c.code_changed);
    }

    #[test]
    fn block_structure_counts() {
        let old = "def f(a):\n    if a:\n        x = 1\n        y = 2\n";
        let new = "def f(a):\n    if a:\n        x = 1\n    y = 2\n";
        let c = PyParser::new().changes(old, new, &[], &[], false);
        assert_eq!(names(&c.edited), ["f"]);
    }

    #[test]
    fn calls_of_tests() {
        let new = "def test_x():\n    assert mod.parse('1') == helper(2)\n";
        let c = PyParser::new().changes("", new, &[], &[1, 2], true);
        assert_eq!(c.added[0].calls, ["helper", "parse"]);
    }

    #[test]
    fn deep_expressions_do_not_overflow() {
        let expr: Vec<String> = (0..20_000).map(|i| format!("a{i}")).collect();
        let src = format!("x = {}\n", expr.join(" + "));
        let c = PyParser::new().changes(&src, "x = 1\n", &[1], &[1], false);
        assert!(c.code_changed);
    }
}
