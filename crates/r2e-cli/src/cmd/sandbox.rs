//! `r2e sandbox`: run commands in a throwaway sandbox, open a shell, clean up.

use super::limits::SandboxArgs;
use super::{DEFAULT_IMAGE, block_on, until_interrupted};
use anyhow::Context;
use clap::{Args, Subcommand};
use r2e_sandbox::docker::{DockerProvider, DockerSandbox};
use r2e_sandbox::{ExecOptions, Sandbox, SandboxSpec, shell_quote};
use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;
use std::time::Duration;

/// Sandbox subcommands.
#[derive(Debug, Subcommand)]
pub enum SandboxCmd {
    /// Start a sandbox, run a command, print its output, remove the sandbox.
    ///
    /// Exits with the command's exit code (124 when the timeout fired).
    /// A single CMD argument is a shell script (`r2e sandbox run -- 'ls | wc -l'`).
    Run(RunArgs),
    /// Start a sandbox and open an interactive shell in it; removed on exit.
    Shell(ShellArgs),
    /// Remove sandboxes left behind by crashed or killed runs, and their
    /// socket directories on this host.
    Gc(GcArgs),
}

/// Options shared by `run` and `shell`.
#[derive(Debug, Args)]
pub struct SpecArgs {
    /// Image to start.
    #[arg(long, default_value = DEFAULT_IMAGE)]
    image: String,
    /// Working directory inside the sandbox.
    #[arg(long, short = 'w')]
    workdir: Option<String>,
    /// Environment variable KEY=VALUE (repeatable).
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// Start without network access (the same as --network off).
    #[arg(long, hide = true, conflicts_with = "network")]
    no_network: bool,
    #[command(flatten)]
    sandbox: SandboxArgs,
}

impl SpecArgs {
    /// The sandbox to start; network on unless the flags or the config
    /// file say otherwise.
    fn spec(&self) -> anyhow::Result<SandboxSpec> {
        let settings = self.sandbox.resolve()?;
        let mut spec = SandboxSpec::new(&self.image);
        spec.workdir = self.workdir.clone();
        spec.env = self.env.clone();
        spec.network = !self.no_network && settings.network.unwrap_or(true);
        spec.limits = settings.limits;
        Ok(spec)
    }
}

/// Arguments of `r2e sandbox run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    spec: SpecArgs,
    /// Kill the command after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<f64>,
    /// Capture at most this many bytes per output stream.
    #[arg(long, value_name = "BYTES", default_value_t = r2e_shim_default_cap())]
    max_output: u64,
    /// The command (after `--`).
    #[arg(last = true, required = true, value_name = "CMD")]
    cmd: Vec<String>,
}

fn r2e_shim_default_cap() -> u64 {
    ExecOptions::default().max_output
}

/// Arguments of `r2e sandbox shell`.
#[derive(Debug, Args)]
pub struct ShellArgs {
    #[command(flatten)]
    spec: SpecArgs,
    /// Shell to start.
    #[arg(long, default_value = "/bin/bash")]
    shell: String,
}

/// Arguments of `r2e sandbox gc`.
#[derive(Debug, Args)]
pub struct GcArgs {
    /// Also remove sandboxes whose r2e process is still running (on
    /// Kubernetes: every r2e pod in the namespace, whichever host made it).
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    provider: super::provider::ProviderArgs,
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))
}

/// Runs a sandbox subcommand.
pub fn run(cmd: SandboxCmd) -> anyhow::Result<ExitCode> {
    block_on(async move {
        if let SandboxCmd::Gc(a) = &cmd
            && a.provider.provider == super::provider::ProviderKind::Kubernetes
        {
            return kube_gc(a).await;
        }
        let provider = DockerProvider::connect().await?;
        match cmd {
            SandboxCmd::Run(a) => until_interrupted(&provider, run_cmd(&provider, a)).await,
            SandboxCmd::Shell(a) => until_interrupted(&provider, shell_cmd(&provider, a)).await,
            SandboxCmd::Gc(a) => {
                let report = provider.gc(a.all).await?;
                for id in &report.containers {
                    println!("removed {}", &id[..id.len().min(12)]);
                }
                println!("{} sandbox(es) removed", report.containers.len());
                println!(
                    "{} socket folder(s) removed from {}",
                    report.run_dirs.len(),
                    r2e_sandbox::docker::run_root().display()
                );
                Ok(ExitCode::SUCCESS)
            }
        }
    })?
}

