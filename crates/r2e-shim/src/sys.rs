//! The few libc calls std does not wrap: process-group kill and the PID-1 reaper.
//! std already links libc, so these are plain declarations, not a dependency.

use std::process::Command;

const SIGKILL: i32 = 9;
const ECHILD: i32 = 10;

unsafe extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
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
    loop {
        let mut status = 0i32;
        // SAFETY: waitpid writes one i32 through a valid pointer.
        let pid = unsafe { waitpid(-1, &mut status, 0) };
        if pid == serving {
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
