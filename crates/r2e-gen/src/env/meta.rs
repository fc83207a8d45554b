//! What a repository's metadata says about its environment at one commit: the
//! Python versions it supports and its runtime, test and build requirements,
//! read from `pyproject.toml` (PEP 621, PEP 735 groups, Poetry),
//! `setup.cfg`, `setup.py` (literal keyword arguments), requirements files
//! and `tox.ini`. Nothing is executed: the files are parsed as text.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Names of extras, dependency groups and requirements files that hold test
/// requirements.
const TEST_NAMES: &[&str] = &["test", "tests", "testing", "dev", "develop", "development"];

/// The environment a commit's metadata asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvSpec {
    /// PEP 440 specifier of the supported Python versions (`>=3.7`), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_python: Option<String>,
    /// Runtime requirements (PEP 508 strings).
    #[serde(default)]
    pub requires: Vec<String>,
    /// Requirements of the test suite.
    #[serde(default)]
    pub test_requires: Vec<String>,
    /// `build-system.requires` of `pyproject.toml`.
    #[serde(default)]
    pub build_requires: Vec<String>,
    /// The repository is a package that can be installed (`pip install -e .`).
    #[serde(default)]
    pub installable: bool,
    /// The files the spec was read from.
    #[serde(default)]
    pub sources: Vec<String>,
    /// Development tools the test requirements list but running the tests
    /// does not need ([`is_dev_tool`]): left out of the install, since their
    /// old releases are what most often fails to build.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dev_tools: Vec<String>,
}

/// Distributions that development requirement files list for docs, linting,
/// task running and releasing, never for running tests: Sphinx and its
/// themes, linters and formatters, tox/nox/invoke, pre-commit, twine, …
/// (normalized names; `sphinx-*`, `sphinxcontrib-*`, `flake8-*`, `mkdocs-*`
/// and `pylint-*` too). A repository whose tests do need one gets it back
/// with `extra_requires` in its override.
pub const DEV_TOOLS: &[&str] = &[
    "alabaster",
    "autopep8",
    "black",
    "bump2version",
    "bumpversion",
    "check-manifest",
    "codecov",
    "coveralls",
    "doc8",
    "docutils",
    "flake8",
    "furo",
    "invoke",
    "ipdb",
    "ipython",
    "isort",
    "mkdocs",
    "nox",
    "pdbpp",
    "pep8",
    "pip-tools",
    "pre-commit",
    "pycodestyle",
    "pydocstyle",
    "pyflakes",
    "pylint",
    "python-coveralls",
    "readme-renderer",
    "restructuredtext-lint",
    "ruff",
    "sphinx",
    "towncrier",
    "tox",
    "twine",
    "wheel",
    "yapf",
    "zest-releaser",
];

/// Whether a requirement's normalized name ([`requirement_name`]) is a
/// development tool ([`DEV_TOOLS`]).
pub fn is_dev_tool(name: &str) -> bool {
    DEV_TOOLS.contains(&name)
        || ["sphinx-", "sphinxcontrib-", "flake8-", "mkdocs-", "pylint-"]
            .iter()
            .any(|p| name.starts_with(p))
}