/// `r2e sandbox gc --provider kubernetes`: deletes r2e's pods that finished
/// or whose r2e process on this host is gone (all of them with `--all`).
async fn kube_gc(a: &GcArgs) -> anyhow::Result<ExitCode> {
    let super::provider::Connected::Kube(provider) = a.provider.connect_kind().await? else {
        unreachable!("--provider kubernetes");
    };
    let report = provider.gc(a.all).await?;
    for name in &report.removed {
        println!("deleted pod {name}");
    }
    for (name, why) in &report.failed {
        eprintln!("r2e: could not delete pod {name}: {why}");
    }
    let failed = if report.failed.is_empty() {
        String::new()
    } else {
        format!("; {} could not be deleted (above)", report.failed.len())
    };
    println!(
        "{} pod(s) deleted in namespace {}{failed}; kept {} of live r2e processes here and {} made from other hosts{}",
        report.removed.len(),
        provider.namespace(),
        report.kept_live,
        report.kept_other_hosts,
        if report.kept_other_hosts > 0 {
            " (--all deletes them too; their activeDeadlineSeconds ends them otherwise)"
        } else {
            ""
        }
    );
    Ok(if report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn run_cmd(provider: &DockerProvider, a: RunArgs) -> anyhow::Result<ExitCode> {
    let script = match a.cmd.as_slice() {
        [one] => one.clone(),
        many => many
            .iter()
            .map(|s| shell_quote(s))
            .collect::<Vec<_>>()
            .join(" "),
    };
    let sandbox = provider.start_docker(&a.spec.spec()?).await?;
    let opts = ExecOptions {
        timeout: a.timeout.map(Duration::from_secs_f64),
        max_output: a.max_output,
        ..Default::default()
    };
    let result = sandbox.exec(&script, &opts).await;
    sandbox.close().await?;
    let out = result?;
    std::io::stdout().write_all(&out.stdout)?;
    std::io::stderr().write_all(&out.stderr)?;
    if let Some(note) = out.kill_note(sandbox.limits()) {
        eprintln!("r2e: {note} (exit code {})", out.exit_code);
    }
    if out.timed_out {
        eprintln!(
            "r2e: command timed out after {:.1} s and was killed",
            out.duration.as_secs_f64()
        );
        return Ok(ExitCode::from(124));
    }
    Ok(ExitCode::from(out.exit_code.clamp(0, 255) as u8))
}

async fn shell_cmd(provider: &DockerProvider, a: ShellArgs) -> anyhow::Result<ExitCode> {
    let sandbox = provider.start_docker(&a.spec.spec()?).await?;
    let result = if std::io::stdin().is_terminal() {
        interactive(&sandbox, &a.shell).await
    } else {
        // Not a terminal: run what arrives on stdin as one script.
        let mut script = Vec::new();
        std::io::stdin().read_to_end(&mut script)?;
        let opts = ExecOptions {
            stdin: script,
            ..Default::default()
        };
        let out = sandbox
            .exec_argv(&[a.shell.clone(), "-s".into()], &opts)
            .await;
        out.map_err(anyhow::Error::from).and_then(|out| {
            std::io::stdout().write_all(&out.stdout)?;
            std::io::stderr().write_all(&out.stderr)?;
            if let Some(note) = out.kill_note(sandbox.limits()) {
                eprintln!("r2e: {note} (exit code {})", out.exit_code);
            }
            Ok(ExitCode::from(out.exit_code.clamp(0, 255) as u8))
        })
    };
    sandbox.close().await?;
    result
}

/// A TTY shell through a Docker exec, with the host terminal in raw mode.
async fn interactive(sandbox: &DockerSandbox, shell: &str) -> anyhow::Result<ExitCode> {
    use bollard::exec::{CreateExecOptions, ResizeExecOptions, StartExecResults};
    use futures_util::StreamExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let docker = sandbox.client();
    let exec = docker
        .create_exec(
            sandbox.id(),
            CreateExecOptions {
                attach_stdin: Some(true),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                tty: Some(true),
                env: Some(vec!["TERM=xterm-256color"]),
                cmd: Some(vec![shell]),
                ..Default::default()
            },
        )
        .await
        .context("creating the shell")?;
    let StartExecResults::Attached {
        mut output,
        mut input,
    } = docker.start_exec(&exec.id, None).await?
    else {
        anyhow::bail!("the engine did not attach to the shell");
    };
    let _raw = RawMode::enter()?;
    if let Some((w, h)) = terminal_size() {
        let _ = docker
            .resize_exec(
                &exec.id,
                ResizeExecOptions {
                    height: h,
                    width: w,
                },
            )
            .await;
    }
    let pump_in = tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 1024];
        while let Ok(n) = stdin.read(&mut buf).await {
            if n == 0 || input.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    });
    let mut stdout = tokio::io::stdout();
    while let Some(Ok(chunk)) = output.next().await {
        stdout.write_all(&chunk.into_bytes()).await?;
        stdout.flush().await?;
    }
    pump_in.abort();
    let code = docker.inspect_exec(&exec.id).await?.exit_code.unwrap_or(0);
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

/// Puts the controlling terminal in raw mode until dropped.
struct RawMode(libc::termios);

impl RawMode {
    fn enter() -> anyhow::Result<Self> {
        // SAFETY: termios is plain data; tcgetattr fills it from fd 0.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut saved) != 0 {
                anyhow::bail!(
                    "cannot read the terminal settings: {}",
                    std::io::Error::last_os_error()
                );
            }
            let mut raw = saved;
            libc::cfmakeraw(&mut raw);
            libc::tcsetattr(0, libc::TCSANOW, &raw);
            Ok(RawMode(saved))
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `enter`.
        unsafe {
            libc::tcsetattr(0, libc::TCSANOW, &self.0);
        }
    }
}

fn terminal_size() -> Option<(u16, u16)> {
    // SAFETY: TIOCGWINSZ writes one winsize struct.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        (libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_col > 0)
            .then_some((ws.ws_col, ws.ws_row))
    }
}
