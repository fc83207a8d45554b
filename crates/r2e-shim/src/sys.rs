//! The few libc calls std does not wrap: process-group kill and the PID-1 reaper.
//! std already links libc, so these are plain declarations, not a dependency.

use std::process::Command;

const SIGKILL: i32 = 9;
const ECHILD: i32 = 10;

const SYS_PIDFD_OPEN: i64 = 434;
const POLLIN: i16 = 0x001;
const POLLERR: i16 = 0x008;
const POLLHUP: i16 = 0x010;
const EINTR: i32 = 4;

#[repr(C)]
struct PollFd {
    fd: i32,
    events: i16,
    revents: i16,
}

unsafe extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
    fn poll(fds: *mut PollFd, nfds: u64, timeout: i32) -> i32;
    fn syscall(num: i64, ...) -> i64;
}

/// A file descriptor that becomes readable when process `pid` exits
/// (Linux ≥ 5.3), or `None` where the kernel has no pidfd_open.
pub fn pidfd_open(pid: u32) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { syscall(SYS_PIDFD_OPEN, pid as i64, 0i64) };
    // SAFETY: a non-negative return is a fresh fd that we now own.
    (fd >= 0).then(|| unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

/// Waits until one of `fds` is readable or closed, or `timeout` passes.
/// Returns, per fd, whether it is ready. Negative fds are ignored.
pub fn wait_readable(fds: &[i32], timeout: Option<std::time::Duration>) -> Vec<bool> {
    let mut polls: Vec<PollFd> = fds
        .iter()
        .map(|&fd| PollFd {
            fd,
            events: POLLIN,
            revents: 0,
        })
        .collect();
    let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as i32);
    loop {
        // SAFETY: `polls` is a valid array of pollfd structs for the call's duration.
        let n = unsafe { poll(polls.as_mut_ptr(), polls.len() as u64, ms) };
        if n >= 0 || std::io::Error::last_os_error().raw_os_error() != Some(EINTR) {
            break;
        }
    }
    polls
        .iter()
        .map(|p| p.revents & (POLLIN | POLLHUP | POLLERR) != 0)
        .collect()
}

/// Sends SIGKILL to every process in the group `pgid` (and to the leader itself,
/// in case it left the group).
pub fn kill_group(pgid: u32) {
    // SAFETY: kill(2) takes plain integers and has no memory effects.
    unsafe {
        kill(-(pgid as i32), SIGKILL);
        kill(pgid as i32, SIGKILL);
    }
}

/// Acts as init: starts the serving shim as a child, reaps every process that
/// ends up parented to PID 1, and returns the serving child's exit code.
pub fn run_as_init(role_env: &str) -> i32 {
    let exe = std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into());
    let child = match Command::new(exe).env(role_env, "serve").spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("r2e-shim: cannot start the serving process: {e}");
            return 1;
        }
    };
    let serving = child.id() as i32;
    let oom_before = crate::exec::oom_kill_count();
    loop {
        let mut status = 0i32;
        // SAFETY: waitpid writes one i32 through a valid pointer.
        let pid = unsafe { waitpid(-1, &mut status, 0) };
        if pid == serving {
            let signal = status & 0x7f;
            if signal != 0 {
                // Say why on stderr: the host reads it when the container
                // (and the engine's OOMKilled flag) is already gone.
                let oom_after = crate::exec::oom_kill_count();
                if matches!((oom_before, oom_after), (Some(a), Some(b)) if b > a) {
                    eprintln!("r2e-shim: {}", r2e_shim::SERVER_OOM_NOTE);
                } else {
                    eprintln!("r2e-shim: the serving process was killed by signal {signal}");
                }
            }
            return decode_status(status);
        }
        if pid < 0 && std::io::Error::last_os_error().raw_os_error() == Some(ECHILD) {
            return 0;
        }
    }
}

/// Decodes a raw wait status: exit code, or 128 + signal.
fn decode_status(status: i32) -> i32 {
    if status & 0x7f == 0 {
        (status >> 8) & 0xff
    } else {
        128 + (status & 0x7f)
    }
}
