//! The execution-free verifier: a judge model reads the issue, the agent's
//! trajectory and its final patch and answers YES or NO; the candidate's
//! score is P(YES) normalised over YES and NO at the answer token
//! ([`r2e_llm::p_yes`]), averaged over [`JudgeConfig::samples`] samples.
//!
//! Any OpenAI-compatible server that returns logprobs works (vLLM serving a
//! fine-tuned judge, SGLang, a hosted model); one that returns none fails the
//! run at once with [`r2e_llm::LlmError::NoLogprobs`], which says what to
//! change. A reply in which neither label appears, or a prompt the server
//! finds too long for its context, fails only that candidate: its row in
//! `scores.jsonl` carries the `error` and no score, and the next run retries
//! it.
//!
//! [`judge_all`] keeps [`JudgeConfig::workers`] candidates in flight and
//! appends each score to the output file as soon as it is known; candidates
//! already scored there are skipped, so an interrupted run resumes.

use crate::VerifyError;
use crate::prompt::{self, JudgePrompt, PromptConfig};
use crate::score::{Score, ScoreWriter};
use futures_util::StreamExt;
use r2e_core::Trajectory;
use r2e_llm::{ChatRequest, Client, LlmError};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// Settings of the judge.
#[derive(Debug, Clone)]
pub struct JudgeConfig {
    /// The judge model as the server names it.
    pub model: String,
    /// Samples per candidate; the score is their mean P(YES).
    pub samples: u32,
    /// Candidates judged at once.
    pub workers: usize,
    /// Sampling temperature; None: 0 for one sample, 1 for several (so
    /// that the samples differ when the judge reasons before answering).
    pub temperature: Option<f64>,
    /// The most tokens the judge may generate (a fine-tuned judge answers in
    /// one; a general model may need room to reason first).
    pub max_tokens: u32,
    /// Top alternatives asked per token (1–20); both labels must be among them.
    pub top_logprobs: u8,
    /// The label for yes.
    pub yes: String,
    /// The label for no.
    pub no: String,
    /// The prompt's templates and budget.
    pub prompt: PromptConfig,
}

impl JudgeConfig {
    /// Defaults for `model`: 1 sample, 8 workers, 16 tokens, 20 top
    /// logprobs, labels YES/NO, the default prompt.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            samples: 1,
            workers: 8,
            temperature: None,
            max_tokens: 16,
            top_logprobs: 20,
            yes: "YES".into(),
            no: "NO".into(),
            prompt: PromptConfig::default(),
        }
    }

    fn validate(&self) -> Result<(), VerifyError> {
        if self.samples == 0 {
            return Err(VerifyError::Config("samples must be at least 1".into()));
        }
        if self.workers == 0 {
            return Err(VerifyError::Config("workers must be at least 1".into()));
        }
        if !(1..=20).contains(&self.top_logprobs) {
            return Err(VerifyError::Config(format!(
                "top_logprobs is {}; OpenAI-compatible servers allow 1 to 20",
                self.top_logprobs
            )));
        }
        if self.model.trim().is_empty() {
            return Err(VerifyError::Config("the judge model name is empty".into()));
        }
        Ok(())
    }

    fn temperature(&self) -> f64 {
        self.temperature
            .unwrap_or(if self.samples > 1 { 1.0 } else { 0.0 })
    }
}

/// The judge's verdict on one candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Mean P(YES) over the samples that gave an answer.
    pub p_yes: f64,
    /// P(YES) of each sample that gave an answer.
    pub samples: Vec<f64>,
}

/// Whether an error concerns only this candidate (the run goes on).
fn candidate_only(error: &LlmError) -> bool {
    matches!(error, LlmError::NoAnswerToken { .. }) || error.is_context_length()
}

