//! R2E-Gym's view of one Python file's change ([`GymChanges`]), computed the
//! way its miner computes it (`commit_models/commit_to_ast.py` and
//! `entity_utils.py` of R2E-Gym), for the `r2e-gym` filter preset.
//!
//! Entities are the module's top-level statements: functions, classes, the
//! methods directly in those classes, `import` statements, and every other
//! statement (`from` imports included). A definition spans its `def`/`class`
//! line (decorators are outside) to its last token; a method's text is its
//! whole class. Per hunk, an entity is *touched* when a removed line falls in
//! its old span or an added line in its new span; it is then modified, added
//! or deleted by whether the old and the new file have an entity equal to it
//! (same name for definitions, same text for imports and statements). The
//! file's entities are the hunks' in order, each kept the first time it is
//! met (with the old side's text when that hunk touched the old side).

use crate::model::{Entity, EntityKind, GymChanges, GymEntity, GymKind, GymStatus};
use std::collections::HashSet;
use tree_sitter::{Node, Tree};

/// An entity kind, statements included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Def(GymKind),
    Statement,
}

/// One top-level entity of a file.
struct Top<'s> {
    kind: Kind,
    name: String,
    /// 1-based first and last line.
    start: u32,
    end: u32,
    /// The entity's source (a method's: its class's).
    text: &'s str,
}

impl Top<'_> {
    /// What R2E-Gym's `Entity.__eq__` compares: the name of a definition, the
    /// text of anything else.
    fn eq_key(&self) -> &str {
        match self.kind {
            Kind::Def(GymKind::Import) | Kind::Statement => self.text,
            Kind::Def(_) => &self.name,
        }
    }

    /// What its `__hash__` takes (with the file): the kind as well.
    fn set_key(&self) -> (Kind, &str) {
        (self.kind, self.eq_key())
    }
}

/// The last byte and 1-based line of `node`'s last token that is not a
/// comment (where CPython ends a statement).
fn last_token(node: Node<'_>) -> (usize, u32) {
    let mut n = node;
    loop {
        let mut next = None;
        for i in (0..n.child_count()).rev() {
            let Some(c) = n.child(i as u32) else { continue };
            if c.kind() != "comment" && c.end_byte() > c.start_byte() {
                next = Some(c);
                break;
            }
        }
        match next {
            Some(c) => n = c,
            None => return (n.end_byte(), n.end_position().row as u32 + 1),
        }
    }
}

/// A definition under its decorators.
fn undecorated(n: Node<'_>) -> Node<'_> {
    if n.kind() == "decorated_definition" {
        n.child_by_field_name("definition").unwrap_or(n)
    } else {
        n
    }
}

fn top<'s>(kind: Kind, name: String, n: Node<'_>, src: &'s str, text: Option<&'s str>) -> Top<'s> {
    let (end_byte, end) = last_token(n);
    Top {
        kind,
        name,
        start: n.start_position().row as u32 + 1,
        end,
        text: text.unwrap_or(&src[n.start_byte()..end_byte.max(n.start_byte())]),
    }
}

/// The top-level entities of a file, in R2E-Gym's order (a class's methods
/// before the class).
fn entities<'s>(tree: &Tree, src: &'s str) -> Vec<Top<'s>> {
    let mut out = Vec::new();
    let root = tree.root_node();
    let mut cursor = root.walk();
    let name_of = |n: Node<'_>| {
        n.child_by_field_name("name")
            .map(|x| src[x.byte_range()].to_string())
            .unwrap_or_default()
    };
    for child in root.named_children(&mut cursor) {
        let def = undecorated(child);
        match def.kind() {
            "comment" => {}
            "function_definition" => out.push(top(
                Kind::Def(GymKind::Function),
                name_of(def),
                def,
                src,
                None,
            )),
            "class_definition" => {
                let class = top(Kind::Def(GymKind::Class), name_of(def), def, src, None);
                if let Some(body) = def.child_by_field_name("body") {
                    let mut c = body.walk();
                    for m in body.named_children(&mut c).map(undecorated) {
                        if m.kind() == "function_definition" {
                            let name = format!("{}.{}", class.name, name_of(m));
                            let kind = Kind::Def(GymKind::Method);
                            out.push(top(kind, name, m, src, Some(class.text)));
                        }
                    }
                }
                out.push(class);
            }
            "import_statement" => {
                // One entity per alias, all with the statement's text: equal
                // to each other, so the first alias stands for them.
                let first = def.child_by_field_name("name").map(|n| {
                    if n.kind() == "aliased_import" {
                        n.child_by_field_name("name").unwrap_or(n)
                    } else {
                        n
                    }
                });
                let name: String = first
                    .map(|n| src[n.byte_range()].split_whitespace().collect())
                    .unwrap_or_default();
                out.push(top(Kind::Def(GymKind::Import), name, def, src, None));
            }
            _ => out.push(top(Kind::Statement, String::new(), def, src, None)),
        }
    }
    out
}

