//! `r2e doctor`: checks that everything r2e needs is in place and says what to
//! do about anything that is not.

use super::{DEFAULT_IMAGE, block_on};
use clap::Args;
use r2e_sandbox::docker::{DockerProvider, EngineInfo, endpoint};
use r2e_sandbox::{ExecOptions, Sandbox, SandboxSpec};
use std::process::ExitCode;
use std::time::Instant;

/// Arguments of `r2e doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Image in which to check that the shim starts [default: r2e/base:bookworm
    /// on Docker, the shim image on Kubernetes].
    #[arg(long)]
    image: Option<String>,
    #[command(flatten)]
    provider: super::provider::ProviderArgs,
}

/// Free disk below which the engine's disk is reported as low.
const LOW_DISK: u64 = 10 << 30;

struct Report {
    failures: usize,
}

impl Report {
    fn ok(&self, what: &str, detail: impl AsRef<str>) {
        println!("  ok    {what}: {}", detail.as_ref());
    }
    fn warn(&self, what: &str, detail: impl AsRef<str>, fix: &str) {
        println!("  warn  {what}: {}\n        → {fix}", detail.as_ref());
    }
    fn fail(&mut self, what: &str, detail: impl AsRef<str>, fix: &str) {
        self.failures += 1;
        println!("  FAIL  {what}: {}\n        → {fix}", detail.as_ref());
    }
}

/// Runs the checks; exits 1 when any failed.
pub fn run(a: DoctorArgs) -> anyhow::Result<ExitCode> {
    block_on(doctor(a))?
}

