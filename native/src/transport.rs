//! The byte stream under a connection: a [`Stream`] (TCP, or whatever the
//! caller holds), or TLS over TCP, split into a read half and a write half
//! that two threads can use at once.
//!
//! A plain stream splits into handles (see [`crate::stream::handles`]). TLS cannot: one rustls state encrypts
//! what we send and decrypts what we receive. So the rustls state sits in a
//! mutex that is held only while bytes are handed to or taken from it, never
//! across a blocking socket call: the reader blocks in `read` on the raw
//! socket with no lock held, then locks to feed the ciphertext in; the
//! writer locks to encrypt, unlocks, then blocks in `write`. A reader waiting
//! for the peer never stalls a writer, and the other way round.

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
#[cfg(feature = "tls")]
use std::net::TcpStream;

use crate::stream::Stream;
#[cfg(feature = "tls")]
use std::sync::{Arc, Mutex};
use std::time::Duration;
#[cfg(feature = "tls")]
use std::time::Instant;

/// Plaintext handed to rustls per lock, so the lock is held briefly and the
/// records it produces go out in bounded pieces.
#[cfg(feature = "tls")]
const TLS_CHUNK: usize = 16 * 1024;

/// Ciphertext read from the socket at once.
#[cfg(feature = "tls")]
const CIPHER_BUF: usize = 32 * 1024;

/// A rustls connection shared by the two halves.
#[cfg(feature = "tls")]
pub(crate) type SharedTls = Arc<Mutex<rustls::Connection>>;

/// The reading side of a transport.
pub(crate) struct ReadHalf {
    stream: Box<dyn Stream>,
    #[cfg(feature = "tls")]
    tls: Option<TlsReader>,
    /// The read timeout now set on the socket, to skip needless `setsockopt`s.
    armed: Option<Duration>,
}

#[cfg(feature = "tls")]
struct TlsReader {
    conn: SharedTls,
    /// Ciphertext read from the socket and not yet given to rustls (it takes
    /// no more while its plaintext buffer is full).
    cipher: Box<[u8]>,
    start: usize,
    end: usize,
    eof: bool,
}

/// The writing side of a transport.
pub(crate) struct WriteHalf {
    stream: Box<dyn Stream>,
    #[cfg(feature = "tls")]
    tls: Option<SharedTls>,
    #[cfg(feature = "tls")]
    records: Vec<u8>,
    shut: bool,
    /// An empty buffer to hand the core for its next output.
    pub(crate) spare: Vec<u8>,
}

/// Splits a plain stream, given its reading and writing handles.
pub(crate) fn plain(read: Box<dyn Stream>, stream: Box<dyn Stream>) -> (ReadHalf, WriteHalf) {
    (
        ReadHalf {
            stream: read,
            #[cfg(feature = "tls")]
            tls: None,
            armed: None,
        },
        WriteHalf {
            stream,
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "tls")]
            records: Vec::new(),
            shut: false,
            spare: Vec::new(),
        },
    )
}

/// Runs the TLS handshake on `stream` (blocking), failing with `TimedOut`
/// once `deadline` passes, then splits it.
///
/// The deadline is one for the whole handshake, not a timeout per read: a
/// peer sending its ClientHello a byte at a time would otherwise reset a
/// per-read timeout with every byte and hold the connection (and its
/// thread and its slot) forever.
#[cfg(feature = "tls")]
pub(crate) fn tls(
    mut stream: TcpStream,
    mut conn: rustls::Connection,
    deadline: Option<Instant>,
) -> io::Result<(ReadHalf, WriteHalf)> {
    while conn.is_handshaking() {
        let (read, written) = conn.complete_io(&mut Deadlined { stream: &mut stream, deadline })?;
        if read == 0 && written == 0 && conn.is_handshaking() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection ended during the TLS handshake",
            ));
        }
    }
    // We drain records as soon as they are made, so rustls needs no cap of
    // its own (its default would refuse a large message).
    conn.set_buffer_limit(None);
    let shared = Arc::new(Mutex::new(conn));
    let read = Box::new(stream.try_clone()?);
    let stream = Box::new(stream);
    Ok((
        ReadHalf {
            stream: read,
            tls: Some(TlsReader {
                conn: Arc::clone(&shared),
                cipher: vec![0; CIPHER_BUF].into_boxed_slice(),
                start: 0,
                end: 0,
                eof: false,
            }),
            armed: None,
        },
        WriteHalf { stream, tls: Some(shared), records: Vec::new(), shut: false, spare: Vec::new() },
    ))
}

/// A socket whose every read and write must end by `deadline`: each sets
/// the socket's timeout to the time left first. rustls's `complete_io`
/// reads as often as the handshake needs within one call, so the deadline
/// has to sit under it, in the stream it reads.
#[cfg(feature = "tls")]
struct Deadlined<'a> {
    stream: &'a mut TcpStream,
    deadline: Option<Instant>,
}

#[cfg(feature = "tls")]
impl Deadlined<'_> {
    /// The time left, or a `TimedOut` error once there is none. (`TimedOut`
    /// rather than the `WouldBlock` a socket timeout gives: `complete_io`
    /// treats `WouldBlock` as "no more for now" and returns what it did
    /// read as success.)
    fn left(&self) -> io::Result<Option<Duration>> {
        let Some(deadline) = self.deadline else { return Ok(None) };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "the TLS handshake took too long"));
        }
        Ok(Some(left))
    }

    fn timed_out(&self, e: io::Error) -> io::Error {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                io::Error::new(io::ErrorKind::TimedOut, "the TLS handshake took too long")
            }
            _ => e,
        }
    }
}

#[cfg(feature = "tls")]
impl Read for Deadlined<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.left()?;
        self.stream.set_read_timeout(left)?;
        self.stream.read(buf).map_err(|e| self.timed_out(e))
    }
}

