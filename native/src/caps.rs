//! The caps a server applies at `accept` (connections at once, and from one
//! client address), the answer to a connection over one, and how long a
//! refused connection is lingered over: accounting and bytes both servers
//! (the blocking one and `hybi::tokio::serve`) share.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use hybi_core::HttpResponse;

/// The limits on connections at once, as an accept loop applies them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Caps {
    pub(crate) total: usize,
    pub(crate) per_ip: usize,
}

impl Caps {
    /// From `max_connections` and `max_connections_per_ip` (each at least 1).
    pub(crate) fn new(total: usize, per_ip: usize) -> Caps {
        Caps { total: total.max(1), per_ip: per_ip.max(1) }
    }
}

/// Which limit a refused connection is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    Full,
    FullForIp,
}

impl Refusal {
    /// The 503 a plain-TCP connection over this limit is answered with
    /// (over TLS there is no plaintext to answer with: just a close).
    pub(crate) fn answer(self) -> Vec<u8> {
        refusal_response(match self {
            Refusal::Full => "server is at its connection limit\n",
            Refusal::FullForIp => "too many connections from your address\n",
        })
    }
}

/// Connections counted in, in total and per client address.
#[derive(Debug, Default)]
pub(crate) struct Admission {
    count: usize,
    /// How many come from each client address (none at zero).
    per_ip: HashMap<IpAddr, usize>,
}

impl Admission {
    /// Counts a connection from `ip` in, or says which limit it is over.
    /// `ip` as the caller canonicalised it (an IPv4-mapped address as IPv4).
    pub(crate) fn admit(&mut self, ip: IpAddr, caps: Caps) -> Result<(), Refusal> {
        if self.count >= caps.total {
            return Err(Refusal::Full);
        }
        let from_ip = self.per_ip.entry(ip).or_insert(0);
        if *from_ip >= caps.per_ip {
            return Err(Refusal::FullForIp);
        }
        *from_ip += 1;
        self.count += 1;
        Ok(())
    }

    /// Counts a connection from `ip` out.
    pub(crate) fn release(&mut self, ip: IpAddr) {
        if let Some(from_ip) = self.per_ip.get_mut(&ip) {
            *from_ip -= 1;
            self.count -= 1;
            if *from_ip == 0 {
                self.per_ip.remove(&ip);
            }
        }
    }
}

/// How long a refused connection is lingered over (its input read and
/// dropped) after its answer, unless its client hangs up first: closing
/// with input unread makes the kernel reset the connection, and a client
/// that gets the reset before it reads the 503 may lose it.
pub(crate) const REFUSED_LINGER: Duration = Duration::from_millis(200);

/// Most refused connections lingered over at once (each holds a file
/// descriptor until it closes).
pub(crate) const MAX_LINGERING: usize = 256;

/// Most bytes read and dropped from one refused client: more than any
/// request head; a client that sends more is just closed.
pub(crate) const REFUSED_READ_MAX: usize = 64 * 1024;

/// The bytes of a 503 answer for a connection over a limit.
pub(crate) fn refusal_response(body: &str) -> Vec<u8> {
    let mut out = Vec::new();
    HttpResponse::text(503, body).encode(&mut out).expect("a 503 with a text body is a valid response");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_response_is_a_503() {
        let text = String::from_utf8(Refusal::Full.answer()).unwrap();
        assert!(text.starts_with("HTTP/1.1 503 "), "{text}");
        assert!(text.contains("Connection: close"), "{text}");
    }

    #[test]
    fn admission_counts_in_total_and_per_address() {
        let caps = Caps::new(3, 2);
        let (a, b): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        let mut admission = Admission::default();
        assert_eq!(admission.admit(a, caps), Ok(()));
        assert_eq!(admission.admit(a, caps), Ok(()));
        assert_eq!(admission.admit(a, caps), Err(Refusal::FullForIp));
        assert_eq!(admission.admit(b, caps), Ok(()));
        assert_eq!(admission.admit(b, caps), Err(Refusal::Full));
        admission.release(a);
        assert_eq!(admission.admit(b, caps), Ok(()), "a slot freed");
        assert_eq!(admission.admit(b, caps), Err(Refusal::Full));
    }
}