async fn doctor(a: DoctorArgs) -> anyhow::Result<ExitCode> {
    if a.provider.provider == super::provider::ProviderKind::Kubernetes {
        return kube_doctor(&a).await;
    }
    let image = a.image.as_deref().unwrap_or(DEFAULT_IMAGE).to_string();
    let mut r = Report { failures: 0 };
    println!("r2e {} doctor", env!("CARGO_PKG_VERSION"));
    let shim = r2e_sandbox::shim::SHIM_BINARY;
    if is_static_elf(shim) {
        r.ok(
            "shim",
            format!("static binary, {} KiB, embedded", shim.len() >> 10),
        );
    } else {
        r.fail(
            "shim",
            "the embedded r2e-shim is dynamically linked and will not run in images without libc",
            "rebuild r2e from source (the build script links the shim with +crt-static) or set R2E_SHIM_BINARY to a static build",
        );
    }
    let provider = match DockerProvider::connect().await {
        Ok(p) => p,
        Err(e) => {
            r.fail(
                "docker daemon",
                format!("not reachable at {}", endpoint()),
                &format!("{e}").replace('\n', " "),
            );
            return Ok(finish(&r));
        }
    };
    match EngineInfo::read(provider.client()).await {
        Ok(info) => {
            r.ok(
                "docker daemon",
                format!(
                    "engine {} at {}, API {} negotiated",
                    info.version,
                    endpoint(),
                    info.api_version
                ),
            );
            if info.storage_driver == "overlay2" {
                r.ok("storage driver", "overlay2");
            } else {
                r.warn(
                    "storage driver",
                    &info.storage_driver,
                    "overlay2 is much faster for many containers; set \"storage-driver\": \"overlay2\" in /etc/docker/daemon.json",
                );
            }
            match free_bytes(&info.root_dir) {
                Some(free) if free < LOW_DISK => r.warn(
                    "disk",
                    format!(
                        "{:.1} GiB free under {}",
                        free as f64 / (1u64 << 30) as f64,
                        info.root_dir
                    ),
                    "task images take gigabytes: free space or prune images (`docker image prune`)",
                ),
                Some(free) => r.ok(
                    "disk",
                    format!(
                        "{:.1} GiB free under {}",
                        free as f64 / (1u64 << 30) as f64,
                        info.root_dir
                    ),
                ),
                None => r.ok(
                    "disk",
                    format!("{} is not on this host; not checked", info.root_dir),
                ),
            }
        }
        Err(e) => r.fail("docker daemon", e.to_string(), "check the daemon's logs"),
    }
    let started = Instant::now();
    match provider.start_docker(&SandboxSpec::new(&image)).await {
        Ok(sb) => {
            let ready = started.elapsed();
            let probe = sb
                .exec(
                    "echo $BASH_VERSION; command -v python3 git uv | tr '\\n' ' '",
                    &ExecOptions::timeout(30.0),
                )
                .await;
            let _ = sb.close().await;
            match probe {
                Ok(out) => r.ok(
                    "sandbox",
                    format!(
                        "shim started in {} in {:.0} ms; found: {}",
                        image,
                        ready.as_secs_f64() * 1e3,
                        out.stdout_text()
                            .split_whitespace()
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                ),
                Err(e) => r.fail(
                    "sandbox",
                    e.to_string(),
                    "run with -vv and report the shim's stderr",
                ),
            }
        }
        Err(e) => r.fail(
            "sandbox",
            format!("cannot start {image}"),
            &e.to_string().replace('\n', " "),
        ),
    }
    match which("debootstrap") {
        true => r.ok(
            "debootstrap",
            "installed (r2e image bootstrap can build base images)",
        ),
        false => r.warn(
            "debootstrap",
            "not installed",
            "needed only for `r2e image bootstrap`: apt-get install -y debootstrap",
        ),
    }
    Ok(finish(&r))
}

/// `r2e doctor --provider kubernetes`: the API server, RBAC, one pod round
/// trip, each with its time.
async fn kube_doctor(a: &DoctorArgs) -> anyhow::Result<ExitCode> {
    let mut r = Report { failures: 0 };
    println!("r2e {} doctor (kubernetes)", env!("CARGO_PKG_VERSION"));
    let provider = match a.provider.connect_kind().await {
        Ok(super::provider::Connected::Kube(p)) => p,
        Ok(super::provider::Connected::Docker(_)) => unreachable!("--provider kubernetes"),
        Err(e) => {
            r.fail(
                "credentials",
                format!("{e:#}").replace('\n', " "),
                "set kubeconfig (or in_cluster) in --provider-config, or KUBECONFIG",
            );
            return Ok(finish(&r));
        }
    };
    r.ok("credentials", provider.api().server());
    r.ok(
        "namespace",
        format!(
            "{} (from {})",
            provider.namespace(),
            provider.namespace_source()
        ),
    );
    for c in r2e_kube::doctor::run(&provider, a.image.as_deref()).await {
        let detail = format!("{} [{:.0?}]", c.detail, c.took);
        if c.ok {
            r.ok(&c.name, detail);
        } else {
            r.fail(&c.name, detail, "see docs/scaling.md (Kubernetes provider)");
        }
    }
    Ok(finish(&r))
}

fn finish(r: &Report) -> ExitCode {
    if r.failures == 0 {
        println!("all checks passed");
        ExitCode::SUCCESS
    } else {
        println!("{} check(s) failed", r.failures);
        ExitCode::from(1)
    }
}

/// An ELF executable without a PT_INTERP program header needs no dynamic loader.
fn is_static_elf(bin: &[u8]) -> bool {
    if bin.len() < 64 || &bin[..4] != b"\x7fELF" || bin[4] != 2 {
        return false;
    }
    let u16_at = |o: usize| u16::from_le_bytes([bin[o], bin[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(bin[32..40].try_into().expect("8 bytes")) as usize;
    let (phentsize, phnum) = (u16_at(54), u16_at(56));
    (0..phnum).all(|i| {
        let at = phoff + i * phentsize;
        at + 4 <= bin.len() && u32::from_le_bytes(bin[at..at + 4].try_into().expect("4 bytes")) != 3
    })
}

fn free_bytes(path: &str) -> Option<u64> {
    let c = std::ffi::CString::new(path).ok()?;
    // SAFETY: statvfs fills a plain struct for a NUL-terminated path.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        (libc::statvfs(c.as_ptr(), &mut st) == 0).then(|| st.f_bavail * st.f_frsize)
    }
}

fn which(tool: &str) -> bool {
    [
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
        "/usr/local/sbin",
        "/usr/local/bin",
    ]
    .iter()
    .any(|d| std::path::Path::new(d).join(tool).is_file())
}