#[cfg(feature = "tls")]
impl Write for Deadlined<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let left = self.left()?;
        self.stream.set_write_timeout(left)?;
        self.stream.write(buf).map_err(|e| self.timed_out(e))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// Locks a rustls state even if a thread panicked while holding it (the
/// state itself stays consistent: rustls does not unwind mid-update).
#[cfg(feature = "tls")]
fn lock(conn: &SharedTls) -> std::sync::MutexGuard<'_, rustls::Connection> {
    conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ReadHalf {
    /// Reads what the peer sent (plaintext, for TLS) into `buf`: `Ok(0)` at
    /// the end of the stream, a `TimedOut`/`WouldBlock` error when the read
    /// timeout passes. The second value says whether TLS queued records to
    /// send (an alert, a key update) that the writer must flush.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<(usize, bool)> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            return tls.read(&mut *self.stream, buf);
        }
        Ok((self.stream.read(buf)?, false))
    }

    /// Sets the socket's read timeout so a read returns no later than
    /// `wanted` from now. A timeout already set that ends a little earlier is
    /// kept: the read then wakes early and the caller reads again.
    pub(crate) fn arm(&mut self, wanted: Option<Duration>) -> io::Result<()> {
        let keep = match (self.armed, wanted) {
            (None, None) => true,
            (Some(armed), Some(wanted)) => armed <= wanted && armed >= wanted / 2,
            _ => false,
        };
        if !keep {
            // Zero means "no timeout" to the socket; the caller never asks
            // for it, but a millisecond is the floor either way.
            let timeout = wanted.map(|d| d.max(Duration::from_millis(1)));
            match self.stream.set_read_timeout(timeout) {
                // A stream without read timeouts (see `Stream`): reads wait
                // for input, and the core's deadlines are kept around them.
                Err(e) if e.kind() == io::ErrorKind::Unsupported => {}
                other => other?,
            }
            self.armed = timeout;
        }
        Ok(())
    }
}

#[cfg(feature = "tls")]
impl TlsReader {
    fn read(&mut self, stream: &mut dyn Stream, buf: &mut [u8]) -> io::Result<(usize, bool)> {
        loop {
            {
                let mut conn = lock(&self.conn);
                match conn.reader().read(buf) {
                    Ok(n) => return Ok((n, conn.wants_write())),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    // TCP ended without close_notify. Many servers end so;
                    // the WebSocket layer tells a clean end from a cut one.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok((0, false)),
                    Err(e) => return Err(e),
                }
                if self.start < self.end || self.eof {
                    let mut pending = &self.cipher[self.start..self.end];
                    let before = pending.len();
                    conn.read_tls(&mut pending)?;
                    self.start += before - pending.len();
                    if let Err(e) = conn.process_new_packets() {
                        // The alert describing it is queued; the caller
                        // flushes it with the error.
                        return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                    }
                    // Back to the top: deliver what that decrypted. At the
                    // end of the stream, the empty `read_tls` above told
                    // rustls so, and its reader now ends too.
                    continue;
                }
            }
            // The lock is released: block on the socket alone.
            let n = stream.read(&mut self.cipher)?;
            self.start = 0;
            self.end = n;
            self.eof = n == 0;
        }
    }
}

impl WriteHalf {
    /// Writes all of `data` (encrypted, for TLS), blocking while the socket
    /// is full (or until its write timeout).
    pub(crate) fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(conn) = &self.tls {
            for chunk in data.chunks(TLS_CHUNK) {
                {
                    let mut conn = lock(conn);
                    conn.writer().write_all(chunk)?;
                    while conn.wants_write() {
                        conn.write_tls(&mut self.records)?;
                    }
                }
                let result = self.stream.write_all(&self.records);
                self.records.clear();
                result?;
            }
            return Ok(());
        }
        self.stream.write_all(data)
    }

    /// Writes all of `head` then all of `tail`: on plain TCP with vectored
    /// writes, so that a large `tail` goes to the kernel from where it lies
    /// without being appended to `head` first.
    pub(crate) fn write_all_two(&mut self, head: &[u8], tail: &[u8]) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            // TLS copies into records anyway.
            self.write_all(head)?;
            return self.write_all(tail);
        }
        let mut parts = [IoSlice::new(head), IoSlice::new(tail)];
        let mut parts = &mut parts[..];
        IoSlice::advance_slices(&mut parts, 0);
        while !parts.is_empty() {
            match self.stream.write_vectored(parts) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => IoSlice::advance_slices(&mut parts, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Whether TLS holds records not yet written (an alert, a key update).
    pub(crate) fn tls_pending(&self) -> bool {
        #[cfg(feature = "tls")]
        if let Some(conn) = &self.tls {
            return lock(conn).wants_write();
        }
        false
    }

    /// Writes the records TLS queued on its own.
    pub(crate) fn flush_tls(&mut self) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(conn) = &self.tls {
            {
                let mut conn = lock(conn);
                while conn.wants_write() {
                    conn.write_tls(&mut self.records)?;
                }
            }
            let result = self.stream.write_all(&self.records);
            self.records.clear();
            return result;
        }
        Ok(())
    }

    /// Ends our direction of the stream (TLS: after a `close_notify`). The
    /// peer reads the end of the stream; we can still read its last bytes.
    pub(crate) fn shutdown_write(&mut self) {
        if std::mem::replace(&mut self.shut, true) {
            return;
        }
        #[cfg(feature = "tls")]
        if let Some(conn) = &self.tls {
            lock(conn).send_close_notify();
            let _ = self.flush_tls();
        }
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Whether [`shutdown_write`](Self::shutdown_write) ran.
    pub(crate) fn is_shut(&self) -> bool {
        self.shut
    }
}
