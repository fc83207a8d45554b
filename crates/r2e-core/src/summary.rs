//! Dataset statistics: tasks per source format and per repository, as printed by
//! `r2e dataset info`.

use crate::task::{SourceFormat, Task};
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

/// Counts over a set of tasks, built one task at a time.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Number of tasks.
    pub total: usize,
    /// Tasks per source format.
    pub by_source: BTreeMap<SourceFormat, usize>,
    /// Tasks per repository.
    pub by_repo: BTreeMap<String, usize>,
    /// Task ids seen more than once (each once).
    pub duplicate_ids: BTreeSet<String>,
    seen: HashSet<String>,
}

impl Summary {
    /// Counts `tasks`.
    pub fn of<'a>(tasks: impl IntoIterator<Item = &'a Task>) -> Summary {
        let mut summary = Summary::default();
        for task in tasks {
            summary.add(task);
        }
        summary
    }

    /// Counts one more task.
    pub fn add(&mut self, task: &Task) {
        self.total += 1;
        *self.by_source.entry(task.source).or_default() += 1;
        *self.by_repo.entry(task.repo.clone()).or_default() += 1;
        if !self.seen.insert(task.task_id.clone()) {
            self.duplicate_ids.insert(task.task_id.clone());
        }
    }
}

fn count_table(header: &str, rows: impl IntoIterator<Item = (String, usize)>) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_header([header, "tasks"]);
    for (name, count) in rows {
        table.add_row([name, count.to_string()]);
    }
    if let Some(column) = table.column_mut(1) {
        column.set_cell_alignment(CellAlignment::Right);
    }
    table
}

/// The report: a table per source format (with the total), a table per
/// repository (most tasks first, then by name), and a warning for duplicate task ids.
impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sources = self
            .by_source
            .iter()
            .map(|(source, count)| (source.label().to_owned(), *count))
            .chain([("total".to_owned(), self.total)]);
        writeln!(f, "{}", count_table("source format", sources))?;

        let mut repos: Vec<(&String, &usize)> = self.by_repo.iter().collect();
        repos.sort_by_cached_key(|(repo, count)| (std::cmp::Reverse(**count), repo.to_lowercase()));
        let repos = repos
            .into_iter()
            .map(|(repo, count)| (repo.clone(), *count));
        writeln!(f, "{}", count_table("repository", repos))?;

        let noun =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        writeln!(
            f,
            "{} from {}",
            noun(self.total, "task", "tasks"),
            noun(self.by_repo.len(), "repository", "repositories")
        )?;
        if let Some(first) = self.duplicate_ids.first() {
            writeln!(
                f,
                "warning: {} more than once (first: {first}); outputs keyed by task id will collide",
                noun(
                    self.duplicate_ids.len(),
                    "task id appears",
                    "task ids appear"
                ),
            )?;
        }
        Ok(())
    }
}
