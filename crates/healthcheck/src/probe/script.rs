//! External check scripts (keepalived `MISC_CHECK`).
//!
//! Exit 0 is up, 1 is down; with `dynamic_weight` (keepalived `misc_dynamic`) exit
//! 2-255 is up with weight `code - 2`, otherwise any non-zero code is down. The script
//! runs in its own process group; when it overruns the check timeout, or the check is
//! cancelled, the whole group is killed, so a script's children cannot outlive it.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};

use rustix::process::{Pid, Signal, kill_process_group};
use tokio::process::Command;

use super::Timeouts;
use super::connect::verdict;
use crate::error::Error;
use crate::status::{CheckResult, CheckStatus, WeightHint};

/// An external check program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptSpec {
    /// The program to run (must exist and be executable).
    pub path: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// keepalived `misc_dynamic`: exit codes 2-255 set the weight to `code - 2`.
    pub dynamic_weight: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct ScriptCheck {
    spec: ScriptSpec,
}

impl ScriptSpec {
    pub(crate) fn build(self) -> Result<ScriptCheck, Error> {
        let meta = std::fs::metadata(&self.path).map_err(|_| Error::ScriptNotFound {
            path: self.path.clone(),
        })?;
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
            return Err(Error::ScriptNotExecutable { path: self.path });
        }
        Ok(ScriptCheck { spec: self })
    }
}

/// Kills the script's process group when dropped, unless the script exited by itself:
/// covers the timeout path and a cancelled check alike.
struct GroupGuard {
    pgid: Option<Pid>,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid {
            // The group may already be gone; nothing to do then.
            let _ = kill_process_group(pgid, Signal::KILL);
        }
    }
}

impl ScriptCheck {
    pub(crate) async fn run(&self, target: SocketAddr, timeouts: Timeouts) -> CheckResult {
        let mut command = Command::new(&self.spec.path);
        command
            .args(&self.spec.args)
            .env("HAKIT_TARGET_ADDR", target.ip().to_string())
            .env("HAKIT_TARGET_PORT", target.port().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = match command.spawn() {
            Ok(c) => c,
            Err(e) => return verdict(CheckStatus::L7Rsp, format!("cannot start script: {e}")),
        };
        // With process_group(0) the child's pid is its group id.
        let mut guard = GroupGuard {
            pgid: child
                .id()
                .and_then(|id| i32::try_from(id).ok())
                .and_then(Pid::from_raw),
        };
        match tokio::time::timeout(timeouts.check, child.wait()).await {
            Err(_) => {
                drop(guard);
                // Reap the killed child so it does not linger as a zombie.
                let _ = child.wait().await;
                verdict(
                    CheckStatus::L7Tout,
                    "script timed out; process group killed",
                )
            }
            Ok(Err(e)) => verdict(CheckStatus::L7Rsp, format!("waiting for script: {e}")),
            Ok(Ok(status)) => {
                guard.pgid = None;
                self.judge(status)
            }
        }
    }

    fn judge(&self, status: ExitStatus) -> CheckResult {
        match status.code() {
            None => verdict(CheckStatus::L7Sts, "script killed by a signal"),
            Some(0) => verdict(CheckStatus::L7Ok, "script exit 0"),
            Some(code @ 2..=255) if self.spec.dynamic_weight => {
                let mut r = verdict(CheckStatus::L7Ok, format!("script exit {code}"));
                r.weight = Some(WeightHint::Absolute(code as u32 - 2));
                r
            }
            Some(code) => verdict(CheckStatus::L7Sts, format!("script exit {code}")),
        }
    }
}
