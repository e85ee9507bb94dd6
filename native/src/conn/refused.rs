//! The body of a refused opening handshake, for [`crate::Error::response_body`]:
//! what the core kept after the response's head, and what follows on the
//! socket, up to a limit.

use std::time::{Duration, Instant};

use super::shared::lock;
use super::Shared;

/// Most bytes of a refusal's body kept: enough for any explanation a
/// server writes, little enough that a hostile one cannot make a failed
/// connect hold much.
pub(crate) const REFUSED_BODY_LIMIT: usize = 64 * 1024;

/// How long to wait for the rest of a body whose end the server does not
/// mark (no `Content-Length`, connection left open).
pub(crate) const REFUSED_BODY_WAIT: Duration = Duration::from_millis(500);

impl Shared {
    /// After the core refused the handshake ([`hybi_core::Error::Rejected`]):
    /// the response's body, up to its `Content-Length` and
    /// [`REFUSED_BODY_LIMIT`], reading until it is complete, the stream
    /// ends, or `wait` passes.
    pub(crate) fn refused_body(&self, wait: Duration) -> Vec<u8> {
        let (mut body, length) = {
            let inner = lock(&self.inner);
            let length = inner
                .core
                .response()
                .and_then(|r| r.headers.get_str("Content-Length"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            (inner.core.refused_body().to_vec(), length)
        };
        let want = length.unwrap_or(REFUSED_BODY_LIMIT).min(REFUSED_BODY_LIMIT);
        let deadline = Instant::now() + wait;
        let mut reader = lock(&self.reader);
        let mut buf = [0; 4096];
        while body.len() < want {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || reader.half.arm(Some(left)).is_err() {
                break;
            }
            match reader.half.read(&mut buf) {
                Ok((0, _)) | Err(_) => break,
                Ok((n, _)) => body.extend_from_slice(&buf[..n]),
            }
        }
        body.truncate(want);
        body
    }
}
