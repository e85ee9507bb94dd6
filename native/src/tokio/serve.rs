//! `serve`: a listener, a task per connection, the blocking server's
//! options (the `conn_headers` hook, the caps, TLS, the handshake deadline)
//! and a handle that stops it all gracefully.

use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use ::tokio::io::{AsyncReadExt, AsyncWriteExt};
use ::tokio::net::{TcpListener, TcpStream};
use ::tokio::sync::Notify;
use ::tokio::task::{AbortHandle, JoinHandle};
use ::tokio::time::Instant;
use hybi_core::{Config, RequestKind};

use super::socket::{Role, Shared};
use super::{accept_at, MaybeTls, WebSocket};
use crate::budget::MemoryBudget;
use crate::caps::{Admission, Caps, Refusal, MAX_LINGERING, REFUSED_LINGER, REFUSED_READ_MAX};
use crate::clock::Clock;
use crate::error::{Error, ErrorKind};
use crate::server::{bind, default_page, ConnHeaders, ErrorHook, HttpHandler, ServeOptions};

/// Where [`serve`] listens: a listener you bound, or an address to bind
/// (with `ServeOptions::max_waiting` as the backlog).
#[derive(Debug)]
pub enum Listen {
    /// This listener.
    Listener(TcpListener),
    /// A listener bound here.
    Addr(SocketAddr),
}

impl From<TcpListener> for Listen {
    fn from(listener: TcpListener) -> Listen {
        Listen::Listener(listener)
    }
}

impl From<SocketAddr> for Listen {
    fn from(addr: SocketAddr) -> Listen {
        Listen::Addr(addr)
    }
}

/// Starts a WebSocket server on `listen` (the blocking [`crate::serve`]'s
/// async twin, with the same [`ServeOptions`]; `port`, `listen_ip` and
/// `confirm` are for the blocking one): each connection gets its own task,
/// draws on the server's `memory_budget` as the blocking server's do (over
/// it, the connection whose input would not fit fails with 1009), runs the
/// TLS handshake if
/// `options.tls` is set and the opening handshake within one deadline
/// (`config.timeouts.handshake`, counted from `accept`), asks
/// `options.conn_headers` what to answer, and then runs `handler` with the
/// open connection and the hook's state. A connection past
/// `max_connections` or `max_connections_per_ip` is answered 503 at once
/// (over TLS: closed). Plain HTTP requests are answered by
/// `options.http_handler`.
///
/// When `handler` returns, the connection it was given is dropped: if
/// still open, it goes away (1001) if the socket takes the close at once.
/// Must be called within a tokio runtime.
pub async fn serve<S, H, F>(
    listen: impl Into<Listen>,
    handler: H,
    options: ServeOptions<S>,
) -> Result<ServerHandle, Error>
where
    S: Send + 'static,
    H: Fn(WebSocket<MaybeTls>, S) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let listener = match listen.into() {
        Listen::Listener(listener) => listener,
        Listen::Addr(addr) => {
            let listener = bind(addr, options.max_waiting, false)
                .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
            listener.set_nonblocking(true)?;
            TcpListener::from_std(listener)?
        }
    };
    let local_addr = listener.local_addr()?;
    let state = Arc::new(ServerState {
        stopping: AtomicBool::new(false),
        stop: Notify::new(),
        live: Mutex::new(Live::default()),
        close_timeout: options.config.timeouts.close.unwrap_or(Duration::from_secs(5)),
    });
    let context = Arc::new(Context::from_options(options));
    let budget = context.budget.clone();
    let task = ::tokio::spawn(accept_loop(listener, Arc::clone(&state), context, Arc::new(handler)));
    Ok(ServerHandle { local_addr, state, budget, task: Some(task) })
}

