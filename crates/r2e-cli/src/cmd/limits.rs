//! Resource limits and network access of the sandboxes a command starts:
//! the `--memory`/`--cpus`/`--cpu-shares`/`--pids`/`--network` flags every
//! such command takes, the `[sandbox]` table of r2e's config file, and the
//! defaults of [`r2e_sandbox::Limits`]. Flags win over the file, the file over
//! the defaults.
//!
//! ```toml
//! # ~/.config/r2e/config.toml (or --config FILE, or $R2E_CONFIG)
//! [sandbox]
//! memory = "8g"        # bytes, or 4g / 256m / 512MiB / 1.5G, or "none"
//! cpus = 2             # hard quota in cores, or "none" (the default)
//! cpu_shares = 512     # CPU weight under contention (engine default 1024)
//! pids = 1024          # processes and threads, or "none"
//! network = false      # true/false or "on"/"off"; default depends on the command
//! ```

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use r2e_sandbox::Limits;
use r2e_sandbox::limits::{LimitError, parse_count, parse_cpus, parse_memory};
use std::path::{Path, PathBuf};

/// Environment variable naming the config file when `--config` is not given.
pub const CONFIG_ENV: &str = "R2E_CONFIG";

/// Keys of the `[sandbox]` table.
const KEYS: &[&str] = &["memory", "cpus", "cpu_shares", "pids", "network"];

/// Network access of the sandboxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Network {
    /// Network access (a bridge network).
    On,
    /// No network at all (only loopback).
    Off,
}

/// A limit given on the command line: a value, or `none` for no limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit<T>(
    /// The value; `None` lifts the limit.
    pub Option<T>,
);

fn memory_arg(s: &str) -> Result<Limit<u64>, String> {
    parse_memory(s).map(Limit).map_err(|e| e.why)
}

fn cpus_arg(s: &str) -> Result<Limit<f64>, String> {
    parse_cpus(s).map(Limit).map_err(|e| e.why)
}

fn count_arg(s: &str) -> Result<Limit<u32>, String> {
    parse_count("value", s).map(Limit).map_err(|e| e.why)
}

/// Limits and network of the sandboxes a command starts (flattened into
/// every such command).
#[derive(Debug, Clone, Default, Args)]
pub struct SandboxArgs {
    /// Memory limit of each sandbox (swap included): bytes, 4g, 256m,
    /// 512MiB, 1.5G, or none [default: 4g].
    #[arg(long, value_name = "SIZE", value_parser = memory_arg, help_heading = "Sandbox limits")]
    pub memory: Option<Limit<u64>>,
    /// Hard CPU quota of each sandbox in cores (0.5, 2), or none [default: none].
    #[arg(long, value_name = "CORES", value_parser = cpus_arg, help_heading = "Sandbox limits")]
    pub cpus: Option<Limit<f64>>,
    /// CPU weight of each sandbox under contention (the engine's default is
    /// 1024), or none [default: 512].
    #[arg(long, value_name = "WEIGHT", value_parser = count_arg, help_heading = "Sandbox limits")]
    pub cpu_shares: Option<Limit<u32>>,
    /// Most processes and threads in each sandbox, or none [default: 1024].
    #[arg(long, value_name = "N", value_parser = count_arg, help_heading = "Sandbox limits")]
    pub pids: Option<Limit<u32>>,
    /// Network access of the sandboxes [default: off for `r2e run` unless a
    /// task has "network": true; on for `eval` and `sandbox`; SWE-Gen test
    /// runs off, installs always on].
    #[arg(long, value_enum, help_heading = "Sandbox limits")]
    pub network: Option<Network>,
    /// r2e config file with a [sandbox] table of these settings [default:
    /// $R2E_CONFIG, else ~/.config/r2e/config.toml when it exists].
    #[arg(long, value_name = "FILE", help_heading = "Sandbox limits")]
    pub config: Option<PathBuf>,
}

/// The `[sandbox]` table of a config file; absent keys are `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileSettings {
    /// `memory`.
    pub memory: Option<Limit<u64>>,
    /// `cpus`.
    pub cpus: Option<Limit<f64>>,
    /// `cpu_shares`.
    pub cpu_shares: Option<Limit<u32>>,
    /// `pids`.
    pub pids: Option<Limit<u32>>,
    /// `network`.
    pub network: Option<bool>,
}

