//! The judge's prompt: templates, the trajectory as text, and fitting it
//! all to a budget.
//!
//! **Templates** are plain text with `{{ issue }}`, `{{ trajectory }}` and
//! `{{ patch }}` placeholders (spaces inside the braces optional), filled in
//! one pass, so text that itself contains `{{ … }}` is left alone. The
//! defaults are `prompts/judge_system.txt` and `prompts/judge_user.txt` in
//! this crate; [`PromptConfig::with_templates`] takes your own.
//!
//! **The trajectory** is the agent's conversation (`messages`, system
//! messages left out unless asked) when the trajectory has one, else its
//! steps (thought, action, observation). Each message or step part is a
//! block headed by its role or step number.
//!
//! **Fitting.** With a [`Budget`], the whole prompt (system + user message)
//! is kept within that many characters (a token budget is turned into
//! characters at `chars_per_token`). The issue and the patch are kept whole
//! while they take at most three quarters of the room; past that their
//! middles are cut. The trajectory gets the rest, shortened in this order
//! until it fits:
//!
//! 1. observations (tool output) are replaced by a one-line note, the ones
//!    in the middle of the trajectory first, so its start (what the agent
//!    found) and end (how it tested its fix) stay;
//! 2. whole turns are dropped, middle first, keeping the first and the last;
//!    each run of dropped turns leaves one line saying how many turns and
//!    characters were left out there;
//! 3. the longest remaining blocks lose their middles.
//!
//! Every cut leaves a marker in the text saying what was left out, and
//! [`JudgePrompt::cut_chars`] counts the characters removed.

use crate::VerifyError;
use r2e_core::Trajectory;
use serde_json::Value;

/// The default system prompt of the judge.
pub const DEFAULT_SYSTEM_TEMPLATE: &str = include_str!("../prompts/judge_system.txt");
/// The default user message of the judge.
pub const DEFAULT_USER_TEMPLATE: &str = include_str!("../prompts/judge_user.txt");

/// What a placeholder stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    Issue,
    Trajectory,
    Patch,
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Var(Var),
}

/// A parsed prompt template (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    /// Parses `text`; `name` names the template in errors. Unknown
    /// placeholders and unclosed `{{` are errors.
    pub fn parse(name: &str, text: &str) -> Result<Self, VerifyError> {
        let error = |message: String| VerifyError::Template {
            name: name.to_owned(),
            message,
        };
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                return Err(error(
                    "a \"{{\" is never closed by \"}}\" (write placeholders as {{ issue }})".into(),
                ));
            };
            let var = match after[..close].trim() {
                "issue" => Var::Issue,
                "trajectory" => Var::Trajectory,
                "patch" => Var::Patch,
                other => {
                    return Err(error(format!(
                        "unknown placeholder {{{{ {other} }}}}: use {{{{ issue }}}}, {{{{ trajectory }}}} or {{{{ patch }}}}"
                    )));
                }
            };
            pieces.push(Piece::Var(var));
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_owned()));
        }
        Ok(Self { pieces })
    }

    /// Characters of the template's own text (placeholders excluded).
    fn fixed_chars(&self) -> usize {
        self.pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.chars().count(),
                Piece::Var(_) => 0,
            })
            .sum()
    }

    fn uses(&self, var: Var) -> bool {
        self.pieces.contains(&Piece::Var(var))
    }

    /// Fills the placeholders.
    pub fn render(&self, issue: &str, trajectory: &str, patch: &str) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            out.push_str(match piece {
                Piece::Text(t) => t,
                Piece::Var(Var::Issue) => issue,
                Piece::Var(Var::Trajectory) => trajectory,
                Piece::Var(Var::Patch) => patch,
            });
        }
        out
    }
}

/// How long the judge's prompt may be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    /// No limit.
    Unlimited,
    /// At most this many characters (system prompt + user message).
    Chars(usize),
    /// At most this many tokens, estimated as characters / `chars_per_token`.
    Tokens {
        /// The token budget.
        tokens: usize,
        /// Characters per token (about 3 for code and logs, 4 for English prose).
        chars_per_token: f64,
    },
}

