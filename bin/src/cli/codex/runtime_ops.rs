//! The narrow interface between the plugin's MCP server (and `codex diagnose`) and the
//! `runtimes` command tree: one call per operation, Go's flag spelling in, the command's
//! `--json` document out.
//!
//! Interim wiring: the `runtimes` tree is built in a parallel branch. Until it is merged,
//! [`SelfExec`] runs this same binary as `tunnel-client runtimes <op> … --json` (what the Go
//! plugin's Node server did); a build without that tree answers
//! "runtimes not available in this build". Wiring it in process is replacing `default_ops`.

use std::process::{Command, Stdio};

use serde_json::Value;

pub trait RuntimeOps {
    /// `op` is `create|connect|list|status|stop`; `args` are its flags (without `--json`).
    fn call(&self, op: &str, args: &[String]) -> Result<Value, String>;
}

pub const UNAVAILABLE: &str = "runtimes not available in this build";

pub struct SelfExec;

impl RuntimeOps for SelfExec {
    fn call(&self, op: &str, args: &[String]) -> Result<Value, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find tunnel-client: {e}"))?;
        let out = Command::new(exe)
            .arg("runtimes")
            .arg(op)
            .args(args)
            .arg("--json")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("run tunnel-client runtimes {op}: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains("unknown command \"runtimes\"") {
            return Err(format!("{UNAVAILABLE} (tunnel-client runtimes {op})"));
        }
        let doc: Option<Value> = serde_json::from_str(stdout.trim()).ok();
        match (out.status.success(), doc) {
            (true, Some(v)) => Ok(v),
            (true, None) => Err(format!("tunnel-client runtimes {op} printed no JSON")),
            (false, doc) => {
                let msg = stderr.trim();
                let msg = if msg.is_empty() { stdout.trim() } else { msg };
                let msg = msg.strip_prefix("error: ").unwrap_or(msg);
                Err(match doc {
                    Some(d) => format!("{msg}\n{d}"),
                    None if msg.is_empty() => {
                        format!("tunnel-client runtimes {op} failed ({})", out.status)
                    }
                    None => msg.to_string(),
                })
            }
        }
    }
}

pub fn default_ops() -> Box<dyn RuntimeOps> {
    Box::new(SelfExec)
}
