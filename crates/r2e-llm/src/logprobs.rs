//! Scores from token probabilities: [`p_yes`], the probability of a YES
//! answer normalised over YES and NO, as R2E-Gym's execution-free verifier
//! uses it to rank patches.
//!
//! **Matching.** A token counts for a label when, with surrounding
//! whitespace trimmed, it equals the label ignoring ASCII case: for `"YES"`
//! the tokens `"YES"`, `" YES"`, `"Yes"`, `"yes\n"` all count; `"YESS"` or a
//! label split over two tokens (`"Y"`, `"ES"`) do not.
//!
//! **Position.** The answer token is the *last* generated token that itself
//! matches either label (a verifier that reasons first and answers last is
//! read at its answer). If no generated token matches, it is the *first*
//! position whose top alternatives contain a label (a one-token reply such as
//! `max_tokens = 1` that sampled something else). [`p_yes_at`] reads a
//! position of your choice.
//!
//! **Probability.** At that position, `P(YES) = Σ exp(logprob)` over the
//! top alternatives matching YES (plus the sampled token when the server left
//! it out of the list), likewise `P(NO)`, and the score is
//! `P(YES) / (P(YES) + P(NO))`. A label missing from the top alternatives
//! counts as probability 0, so ask for enough of them (`top_logprobs` 5–20).

use crate::error::LlmError;
use crate::types::{ChatResponse, TokenLogprob, truncate_chars};

fn matches(token: &str, label: &str) -> bool {
    token.trim().eq_ignore_ascii_case(label.trim())
}

fn logprobs(response: &ChatResponse) -> Result<&[TokenLogprob], LlmError> {
    match response.logprobs.as_deref() {
        Some(entries) if !entries.is_empty() => Ok(entries),
        Some(_) => Err(LlmError::NoLogprobs {
            model: response.model.clone(),
            detail: "the logprobs list is empty".into(),
        }),
        None => Err(LlmError::NoLogprobs {
            model: response.model.clone(),
            detail: "the response has no logprobs field".into(),
        }),
    }
}

/// `P(yes) / (P(yes) + P(no))` at the answer token (see the module docs).
///
/// Errors: [`LlmError::NoLogprobs`] when the response carries none,
/// [`LlmError::NoAnswerToken`] when neither label is found.
pub fn p_yes(response: &ChatResponse, yes: &str, no: &str) -> Result<f64, LlmError> {
    let entries = logprobs(response)?;
    let is_label = |token: &str| matches(token, yes) || matches(token, no);
    let position = entries
        .iter()
        .rposition(|e| is_label(&e.token))
        .or_else(|| {
            entries
                .iter()
                .position(|e| e.top_logprobs.iter().any(|t| is_label(&t.token)))
        });
    match position {
        Some(position) => p_yes_at(response, position, yes, no),
        None => Err(no_answer(response, yes, no)),
    }
}

/// `P(yes) / (P(yes) + P(no))` at token `position` of the reply.
pub fn p_yes_at(
    response: &ChatResponse,
    position: usize,
    yes: &str,
    no: &str,
) -> Result<f64, LlmError> {
    let entries = logprobs(response)?;
    let Some(entry) = entries.get(position) else {
        return Err(LlmError::NoLogprobs {
            model: response.model.clone(),
            detail: format!(
                "asked for token {position} of a reply with {} tokens",
                entries.len()
            ),
        });
    };
    let sampled_listed = entry.top_logprobs.iter().any(|t| t.token == entry.token);
    let candidates = entry
        .top_logprobs
        .iter()
        .map(|t| (t.token.as_str(), t.logprob))
        .chain((!sampled_listed).then_some((entry.token.as_str(), entry.logprob)));
    let (mut p_yes, mut p_no) = (0.0, 0.0);
    for (token, logprob) in candidates {
        if matches(token, yes) {
            p_yes += logprob.exp();
        } else if matches(token, no) {
            p_no += logprob.exp();
        }
    }
    if p_yes + p_no > 0.0 {
        Ok(p_yes / (p_yes + p_no))
    } else {
        Err(no_answer(response, yes, no))
    }
}

fn no_answer(response: &ChatResponse, yes: &str, no: &str) -> LlmError {
    LlmError::NoAnswerToken {
        yes: yes.to_owned(),
        no: no.to_owned(),
        text: truncate_chars(&response.content, 200),
    }
}