/// What a command's sandboxes get.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SandboxSettings {
    /// Their limits.
    pub limits: Limits,
    /// Their network access when decided by a flag or the file; `None`
    /// leaves it to the command's default.
    pub network: Option<bool>,
}

impl SandboxArgs {
    /// The settings: these flags over the config file over the defaults.
    pub fn resolve(&self) -> anyhow::Result<SandboxSettings> {
        let file = match find_config(
            self.config.as_deref(),
            std::env::var_os(CONFIG_ENV),
            config_home(),
        )? {
            Some(path) => load(&path)?,
            None => FileSettings::default(),
        };
        let settings = self.resolve_with(&file)?;
        tracing::debug!(
            "sandbox limits: {}; network {:?}",
            settings.limits,
            settings.network
        );
        Ok(settings)
    }

    /// The settings with `file` as the config file's `[sandbox]` table.
    pub fn resolve_with(&self, file: &FileSettings) -> anyhow::Result<SandboxSettings> {
        let d = Limits::default();
        let limits = Limits {
            memory_bytes: self.memory.or(file.memory).map_or(d.memory_bytes, |l| l.0),
            cpus: self.cpus.or(file.cpus).map_or(d.cpus, |l| l.0),
            cpu_shares: self
                .cpu_shares
                .or(file.cpu_shares)
                .map_or(d.cpu_shares, |l| l.0),
            pids: self.pids.or(file.pids).map_or(d.pids, |l| l.0),
        };
        limits.validate()?;
        let network = self.network.map(|n| n == Network::On).or(file.network);
        Ok(SandboxSettings { limits, network })
    }
}

/// The user's configuration directory: `$XDG_CONFIG_HOME`, else `~/.config`.
fn config_home() -> Option<PathBuf> {
    match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(d) => Some(PathBuf::from(d)),
        None => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")),
    }
}

/// The config file to read: `flag`, else `env` (the value of
/// `$R2E_CONFIG`), else `<config_home>/r2e/config.toml` when it exists. A
/// file named by the flag or the variable must exist.
pub fn find_config(
    flag: Option<&Path>,
    env: Option<std::ffi::OsString>,
    config_home: Option<PathBuf>,
) -> anyhow::Result<Option<PathBuf>> {
    let named = match flag {
        Some(p) => Some((p.to_path_buf(), "--config")),
        None => env
            .filter(|v| !v.is_empty())
            .map(|v| (PathBuf::from(v), "$R2E_CONFIG")),
    };
    if let Some((path, from)) = named {
        if !path.is_file() {
            bail!(
                "config file {} (from {from}) does not exist",
                path.display()
            );
        }
        return Ok(Some(path));
    }
    let Some(dir) = config_home else {
        return Ok(None);
    };
    let path = dir.join("r2e").join("config.toml");
    Ok(path.is_file().then_some(path))
}

/// Reads the `[sandbox]` table of config file `path`.
pub fn load(path: &Path) -> anyhow::Result<FileSettings> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    parse(&text).map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))
}

/// Parses a config file's text; errors name the key.
pub fn parse(text: &str) -> Result<FileSettings, String> {
    let table: toml::Table = toml::from_str(text).map_err(|e| format!("not valid TOML: {e}"))?;
    let Some(sandbox) = table.get("sandbox") else {
        return Ok(FileSettings::default());
    };
    let sandbox = sandbox
        .as_table()
        .ok_or("`sandbox` must be a table ([sandbox])")?;
    let mut out = FileSettings::default();
    for (key, value) in sandbox {
        let bad = |e: LimitError| format!("[sandbox] {key}: {e}");
        let wrong_type =
            |want: &str| format!("[sandbox] {key}: expected {want}, got {}", show(value));
        use toml::Value;
        match key.as_str() {
            "memory" => {
                let text = match value {
                    Value::String(s) => s.clone(),
                    Value::Integer(n) => n.to_string(),
                    _ => return Err(wrong_type("bytes or a size like \"4g\", or \"none\"")),
                };
                out.memory = Some(Limit(parse_memory(&text).map_err(bad)?));
            }
            "cpus" => {
                let text = match value {
                    Value::String(s) => s.clone(),
                    Value::Integer(n) => n.to_string(),
                    Value::Float(f) => f.to_string(),
                    _ => return Err(wrong_type("a number of cores or \"none\"")),
                };
                out.cpus = Some(Limit(parse_cpus(&text).map_err(bad)?));
            }
            "cpu_shares" | "pids" => {
                let text = match value {
                    Value::String(s) => s.clone(),
                    Value::Integer(n) => n.to_string(),
                    _ => return Err(wrong_type("a whole number or \"none\"")),
                };
                let what = if key == "pids" { "pids" } else { "cpu_shares" };
                let n = Some(Limit(parse_count(what, &text).map_err(bad)?));
                if key == "pids" {
                    out.pids = n;
                } else {
                    out.cpu_shares = n;
                }
            }
            "network" => {
                out.network = Some(match value {
                    Value::Boolean(b) => *b,
                    Value::String(s) if s == "on" => true,
                    Value::String(s) if s == "off" => false,
                    _ => return Err(wrong_type("true, false, \"on\" or \"off\"")),
                });
            }
            other => {
                return Err(format!(
                    "[sandbox] has no key `{other}` (known: {})",
                    KEYS.join(", ")
                ));
            }
        }
    }
    Ok(out)
}

