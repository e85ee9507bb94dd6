//! How a connection ends on our side: closing and waiting for the answer,
//! going away, lingering over what the peer still sends, and the last
//! handle dropped.

use std::net::Shutdown;
use std::sync::{PoisonError, TryLockError};
use std::time::{Duration, Instant};

use hybi_core::{Event, Limits, State};

use super::shared::{lock, End, Flush, Shared};
use crate::error::{Error, ErrorKind};

/// How often a thread closing a connection that another thread reads
/// checks whether that thread still reads.
const TAKE_OVER_POLL: Duration = Duration::from_millis(50);

/// What follows a connection's end, and so how much of the peer's input
/// [`Shared::linger`] reads and drops before the socket closes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum After {
    /// A plain HTTP answer (a page, a refusal): the rest of a request, at
    /// most 64 KiB.
    HttpAnswer,
    /// A WebSocket connection's end, whatever it was: at most the core's
    /// `limits.max_linger_bytes` (4 MiB by default), enough for the rest of
    /// a message a peer was failed in the middle of.
    End,
}

impl After {
    fn max_bytes(self, limits: &Limits) -> usize {
        match self {
            After::HttpAnswer => 64 * 1024,
            After::End => limits.max_linger_bytes,
        }
    }
}

impl Shared {
    /// Shuts the socket in both directions: blocked reads and writes return.
    pub(crate) fn abort(&self) {
        let mut inner = lock(&self.inner);
        inner.dead = true;
        if inner.end.is_none() {
            inner.end = Some(End::Transport(ErrorKind::Closed, "connection aborted".into()));
            self.ended.notify_all();
        }
        drop(inner);
        let _ = lock(&self.control).shutdown(Shutdown::Both);
    }

    /// Starts the closing handshake if the connection is open, or answers
    /// a peer that is done (with this code and reason); returns whether it
    /// did.
    pub(crate) fn begin_close(&self, code: Option<u16>, reason: &str) -> Result<bool, Error> {
        let mut writer = lock(&self.writer);
        let mut inner = lock(&self.inner);
        if inner.dead || !matches!(inner.core.state(), State::Open | State::Ending) {
            return Ok(false);
        }
        inner.core.close(self.clock.now(), code, reason)?;
        self.write_out(&mut writer, inner, &[])?;
        drop(writer);
        self.flush(Flush::Noted)?;
        Ok(true)
    }

    /// Closes as the core's `go_away` does (RFC 6455 1001 with `reason`,
    /// the draft-76 close otherwise) if no other thread is writing (a
    /// server stopping must not wait on a stuck peer). Returns whether the
    /// close went out (or the connection was closing or over already);
    /// `false` for a connection still in its handshake.
    pub(crate) fn try_go_away(&self, reason: &str) -> bool {
        let mut writer = match self.writer.try_lock() {
            Ok(writer) => writer,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return false,
        };
        let mut inner = lock(&self.inner);
        if inner.dead {
            return true;
        }
        if inner.core.go_away(self.clock.now(), reason).is_err() {
            // Nothing to close politely yet: the caller cuts it.
            return false;
        }
        let sent = self.write_out(&mut writer, inner, &[]).is_ok();
        drop(writer);
        sent && self.flush(Flush::Noted).is_ok()
    }

    /// After the connection's end (see [`After`]): reads and drops what
    /// the peer still sends, for up to the core's `timeouts.linger` (2 s by default), before the socket is
    /// closed. Closing with input unread makes the kernel answer with a
    /// reset, and a reset can destroy what we sent last (an HTTP answer, a
    /// close frame) before the peer has read it: a peer failed in the
    /// middle of a large message (1009) or a bomb is still sending. Returns
    /// at once when the peer has ended its side too, when the socket
    /// failed, or when another thread holds the reading half (it sees the
    /// end itself).
    pub(crate) fn linger(&self, after: After) {
        let (linger, max_bytes) = {
            let inner = lock(&self.inner);
            if inner.dead {
                return;
            }
            let config = inner.core.config();
            (config.timeouts.linger, after.max_bytes(&config.limits))
        };
        let Some(linger) = linger else {
            return;
        };
        let Ok(mut reader) = self.reader.try_lock() else {
            return;
        };
        let deadline = Instant::now() + linger;
        let mut sink = [0u8; 4096];
        let mut total = 0usize;
        while total < max_bytes {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || reader.half.arm(Some(left)).is_err() {
                break;
            }
            match reader.half.read(&mut sink) {
                Ok((0, _)) | Err(_) => break,
                Ok((n, _)) => total += n,
            }
        }
    }

