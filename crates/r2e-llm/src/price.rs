//! Cost per call: a [`PriceTable`] of USD per million tokens by model name.
//!
//! The built-in table ([`PriceTable::builtin`]) holds the list prices of
//! common OpenAI and Anthropic models at the time of writing; prices change,
//! so it can be extended or overridden from a JSON file
//! ([`PriceTable::load_json`]) of the form
//!
//! ```json
//! {"my-model": {"input": 0.5, "output": 1.5, "cache_read": 0.05, "cache_write": 0.6}}
//! ```
//!
//! (`cache_read` and `cache_write` are optional and default to `input`).
//!
//! A model name is looked up as given, then without a `provider/` prefix; each
//! first exactly, then by the longest table key that is a prefix followed by
//! `-`, `@`, `:` or `.` (so `gpt-4o-2024-08-06` costs as `gpt-4o`,
//! `claude-sonnet-4-5-20250929` as `claude-sonnet-4-5`). Models not found
//! (local vLLM models, say) have no cost: [`crate::ChatResponse::cost_usd`] is `None`.

use crate::error::LlmError;
use crate::types::Usage;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Prices of one model in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Price {
    /// Uncached input tokens.
    pub input: f64,
    /// Output tokens.
    pub output: f64,
    /// Input tokens read from the prompt cache (default: `input`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read: Option<f64>,
    /// Input tokens written to the prompt cache (default: `input`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<f64>,
}

impl Price {
    /// A price without cache discounts.
    pub const fn new(input: f64, output: f64) -> Self {
        Self {
            input,
            output,
            cache_read: None,
            cache_write: None,
        }
    }

    const fn cached(input: f64, output: f64, cache_read: f64, cache_write: f64) -> Self {
        Self {
            input,
            output,
            cache_read: Some(cache_read),
            cache_write: Some(cache_write),
        }
    }

    /// The cost of `usage` in US dollars.
    pub fn cost(&self, usage: &Usage) -> f64 {
        let cached = usage.cache_read_tokens + usage.cache_write_tokens;
        let uncached = usage.prompt_tokens.saturating_sub(cached);
        let per_token = |tokens: u64, price: f64| tokens as f64 * price / 1e6;
        per_token(uncached, self.input)
            + per_token(
                usage.cache_read_tokens,
                self.cache_read.unwrap_or(self.input),
            )
            + per_token(
                usage.cache_write_tokens,
                self.cache_write.unwrap_or(self.input),
            )
            + per_token(usage.completion_tokens, self.output)
    }
}

/// Prices by model name (see the module docs for how names are matched).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PriceTable {
    prices: BTreeMap<String, Price>,
}

/// List prices (USD per million tokens) at the time of writing.
const BUILTIN: &[(&str, Price)] = &[
    ("gpt-4o", Price::cached(2.5, 10.0, 1.25, 2.5)),
    ("gpt-4o-mini", Price::cached(0.15, 0.6, 0.075, 0.15)),
    ("gpt-4.1", Price::cached(2.0, 8.0, 0.5, 2.0)),
    ("gpt-4.1-mini", Price::cached(0.4, 1.6, 0.1, 0.4)),
    ("gpt-4.1-nano", Price::cached(0.1, 0.4, 0.025, 0.1)),
    ("gpt-5", Price::cached(1.25, 10.0, 0.125, 1.25)),
    ("gpt-5-mini", Price::cached(0.25, 2.0, 0.025, 0.25)),
    ("gpt-5-nano", Price::cached(0.05, 0.4, 0.005, 0.05)),
    ("o1", Price::cached(15.0, 60.0, 7.5, 15.0)),
    ("o3", Price::cached(2.0, 8.0, 0.5, 2.0)),
    ("o3-mini", Price::cached(1.1, 4.4, 0.55, 1.1)),
    ("o4-mini", Price::cached(1.1, 4.4, 0.275, 1.1)),
    ("claude-3-5-haiku", Price::cached(0.8, 4.0, 0.08, 1.0)),
    ("claude-3-5-sonnet", Price::cached(3.0, 15.0, 0.3, 3.75)),
    ("claude-3-7-sonnet", Price::cached(3.0, 15.0, 0.3, 3.75)),
    ("claude-haiku-4-5", Price::cached(1.0, 5.0, 0.1, 1.25)),
    ("claude-sonnet-4", Price::cached(3.0, 15.0, 0.3, 3.75)),
    ("claude-sonnet-4-5", Price::cached(3.0, 15.0, 0.3, 3.75)),
    ("claude-opus-4", Price::cached(15.0, 75.0, 1.5, 18.75)),
    ("claude-opus-4-1", Price::cached(15.0, 75.0, 1.5, 18.75)),
    ("claude-opus-4-5", Price::cached(5.0, 25.0, 0.5, 6.25)),
];