/// Everything a connection task needs, read from the options once.
struct Context<S> {
    config: Config,
    caps: Caps,
    handshake_timeout: Option<Duration>,
    conn_headers: ConnHeaders<S>,
    http_handler: Option<HttpHandler>,
    on_error: Option<ErrorHook>,
    /// The pool every connection draws on; `None` for `usize::MAX`.
    budget: Option<Arc<MemoryBudget>>,
    #[cfg(feature = "tls")]
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl<S> Context<S> {
    /// The options, as this server reads them (the core's config as the
    /// blocking server makes it).
    fn from_options(options: ServeOptions<S>) -> Self {
        Context {
            config: options.core_config(),
            caps: Caps::new(options.max_connections, options.max_connections_per_ip),
            handshake_timeout: options.config.timeouts.handshake,
            #[cfg(feature = "tls")]
            tls: options.tls.as_ref().map(|tls| tokio_rustls::TlsAcceptor::from(Arc::clone(&tls.config))),
            conn_headers: options.conn_headers,
            http_handler: options.http_handler,
            on_error: options.on_error,
            budget: (options.memory_budget != usize::MAX)
                .then(|| Arc::new(MemoryBudget::new(options.memory_budget))),
        }
    }

    fn is_plain(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_none();
        #[cfg(not(feature = "tls"))]
        true
    }
}

/// What the accept loop, the connection tasks and the handle share.
#[derive(Debug)]
struct ServerState {
    stopping: AtomicBool,
    /// Wakes the accept loop to stop.
    stop: Notify,
    live: Mutex<Live>,
    close_timeout: Duration,
}

#[derive(Debug, Default)]
struct Live {
    next_id: u64,
    conns: HashMap<u64, LiveConn>,
    admission: Admission,
}

#[derive(Debug)]
struct LiveConn {
    ip: IpAddr,
    task: Option<AbortHandle>,
    /// Once the connection is open.
    shared: Option<Weak<Shared<MaybeTls>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Removes a connection from the live set when its task ends, even by a
/// panic in the handler or an abort.
struct Registration {
    state: Arc<ServerState>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut live = lock(&self.state.live);
        if let Some(conn) = live.conns.remove(&self.id) {
            live.admission.release(conn.ip);
        }
    }
}

/// Refused connections being lingered over now (see `caps`).
static LINGERING: AtomicUsize = AtomicUsize::new(0);

async fn accept_loop<S, H, F>(
    listener: TcpListener,
    state: Arc<ServerState>,
    context: Arc<Context<S>>,
    handler: Arc<H>,
) where
    S: Send + 'static,
    H: Fn(WebSocket<MaybeTls>, S) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    loop {
        let mut stop = std::pin::pin!(state.stop.notified());
        let accepted = poll_fn(|cx| {
            if stop.as_mut().poll(cx).is_ready() {
                return std::task::Poll::Ready(None);
            }
            listener.poll_accept(cx).map(Some)
        })
        .await;
        let Some(accepted) = accepted else { break };
        let Ok((stream, peer)) = accepted else {
            // Out of file descriptors, typically: wait for some to close.
            ::tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        // The handshake deadline counts from here.
        let clock = Clock::new();
        let ip = peer.ip().to_canonical();
        let admitted = {
            let mut live = lock(&state.live);
            live.admission.admit(ip, context.caps).map(|()| {
                let id = live.next_id;
                live.next_id += 1;
                live.conns.insert(id, LiveConn { ip, task: None, shared: None });
                id
            })
        };
        let id = match admitted {
            Ok(id) => id,
            Err(why) => {
                refuse(stream, why, context.is_plain());
                continue;
            }
        };
        let registration = Registration { state: Arc::clone(&state), id };
        let (context, handler) = (Arc::clone(&context), Arc::clone(&handler));
        let task = ::tokio::spawn(async move {
            let registration = registration;
            if let Err(e) = serve_one(stream, clock, &registration, &context, &*handler).await {
                if let Some(hook) = &context.on_error {
                    hook(peer, &e);
                }
            }
        });
        if let Some(conn) = lock(&state.live).conns.get_mut(&id) {
            conn.task = Some(task.abort_handle());
        }
    }
    drop(listener);
    finish(&state).await;
}

/// Answers a connection over a cap at once (a fresh socket takes the
/// hundred-odd bytes of a 503 without waiting) and lingers over it in a
/// task of its own, reading and dropping what the client sends, so that
/// the kernel does not reset it before the client reads the answer; past
/// `MAX_LINGERING` of those, it is closed at once.
fn refuse(mut stream: TcpStream, why: Refusal, plain: bool) {
    if plain {
        let _ = stream.try_write(&why.answer());
    }
    if LINGERING.fetch_add(1, Ordering::SeqCst) >= MAX_LINGERING {
        LINGERING.fetch_sub(1, Ordering::SeqCst);
        return;
    }
    ::tokio::spawn(async move {
        let _ = stream.shutdown().await;
        let mut sink = [0u8; 4096];
        let mut read = 0;
        let _ = ::tokio::time::timeout(REFUSED_LINGER, async {
            while read < REFUSED_READ_MAX {
                match stream.read(&mut sink).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => read += n,
                }
            }
        })
        .await;
        LINGERING.fetch_sub(1, Ordering::SeqCst);
    });
}

async fn serve_one<S, H, F>(
    stream: TcpStream,
    clock: Clock,
    registration: &Registration,
    context: &Context<S>,
    handler: &H,
) -> Result<(), Error>
where
    H: Fn(WebSocket<MaybeTls>, S) -> F,
    F: Future<Output = ()>,
{
    stream.set_nodelay(true)?;
    let deadline = clock.deadline(context.handshake_timeout).map(Instant::from_std);
    let io = tls(stream, context, deadline).await?;
    let mut user_state = None;
    let accepted =
        accept_at(io, context.config.clone(), clock, context.budget.clone(), |kind, request| match kind {
            RequestKind::Http => Err(match &context.http_handler {
                Some(answer) => answer(request),
                None => default_page(request),
            }),
            RequestKind::WebSocket(_) => (context.conn_headers)(request).map(|(accept, state)| {
                user_state = Some(state);
                accept
            }),
        })
        .await;
    let ws = match accepted {
        Ok(ws) => ws,
        // Answered as the application (or the default page) said.
        Err(e) if e.kind() == ErrorKind::HandshakeRefused => return Ok(()),
        Err(e) => return Err(e),
    };
    let user_state = user_state.expect("an accepted request has its state");
    let state = &registration.state;
    if let Some(conn) = lock(&state.live).conns.get_mut(&registration.id) {
        conn.shared = Some(Arc::downgrade(ws.shared()));
    }
    if state.stopping.load(Ordering::SeqCst) {
        // Opened while the server stops: it goes away at once.
        go_away(ws.shared());
    }
    handler(ws, user_state).await;
    Ok(())
}

