//! The listener's sockets: TCP, or a unix socket (`--health.unix-socket`).
//!
//! A connection that arrived on the unix socket reports the peer `127.0.0.1:0`: like the Go
//! client's `LocalOnly` guard, the admin routes treat it as loopback (only processes allowed
//! by the socket file's permissions can connect at all).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
#[cfg(unix)]
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

#[cfg(unix)]
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

/// The peer a unix-socket connection reports: loopback.
pub(crate) const UNIX_PEER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

/// One accepted connection.
#[derive(Debug)]
pub enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
}

/// The listening socket.
#[derive(Debug)]
pub enum Acceptor {
    Tcp(TcpListener),
    #[cfg(unix)]
    Unix(UnixListener),
}

macro_rules! each {
    ($self:expr, $s:ident => $e:expr) => {
        match $self {
            Stream::Tcp($s) => $e,
            #[cfg(unix)]
            Stream::Unix($s) => $e,
        }
    };
}

impl Stream {
    pub fn set_nonblocking(&self, v: bool) -> io::Result<()> {
        each!(self, s => s.set_nonblocking(v))
    }
    pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        each!(self, s => s.set_read_timeout(d))
    }
    pub fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        each!(self, s => s.set_write_timeout(d))
    }
    /// Only TCP has Nagle's algorithm.
    pub fn set_nodelay(&self, v: bool) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_nodelay(v),
            #[cfg(unix)]
            Stream::Unix(_) => Ok(()),
        }
    }
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        each!(self, s => s.shutdown(how))
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        each!(self, s => s.read(buf))
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        each!(self, s => s.write(buf))
    }
    fn flush(&mut self) -> io::Result<()> {
        each!(self, s => s.flush())
    }
}

#[cfg(unix)]
impl AsFd for Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        each!(self, s => s.as_fd())
    }
}

#[cfg(unix)]
impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        each!(self, s => s.as_raw_fd())
    }
}

impl Acceptor {
    pub fn accept(&self) -> io::Result<(Stream, SocketAddr)> {
        match self {
            Acceptor::Tcp(l) => l.accept().map(|(s, a)| (Stream::Tcp(s), a)),
            #[cfg(unix)]
            Acceptor::Unix(l) => l.accept().map(|(s, _)| (Stream::Unix(s), UNIX_PEER)),
        }
    }
    pub fn set_nonblocking(&self, v: bool) -> io::Result<()> {
        match self {
            Acceptor::Tcp(l) => l.set_nonblocking(v),
            #[cfg(unix)]
            Acceptor::Unix(l) => l.set_nonblocking(v),
        }
    }
}

#[cfg(unix)]
impl AsFd for Acceptor {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Acceptor::Tcp(l) => l.as_fd(),
            Acceptor::Unix(l) => l.as_fd(),
        }
    }
}

#[cfg(unix)]
impl AsRawFd for Acceptor {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Acceptor::Tcp(l) => l.as_raw_fd(),
            Acceptor::Unix(l) => l.as_raw_fd(),
        }
    }
}
