//! HTTP over a unix socket (`unix-socket=` MCP bindings): a ureq connector that dials the
//! socket whatever the URL's host, so the URL still gives the scheme, `Host` header and
//! path. TLS over the socket (an `https` URL) is added by the rustls connector chained
//! after this one.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, ShutdownHandle,
    Transport,
};

/// Dials one unix socket.
#[derive(Debug, Clone)]
pub(crate) struct UnixConnector {
    pub path: PathBuf,
}

/// The unix socket needs no name resolution: one placeholder address keeps ureq's
/// connection logic (which expects at least one) happy; nothing dials it.
#[derive(Debug, Default)]
pub(crate) struct NoLookup;

impl Resolver for NoLookup {
    fn resolve(
        &self,
        _uri: &Uri,
        _config: &Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let mut out = self.empty();
        out.push(SocketAddr::from(([127, 0, 0, 1], 0)));
        Ok(out)
    }
}

struct Socket(UnixStream);

impl ShutdownHandle for Socket {
    fn shutdown(&self) {
        let _ = self.0.shutdown(Shutdown::Both);
    }
}

impl<In: Transport> Connector<In> for UnixConnector {
    type Out = Either<In, UnixTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        if let Some(t) = chained {
            return Ok(Some(Either::A(t)));
        }
        let stream = UnixStream::connect(&self.path).map_err(|e| {
            ureq::Error::Io(io::Error::new(
                e.kind(),
                format!("unix socket {}: {e}", self.path.display()),
            ))
        })?;
        let socket = Arc::new(Socket(stream));
        (details.register_shutdown)(Arc::downgrade(&socket) as _)?;
        let config = details.config;
        Ok(Some(Either::B(UnixTransport {
            socket,
            buffers: LazyBuffers::new(config.input_buffer_size(), config.output_buffer_size()),
        })))
    }
}

pub(crate) struct UnixTransport {
    socket: Arc<Socket>,
    buffers: LazyBuffers,
}

impl std::fmt::Debug for UnixTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnixTransport").finish()
    }
}

fn timeout_of(t: NextTimeout) -> Option<Duration> {
    t.not_zero().map(|d| *d)
}

fn io_err(e: io::Error, reason: ureq::Timeout) -> ureq::Error {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ureq::Error::Timeout(reason),
        _ => ureq::Error::Io(e),
    }
}

impl Transport for UnixTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let timeout = timeout.for_write();
        let s = &self.socket.0;
        s.set_write_timeout(timeout_of(timeout))?;
        let out = &self.buffers.output()[..amount];
        (&*s).write_all(out).map_err(|e| io_err(e, timeout.reason))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let timeout = timeout.for_read();
        let s = &self.socket.0;
        s.set_read_timeout(timeout_of(timeout))?;
        let buf = self.buffers.input_append_buf();
        let n = loop {
            match (&*s).read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r.map_err(|e| io_err(e, timeout.reason))?,
            }
        };
        self.buffers.input_appended(n);
        Ok(n > 0)
    }

    fn is_open(&mut self) -> bool {
        let s = &self.socket.0;
        if s.set_nonblocking(true).is_err() {
            return false;
        }
        let mut b = [0u8; 1];
        let open = matches!((&*s).read(&mut b), Err(e) if e.kind() == io::ErrorKind::WouldBlock);
        open && s.set_nonblocking(false).is_ok()
    }
}

/// Agents that dial unix sockets, one per socket path and kept (Go caches one transport
/// per socket path): a request the engine makes to a target registered with
/// `unix-socket=` (`McpWork::unix_socket`). Never through a proxy.
pub struct UnixAgents {
    config: Config,
    agents: std::sync::Mutex<std::collections::HashMap<PathBuf, ureq::Agent>>,
}

impl std::fmt::Debug for UnixAgents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UnixAgents")
    }
}

impl UnixAgents {
    /// `config` must carry no proxy.
    pub(crate) fn new(config: Config) -> UnixAgents {
        UnixAgents {
            config,
            agents: std::sync::Mutex::default(),
        }
    }

    /// The agent of the socket at `path`.
    pub fn get(&self, path: &std::path::Path) -> ureq::Agent {
        let mut agents = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        agents
            .entry(path.to_path_buf())
            .or_insert_with(|| {
                crate::egress::agent(
                    |_| self.config.clone(),
                    &crate::egress::Way::Unix(path.to_path_buf()),
                )
            })
            .clone()
    }

    /// How many sockets have an agent.
    pub fn len(&self) -> usize {
        self.agents.lock().map(|a| a.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Interrupts the reads of every agent's connections.
    pub(crate) fn shutdown(&self) {
        if let Ok(agents) = self.agents.lock() {
            for a in agents.values() {
                a.clone().shutdown();
            }
        }
    }
}