/// The connection's TLS handshake, if the server has TLS, by `deadline`.
async fn tls<S>(
    stream: TcpStream,
    context: &Context<S>,
    deadline: Option<Instant>,
) -> Result<MaybeTls, Error> {
    #[cfg(feature = "tls")]
    if let Some(acceptor) = &context.tls {
        let handshake = acceptor.accept(stream);
        let stream = match deadline {
            Some(deadline) => ::tokio::time::timeout_at(deadline, handshake).await.unwrap_or_else(|_| {
                Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "the TLS handshake took too long"))
            }),
            None => handshake.await,
        }
        .map_err(Error::tls_handshake)?;
        return Ok(MaybeTls::Tls(Box::new(tokio_rustls::TlsStream::Server(stream))));
    }
    let _ = (context, deadline);
    Ok(MaybeTls::Plain(stream))
}

/// Queues the core's going-away close (1001) and writes it in a task of its
/// own (the connection's tasks may be waiting on the peer). False for a
/// connection still in its handshake.
fn go_away(shared: &Arc<Shared<MaybeTls>>) -> bool {
    if !shared.go_away("server shutting down") {
        return false;
    }
    let shared = Arc::clone(shared);
    ::tokio::spawn(async move {
        let _ = poll_fn(|cx| shared.poll_write_out(Role::Control, cx)).await;
    });
    true
}

/// Stopping, once the accept loop has ended: every open connection goes
/// away (1001); handlers get the close deadline (and half a second) to
/// see the end and return; connections still in their handshake, and
/// handlers still running after that, are aborted.
async fn finish(state: &ServerState) {
    state.stopping.store(true, Ordering::SeqCst);
    let conns: Vec<_> = lock(&state.live)
        .conns
        .values()
        .map(|c| (c.shared.as_ref().and_then(Weak::upgrade), c.task.clone()))
        .collect();
    for (shared, task) in conns {
        match shared {
            Some(shared) if go_away(&shared) => {}
            _ => {
                if let Some(task) = task {
                    task.abort();
                }
            }
        }
    }
    let deadline = Instant::now() + state.close_timeout + Duration::from_millis(500);
    while !lock(&state.live).conns.is_empty() && Instant::now() < deadline {
        ::tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let left: Vec<AbortHandle> = lock(&state.live).conns.values().filter_map(|c| c.task.clone()).collect();
    for task in left {
        task.abort();
    }
    while !lock(&state.live).conns.is_empty() {
        ::tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A running async server: [`stop`](Self::stop) it to stop accepting,
/// send every open connection a going-away close (1001), and wait for the
/// handlers; [`wait`](Self::wait) on it to serve until a
/// [`stopper`](Self::stopper) stops it. Dropping it stops the server too,
/// finishing in the background.
#[derive(Debug)]
#[must_use = "dropping a ServerHandle stops the server: keep it, or `wait()` on it"]
pub struct ServerHandle {
    local_addr: SocketAddr,
    state: Arc<ServerState>,
    budget: Option<Arc<MemoryBudget>>,
    task: Option<JoinHandle<()>>,
}

impl ServerHandle {
    crate::server::server_handle_getters!();

    /// Stops the server and waits until every handler has returned (or was
    /// aborted after the close deadline). Cancel-safe: dropped, the stop
    /// goes on in the background.
    pub async fn stop(mut self) {
        self.stopper().stop();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Serves until a [`ServerStopper`] of this server stops it, then
    /// finishes stopping as [`stop`](Self::stop) does.
    pub async fn wait(mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// A handle that stops this server from elsewhere.
    pub fn stopper(&self) -> ServerStopper {
        ServerStopper { state: Arc::clone(&self.state) }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if self.task.is_some() {
            self.stopper().stop();
        }
    }
}

/// Stops an async server from a task other than its [`ServerHandle`]'s
/// owner. Cheap to clone; stopping twice does nothing.
#[derive(Clone, Debug)]
pub struct ServerStopper {
    state: Arc<ServerState>,
}

impl ServerStopper {
    /// Stops accepting; the server then closes its connections.
    pub fn stop(&self) {
        if !self.state.stopping.swap(true, Ordering::SeqCst) {
            self.state.stop.notify_one();
        }
    }
}