impl PriceTable {
    /// A table without prices: every cost is `None`.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The built-in list prices.
    pub fn builtin() -> Self {
        Self {
            prices: BUILTIN
                .iter()
                .map(|(name, price)| ((*name).to_owned(), *price))
                .collect(),
        }
    }

    /// Sets the price of `model` (a full name or a prefix, see the module docs).
    pub fn insert(&mut self, model: impl Into<String>, price: Price) {
        self.prices.insert(model.into(), price);
    }

    /// Adds or replaces prices from a JSON object `{model: {input, output, …}}`.
    pub fn merge_json(&mut self, json: &str) -> Result<(), serde_json::Error> {
        let more: BTreeMap<String, Price> = serde_json::from_str(json)?;
        self.prices.extend(more);
        Ok(())
    }

    /// The built-in table overridden by the JSON file at `path`.
    pub fn load_json(path: &Path) -> Result<Self, LlmError> {
        let error = |message: String| {
            LlmError::InvalidRequest(format!("price table {}: {message}", path.display()))
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        let mut table = Self::builtin();
        table
            .merge_json(&text)
            .map_err(|e| error(format!("{e} (expected {{\"model\": {{\"input\": 1.0, \"output\": 2.0}}}} in USD per million tokens)")))?;
        Ok(table)
    }

    /// The price of `model`, if the table has one.
    pub fn get(&self, model: &str) -> Option<&Price> {
        let bare = model.rsplit('/').next().unwrap_or(model);
        [model, bare].into_iter().find_map(|name| {
            self.prices.get(name).or_else(|| {
                self.prices
                    .iter()
                    .filter(|(key, _)| {
                        name.strip_prefix(key.as_str())
                            .is_some_and(|rest| rest.starts_with(['-', '@', ':', '.']))
                    })
                    .max_by_key(|(key, _)| key.len())
                    .map(|(_, price)| price)
            })
        })
    }

    /// The cost of `usage` with `model`, if the table has its price.
    pub fn cost(&self, model: &str, usage: &Usage) -> Option<f64> {
        self.get(model).map(|price| price.cost(usage))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_exactly_then_by_longest_prefix() {
        let table = PriceTable::builtin();
        let input = |model: &str| table.get(model).map(|p| p.input);
        assert_eq!(input("gpt-4o"), Some(2.5));
        assert_eq!(input("gpt-4o-2024-08-06"), Some(2.5));
        assert_eq!(input("gpt-4o-mini-2024-07-18"), Some(0.15));
        assert_eq!(input("openai/gpt-4o-mini"), Some(0.15));
        assert_eq!(input("claude-sonnet-4-5-20250929"), Some(3.0));
        assert_eq!(input("claude-opus-4-5-20251101"), Some(5.0));
        assert_eq!(input("o3-mini-2025-01-31"), Some(1.1));
        assert_eq!(input("gpt-4ox"), None);
        assert_eq!(input("Qwen/Qwen3-8B"), None);
    }

    #[test]
    fn cached_tokens_are_priced_apart() {
        let price = Price::cached(3.0, 15.0, 0.3, 3.75);
        let usage = Usage {
            prompt_tokens: 1_000_000,
            completion_tokens: 100_000,
            total_tokens: 1_100_000,
            cache_read_tokens: 500_000,
            cache_write_tokens: 100_000,
        };
        let cost = price.cost(&usage);
        assert!(
            (cost - (0.4 * 3.0 + 0.5 * 0.3 + 0.1 * 3.75 + 0.1 * 15.0)).abs() < 1e-9,
            "{cost}"
        );
    }
}