impl EnvSpec {
    /// Reads the spec from a commit's files: `files` lists every path of the
    /// tree, `read` returns a file's text (or `None` when unreadable).
    pub fn from_files(files: &[String], read: &dyn Fn(&str) -> Option<String>) -> EnvSpec {
        let mut spec = EnvSpec::default();
        let has = |p: &str| files.iter().any(|f| f == p);
        // Where sources disagree on a requirement, the one a project keeps up
        // to date wins: pyproject over setup.cfg over setup.py for both kinds;
        // for tests, tox.ini and requirements files (what CI runs) over all.
        let mut requires = Reqs::default();
        let mut tests = Reqs::default();
        if let Some(text) = has("pyproject.toml")
            .then(|| read("pyproject.toml"))
            .flatten()
        {
            (requires.prio, tests.prio) = (3, 3);
            spec.sources.push("pyproject.toml".into());
            pyproject(&text, &mut spec, &mut requires, &mut tests);
        }
        if let Some(text) = has("setup.cfg").then(|| read("setup.cfg")).flatten() {
            let ini = Ini::parse(&text);
            if ini.sections.contains_key("metadata") || ini.sections.contains_key("options") {
                spec.sources.push("setup.cfg".into());
                spec.installable = true;
                (requires.prio, tests.prio) = (2, 2);
                if let Some(v) = ini.get("options", "python_requires") {
                    spec.requires_python.get_or_insert(v.trim().to_string());
                }
                requires.extend(ini.list("options", "install_requires"));
                tests.extend(ini.list("options", "tests_require"));
                if let Some(extras) = ini.sections.get("options.extras_require") {
                    for (k, v) in extras {
                        if TEST_NAMES.contains(&k.as_str()) {
                            tests.extend(lines(v));
                        }
                    }
                }
            }
        }
        if let Some(text) = has("setup.py").then(|| read("setup.py")).flatten() {
            spec.sources.push("setup.py".into());
            spec.installable = true;
            (requires.prio, tests.prio) = (1, 1);
            setup_py(&text, &mut spec, &mut requires, &mut tests);
        }
        (requires.prio, tests.prio) = (0, 5);
        for f in requirement_files(files) {
            let Some(text) = read(&f) else { continue };
            let reqs = requirements(&text, &f, read, 0);
            if is_test_file(&f) {
                tests.extend(reqs);
            } else if !spec.installable || requires.is_empty() {
                requires.extend(reqs);
            } else {
                continue;
            }
            spec.sources.push(f);
        }
        if let Some(text) = has("tox.ini").then(|| read("tox.ini")).flatten() {
            let ini = Ini::parse(&text);
            if let Some(deps) = ini.get("testenv", "deps") {
                spec.sources.push("tox.ini".into());
                tests.prio = 4;
                for line in lines(deps) {
                    if let Some(file) = line.strip_prefix("-r") {
                        let file = file.trim().replace("{toxinidir}/", "");
                        if let Some(t) = read(&file) {
                            tests.extend(requirements(&t, &file, read, 1));
                        }
                    } else if !line.contains('{') && !line.starts_with('-') {
                        tests.push(line);
                    }
                }
            }
        }
        let own = project_name(&spec, read);
        let keep = |r: &String| {
            let name = requirement_name(r);
            !name.is_empty() && own.as_deref() != Some(name.as_str())
        };
        spec.requires = dedup(requires.resolve().into_iter().filter(keep));
        let runtime: BTreeSet<String> = spec.requires.iter().map(|r| requirement_name(r)).collect();
        let (dev_tools, test_requires): (Vec<String>, Vec<String>) = tests
            .resolve()
            .into_iter()
            .filter(keep)
            .filter(|r| !runtime.contains(&requirement_name(r)))
            .partition(|r| is_dev_tool(&requirement_name(r)));
        spec.test_requires = dedup(test_requires.into_iter());
        spec.dev_tools = dedup(dev_tools.into_iter());
        spec
    }

    /// The runtime and test requirements, plus pytest when the tests do not
    /// ask for it: what an environment installs besides the project.
    pub fn all_requirements(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .requires
            .iter()
            .chain(&self.test_requires)
            .cloned()
            .collect();
        if !all.iter().any(|r| requirement_name(r) == "pytest") {
            all.push("pytest".into());
        }
        all
    }
}

/// Requirements gathered from several sources, each tagged with its source's
/// priority (`prio` when added).
#[derive(Default)]
struct Reqs {
    items: Vec<(u8, String)>,
    prio: u8,
}

impl Reqs {
    fn push(&mut self, r: String) {
        self.items.push((self.prio, r));
    }

    fn extend(&mut self, rs: impl IntoIterator<Item = String>) {
        for r in rs {
            self.push(r);
        }
    }

    fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The requirements, keeping for each distribution only the entries of
    /// the highest-priority source that names it.
    fn resolve(self) -> Vec<String> {
        let mut best: BTreeMap<String, u8> = BTreeMap::new();
        for (p, r) in &self.items {
            let e = best.entry(requirement_name(r)).or_insert(*p);
            *e = (*e).max(*p);
        }
        self.items
            .into_iter()
            .filter(|(p, r)| best.get(&requirement_name(r)) == Some(p))
            .map(|(_, r)| r)
            .collect()
    }
}

