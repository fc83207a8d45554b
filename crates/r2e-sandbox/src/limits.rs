//! Resource limits of a sandbox: memory, CPU and process count.
//!
//! The defaults ([`Limits::default`]) are chosen so that a host with 2 cores
//! and 24 GiB survives 64 sandboxes at once, each running whatever a model or
//! a test suite does: one runaway sandbox (a fork bomb, a test that allocates
//! without bound) is stopped at its own limits instead of taking the host,
//! the Docker daemon and r2e itself down.

use std::fmt;

/// Docker refuses memory limits below 6 MiB.
const MIN_MEMORY: u64 = 6 << 20;

/// Resource limits applied to a sandbox's container (`None`: unlimited).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Memory limit in bytes. Swap is limited to the same amount, so that a
    /// sandbox over its limit is killed (and reported out of memory) instead
    /// of swapping.
    pub memory_bytes: Option<u64>,
    /// Hard CPU quota in cores (Docker's `NanoCpus`; 1.5 = one and a half cores).
    pub cpus: Option<f64>,
    /// Relative CPU weight under contention (Docker's `CpuShares`; the
    /// engine's default is 1024). Never caps an idle host.
    pub cpu_shares: Option<u32>,
    /// Most processes and threads alive in the sandbox at once.
    pub pids: Option<u32>,
}

impl Limits {
    /// Default memory limit: 4 GiB.
    pub const DEFAULT_MEMORY_BYTES: u64 = 4 << 30;
    /// Default process limit: 1024 (a fork bomb stops there).
    pub const DEFAULT_PIDS: u32 = 1024;
    /// Default CPU weight: 512, half the engine's default of 1024, so that
    /// r2e, dockerd and the rest of the host stay responsive when every
    /// sandbox is busy.
    pub const DEFAULT_CPU_SHARES: u32 = 512;

    /// No limits at all (what Docker does without options).
    pub const fn none() -> Self {
        Limits {
            memory_bytes: None,
            cpus: None,
            cpu_shares: None,
            pids: None,
        }
    }

    /// The memory limit as the kill note shows it: `limit 4 GiB`, or
    /// `no memory limit`.
    pub fn memory_text(&self) -> String {
        match self.memory_bytes {
            Some(b) => format!("limit {}", format_size(b)),
            None => "no memory limit".into(),
        }
    }

    /// Checks values the engine would refuse (a memory limit under 6 MiB,
    /// a CPU quota that is not a positive number, a zero process limit).
    pub fn validate(&self) -> Result<(), LimitError> {
        if let Some(b) = self.memory_bytes
            && b < MIN_MEMORY
        {
            return Err(LimitError::new(
                "memory",
                format_size(b),
                "Docker needs at least 6 MiB (use `none` for no limit)",
            ));
        }
        if let Some(c) = self.cpus
            && !(c.is_finite() && c > 0.0)
        {
            return Err(LimitError::new(
                "cpus",
                c.to_string(),
                "expected a positive number of cores",
            ));
        }
        if let Some(s) = self.cpu_shares
            && s < 2
        {
            return Err(LimitError::new(
                "cpu-shares",
                s.to_string(),
                "Docker needs at least 2 (the default weight is 1024)",
            ));
        }
        if self.pids == Some(0) {
            return Err(LimitError::new(
                "pids",
                "0",
                "expected at least 1 (use `none` for no limit)",
            ));
        }
        Ok(())
    }
}

impl Default for Limits {
    /// 4 GiB of memory (swap included), at most 1024 processes, CPU weight
    /// 512, no hard CPU quota.
    fn default() -> Self {
        Limits {
            memory_bytes: Some(Self::DEFAULT_MEMORY_BYTES),
            cpus: None,
            cpu_shares: Some(Self::DEFAULT_CPU_SHARES),
            pids: Some(Self::DEFAULT_PIDS),
        }
    }
}

/// A limit value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}: {why}")]
pub struct LimitError {
    /// Which limit (`memory`, `cpus`, `cpu-shares`, `pids`).
    pub what: String,
    /// The value given.
    pub value: String,
    /// What is wrong and what is accepted.
    pub why: String,
}

