//! How every episode ends, whoever played it: the patch is taken, and the
//! reward is computed only when the episode itself did not fail. A failure
//! anywhere (model, sandbox, engine, reward) makes the status `infra_error`
//! with no reward value, so that it can never be read as a wrong answer.

use r2e_core::RewardStatus;
use r2e_env::Environment;

/// The end of an episode.
pub(crate) struct Ending {
    /// The agent's patch (R2E-Gym's), empty when it could not be taken.
    pub patch: String,
    /// The reward value, when the hidden tests gave a verdict.
    pub reward: Option<f64>,
    /// The reward's status, when a reward was asked for.
    pub status: Option<RewardStatus>,
    /// The hidden tests' report (SWE-bench `report.json` or R2E-Gym's
    /// comparison), when they ran.
    pub report: Option<serde_json::Value>,
    /// What failed, if anything.
    pub error: Option<String>,
}

/// Takes the patch and, with `reward`, the reward of an episode that ended
/// with `error` (if any).
pub(crate) async fn conclude(env: &dyn Environment, reward: bool, error: Option<String>) -> Ending {
    let mut end = Ending {
        patch: String::new(),
        reward: None,
        status: None,
        report: None,
        error,
    };
    match env.patch().await {
        Ok(p) => end.patch = p,
        Err(e) => end.error = end.error.or(Some(format!("taking the patch: {e}"))),
    }
    if !reward {
        return end;
    }
    if end.error.is_some() {
        end.status = Some(RewardStatus::InfraError);
        return end;
    }
    match env.reward().await {
        Ok(r) => {
            end.reward = Some(r.value);
            end.status = Some(r.status);
            // Empty when the tests timed out or did not run.
            end.report = serde_json::from_str(&r.report).ok();
        }
        Err(e) => {
            end.status = Some(RewardStatus::InfraError);
            end.error = Some(format!("running the hidden tests: {e}"));
        }
    }
    end
}