/// Sorted, without duplicates, in a canonical spelling (no inner whitespace
/// around operators, no trailing comments).
fn dedup(reqs: impl Iterator<Item = String>) -> Vec<String> {
    let set: BTreeSet<String> = reqs.map(|r| normalize_requirement(&r)).collect();
    set.into_iter().filter(|r| !r.is_empty()).collect()
}

/// A requirement without comments and with whitespace squeezed.
fn normalize_requirement(r: &str) -> String {
    let r = r.split(" #").next().unwrap_or(r).trim();
    let mut out = String::with_capacity(r.len());
    let mut space = false;
    for c in r.chars() {
        if c.is_whitespace() {
            space = true;
            continue;
        }
        if space && !out.is_empty() && (c.is_alphanumeric() || c == '\'' || c == '"') {
            let last = out.chars().last().unwrap_or(' ');
            if last.is_alphanumeric() || last == '\'' || last == '"' {
                out.push(' ');
            }
        }
        space = false;
        out.push(c);
    }
    out
}

/// The normalised distribution name of a requirement (`Foo_Bar[x]>=1` →
/// `foo-bar`), empty for lines that name none (paths, URLs, options).
pub fn requirement_name(r: &str) -> String {
    let r = r.trim();
    if r.starts_with(['-', '.', '/']) || r.contains("://") {
        return String::new();
    }
    let end = r
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
        .unwrap_or(r.len());
    r[..end].to_ascii_lowercase().replace(['_', '.'], "-")
}

/// The project's own distribution name, so that extras naming it
/// (`requests[socks]`) do not install a published copy over the checkout.
fn project_name(spec: &EnvSpec, read: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    for src in &spec.sources {
        let text = read(src)?;
        let name = match src.as_str() {
            "pyproject.toml" => toml::from_str::<toml::Table>(&text).ok().and_then(|t| {
                let project = t.get("project").and_then(|p| p.get("name"));
                let poetry = t
                    .get("tool")
                    .and_then(|t| t.get("poetry"))
                    .and_then(|p| p.get("name"));
                project.or(poetry)?.as_str().map(str::to_string)
            }),
            "setup.cfg" => Ini::parse(&text)
                .get("metadata", "name")
                .map(str::to_string),
            "setup.py" => keyword_string(&text, "name"),
            _ => None,
        };
        if let Some(n) = name {
            return Some(requirement_name(&n));
        }
    }
    None
}

fn pyproject(text: &str, spec: &mut EnvSpec, requires: &mut Reqs, tests: &mut Reqs) {
    let Ok(t) = toml::from_str::<toml::Table>(text) else {
        return;
    };
    let strings = |v: Option<&toml::Value>| -> Vec<String> {
        v.and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    if let Some(bs) = t.get("build-system") {
        spec.build_requires = strings(bs.get("requires"));
        spec.installable = true;
    }
    if let Some(p) = t.get("project") {
        spec.installable = true;
        if let Some(rp) = p.get("requires-python").and_then(|v| v.as_str()) {
            spec.requires_python = Some(rp.trim().to_string());
        }
        requires.extend(strings(p.get("dependencies")));
        if let Some(extras) = p.get("optional-dependencies").and_then(|v| v.as_table()) {
            for (k, v) in extras {
                if TEST_NAMES.contains(&k.as_str()) {
                    tests.extend(strings(Some(v)));
                }
            }
        }
    }
    if let Some(groups) = t.get("dependency-groups").and_then(|v| v.as_table()) {
        for (k, v) in groups {
            if TEST_NAMES.contains(&k.as_str()) {
                tests.extend(strings(Some(v)));
            }
        }
    }
    let Some(poetry) = t.get("tool").and_then(|t| t.get("poetry")) else {
        return;
    };
    spec.installable = true;
    if let Some(deps) = poetry.get("dependencies").and_then(|v| v.as_table()) {
        for (name, v) in deps {
            if name == "python" {
                if let Some(c) = v.as_str() {
                    spec.requires_python.get_or_insert(poetry_constraint(c));
                }
            } else if !v.get("optional").and_then(|o| o.as_bool()).unwrap_or(false) {
                requires.push(poetry_requirement(name, v));
            }
        }
    }
    let mut test_tables = vec![poetry.get("dev-dependencies")];
    if let Some(groups) = poetry.get("group").and_then(|v| v.as_table()) {
        for (k, g) in groups {
            if TEST_NAMES.contains(&k.as_str()) {
                test_tables.push(g.get("dependencies"));
            }
        }
    }
    for table in test_tables
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_table())
    {
        tests.extend(table.iter().map(|(n, v)| poetry_requirement(n, v)));
    }
}