impl Budget {
    /// The budget in characters (None: unlimited).
    pub fn chars(&self) -> Option<usize> {
        match *self {
            Budget::Unlimited => None,
            Budget::Chars(n) => Some(n),
            Budget::Tokens {
                tokens,
                chars_per_token,
            } => Some((tokens as f64 * chars_per_token.max(0.1)) as usize),
        }
    }
}

/// Everything that shapes the judge's prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptConfig {
    /// The system prompt.
    pub system: Template,
    /// The user message.
    pub user: Template,
    /// The length limit.
    pub budget: Budget,
    /// Whether the agent's own system messages go into the trajectory text
    /// (default no: they are long tool manuals that say nothing about the
    /// candidate).
    pub include_system_messages: bool,
}

impl Default for PromptConfig {
    /// The built-in templates and 28,000 tokens at 3 characters each
    /// (R2E-Gym's judge was trained with a 32k context).
    fn default() -> Self {
        Self {
            system: Template::parse("judge_system.txt", DEFAULT_SYSTEM_TEMPLATE)
                .unwrap_or(Template { pieces: Vec::new() }),
            user: Template::parse("judge_user.txt", DEFAULT_USER_TEMPLATE)
                .unwrap_or(Template { pieces: Vec::new() }),
            budget: Budget::Tokens {
                tokens: 28_000,
                chars_per_token: 3.0,
            },
            include_system_messages: false,
        }
    }
}

impl PromptConfig {
    /// Replaces the templates (texts of a system prompt and a user message).
    pub fn with_templates(mut self, system: &str, user: &str) -> Result<Self, VerifyError> {
        self.system = Template::parse("system", system)?;
        self.user = Template::parse("user", user)?;
        if !self.user.uses(Var::Patch) && !self.system.uses(Var::Patch) {
            return Err(VerifyError::Template {
                name: "user".into(),
                message: "neither template has a {{ patch }} placeholder: the judge would not see the patch".into(),
            });
        }
        Ok(self)
    }
}

/// A rendered judge prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgePrompt {
    /// The system message.
    pub system: String,
    /// The user message.
    pub user: String,
    /// Characters left out to fit the budget (0: nothing was cut).
    pub cut_chars: usize,
}

impl JudgePrompt {
    /// The prompt as chat messages (system, user).
    pub fn messages(&self) -> Vec<r2e_llm::Message> {
        vec![
            r2e_llm::Message::system(self.system.clone()),
            r2e_llm::Message::user(self.user.clone()),
        ]
    }
}

/// Builds the judge's prompt for one trajectory (see the module docs).
pub fn build(config: &PromptConfig, issue: &str, trajectory: &Trajectory) -> JudgePrompt {
    let blocks = trajectory_blocks(trajectory, config.include_system_messages);
    let fixed = config.system.fixed_chars() + config.user.fixed_chars();
    let Some(budget) = config.budget.chars() else {
        let text = join(&blocks);
        return render(config, issue, &text, &trajectory.patch, 0);
    };
    let room = budget.saturating_sub(fixed);
    // Issue and patch: whole while they take at most 3/4 of the room.
    let (issue_len, patch_len) = (issue.chars().count(), trajectory.patch.chars().count());
    let cap = room * 3 / 4;
    let mut cut = 0;
    let (issue_text, patch_text) = if issue_len + patch_len <= cap {
        (issue.to_owned(), trajectory.patch.clone())
    } else {
        let issue_cap = issue_len.min(cap.saturating_sub(patch_len).max(cap / 3));
        let patch_cap = patch_len.min(cap - issue_cap);
        let (i, ci) = cut_middle(issue, issue_cap, "issue");
        let (p, cp) = cut_middle(&trajectory.patch, patch_cap, "patch");
        cut += ci + cp;
        (i, p)
    };
    let used = issue_text.chars().count() + patch_text.chars().count();
    let (text, traj_cut) = fit_blocks(blocks, room.saturating_sub(used));
    cut += traj_cut;
    render(config, &issue_text, &text, &patch_text, cut)
}