/// Asks the judge about one prompt, [`JudgeConfig::samples`] times.
///
/// Samples in which neither label appears are left out of the mean; when
/// every sample fails, the last error is returned.
pub async fn judge_prompt(
    client: &dyn Client,
    prompt: &JudgePrompt,
    config: &JudgeConfig,
) -> Result<Verdict, LlmError> {
    let mut samples = Vec::new();
    let mut last_error = None;
    for i in 0..config.samples {
        let mut request = ChatRequest::new(config.model.clone(), prompt.messages())
            .temperature(config.temperature())
            .max_tokens(config.max_tokens)
            .logprobs(config.top_logprobs);
        if config.samples > 1 {
            request = request
                .seed(u64::from(i))
                .cache_salt(format!("judge-sample-{i}"));
        }
        let reply = client.chat(&request).await?;
        match r2e_llm::p_yes(&reply, &config.yes, &config.no) {
            Ok(p) => samples.push(p),
            Err(e @ LlmError::NoAnswerToken { .. }) => last_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    if samples.is_empty() {
        return Err(last_error.unwrap_or_else(|| LlmError::InvalidRequest("no samples".into())));
    }
    let p_yes = samples.iter().sum::<f64>() / samples.len() as f64;
    Ok(Verdict { p_yes, samples })
}

/// What [`judge_all`] reports as it goes.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum JudgeEvent<'a> {
    /// The work is known: `todo` candidates to judge, `done` already scored
    /// in the output file.
    Start {
        /// Candidates to judge now.
        todo: usize,
        /// Candidates skipped because the output file already scores them.
        done: usize,
    },
    /// A candidate was scored (and its row written).
    Scored(&'a Score),
    /// A candidate could not be scored (its row, with the error, was written).
    Failed(&'a Score),
}

/// What a [`judge_all`] run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JudgeSummary {
    /// Candidates skipped as already scored.
    pub skipped: usize,
    /// Candidates scored now.
    pub scored: usize,
    /// Candidates that failed (rows with an error).
    pub failed: usize,
}

/// Judges every trajectory whose `(task_id, rollout)` the file `out` does not
/// already score, `config.workers` at a time, appending a [`Score`] row to
/// `out` for each as soon as it is known. `issues` maps task ids to issue
/// texts; a trajectory whose task is missing there is an error before
/// anything is asked. Duplicate `(task_id, rollout)` pairs are judged once
/// (the first).
///
/// A failure that concerns the server or the configuration (no logprobs,
/// connection refused, HTTP errors after retries) stops the run; the rows
/// written so far stay, and re-running resumes after them.
pub async fn judge_all(
    client: &dyn Client,
    trajectories: &[Trajectory],
    issues: &HashMap<String, String>,
    config: &JudgeConfig,
    out: &Path,
    on_event: &mut (dyn FnMut(JudgeEvent<'_>) + Send),
) -> Result<JudgeSummary, VerifyError> {
    config.validate()?;
    if let Some(t) = trajectories
        .iter()
        .find(|t| !issues.contains_key(&t.task_id))
    {
        return Err(VerifyError::MissingTask {
            task_id: t.task_id.clone(),
            rollout: t.rollout,
        });
    }
    let (mut writer, existing) = ScoreWriter::open(out)?;
    let done: HashSet<(String, u32)> = existing
        .iter()
        .filter(|s| s.exec_free.is_some())
        .map(Score::key)
        .collect();
    let mut seen = HashSet::new();
    let mut summary = JudgeSummary::default();
    let mut todo = Vec::new();
    for t in trajectories {
        let key = (t.task_id.clone(), t.rollout);
        if !seen.insert(key.clone()) {
            continue;
        }
        if done.contains(&key) {
            summary.skipped += 1;
        } else {
            todo.push(t);
        }
    }
    on_event(JudgeEvent::Start {
        todo: todo.len(),
        done: summary.skipped,
    });
    let jobs = futures_util::stream::iter(todo.into_iter().map(|t| async move {
        let issue = issues
            .get(&t.task_id)
            .map(String::as_str)
            .unwrap_or_default();
        let prompt = prompt::build(&config.prompt, issue, t);
        let verdict = judge_prompt(client, &prompt, config).await;
        (t, prompt.cut_chars, verdict)
    }))
    .buffer_unordered(config.workers);
    let mut jobs = std::pin::pin!(jobs);
    while let Some((t, cut_chars, verdict)) = jobs.next().await {
        let mut row = Score::new(t.task_id.clone(), t.rollout);
        match verdict {
            Ok(v) => {
                row.exec_free = Some(v.p_yes);
                row.exec_free_samples = v.samples;
                row.judge_model = Some(config.model.clone());
                row.judge_cut_chars = Some(cut_chars);
                writer.append(&row)?;
                summary.scored += 1;
                on_event(JudgeEvent::Scored(&row));
            }
            Err(error) if candidate_only(&error) => {
                let hint = if error.is_context_length() {
                    " (lower --max-prompt-tokens or raise the server's context length)"
                } else {
                    ""
                };
                row.error = Some(format!("{error}{hint}"));
                writer.append(&row)?;
                summary.failed += 1;
                on_event(JudgeEvent::Failed(&row));
            }
            Err(error) => {
                return Err(VerifyError::Judge {
                    task_id: t.task_id.clone(),
                    rollout: t.rollout,
                    error,
                });
            }
        }
    }
    Ok(summary)
}