    /// Waits until the connection has ended: reads the socket itself if no
    /// other thread does, otherwise waits for the thread that does, keeping
    /// the core's close deadline either way.
    pub(crate) fn wait_closed(&self) -> Result<(), Error> {
        loop {
            let reader = {
                let mut inner = lock(&self.inner);
                // The peer's answer may be in the core already.
                self.drain(&mut inner);
                if inner.end.is_some() || inner.dead {
                    break;
                }
                match self.reader.try_lock() {
                    Ok(reader) => Some(reader),
                    Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
                    Err(TryLockError::WouldBlock) => None,
                }
            };
            if let Some(mut reader) = reader {
                self.pump(&mut reader, None)?;
                self.trim_queue();
                continue;
            }
            // Another thread is reading and will see the answer. Wait for
            // it a little at a time: its read was set up before our close,
            // so the close deadline is kept here, and if it stops reading
            // we take over.
            let mut inner = lock(&self.inner);
            if inner.end.is_some() || inner.dead {
                break;
            }
            let wait = inner.core.poll_timeout().map(|at| self.clock.until(at));
            if wait.is_some_and(|w| w.is_zero()) {
                inner.core.handle_timeout(self.clock.now());
                self.drain(&mut inner);
                if matches!(inner.end, Some(End::Failed(_))) {
                    // The peer is not answering: wake the reading thread.
                    drop(inner);
                    let _ = lock(&self.control).shutdown(Shutdown::Both);
                }
                continue;
            }
            let slice = wait.map_or(TAKE_OVER_POLL, |w| w.min(TAKE_OVER_POLL));
            drop(self.ended.wait_timeout(inner, slice).unwrap_or_else(PoisonError::into_inner));
        }
        // Over: end our direction of the stream if it is still open.
        self.flush(Flush::IfFree)?;
        match &lock(&self.inner).end {
            Some(End::Clean(_)) | None => Ok(()),
            Some(End::Failed(e)) => Err(e.clone().into()),
            Some(End::Transport(kind, message)) => Err(Error::new(*kind, message.clone())),
        }
    }

    /// While `close` reads on its own, keeps at most the core's
    /// `limits.max_unread_while_closing` bytes of messages for a later
    /// `recv`: a peer that keeps sending instead of answering the close
    /// cannot grow our memory.
    fn trim_queue(&self) {
        let mut inner = lock(&self.inner);
        let keep = inner.core.config().limits.max_unread_while_closing;
        let mut total = 0usize;
        inner.events.retain(|event| match event {
            Event::Text(text) => {
                total = total.saturating_add(text.len());
                total <= keep
            }
            Event::Binary(data) => {
                total = total.saturating_add(data.len());
                total <= keep
            }
            _ => true,
        });
        inner.event_bytes = inner.events.iter().map(Event::buffered_bytes).sum();
        self.settle(&mut inner);
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let inner = self.inner.get_mut().unwrap_or_else(PoisonError::into_inner);
        // The budget's share goes back with `inner.account`.
        if inner.dead || !matches!(inner.core.state(), State::Open | State::Ending) {
            return;
        }
        // Going away: a close the socket takes at once, then the end.
        if inner.core.go_away(self.clock.now(), "").is_ok() {
            let mut out = Vec::new();
            let _ = inner.core.poll_transmit(&mut out);
            let writer = self.writer.get_mut().unwrap_or_else(PoisonError::into_inner);
            if self.control.get_mut().unwrap_or_else(PoisonError::into_inner).set_nonblocking(true).is_ok() {
                let _ = writer.write_all(&out);
            }
            writer.shutdown_write();
        }
    }
}