impl LimitError {
    fn new(what: &str, value: impl Into<String>, why: &str) -> Self {
        LimitError {
            what: what.into(),
            value: value.into(),
            why: why.into(),
        }
    }
}

const SIZE_HELP: &str =
    "expected bytes or a size like 4g, 256m, 512MiB, 1.5G (binary units), or `none`";

/// Parses a memory size: plain bytes (`1073741824`), a number with a binary
/// unit (`4g`, `256m`, `512MiB`, `1.5G`, `64k`; `b`, `k`, `m`, `g`, `t` with an
/// optional `b`/`ib`, any case; `1g` = 2³⁰ bytes as in Docker), or `none` /
/// `unlimited` for no limit (`Ok(None)`).
pub fn parse_memory(text: &str) -> Result<Option<u64>, LimitError> {
    let s = text.trim();
    if s.eq_ignore_ascii_case("none") || s.eq_ignore_ascii_case("unlimited") {
        return Ok(None);
    }
    let err = |why: &str| LimitError::new("memory", text, why);
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = (&s[..split], s[split..].trim());
    if number.is_empty() {
        return Err(err(SIZE_HELP));
    }
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(err(&format!("unknown unit {unit:?}; {SIZE_HELP}"))),
    };
    let bytes = if number.contains('.') {
        let v: f64 = number.parse().map_err(|_| err(SIZE_HELP))?;
        let b = v * (1u64 << shift) as f64;
        if !b.is_finite() || b >= u64::MAX as f64 {
            return Err(err("too large"));
        }
        b.round() as u64
    } else {
        let v: u64 = number.parse().map_err(|_| err("too large"))?;
        v.checked_mul(1 << shift).ok_or_else(|| err("too large"))?
    };
    if bytes == 0 {
        return Err(err("a memory limit of 0 is no limit: write `none`"));
    }
    if bytes < MIN_MEMORY {
        return Err(err("Docker needs at least 6 MiB"));
    }
    Ok(Some(bytes))
}

/// Parses a CPU quota in cores (`2`, `0.5`), or `none` for no quota.
pub fn parse_cpus(text: &str) -> Result<Option<f64>, LimitError> {
    let s = text.trim();
    if s.eq_ignore_ascii_case("none") || s.eq_ignore_ascii_case("unlimited") {
        return Ok(None);
    }
    match s.parse::<f64>() {
        Ok(c) if c.is_finite() && c > 0.0 && c <= 1e6 => Ok(Some(c)),
        _ => Err(LimitError::new(
            "cpus",
            text,
            "expected a positive number of cores (0.5, 2) or `none`",
        )),
    }
}

/// Parses a count (a process limit, a CPU weight), or `none` for no limit.
pub fn parse_count(what: &str, text: &str) -> Result<Option<u32>, LimitError> {
    let s = text.trim();
    if s.eq_ignore_ascii_case("none") || s.eq_ignore_ascii_case("unlimited") {
        return Ok(None);
    }
    match s.parse::<u32>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => Err(LimitError::new(
            what,
            text,
            "expected a positive whole number or `none`",
        )),
    }
}

/// Bytes in the largest binary unit that fits: `4 GiB`, `256 MiB`,
/// `1.5 GiB`, `100 B`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [(&str, u32); 4] = [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)];
    for (name, shift) in UNITS {
        let unit = 1u64 << shift;
        if bytes >= unit {
            if bytes.is_multiple_of(unit) {
                return format!("{} {name}", bytes / unit);
            }
            let v = bytes as f64 / unit as f64;
            let text = format!("{v:.2}");
            let text = text.trim_end_matches('0').trim_end_matches('.');
            return format!("{text} {name}");
        }
    }
    format!("{bytes} B")
}