fn render(
    config: &PromptConfig,
    issue: &str,
    trajectory: &str,
    patch: &str,
    cut_chars: usize,
) -> JudgePrompt {
    JudgePrompt {
        system: config.system.render(issue, trajectory, patch),
        user: config.user.render(issue, trajectory, patch),
        cut_chars,
    }
}

/// One piece of the trajectory text: a message, or a step's action or observation.
#[derive(Debug, Clone)]
struct Block {
    header: String,
    body: String,
    observation: bool,
    chars: usize,
}

impl Block {
    fn new(header: String, body: String, observation: bool) -> Self {
        let chars = header.chars().count() + 1 + body.chars().count();
        Self {
            header,
            body,
            observation,
            chars,
        }
    }

    fn set_body(&mut self, body: String) {
        *self = Self::new(std::mem::take(&mut self.header), body, self.observation);
    }
}

const SEPARATOR: &str = "\n\n";

fn join(blocks: &[Block]) -> String {
    blocks
        .iter()
        .map(|b| format!("{}\n{}", b.header, b.body))
        .collect::<Vec<_>>()
        .join(SEPARATOR)
}

/// The text of a message's `content` (a string, or a list of text parts).
fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str).or_else(|| p.as_str()))
            .collect::<Vec<_>>()
            .join("\n"),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Tool calls of an assistant message, one line each.