/// A Poetry dependency as a PEP 508 requirement.
fn poetry_requirement(name: &str, v: &toml::Value) -> String {
    let c = match v {
        toml::Value::String(s) => s.as_str(),
        toml::Value::Table(t) => t.get("version").and_then(|v| v.as_str()).unwrap_or("*"),
        _ => "*",
    };
    format!("{name}{}", poetry_constraint(c))
}

/// A Poetry version constraint (`^1.2`, `~1.2`, `1.2.*`, `>=1,<2`, `*`) as a
/// PEP 440 specifier (empty for any version).
pub fn poetry_constraint(c: &str) -> String {
    let parts: Vec<String> = c
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty() && *p != "*")
        .map(|p| {
            let bump = |v: &str, caret: bool| -> String {
                let nums: Vec<u64> = v.split('.').map(|n| n.parse().unwrap_or(0)).collect();
                let mut upper = nums.clone();
                let idx = if caret {
                    nums.iter().position(|&n| n != 0).unwrap_or(nums.len() - 1)
                } else if nums.len() > 1 {
                    1
                } else {
                    0
                };
                upper.truncate(idx + 1);
                upper[idx] += 1;
                let up: Vec<String> = upper.iter().map(u64::to_string).collect();
                format!(">={v},<{}", up.join("."))
            };
            if let Some(v) = p.strip_prefix('^') {
                bump(v.trim(), true)
            } else if let Some(v) = p.strip_prefix("~=") {
                format!("~={}", v.trim())
            } else if let Some(v) = p.strip_prefix('~') {
                bump(v.trim(), false)
            } else if p.starts_with(|c: char| c.is_ascii_digit()) {
                format!("=={p}")
            } else {
                p.to_string()
            }
        })
        .collect();
    parts.join(",")
}

/// Literal keyword arguments of a `setup(...)` call: `python_requires`,
/// `install_requires`, `tests_require`, and the test keys of `extras_require`.
/// A keyword bound to a name (`install_requires=REQUIRES`) is followed to a
/// list literal assigned to that name in the file.
fn setup_py(text: &str, spec: &mut EnvSpec, requires: &mut Reqs, tests: &mut Reqs) {
    if let Some(v) = keyword_string(text, "python_requires") {
        spec.requires_python.get_or_insert(v);
    }
    requires.extend(keyword_list(text, "install_requires"));
    tests.extend(keyword_list(text, "tests_require"));
    if let Some(dict) = keyword_value(text, "extras_require") {
        let dict = resolve_name(text, &dict).unwrap_or(dict);
        for name in TEST_NAMES {
            for q in ['\'', '"'] {
                let key = format!("{q}{name}{q}");
                if let Some(pos) = dict.find(&key) {
                    let rest = dict[pos + key.len()..].trim_start();
                    if let Some(rest) = rest.strip_prefix(':') {
                        tests.extend(string_literals(bracketed(rest.trim_start()).unwrap_or("")));
                    }
                }
            }
        }
    }
}

/// The raw source text of keyword `kw`'s value (up to the matching bracket or
/// the next comma at depth zero).
fn keyword_value(text: &str, kw: &str) -> Option<String> {
    let mut from = 0;
    while let Some(pos) = text[from..].find(kw) {
        let start = from + pos;
        from = start + kw.len();
        let before = text[..start].chars().last().unwrap_or(' ');
        if before.is_alphanumeric() || before == '_' {
            continue;
        }
        let rest = text[from..].trim_start();
        let Some(rest) = rest.strip_prefix('=') else {
            continue;
        };
        if rest.starts_with('=') {
            continue;
        }
        let rest = rest.trim_start();
        if let Some(b) = bracketed(rest) {
            return Some(b.to_string());
        }
        if let Some(q) = rest.chars().next().filter(|c| *c == '\'' || *c == '"')
            && let Some(end) = rest[1..].find(q)
        {
            return Some(rest[..end + 2].to_string());
        }
        let end = rest.find([',', ')', '\n']).unwrap_or(rest.len());
        return Some(rest[..end].trim().to_string());
    }
    None
}

