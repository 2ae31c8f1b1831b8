//! # tunnel-blocking
//!
//! Drives the sans-IO `tunnel-core` engine with ureq and std threads: one driver thread owns
//! the engine; a poller thread, a small poster pool and a bounded MCP worker pool do the
//! I/O and report back over one channel. The admin server reads published snapshots and
//! never blocks the driver.
//!
//! ```no_run
//! use tunnel_blocking::{HttpTarget, Runtime, RuntimeOptions};
//! use tunnel_core::channel::ChannelName;
//! use tunnel_core::engine::EngineConfig;
//! let cfg = EngineConfig::new("https://api.openai.com".parse().unwrap(), "tunnel_x", "key");
//! let opts = RuntimeOptions {
//!     mcp_targets: vec![HttpTarget::new(ChannelName::main(), "http://127.0.0.1:3000/mcp")],
//!     ..RuntimeOptions::default()
//! };
//! let rt = Runtime::start(cfg, opts).unwrap();
//! let handle = rt.handle(); // give to the signal handler: handle.begin_drain()
//! # handle.begin_drain();
//! rt.join().unwrap();
//! ```
// `deny`, not `forbid`: orphan protection for stdio children needs three libc calls, all in
// `stdio/sys.rs` behind the crate's single `#[allow(unsafe_code)]`.
#![deny(unsafe_code)]

mod binding;
mod control_plane;
mod driver;
mod egress;
pub mod entropy;
pub mod errors;
pub mod events;
mod forward;
pub mod http_timing;
mod lifetime;
mod mcp_http;
mod options;
mod pool;
mod probe;
mod resolver;
mod runtime;
mod status;
mod stdio;
mod tls;
#[cfg(unix)]
mod unix;

pub use binding::{McpBinding, McpSink};
pub use options::{
    ClientCertPaths, ExplicitProxy, HttpTarget, Observer, ProxyEnv, RuntimeOptions, StartError,
    StdioCommandError, StdioOptions, StdioTarget, TlsOptions,
};
pub use probe::reachable;
pub use runtime::{Finished, Runtime, RuntimeHandle};
pub use status::Snapshot;
/// Linux's death signal for a child command, for hosts that spawn MCP children through
/// another driver (`tunnel-smol`'s `child_setup`): the same hook this adapter uses.
#[cfg(target_os = "linux")]
pub use stdio::sys::die_with_parent;
pub use tls::{BundleCert, TrustReport};
pub use tunnel_core::engine::Stats;
pub use tunnel_core::trust::CertInfo;

/// The agent configurations `run` builds (trust store, control-plane and MCP agents), for the
/// CLI's own requests: `doctor` and `admin` must trust, proxy and authenticate exactly as `run`.
pub mod agents {
    pub use crate::egress::{control_plane_agent, mcp_agents};
    pub use crate::resolver::agent;
    pub use crate::runtime::harpoon_agent;
    #[cfg(unix)]
    pub use crate::runtime::harpoon_unix_agent_set;
    pub use crate::tls::{control_plane_config, load_client_cert, mcp_config, Trust};
    #[cfg(unix)]
    pub use crate::unix::UnixAgents;
}