fn tool_call_lines(message: &Value) -> Vec<String> {
    let Some(calls) = message.get("tool_calls").and_then(Value::as_array) else {
        return Vec::new();
    };
    calls
        .iter()
        .map(|call| {
            let function = call.get("function").unwrap_or(call);
            let name = function.get("name").and_then(Value::as_str).unwrap_or("?");
            let args = match function.get("arguments") {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            format!("[tool call] {name} {args}")
        })
        .collect()
}

fn trajectory_blocks(trajectory: &Trajectory, include_system: bool) -> Vec<Block> {
    if !trajectory.messages.is_empty() {
        let mut blocks = Vec::new();
        let mut seen_user = false;
        for message in &trajectory.messages {
            let role = message.get("role").and_then(Value::as_str).unwrap_or("?");
            if role == "system" && !include_system {
                continue;
            }
            let mut body = content_text(message.get("content"));
            let calls = tool_call_lines(message);
            if !calls.is_empty() {
                if !body.is_empty() {
                    body.push('\n');
                }
                body.push_str(&calls.join("\n"));
            }
            // Tool results, and (for XML-style agents) every user turn after
            // the first, are what the environment showed the agent.
            let observation = role == "tool" || (role == "user" && seen_user);
            seen_user |= role == "user";
            let header = if role == "tool" {
                "[tool output]".to_owned()
            } else {
                format!("[{role}]")
            };
            blocks.push(Block::new(header, body, observation));
        }
        return blocks;
    }
    let mut blocks = Vec::new();
    for (i, step) in trajectory.steps.iter().enumerate() {
        let n = i + 1;
        let args = serde_json::to_string(&step.action.args).unwrap_or_default();
        let mut body = step.thought.trim_end().to_owned();
        if !body.is_empty() {
            body.push('\n');
        }
        body.push_str(&format!("[action] {} {args}", step.action.tool));
        blocks.push(Block::new(format!("[step {n}]"), body, false));
        blocks.push(Block::new(
            format!("[step {n} observation]"),
            step.observation.clone(),
            true,
        ));
    }
    blocks
}

/// The first and last parts of `text` within `max` characters, with a marker
/// line in between saying how much of `what` was cut; and the count cut.
pub fn cut_middle(text: &str, max: usize, what: &str) -> (String, usize) {
    let len = text.chars().count();
    if len <= max {
        return (text.to_owned(), 0);
    }
    let marker_for = |n: usize| {
        format!("\n[… {n} characters of the {what} cut here to fit the judge's budget …]\n")
    };
    let marker_len = marker_for(len).chars().count();
    let keep = max.saturating_sub(marker_len);
    let removed = len - keep;
    let head = keep / 2;
    let tail = keep - head;
    let head_end = text.char_indices().nth(head).map_or(text.len(), |(i, _)| i);
    let tail_start = text
        .char_indices()
        .nth(len - tail)
        .map_or(text.len(), |(i, _)| i);
    (
        format!(
            "{}{}{}",
            &text[..head_end],
            marker_for(removed),
            &text[tail_start..]
        ),
        removed,
    )
}

/// Block indices ordered middle first.
fn middle_first(indices: impl Iterator<Item = usize>, n: usize) -> Vec<usize> {
    let mid = (n.saturating_sub(1)) as f64 / 2.0;
    let mut out: Vec<usize> = indices.collect();
    out.sort_by(|&a, &b| {
        (a as f64 - mid)
            .abs()
            .total_cmp(&(b as f64 - mid).abs())
            .then(b.cmp(&a))
    });
    out
}

/// Shortens the blocks to `room` characters (see the module docs); returns
/// the text and the characters removed.
fn fit_blocks(mut blocks: Vec<Block>, room: usize) -> (String, usize) {
    let n = blocks.len();
    let sep = SEPARATOR.chars().count();
    let length = |blocks: &[Block], dropped: &[bool]| -> usize {
        let mut total = 0;
        let mut parts: usize = 0;
        let mut in_gap = false;
        for (b, &d) in blocks.iter().zip(dropped) {
            if d {
                if !in_gap {
                    parts += 1;
                    total += GAP_MARKER_CHARS;
                }
                in_gap = true;
            } else {
                parts += 1;
                total += b.chars;
                in_gap = false;
            }
        }
        total + sep * parts.saturating_sub(1)
    };
    let original = length(&blocks, &vec![false; n]);
    let mut dropped = vec![false; n];
    if original <= room {
        return (join(&blocks), 0);
    }
    // 1. Observations, middle first.
    let mut current = original;
    for i in middle_first((0..n).filter(|&i| blocks[i].observation), n) {
        if current <= room {
            break;
        }
        let before = blocks[i].chars;
        let body_chars = blocks[i].body.chars().count();
        let note =
            format!("[output of {body_chars} characters left out to fit the judge's budget]");
        if note.chars().count() >= body_chars {
            continue;
        }
        blocks[i].set_body(note);
        current = current + blocks[i].chars - before;
    }
    // 2. Whole blocks, middle first, keeping the first and the last.
    if current > room && n > 2 {
        for i in middle_first(1..n - 1, n) {
            if length(&blocks, &dropped) <= room {
                break;
            }
            dropped[i] = true;
        }
    }
    let mut kept: Vec<Block> = Vec::new();
    let mut gap: Option<(usize, usize)> = None; // (blocks, chars)
    let flush = |gap: &mut Option<(usize, usize)>, kept: &mut Vec<Block>| {
        if let Some((count, chars)) = gap.take() {
            kept.push(Block::new(
                format!("[… {count} turn(s), {chars} characters, left out here to fit the judge's budget …]"),
                String::new(),
                false,
            ));
        }
    };
    for (b, d) in blocks.into_iter().zip(dropped) {
        if d {
            let g = gap.get_or_insert((0, 0));
            g.0 += 1;
            g.1 += b.chars;
        } else {
            flush(&mut gap, &mut kept);
            kept.push(b);
        }
    }
    flush(&mut gap, &mut kept);
    // 3. The longest blocks lose their middles.
    let mut text = join(&kept);
    let mut guard = 0;
    while text.chars().count() > room && guard < kept.len() * 2 + 4 {
        guard += 1;
        let excess = text.chars().count() - room;
        let Some(longest) = (0..kept.len()).max_by_key(|&i| kept[i].body.chars().count()) else {
            break;
        };
        let body_len = kept[longest].body.chars().count();
        if body_len <= 200 {
            break;
        }
        let target = body_len.saturating_sub(excess + 100).max(200);
        let (body, cut) = cut_middle(&kept[longest].body, target, "turn");
        if cut == 0 {
            break;
        }
        kept[longest].set_body(body);
        text = join(&kept);
    }
    // Last resort: the text itself.
    let len = text.chars().count();
    if len > room {
        let (t, _) = cut_middle(&text, room, "trajectory");
        text = t;
    }
    let final_len = text.chars().count();
    (text, original.saturating_sub(final_len))
}

/// The length used for a gap marker while planning (markers are short).
const GAP_MARKER_CHARS: usize = 90;