impl fmt::Display for Limits {
    /// `memory 4 GiB, cpus none, cpu-shares 512, pids 1024`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let or_none = |v: Option<String>| v.unwrap_or_else(|| "none".into());
        write!(
            f,
            "memory {}, cpus {}, cpu-shares {}, pids {}",
            or_none(self.memory_bytes.map(format_size)),
            or_none(self.cpus.map(|c| c.to_string())),
            or_none(self.cpu_shares.map(|s| s.to_string())),
            or_none(self.pids.map(|p| p.to_string())),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_binary_units() {
        let ok = |s: &str| parse_memory(s).unwrap();
        assert_eq!(ok("4g"), Some(4 << 30));
        assert_eq!(ok("4G"), Some(4 << 30));
        assert_eq!(ok("256m"), Some(256 << 20));
        assert_eq!(ok("512MiB"), Some(512 << 20));
        assert_eq!(ok("512 MB"), Some(512 << 20));
        assert_eq!(ok("1.5G"), Some(3 << 29));
        assert_eq!(ok("8192k"), Some(8 << 20));
        assert_eq!(ok("1t"), Some(1 << 40));
        assert_eq!(ok("1073741824"), Some(1 << 30));
        assert_eq!(ok("1073741824b"), Some(1 << 30));
        assert_eq!(ok("none"), None);
        assert_eq!(ok("None"), None);
        assert_eq!(ok("unlimited"), None);
    }

    #[test]
    fn bad_sizes_say_what_is_accepted() {
        for bad in [
            "", "g", "4x", "4 gigs", "-1g", "1.2.3g", "abc", "0", "1m", "4096",
        ] {
            let e = parse_memory(bad).unwrap_err();
            assert_eq!(e.what, "memory");
            assert_eq!(e.value, bad);
            let msg = e.to_string();
            assert!(msg.starts_with("invalid memory"), "{msg}");
        }
        assert!(
            parse_memory("4x")
                .unwrap_err()
                .to_string()
                .contains("unknown unit \"x\"")
        );
        assert!(parse_memory("0").unwrap_err().to_string().contains("none"));
        assert!(
            parse_memory("99999999999999999999")
                .unwrap_err()
                .to_string()
                .contains("too large")
        );
        assert!(
            parse_memory("99999999t")
                .unwrap_err()
                .to_string()
                .contains("too large")
        );
    }

    #[test]
    fn cpus_and_counts() {
        assert_eq!(parse_cpus("2").unwrap(), Some(2.0));
        assert_eq!(parse_cpus("0.5").unwrap(), Some(0.5));
        assert_eq!(parse_cpus("none").unwrap(), None);
        for bad in ["0", "-1", "nan", "inf", "two"] {
            assert!(parse_cpus(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_count("pids", "1024").unwrap(), Some(1024));
        assert_eq!(parse_count("pids", "none").unwrap(), None);
        let e = parse_count("pids", "0").unwrap_err();
        assert_eq!(e.what, "pids");
        assert!(parse_count("pids", "-5").is_err());
        assert!(parse_count("pids", "1.5").is_err());
    }

    #[test]
    fn sizes_format_in_the_largest_unit() {
        assert_eq!(format_size(4 << 30), "4 GiB");
        assert_eq!(format_size(256 << 20), "256 MiB");
        assert_eq!(format_size(3 << 29), "1.5 GiB");
        assert_eq!(format_size(1000), "1000 B");
        assert_eq!(format_size(1536), "1.5 KiB");
        assert_eq!(format_size((1 << 30) + 1), "1 GiB");
    }

    #[test]
    fn defaults_and_none() {
        let d = Limits::default();
        assert_eq!(d.memory_bytes, Some(4 << 30));
        assert_eq!(d.pids, Some(1024));
        assert_eq!(d.cpu_shares, Some(512));
        assert_eq!(d.cpus, None);
        assert_eq!(d.memory_text(), "limit 4 GiB");
        assert_eq!(Limits::none().memory_text(), "no memory limit");
        assert_eq!(
            d.to_string(),
            "memory 4 GiB, cpus none, cpu-shares 512, pids 1024"
        );
        assert!(d.validate().is_ok());
        assert!(Limits::none().validate().is_ok());
        let tiny = Limits {
            memory_bytes: Some(1 << 20),
            ..Limits::none()
        };
        assert!(tiny.validate().unwrap_err().to_string().contains("6 MiB"));
    }
}