/// Whether CPython 3 rejects the source: syntax errors, and the Python 2
/// syntax tree-sitter's grammar accepts (`print x`, `exec code`, `<>`,
/// `except E, e`, `10L`, `0777`, `ur''`), or a byte-order mark.
fn py3_rejects(tree: &Tree, src: &str) -> bool {
    let root = tree.root_node();
    if root.has_error() || src.starts_with('\u{feff}') {
        return true;
    }
    let mut c = root.walk();
    loop {
        let n = c.node();
        let text = || &src[n.byte_range()];
        let bad = match n.kind() {
            "print_statement" | "exec_statement" | "<>" => true,
            "except_clause" => {
                let mut w = n.walk();
                n.children_by_field_name("value", &mut w).count() > 1
            }
            "integer" => {
                let t = text();
                t.ends_with(['l', 'L'])
                    || (t.len() > 1
                        && t.starts_with('0')
                        && t.bytes().all(|b| b.is_ascii_digit() || b == b'_')
                        && t.bytes().any(|b| (b'1'..=b'9').contains(&b)))
            }
            "string_start" => {
                let prefix = text().trim_end_matches(['"', '\'']).to_ascii_lowercase();
                prefix.contains('u') && prefix.len() > 1
            }
            _ => false,
        };
        if bad {
            return true;
        }
        if c.goto_first_child() {
            continue;
        }
        loop {
            if c.goto_next_sibling() {
                break;
            }
            if !c.goto_parent() {
                return false;
            }
        }
    }
}

/// Whether `c` may be part of a Python identifier (any non-ASCII character
/// but whitespace counts, so no identifier is cut short).
fn word_char(c: char) -> bool {
    c == '_' || c.is_ascii_alphanumeric() || (!c.is_ascii() && !c.is_whitespace())
}

/// The words written right before a `(` in `text`, sorted and deduplicated.
fn call_words(text: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for (i, _) in text.match_indices('(') {
        let before = &text[..i];
        let start = before
            .char_indices()
            .rev()
            .take_while(|(_, c)| word_char(*c))
            .last()
            .map(|(j, _)| j);
        if let Some(j) = start {
            words.push(before[j..].to_string());
        }
    }
    words.sort_unstable();
    words.dedup();
    words
}