/// A string-literal keyword value (`name="x"`).
fn keyword_string(text: &str, kw: &str) -> Option<String> {
    let v = keyword_value(text, kw)?;
    let v = resolve_name(text, &v).unwrap_or(v);
    string_literals(&v).into_iter().next()
}

/// A list keyword value, following a bare name to its assignment.
fn keyword_list(text: &str, kw: &str) -> Vec<String> {
    keyword_value(text, kw)
        .map(|v| string_literals(&resolve_name(text, &v).unwrap_or(v)))
        .unwrap_or_default()
}

/// When `value` is a bare identifier, the bracketed or string value assigned
/// to it at the start of a line (`NAME = [...]`).
fn resolve_name(text: &str, value: &str) -> Option<String> {
    let name = value.trim();
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return None;
    }
    for line_start in text.match_indices('\n').map(|(i, _)| i + 1).chain([0]) {
        let rest = &text[line_start..];
        let Some(after) = rest.strip_prefix(name) else {
            continue;
        };
        let after = after.trim_start();
        let Some(after) = after.strip_prefix('=') else {
            continue;
        };
        let after = after.trim_start();
        if let Some(b) = bracketed(after) {
            return Some(b.to_string());
        }
        let end = after.find('\n').unwrap_or(after.len());
        return Some(after[..end].to_string());
    }
    None
}

/// The text of a bracketed expression starting at `s` (`[`, `(` or `{`),
/// brackets included, skipping brackets inside string literals.
fn bracketed(s: &str) -> Option<&str> {
    let open = s.chars().next()?;
    if !matches!(open, '[' | '(' | '{') {
        return None;
    }
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[' | '(' | '{') => depth += 1,
            (None, ']' | ')' | '}') => {
                depth -= 1;
                if depth == 0 {
                    return Some(&s[..=i]);
                }
            }
            _ => {}
        }
    }
    None
}

/// Every single- or double-quoted string literal in `s`, in order, skipping
/// `#` comments.
fn string_literals(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in s.lines() {
        let mut chars = line.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '#' {
                break;
            }
            if c == '\'' || c == '"' {
                let rest = &line[i + 1..];
                if let Some(end) = rest.find(c) {
                    out.push(rest[..end].to_string());
                    while chars.peek().is_some_and(|&(j, _)| j <= i + 1 + end) {
                        chars.next();
                    }
                }
            }
        }
    }
    out
}

/// Requirements files of the tree: `requirements*.txt`, `*requirements.txt`
/// and `requirements/*.txt` at the top level.
fn requirement_files(files: &[String]) -> Vec<String> {
    let mut out: Vec<String> = files
        .iter()
        .filter(|f| {
            let (dir, name) = f.rsplit_once('/').unwrap_or(("", f));
            name.ends_with(".txt")
                && ((dir.is_empty() && name.contains("requirements")) || dir == "requirements")
        })
        .cloned()
        .collect();
    out.sort_by_key(|f| (is_test_file(f), f.clone()));
    out
}

/// Whether a requirements file holds test or development requirements.
fn is_test_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    let stem = name.trim_end_matches(".txt");
    stem.split(['-', '_', '.'])
        .any(|w| TEST_NAMES.contains(&w) || w == "ci")
}

/// The requirements of a requirements file, following `-r` includes (two
/// levels); options, editable and local paths are left out.
fn requirements(
    text: &str,
    path: &str,
    read: &dyn Fn(&str) -> Option<String>,
    depth: u8,
) -> Vec<String> {
    let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split(" #").next().unwrap_or(line).trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let include = line
            .strip_prefix("-r")
            .or_else(|| line.strip_prefix("--requirement"));
        if let Some(inc) = include {
            let inc = inc.trim_start_matches('=').trim();
            let target = if dir.is_empty() {
                inc.to_string()
            } else {
                format!("{dir}/{inc}")
            };
            if depth < 2
                && let Some(t) = read(&target)
            {
                out.extend(requirements(&t, &target, read, depth + 1));
            }
            continue;
        }
        if line.starts_with('-') {
            continue;
        }
        let line = line.split(" --").next().unwrap_or(line).trim();
        if !requirement_name(line).is_empty() {
            out.push(line.to_string());
        }
    }
    out
}