/// A value as an error message shows it: `string "x"`, `boolean true`, `array`.
fn show(v: &toml::Value) -> String {
    use toml::Value;
    let text = match v {
        Value::String(s) => format!("{s:?}"),
        Value::Integer(n) => n.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Datetime(d) => d.to_string(),
        Value::Array(_) | Value::Table(_) => return v.type_str().to_string(),
    };
    format!("{} {text}", v.type_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        sandbox: SandboxArgs,
    }

    fn args(argv: &[&str]) -> SandboxArgs {
        let mut all = vec!["r2e"];
        all.extend_from_slice(argv);
        Cli::try_parse_from(all).unwrap().sandbox
    }

    #[test]
    fn defaults_without_flags_or_file() {
        let s = args(&[]).resolve_with(&FileSettings::default()).unwrap();
        assert_eq!(s.limits, Limits::default());
        assert_eq!(s.network, None);
    }

    #[test]
    fn flags_parse_sizes_counts_and_none() {
        let s = args(&[
            "--memory",
            "256m",
            "--cpus",
            "1.5",
            "--cpu-shares",
            "none",
            "--pids",
            "64",
            "--network",
            "off",
        ])
        .resolve_with(&FileSettings::default())
        .unwrap();
        assert_eq!(
            s.limits,
            Limits {
                memory_bytes: Some(256 << 20),
                cpus: Some(1.5),
                cpu_shares: None,
                pids: Some(64),
            }
        );
        assert_eq!(s.network, Some(false));
        let s = args(&["--memory", "none", "--network", "on"])
            .resolve_with(&FileSettings::default())
            .unwrap();
        assert_eq!(s.limits.memory_bytes, None);
        assert_eq!(s.network, Some(true));
    }

    #[test]
    fn bad_flags_are_refused_by_the_parser() {
        let mut all = vec!["r2e", "--memory", "4x"];
        let e = Cli::try_parse_from(&all).unwrap_err().to_string();
        assert!(e.contains("unknown unit"), "{e}");
        all[2] = "1k";
        let e = Cli::try_parse_from(&all).unwrap_err().to_string();
        assert!(e.contains("6 MiB"), "{e}");
        let e = Cli::try_parse_from(["r2e", "--pids", "0"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("positive"), "{e}");
        let e = Cli::try_parse_from(["r2e", "--network", "maybe"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("maybe"), "{e}");
    }

    #[test]
    fn flags_override_the_file_which_overrides_the_defaults() {
        let file = parse(
            "[other]\nx = 1\n\n[sandbox]\nmemory = \"1g\"\ncpus = 2\npids = \"none\"\nnetwork = \"on\"\n",
        )
        .unwrap();
        let s = args(&[]).resolve_with(&file).unwrap();
        assert_eq!(
            s.limits,
            Limits {
                memory_bytes: Some(1 << 30),
                cpus: Some(2.0),
                cpu_shares: Some(Limits::DEFAULT_CPU_SHARES),
                pids: None,
            }
        );
        assert_eq!(s.network, Some(true));
        let s = args(&["--memory", "512m", "--pids", "100", "--network", "off"])
            .resolve_with(&file)
            .unwrap();
        assert_eq!(s.limits.memory_bytes, Some(512 << 20));
        assert_eq!(s.limits.cpus, Some(2.0));
        assert_eq!(s.limits.pids, Some(100));
        assert_eq!(s.network, Some(false));
    }

    #[test]
    fn the_file_accepts_numbers_and_strings() {
        let f = parse(
            "[sandbox]\nmemory = 1073741824\ncpus = 0.5\ncpu_shares = 256\npids = 2048\nnetwork = false\n",
        )
        .unwrap();
        assert_eq!(
            f,
            FileSettings {
                memory: Some(Limit(Some(1 << 30))),
                cpus: Some(Limit(Some(0.5))),
                cpu_shares: Some(Limit(Some(256))),
                pids: Some(Limit(Some(2048))),
                network: Some(false),
            }
        );
        assert_eq!(parse("").unwrap(), FileSettings::default());
        assert_eq!(
            parse("[llm]\nmodel = \"x\"\n").unwrap(),
            FileSettings::default()
        );
    }

    #[test]
    fn a_malformed_file_names_the_key() {
        let err = |text: &str| parse(text).unwrap_err();
        let e = err("[sandbox]\nmemory = \"4x\"\n");
        assert!(
            e.starts_with("[sandbox] memory: ") && e.contains("unknown unit"),
            "{e}"
        );
        let e = err("[sandbox]\nmemory = true\n");
        assert!(e.starts_with("[sandbox] memory: expected"), "{e}");
        let e = err("[sandbox]\npids = -3\n");
        assert!(e.starts_with("[sandbox] pids: "), "{e}");
        let e = err("[sandbox]\ncpus = \"lots\"\n");
        assert!(e.starts_with("[sandbox] cpus: "), "{e}");
        let e = err("[sandbox]\nnetwork = \"yes\"\n");
        assert!(e.starts_with("[sandbox] network: expected"), "{e}");
        let e = err("[sandbox]\nmemroy = \"4g\"\n");
        assert!(e.contains("no key `memroy`") && e.contains("memory"), "{e}");
        let e = err("sandbox = 3\n");
        assert!(e.contains("must be a table"), "{e}");
        let e = err("[sandbox\nmemory = 1\n");
        assert!(e.contains("not valid TOML"), "{e}");
    }

    #[test]
    fn the_config_file_is_found_by_flag_then_variable_then_home() {
        let dir = tempfile::tempdir().unwrap();
        let flag = dir.path().join("flag.toml");
        let var = dir.path().join("var.toml");
        std::fs::write(&flag, "[sandbox]\npids = 10\n").unwrap();
        std::fs::write(&var, "[sandbox]\npids = 20\n").unwrap();
        let home = dir.path().join("config");
        std::fs::create_dir_all(home.join("r2e")).unwrap();
        let in_home = home.join("r2e/config.toml");
        std::fs::write(&in_home, "[sandbox]\npids = 30\n").unwrap();
        let find = |flag: Option<&Path>, env: Option<&Path>| {
            find_config(
                flag,
                env.map(|p| p.as_os_str().to_owned()),
                Some(home.clone()),
            )
            .unwrap()
        };
        assert_eq!(find(Some(&flag), Some(&var)), Some(flag.clone()));
        assert_eq!(find(None, Some(&var)), Some(var.clone()));
        assert_eq!(find(None, None), Some(in_home.clone()));
        // An empty variable counts as unset.
        let empty = find_config(None, Some("".into()), Some(home.clone())).unwrap();
        assert_eq!(empty, Some(in_home.clone()));
        // Settings from the file found, under the flags.
        let file = load(&find(None, None).unwrap()).unwrap();
        assert_eq!(args(&[]).resolve_with(&file).unwrap().limits.pids, Some(30));
        let s = args(&["--pids", "5"]).resolve_with(&file).unwrap();
        assert_eq!(s.limits.pids, Some(5));
        std::fs::remove_file(&in_home).unwrap();
        assert_eq!(find(None, None), None);
        assert_eq!(find_config(None, None, None).unwrap(), None);
        // A named file must exist; a malformed one names the file and key.
        let absent = dir.path().join("absent.toml");
        let e = find_config(Some(&absent), None, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("absent.toml") && e.contains("--config"), "{e}");
        let e = find_config(None, Some(absent.into_os_string()), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("absent.toml") && e.contains("$R2E_CONFIG"),
            "{e}"
        );
        std::fs::write(&flag, "[sandbox]\nmemory = \"lots\"\n").unwrap();
        let e = SandboxArgs {
            config: Some(flag.clone()),
            ..Default::default()
        }
        .resolve()
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("flag.toml") && e.contains("[sandbox] memory"),
            "{e}"
        );
        std::fs::write(&flag, "[sandbox]\npids = 7\n").unwrap();
        let s = SandboxArgs {
            config: Some(flag.clone()),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(s.limits.pids, Some(7));
    }
}
