//! `r2e quickstart`: the whole loop on a fresh machine with no LLM and no
//! registry — base image, a small real dataset, the oracle agent through the
//! tools, the hidden tests, the reward, the trajectories.

use super::llm::LlmArgs;
use super::{DEFAULT_IMAGE, block_on, until_interrupted};
use anyhow::Context;
use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use r2e_agent::runner::{Policy, episode};
use r2e_agent::{ActionFormat, AgentConfig, EditAgent, Limits, Sampling};
use r2e_env::EnvOptions;
use r2e_sandbox::docker::DockerProvider;
use r2e_sandbox::image::{BootstrapOptions, bootstrap, image_id};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Arguments of `r2e quickstart`.
#[derive(Debug, Args)]
pub struct QuickstartArgs {
    /// Base image; built with `r2e image bootstrap` when it is r2e's own and missing.
    #[arg(long, default_value = DEFAULT_IMAGE)]
    base_image: String,
    /// Directory for the dataset and the trajectories.
    #[arg(long, default_value = "r2e-quickstart")]
    out: PathBuf,
    /// With --model (and --base-url for a local server), a real LLM agent
    /// plays instead of the oracle.
    #[command(flatten)]
    llm: LlmArgs,
    /// How the model calls tools: native (function calling) or xml (<function=…> text).
    #[arg(long, default_value = "native")]
    action_format: ActionFormat,
    /// With --model: steps per episode, the last one told to submit
    /// (default: `r2e run`'s 40, ending at 50).
    #[arg(long, value_parser = super::positive::<u32>)]
    max_steps: Option<u32>,
    /// With --model: the most tokens per model reply (default: the server's).
    #[arg(long, value_parser = super::positive::<u32>)]
    max_reply_tokens: Option<u32>,
    /// Limits of the task sandboxes (network off unless --network on).
    #[command(flatten)]
    sandbox: super::limits::SandboxArgs,
}

/// Runs the quickstart.
pub fn run(a: QuickstartArgs) -> anyhow::Result<ExitCode> {
    block_on(async move {
        let provider = DockerProvider::connect().await?;
        until_interrupted(&provider, quickstart(&provider, a)).await
    })?
}

async fn quickstart(provider: &DockerProvider, a: QuickstartArgs) -> anyhow::Result<ExitCode> {
    let sandbox = a.sandbox.resolve()?;
    let env_options = EnvOptions {
        limits: sandbox.limits,
        network: sandbox.network,
        ..EnvOptions::default()
    };
    let defaults = Limits::default();
    let (who, policy) = match a.llm.client()? {
        Some((model, client)) => (
            format!("the {model} agent"),
            Policy::Edit(Arc::new(
                EditAgent::new(client, model, AgentConfig::edit(a.action_format))
                    .with_limits(Limits {
                        max_steps: a.max_steps.unwrap_or(defaults.max_steps),
                        max_steps_absolute: a.max_steps.unwrap_or(defaults.max_steps_absolute),
                        ..defaults
                    })
                    .with_sampling(Sampling {
                        temperature: Some(0.0),
                        max_tokens: a.max_reply_tokens,
                        ..Sampling::default()
                    }),
            )),
        ),
        None => ("the oracle agent".to_string(), Policy::Oracle),
    };
    if image_id(provider.client(), &a.base_image).await?.is_none() {
        let suite = a.base_image.strip_prefix("r2e/base:").with_context(|| {
            format!(
                "{} is not in the engine; pull it or build it with `r2e image bootstrap`",
                a.base_image
            )
        })?;
        println!(
            "1/4 building the base image {} (once, about a minute)",
            a.base_image
        );
        bootstrap(
            provider.client(),
            &BootstrapOptions::new(suite, &a.base_image),
            &|step| println!("    · {step}"),
        )
        .await?;
    } else {
        println!("1/4 base image {} is present", a.base_image);
    }
    println!("2/4 building the demo tasks (a Python package with three bugs)");
    let tasks = r2e_eval::demo::build(provider, &a.base_image).await?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let dataset = a.out.join("demo.jsonl");
    r2e_core::dataset::write(&dataset, &tasks)?;
    println!("3/4 running {who} on each task through the tools");
    let traj_path = a.out.join("trajectories.jsonl");
    let mut traj_file = std::fs::File::create(&traj_path)
        .with_context(|| format!("creating {}", traj_path.display()))?;
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_header(vec!["task", "steps", "exit", "reward", "tokens", "seconds"]);
    let mut resolved = 0;
    let mut errors = 0;
    let envs = r2e_agent::runner::Envs::local(Arc::new(provider.clone()), 0, env_options);
    for task in &tasks {
        let traj = episode(&envs, task.clone(), 0, &policy).await;
        if let Some(e) = &traj.error {
            eprintln!("    {}: {e}", traj.task_id);
            errors += 1;
        }
        writeln!(traj_file, "{}", serde_json::to_string(&traj)?)?;
        if traj.reward == Some(1.0) {
            resolved += 1;
        }
        table.add_row(vec![
            traj.task_id.clone(),
            traj.steps.len().to_string(),
            r2e_agent::runner::exit_name(traj.exit_reason),
            traj.reward
                .map_or_else(|| "—".into(), |r| format!("{r:.0}")),
            (traj.usage.prompt_tokens + traj.usage.completion_tokens).to_string(),
            format!("{:.1}", traj.duration_secs),
        ]);
    }
    println!("4/4 graded with the hidden tests\n{table}");
    println!("{resolved}/{} resolved", tasks.len());
    println!("dataset:      {}", dataset.display());
    println!("trajectories: {}", traj_path.display());
    println!(
        "next: r2e eval --dataset {} --predictions gold --run-id first",
        dataset.display()
    );
    // The oracle must resolve every task (else the environment is broken); a
    // model is free to fail, but not the machinery around it.
    let oracle = matches!(policy, Policy::Oracle);
    Ok(if resolved == tasks.len() || (!oracle && errors == 0) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
