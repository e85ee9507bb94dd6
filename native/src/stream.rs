//! [`Stream`]: what the blocking driver needs from a byte stream, so that a
//! [`Connection`](crate::Connection) can run over any `Read + Write` the
//! caller already holds ([`crate::accept`], [`crate::client`]), not only
//! the sockets `connect` and `serve` make.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// A byte stream a blocking [`Connection`](crate::Connection) runs over:
/// `Read + Write`, plus what the driver can do with a socket, each
/// optional.
///
/// `TcpStream` (and `UnixStream` on Unix) implement every method. Any other
/// stream (a TLS stream set up by hand, a test pipe) needs only
/// `impl hybi::Stream for MyStream {}`, and then runs with what the
/// defaults mean:
///
/// - **No second handle** ([`try_clone_stream`](Self::try_clone_stream)
///   gives `None`): reading and writing take turns on one lock, so while a
///   thread is blocked in `recv`, a send from another thread waits until
///   something arrives. Use such a connection from one thread (receive,
///   then answer), or implement `try_clone_stream`.
/// - **No read timeout**: the core's deadlines (idle, keepalive, close) are
///   checked when input arrives and before each read, not while a read
///   waits; [`Connection::set_read_timeout`](crate::Connection::set_read_timeout)
///   has no effect, and a peer that goes silent holds `recv` until the
///   stream itself ends.
/// - **No shutdown**: a connection that ends leaves the stream open until
///   the last handle is dropped, and a thread blocked in a read is not
///   woken by a close from another thread.
/// - **No address**: `peer_addr` and `local_addr` report `0.0.0.0:0`.
pub trait Stream: Read + Write + Send + 'static {
    /// Another handle to the same stream, for the thread that writes while
    /// another reads. `None` (the default): one handle for both.
    fn try_clone_stream(&self) -> io::Result<Option<Box<dyn Stream>>> {
        Ok(None)
    }

    /// Makes reads fail with `WouldBlock` or `TimedOut` after `timeout`.
    /// Default: unsupported.
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        let _ = timeout;
        Err(io::ErrorKind::Unsupported.into())
    }

    /// Makes writes fail after `timeout`. Default: unsupported.
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        let _ = timeout;
        Err(io::ErrorKind::Unsupported.into())
    }

    /// Makes reads and writes return `WouldBlock` instead of waiting (used
    /// only when the last handle of an open connection is dropped, to send
    /// the going-away close without blocking). Default: unsupported (no
    /// close is sent then).
    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        let _ = nonblocking;
        Err(io::ErrorKind::Unsupported.into())
    }

    /// Ends one or both directions; blocked reads and writes return.
    /// Default: does nothing.
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let _ = how;
        Ok(())
    }

    /// The peer's address. Default: unsupported.
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        Err(io::ErrorKind::Unsupported.into())
    }

    /// Our end's address. Default: unsupported.
    fn local_addr(&self) -> io::Result<SocketAddr> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

impl Stream for TcpStream {
    fn try_clone_stream(&self) -> io::Result<Option<Box<dyn Stream>>> {
        Ok(Some(Box::new(self.try_clone()?)))
    }
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, timeout)
    }
    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        TcpStream::set_nonblocking(self, nonblocking)
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        TcpStream::shutdown(self, how)
    }
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        TcpStream::peer_addr(self)
    }
    fn local_addr(&self) -> io::Result<SocketAddr> {
        TcpStream::local_addr(self)
    }
}

#[cfg(unix)]
impl Stream for std::os::unix::net::UnixStream {
    fn try_clone_stream(&self) -> io::Result<Option<Box<dyn Stream>>> {
        Ok(Some(Box::new(self.try_clone()?)))
    }
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_read_timeout(self, timeout)
    }
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_write_timeout(self, timeout)
    }
    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_nonblocking(self, nonblocking)
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        std::os::unix::net::UnixStream::shutdown(self, how)
    }
}

/// Handles to a stream, at least two (the reader's, the writer's, and one
/// for control): clones of the stream where it gives them, otherwise
/// handles to one [`Turns`].
pub(crate) fn handles(stream: Box<dyn Stream>) -> io::Result<[Box<dyn Stream>; 3]> {
    match stream.try_clone_stream()? {
        Some(write) => {
            let control = stream.try_clone_stream()?.expect("a stream that cloned once clones again");
            Ok([stream, write, control])
        }
        None => {
            let turns = Turns(Arc::new(Mutex::new(stream)));
            Ok([Box::new(turns.clone()), Box::new(turns.clone()), Box::new(turns)])
        }
    }
}

/// One stream that cannot be cloned, shared by the reader, the writer and
/// control: each call takes the lock for its duration (a blocking read
/// included: see [`Stream`]'s docs). Control calls do not wait for it: one
/// that finds the stream busy does nothing, since waiting could be for as
/// long as the peer is silent.
#[derive(Clone)]
struct Turns(Arc<Mutex<Box<dyn Stream>>>);

impl Turns {
    fn lock(&self) -> MutexGuard<'_, Box<dyn Stream>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn try_lock(&self) -> Option<MutexGuard<'_, Box<dyn Stream>>> {
        match self.0.try_lock() {
            Ok(guard) => Some(guard),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }
}

impl Read for Turns {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.lock().read(buf)
    }
}

impl Write for Turns {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.lock().write(buf)
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.lock().write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.lock().flush()
    }
}

impl Stream for Turns {
    fn try_clone_stream(&self) -> io::Result<Option<Box<dyn Stream>>> {
        Ok(Some(Box::new(self.clone())))
    }
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.lock().set_read_timeout(timeout)
    }
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.try_lock().map_or(Ok(()), |s| s.set_write_timeout(timeout))
    }
    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.try_lock().map_or(Err(io::ErrorKind::WouldBlock.into()), |s| s.set_nonblocking(nonblocking))
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.try_lock().map_or(Ok(()), |s| s.shutdown(how))
    }
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.lock().peer_addr()
    }
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.lock().local_addr()
    }
}
