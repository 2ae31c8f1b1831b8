//! The developer tools `run` can embed: the demo MCP server (`--embedded-mcp-stub`) and the
//! trace recorder (`--record-trace`). Both come from `tunnel-conformance` (with the vendored
//! tiny_http), linked only with the default `dev-tools` feature; a product build without it
//! (`cargo build --no-default-features -p tunnel-client`) refuses these flags with a message
//! that says so, instead of carrying the emulator and the test servers in the binary.

use std::sync::Arc;

use super::StartupError;
use crate::config::RunConfig;

/// What keeps the embedded demo server alive while `run` runs (dropping it stops the server).
pub(super) type EmbeddedStub = Box<dyn std::any::Any>;

#[cfg(feature = "dev-tools")]
pub(super) use with_tools::{record_trace, start_embedded_stub};
#[cfg(not(feature = "dev-tools"))]
pub(super) use without_tools::{record_trace, start_embedded_stub};

#[cfg(feature = "dev-tools")]
mod with_tools {
    use super::*;
    use crate::config::HttpBinding;
    use crate::daemon::health;
    use tunnel_conformance::mcp_stub::{McpStub, StubConfig};

    pub(in crate::daemon) fn start_embedded_stub(
        c: &mut RunConfig,
    ) -> Result<EmbeddedStub, StartupError> {
        stub(c).map(|s| Box::new(s) as EmbeddedStub)
    }

    /// Starts the demo MCP server and binds channel `main` to it, overriding env/YAML
    /// bindings of `main` (the Go client does the same: the stub works by setting the flag).
    fn stub(c: &mut RunConfig) -> Result<McpStub, StartupError> {
        let e = &c.embedded_mcp;
        let addr = health::resolve_listen_addr(&e.listen_addr).map_err(|err| {
            StartupError::Config(format!(
                "--embedded-mcp-listen-addr {:?}: {err}; fix: use host:port, e.g. 127.0.0.1:0",
                e.listen_addr
            ))
        })?;
        let stub = McpStub::start(StubConfig {
            listen_addr: addr,
            server_name: e.server_name.clone(),
            server_version: e.server_version.clone(),
            ..StubConfig::default()
        })
        .map_err(|err| {
            StartupError::Io(format!(
                "--embedded-mcp-listen-addr {}: cannot listen: {err}; fix: choose a free port or 127.0.0.1:0",
                e.listen_addr
            ))
        })?;
        c.mcp.server_urls.retain(|b| b.channel != "main");
        c.mcp.commands.retain(|b| b.channel != "main");
        c.mcp.server_urls.push(HttpBinding {
            channel: "main".into(),
            url: stub.url(),
            unix_socket: None,
            http_proxy: None,
            client_cert: None,
            client_key: None,
        });
        let base = stub.base_url();
        println!("embedded demo MCP server (channel main):");
        println!("  MCP URL:                   {}", stub.url());
        println!("  protected-resource metadata: {base}/.well-known/oauth-protected-resource/mcp");
        println!("  authorization-server metadata: {base}/.well-known/oauth-authorization-server");
        println!("  (health and metrics are served separately, on --health.listen-addr)");
        println!("  try: \"List the tools of the demo server\", \"Echo 'hello tunnel'\", \"Uppercase 'quiet please'\"");
        Ok(stub)
    }

    /// `--record-trace FILE`: a redacted conformance trace of the session (docs/traces.md),
    /// written as exchanges finish; the file is created 0600 since it holds payloads.
    pub(in crate::daemon) fn record_trace(
        path: &std::path::Path,
        engine: &tunnel_core::engine::EngineConfig,
        api_key: &str,
    ) -> Result<Arc<dyn tunnel_core::tap::Tap>, StartupError> {
        let cant = |e: std::io::Error| {
            StartupError::Io(format!(
                "--record-trace {}: cannot write: {e}; fix: choose a writable path",
                path.display()
            ))
        };
        let mut open = std::fs::OpenOptions::new();
        open.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
        let file = open.open(path).map_err(cant)?;
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("recorded_session");
        let recorder = tunnel_conformance::trace::record::Recorder::new(
            Box::new(std::io::BufWriter::new(file)),
            name,
            engine,
            api_key,
        )
        .map_err(cant)?;
        log::info!(
            "recording a redacted trace of this session to {}",
            path.display()
        );
        Ok(Arc::new(recorder))
    }
}

#[cfg(not(feature = "dev-tools"))]
mod without_tools {
    use super::*;

    fn missing(flag: &str) -> StartupError {
        StartupError::Config(format!(
            "{flag} is not available in this build of tunnel-client (built without the \
             `dev-tools` feature); fix: remove {flag}, or use a build with default features"
        ))
    }

    pub(in crate::daemon) fn start_embedded_stub(
        _c: &mut RunConfig,
    ) -> Result<EmbeddedStub, StartupError> {
        Err(missing("--embedded-mcp-stub"))
    }

    pub(in crate::daemon) fn record_trace(
        _path: &std::path::Path,
        _engine: &tunnel_core::engine::EngineConfig,
        _api_key: &str,
    ) -> Result<Arc<dyn tunnel_core::tap::Tap>, StartupError> {
        Err(missing("--record-trace"))
    }
}
