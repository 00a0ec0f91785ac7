//! Child processes that do not outlive the tabscope that started them: a
//! replaying bridge, a launched browser. Killed with SIGKILL, a parent runs
//! no clean-up, so the kernel has to do it: on Linux the child asks for
//! SIGTERM when its parent dies (`PR_SET_PDEATHSIG`), and handles it as a
//! clean stop.

use std::process::Command;

/// Makes `cmd`'s process receive SIGTERM when this process dies. The
/// signal follows the thread that spawns the child: spawn from a thread
/// that lives as long as the process (the main thread).
pub fn die_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl, getppid and _exit are async-signal-safe, as code
        // between fork and exec must be.
        let parent = std::process::id() as libc::pid_t;
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died before the prctl: then no signal comes.
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}