/// Non-empty, non-comment lines of a multi-line INI value.
fn lines(v: &str) -> Vec<String> {
    v.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .flat_map(|l| {
            // `install_requires = a; b` is not valid, but `a, b` on one line is
            // seen in the wild; PEP 508 markers use `;` and stay whole.
            if l.contains(';') {
                vec![l.to_string()]
            } else {
                l.split(',').map(|p| p.trim().to_string()).collect()
            }
        })
        .filter(|l| !l.is_empty())
        .collect()
}

/// Just enough INI for `setup.cfg` and `tox.ini`: sections, `key = value`
/// and indented continuation lines.
struct Ini {
    sections: BTreeMap<String, BTreeMap<String, String>>,
}

impl Ini {
    fn parse(text: &str) -> Ini {
        let mut sections: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut section = String::new();
        let mut key: Option<String> = None;
        for raw in text.lines() {
            let trimmed = raw.trim();
            if trimmed.starts_with('#') || trimmed.starts_with(';') {
                continue;
            }
            if trimmed.starts_with('[') && trimmed.ends_with(']') {
                section = trimmed[1..trimmed.len() - 1].trim().to_string();
                key = None;
                continue;
            }
            if raw.starts_with([' ', '\t']) && !trimmed.is_empty() {
                if let Some(k) = &key {
                    let v = sections
                        .entry(section.clone())
                        .or_default()
                        .entry(k.clone())
                        .or_default();
                    v.push('\n');
                    v.push_str(trimmed);
                }
                continue;
            }
            if let Some((k, v)) = trimmed.split_once(['=', ':']) {
                let k = k.trim().to_string();
                sections
                    .entry(section.clone())
                    .or_default()
                    .insert(k.clone(), v.trim().to_string());
                key = Some(k);
            }
        }
        Ini { sections }
    }

    fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.sections.get(section)?.get(key).map(String::as_str)
    }

    fn list(&self, section: &str, key: &str) -> Vec<String> {
        self.get(section, key).map(lines).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(files: &[(&str, &str)]) -> EnvSpec {
        let names: Vec<String> = files.iter().map(|(n, _)| n.to_string()).collect();
        let map: BTreeMap<String, String> = files
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        EnvSpec::from_files(&names, &|p| map.get(p).cloned())
    }

    #[test]
    fn pyproject_pep621_and_groups() {
        let s = spec(&[(
            "pyproject.toml",
            r#"
[build-system]
requires = ["setuptools>=61", "wheel"]
[project]
name = "Calc_Lib"
requires-python = ">=3.8"
dependencies = ["packaging >= 20", "attrs"]
[project.optional-dependencies]
test = ["pytest>=6", "calc-lib[extra]"]
docs = ["sphinx"]
[dependency-groups]
dev = ["hypothesis"]
"#,
        )]);
        assert_eq!(s.requires_python.as_deref(), Some(">=3.8"));
        assert_eq!(s.requires, vec!["attrs", "packaging>=20"]);
        assert_eq!(s.test_requires, vec!["hypothesis", "pytest>=6"]);
        assert_eq!(s.build_requires, vec!["setuptools>=61", "wheel"]);
        assert!(s.installable);
        assert_eq!(
            s.all_requirements().last().map(String::as_str),
            Some("pytest>=6")
        );
    }

    #[test]
    fn poetry_constraints() {
        assert_eq!(poetry_constraint("^1.2.3"), ">=1.2.3,<2");
        assert_eq!(poetry_constraint("^0.2"), ">=0.2,<0.3");
        assert_eq!(poetry_constraint("~1.2"), ">=1.2,<1.3");
        assert_eq!(poetry_constraint("*"), "");
        assert_eq!(poetry_constraint(">=2,<3"), ">=2,<3");
        assert_eq!(poetry_constraint("1.0"), "==1.0");
        let s = spec(&[(
            "pyproject.toml",
            r#"
[tool.poetry]
name = "x"
[tool.poetry.dependencies]
python = "^3.7"
click = "^7.0"
rich = { version = "^10", optional = true }
[tool.poetry.group.test.dependencies]
pytest = "*"
"#,
        )]);
        assert_eq!(s.requires_python.as_deref(), Some(">=3.7,<4"));
        assert_eq!(s.requires, vec!["click>=7.0,<8"]);
        assert_eq!(s.test_requires, vec!["pytest"]);
    }

    #[test]
    fn setup_py_literals_and_names() {
        let s = spec(&[(
            "setup.py",
            r#"
from setuptools import setup
REQUIRES = [
    "chardet>=3.0.2,<5",  # comment "not-this"
    'idna>=2.5',
]
test_requirements = ["pytest-httpbin==0.0.7", "pytest>=3"]
setup(
    name="requests",
    python_requires=">=2.7, !=3.0.*",
    install_requires=REQUIRES,
    tests_require=test_requirements,
    extras_require={"security": ["pyOpenSSL"], "test": ["mock"]},
)
"#,
        )]);
        assert_eq!(s.requires_python.as_deref(), Some(">=2.7, !=3.0.*"));
        assert_eq!(s.requires, vec!["chardet>=3.0.2,<5", "idna>=2.5"]);
        assert_eq!(
            s.test_requires,
            vec!["mock", "pytest-httpbin==0.0.7", "pytest>=3"]
        );
    }

    #[test]
    fn setup_cfg_requirements_and_tox() {
        let s = spec(&[
            (
                "setup.cfg",
                "[metadata]\nname = calc\n[options]\npython_requires = >=3.6\ninstall_requires =\n    six\n    attrs>=19 ; python_version>'3'\n[options.extras_require]\ntesting =\n    pytest-mock\n",
            ),
            (
                "requirements-dev.txt",
                "-r requirements/base.txt\n-e .\npytest==6.2.5 --hash=sha256:x\n# c\n",
            ),
            ("requirements/base.txt", "freezegun\n"),
            (
                "tox.ini",
                "[tox]\nenvlist = py3\n[testenv]\ndeps =\n    coverage\n    {[base]deps}\ncommands = pytest\n",
            ),
        ]);
        assert_eq!(s.requires_python.as_deref(), Some(">=3.6"));
        assert_eq!(s.requires, vec!["attrs>=19;python_version>'3'", "six"]);
        assert_eq!(
            s.test_requires,
            vec!["coverage", "freezegun", "pytest-mock", "pytest==6.2.5"]
        );
        // A pin in setup.py that requirements-dev.txt moved on from.
        let stale = spec(&[
            (
                "setup.py",
                "setup(name='r', tests_require=['pytest-httpbin==0.0.7', 'pytest>=2.8'])",
            ),
            ("requirements-dev.txt", "pytest-httpbin==1.0.0\n"),
        ]);
        assert_eq!(
            stale.test_requires,
            vec!["pytest-httpbin==1.0.0", "pytest>=2.8"]
        );
        assert_eq!(
            s.sources,
            vec!["setup.cfg", "requirements-dev.txt", "tox.ini"]
        );
    }

    #[test]
    fn development_tools_are_left_out_of_the_test_requirements() {
        // marshmallow's dev-requirements.txt of October 2018.
        let s = spec(&[
            ("setup.py", "setup(name='marshmallow', install_requires=[])"),
            (
                "dev-requirements.txt",
                "invoke==1.2.0\npython-dateutil==2.7.3\npytest==3.8.2\ntox>=1.5.0\n\
                 flake8==3.5.0\npre-commit==1.11.2\nSphinx==1.8.1\nsphinx-issues==1.1.0\n\
                 flake8-bugbear\n-e .\n",
            ),
        ]);
        assert_eq!(
            s.test_requires,
            vec!["pytest==3.8.2", "python-dateutil==2.7.3"]
        );
        assert_eq!(
            s.dev_tools,
            vec![
                "Sphinx==1.8.1",
                "flake8-bugbear",
                "flake8==3.5.0",
                "invoke==1.2.0",
                "pre-commit==1.11.2",
                "sphinx-issues==1.1.0",
                "tox>=1.5.0"
            ]
        );
        assert!(!is_dev_tool("pytest-flake8") && !is_dev_tool("sphinxy"));
    }

    #[test]
    fn plain_requirements_repo_is_not_installable() {
        let s = spec(&[("requirements.txt", "numpy<2\n")]);
        assert!(!s.installable);
        assert_eq!(s.requires, vec!["numpy<2"]);
        assert_eq!(requirement_name("Foo_Bar.baz[x]>=1"), "foo-bar-baz");
        assert_eq!(requirement_name("-e ."), "");
    }
}
