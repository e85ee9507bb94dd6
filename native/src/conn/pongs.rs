//! Pongs, for applications that measure with pings: `recv` drops them (the
//! seed has no pings), so a hook is told of each as it is read.

use super::{Connection, Shared};

/// What [`Connection::on_pong`] keeps.
pub(crate) type PongHook = Box<dyn Fn(&[u8]) + Send + Sync>;

impl Shared {
    /// Called with each pong's payload as the connection reads it (with the
    /// connection's state locked: the hook must not use the connection).
    pub(super) fn pong_arrived(&self, payload: &[u8]) {
        if let Some(hook) = self.pong_hook.get() {
            hook(payload);
        }
    }
}

impl Connection {
    /// Calls `hook` with the payload of every pong (RFC 6455) the
    /// connection reads from now on, e.g. to time the answers to
    /// [`ping`](Self::ping)s (`hybi connect --ping-interval`). Pongs are
    /// read by whichever thread is in [`recv`](Self::recv) (or a send that
    /// reads); the hook runs there, with the connection's state locked, so
    /// it must be quick and must not use this connection. One hook per
    /// connection: a second call is refused (`false`).
    pub fn on_pong(&self, hook: impl Fn(&[u8]) + Send + Sync + 'static) -> bool {
        self.shared.pong_hook.set(Box::new(hook)).is_ok()
    }
}