/// R2E-Gym's view of one file's change, from both sides' trees and the
/// diff's removed/added lines per hunk (`hunk_ends` as in
/// [`crate::udiff::TextDiff`]). `edited` is r2e's list of code-changed
/// entities (it stands in for R2E-Gym's `ast.unparse` comparison); `texts`
/// keeps the entities' call words (for test files).
#[allow(clippy::too_many_arguments)]
pub fn gym_changes(
    old_tree: &Tree,
    old: &str,
    new_tree: &Tree,
    new: &str,
    d: &crate::udiff::TextDiff,
    edited: &[Entity],
    texts: bool,
) -> GymChanges {
    let mut out = GymChanges {
        syntax_error: py3_rejects(old_tree, old) || py3_rejects(new_tree, new),
        ..Default::default()
    };
    if out.syntax_error {
        return out;
    }
    let before = entities(old_tree, old);
    let after = entities(new_tree, new);
    let before_keys: HashSet<&str> = before.iter().map(Top::eq_key).collect();
    let after_keys: HashSet<&str> = after.iter().map(Top::eq_key).collect();
    let mut seen: HashSet<(GymStatus, (Kind, &str))> = HashSet::new();
    let mut statements: HashSet<&str> = HashSet::new();
    let mut text_index: Vec<&str> = Vec::new();
    let mut prev = (0, 0);
    for &(o, n) in &d.hunk_ends {
        let (old_lines, new_lines) = (&d.old_changed[prev.0..o], &d.new_changed[prev.1..n]);
        prev = (o, n);
        // The hunk's entities: the old side's first, then the new side's
        // not equal to one of them.
        let mut hunk: Vec<&Top<'_>> = Vec::new();
        let mut in_hunk: HashSet<(Kind, &str)> = HashSet::new();
        let touched_old = before
            .iter()
            .filter(|t| crate::python::overlaps(old_lines, t.start, t.end));
        let touched_new = after
            .iter()
            .filter(|t| crate::python::overlaps(new_lines, t.start, t.end));
        for t in touched_old.chain(touched_new) {
            if in_hunk.insert(t.set_key()) {
                hunk.push(t);
            }
        }
        for t in hunk {
            let key = t.eq_key();
            let status = match (before_keys.contains(key), after_keys.contains(key)) {
                (true, true) => GymStatus::Modified,
                (_, true) => GymStatus::Added,
                _ => GymStatus::Deleted,
            };
            if !seen.insert((status, t.set_key())) {
                continue;
            }
            let Kind::Def(kind) = t.kind else {
                statements.insert(t.text);
                out.statement_added |= status == GymStatus::Added;
                continue;
            };
            let text = (texts && status != GymStatus::Deleted).then(|| {
                let i = text_index.iter().position(|x| *x == t.text);
                i.unwrap_or_else(|| {
                    text_index.push(t.text);
                    text_index.len() - 1
                }) as u32
            });
            if status == GymStatus::Modified && matches!(kind, GymKind::Function | GymKind::Class) {
                let ours = if kind == GymKind::Class {
                    EntityKind::Class
                } else {
                    EntityKind::Function
                };
                out.code_changed |= edited.iter().any(|e| e.kind == ours && e.name == t.name);
            }
            out.entities.push(GymEntity {
                kind,
                name: t.name.clone(),
                status,
                text,
            });
        }
    }
    out.statements = statements.len() as u32;
    out.texts = text_index.into_iter().map(call_words).collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::PyParser;

    fn gym(old: &str, new: &str) -> GymChanges {
        let mut p = PyParser::new();
        let d = crate::udiff::diff_text(old, new, crate::udiff::CONTEXT);
        let (ot, nt) = (p.parse(old).expect("old"), p.parse(new).expect("new"));
        let ours = p.changes_of_trees(&ot, old, &nt, new, &d.old_changed, &d.new_changed, false);
        gym_changes(&ot, old, &nt, new, &d, &ours.edited, true)
    }

    #[test]
    fn words_before_parentheses() {
        assert_eq!(
            call_words("x = mod.parse(a) + f (b) + g((c))\n# h(\n"),
            ["g", "h", "parse"]
        );
    }

    #[test]
    fn python_2_is_rejected() {
        for src in [
            "print 'x'\n",
            "exec 'x = 1'\n",
            "if a <> b:\n    pass\n",
            "try:\n    pass\nexcept ValueError, e:\n    pass\n",
            "x = 10L\n",
            "x = 0777\n",
            "x = ur'a'\n",
            "\u{feff}x = 1\n",
            "def f(:\n",
        ] {
            let tree = PyParser::new().parse(src).expect("tree");
            assert!(py3_rejects(&tree, src), "{src}");
        }
        for src in [
            "print('x')\n",
            "x = 0o777 + 00 + 0x1F + 1j + 0.5\n",
            "x = rb'a' + u'b'\n",
            "try:\n    pass\nexcept (A, B) as e:\n    pass\n",
        ] {
            let tree = PyParser::new().parse(src).expect("tree");
            assert!(!py3_rejects(&tree, src), "{src}");
        }
    }

    #[test]
    fn decorators_are_outside_and_methods_carry_their_class() {
        let old = "import os, sys\n\n@dec\ndef f():\n    return 1\n\nclass C:\n    def m(self):\n        return 1\n";
        let new = "import os, sys\n\n@dec2\ndef f():\n    return 1\n\nclass C:\n    def m(self):\n        return helper(2)\n";
        let g = gym(old, new);
        let names: Vec<(&str, GymStatus)> = g
            .entities
            .iter()
            .map(|e| (e.name.as_str(), e.status))
            .collect();
        // The decorator line belongs to no entity.
        assert_eq!(
            names,
            [("C.m", GymStatus::Modified), ("C", GymStatus::Modified)]
        );
        // The first hunk removes a line of the method: the old class text.
        assert_eq!(g.texts, [vec!["m".to_string()]]);
        assert!(g.code_changed);
    }
}
