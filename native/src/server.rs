//! The server (the seed's `ws-serve`): a listener, a thread per connection,
//! the `conn_headers` hook, and a handle that stops it all.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use hybi_core::{Accept, Config, Event, HttpResponse, RequestHead, RequestKind, Timeouts};

use crate::budget::MemoryBudget;
use crate::caps::{Admission, Caps, Refusal, MAX_LINGERING, REFUSED_LINGER, REFUSED_READ_MAX};
use crate::clock::Clock;
use crate::conn::{After, Connection, Shared};
use crate::error::{Error, ErrorKind};
use crate::transport;

/// The `conn_headers` hook: given the opening request (line and headers),
/// accept it, with the headers (and RFC 6455 subprotocol) to answer with and
/// the per-connection state for the handler, or refuse it with an HTTP
/// response.
pub type ConnHeaders<S> = Box<dyn Fn(&RequestHead) -> Result<(Accept, S), HttpResponse> + Send + Sync>;

/// Answers a plain HTTP request (one that is not a WebSocket upgrade).
pub type HttpHandler = Box<dyn Fn(&RequestHead) -> HttpResponse + Send + Sync>;

/// Told of every connection that failed before or outside the handler (a
/// bad handshake, a TLS failure), with the peer's address.
pub type ErrorHook = Box<dyn Fn(SocketAddr, &Error) + Send + Sync>;

/// How [`serve`] listens and treats each connection. The seed's `ws-serve`
/// arguments, with its defaults, and a few more.
///
/// `S` is the per-connection state `conn_headers` hands the handler; with
/// the default hook it is `S::default()`. To use a hook with a state type
/// that has no default, start from [`ServeOptions::default`] and call
/// [`with_conn_headers`](Self::with_conn_headers):
///
/// ```
/// use hybi::{offered_subprotocols, Accept, HttpResponse, ServeOptions};
///
/// // Refuses requests without the right token, and hands the handler the
/// // user's name as its state.
/// let refusing = ServeOptions::default().with_conn_headers(|request| {
///     match request.headers.get_str("Authorization") {
///         Some("Bearer let-me-in") => Ok((Accept::default(), String::from("alice"))),
///         _ => Err(HttpResponse::text(403, "no entry\n")),
///     }
/// });
/// # let _: ServeOptions<String> = refusing;
///
/// // Picks the first subprotocol it speaks from the client's offer (RFC
/// // 6455 `Sec-WebSocket-Protocol`, in the client's order), or refuses.
/// let choosing = ServeOptions::default().with_conn_headers(|request| {
///     let offered = offered_subprotocols(request);
///     match offered.iter().find(|p| ["chat.v2", "chat"].contains(p)) {
///         Some(&chosen) => {
///             let accept = Accept { subprotocol: Some(chosen.into()), ..Accept::default() };
///             Ok((accept, chosen.to_owned()))
///         }
///         None => Err(HttpResponse::text(400, "speak chat.v2 or chat\n")),
///     }
/// });
/// # let _: ServeOptions<String> = choosing;
/// ```
pub struct ServeOptions<S = ()> {
    /// TCP port; 0 picks a free one (see `confirm`). Default 80.
    pub port: u16,
    /// Address to listen on. Default `None`: every interface, IPv6 and
    /// IPv4 together (one `[::]` socket with `IPV6_V6ONLY` off: an IPv4
    /// client's [`Connection::peer_addr`] is then IPv4-mapped,
    /// `[::ffff:a.b.c.d]`, and the per-address cap counts it as its IPv4
    /// address), where the system allows it; where it does not (IPv6
    /// disabled), every IPv4
    /// interface (`0.0.0.0`). An explicit `0.0.0.0` or `::` binds that
    /// family alone (`::` as the system's `bindv6only` says).
    pub listen_ip: Option<IpAddr>,
    /// Listen backlog: connections the OS queues before `accept`. Default 4
    /// (the seed's); `hybi serve` uses 128 (`--backlog`). The accept loop
    /// takes connections as fast as they come (refusals included, see
    /// `max_connections`), so this only has to absorb bursts.
    pub max_waiting: u32,
    /// Idle timeout per connection (the seed's): one that receives nothing
    /// for this long is failed. Default one hour; zero: none. It is the
    /// core's `timeouts.idle` under the seed's name: `timeouts.idle`, when
    /// set, wins (the same rule as the npm package's `serve`).
    pub timeout: Duration,
    /// Receives the bound address once the server listens, or the bind
    /// error.
    pub confirm: Option<Sender<Result<SocketAddr, io::Error>>>,
    /// Serve TLS (`wss://`) with this identity. Default none.
    #[cfg(feature = "tls")]
    pub tls: Option<crate::tls::ServerTls>,
    /// The core's settings for every connection: the protocols to accept
    /// (`config.accept`, default all; each request says which it speaks),
    /// the draft-76 framing (`config.framing`, default 'auto': nothing in a
    /// request says which, so each client's first bytes tell; a server
    /// that sends first to 'new' clients sets `Framing::New`),
    /// permessage-deflate to accept (`config.deflate`,
    /// default none), size limits on what clients may send, the handshake,
    /// close, idle, keepalive and linger deadlines, draft-76 text that is not
    /// UTF-8, `auto_pong` (`false`: pings go unanswered; this driver does
    /// not show pings to the application). The handshake deadline counts
    /// from `accept` and covers the TLS handshake and the WebSocket one
    /// together: a client that has not finished both by then is closed,
    /// however it spreads its bytes. `timeouts.idle`, when `None`, comes
    /// from `timeout`. This driver sets `secure` (from `tls`) and
    /// `streaming` (false: `recv` returns whole messages) itself; `protocol`
    /// is a client's.
    pub config: Config,
    /// Most connections served at once (one thread each), counted from
    /// `accept` until the connection ends, handshakes still under way
    /// included. Past it, a new connection is answered with HTTP 503 (or,
    /// over TLS, just closed) at once by the accepting thread, which never
    /// waits on the refused client. Default 1024.
    pub max_connections: usize,
    /// Most connections from one client IP address at once, counted as
    /// `max_connections` is. Past it, a new connection from that address is
    /// refused the same way. Default 64 (at least 1).
    ///
    /// Why: without it, one address can hold all `max_connections` slots
    /// (with idle connections, or handshakes dribbled within the handshake
    /// timeout) and every other client is refused. Behind a reverse proxy or
    /// load balancer every client arrives from the proxy's address: raise
    /// this to `max_connections` there and limit per client in the proxy.
    /// An IPv4-mapped IPv6 address counts as its IPv4 address; IPv6
    /// addresses count one by one, though one host may hold a whole /64.
    pub max_connections_per_ip: usize,
    /// The seed's `conn-headers`. Default: accept every request, add no
    /// headers, state `S::default()`.
    pub conn_headers: ConnHeaders<S>,
    /// Answers plain HTTP requests. Default (`None`): a short text page
    /// naming hybi for `GET`, 405 for other methods.
    pub http_handler: Option<HttpHandler>,
    /// Told of connections that failed outside the handler. Default none.
    pub on_error: Option<ErrorHook>,
    /// Most bytes all connections together may hold for data in transit
    /// beyond the first 64 KiB of each: messages being received (RFC 6455,
    /// inflated with permessage-deflate; draft-76 text), messages received
    /// and not yet returned by `recv` (and the one `recv` returned last,
    /// until the next `recv`), and output queued. A connection whose input
    /// would take the server past it is failed with close code 1009
    /// (message too big; a draft-76 connection, which has no close codes,
    /// is closed), before the memory is allocated; the others go on. Each
    /// connection's first 64 KiB are its own, so small messages go through
    /// whatever others hold (the bound grows by 64 KiB per connection).
    /// Output is charged when queued and is never refused: it leaves less
    /// room for input. `usize::MAX`: no budget.
    ///
    /// Default 256 MiB: sixteen messages of the default
    /// [`Limits::max_message_size`](hybi_core::Limits::max_message_size) (16 MiB) at once, or many more smaller
    /// ones, while 1,024 connections each mid-way through a 15 MiB message
    /// (the default `max_connections`) would otherwise pin 15 GiB. Not
    /// counted: each connection's fixed cost (thread, socket buffers: about
    /// 30 KiB of RSS when idle; with permessage-deflate about 265 KiB, the
    /// compressor's and decompressor's state; up to ~200 KiB more of
    /// buffers kept after large messages), bounded by `max_connections` and
    /// measured in BENCHMARKS.md; and the buffers of large payloads the
    /// async driver wrote, kept for the next large message read (at most
    /// 64 MiB in all, process-wide, each for at most half a second unused;
    /// a message that moves into one is charged for its capacity, reserved
    /// before the move).
    pub memory_budget: usize,
}

impl<S: Default + 'static> Default for ServeOptions<S> {
    fn default() -> Self {
        ServeOptions {
            port: 80,
            listen_ip: None,
            max_waiting: 4,
            timeout: Duration::from_secs(60 * 60),
            confirm: None,
            #[cfg(feature = "tls")]
            tls: None,
            config: Config::default(),
            max_connections: 1024,
            max_connections_per_ip: 64,
            conn_headers: Box::new(|_| Ok((Accept::default(), S::default()))),
            http_handler: None,
            on_error: None,
            memory_budget: 256 * 1024 * 1024,
        }
    }
}

impl ServeOptions<()> {
    /// The same options with another `conn_headers` hook, and so another
    /// state type `T`: what the hook returns for each accepted request is
    /// what the handler gets with its connection.
    ///
    /// Defined on `ServeOptions<()>` (what the default hook makes), so that
    /// `ServeOptions::default().with_conn_headers(..)` needs no type
    /// annotation: on a generic `ServeOptions<S>` the compiler could not
    /// tell which `S` the default was for (E0283).
    pub fn with_conn_headers<T>(
        self,
        hook: impl Fn(&RequestHead) -> Result<(Accept, T), HttpResponse> + Send + Sync + 'static,
    ) -> ServeOptions<T> {
        ServeOptions {
            port: self.port,
            listen_ip: self.listen_ip,
            max_waiting: self.max_waiting,
            timeout: self.timeout,
            confirm: self.confirm,
            #[cfg(feature = "tls")]
            tls: self.tls,
            config: self.config,
            max_connections: self.max_connections,
            max_connections_per_ip: self.max_connections_per_ip,
            conn_headers: Box::new(hook),
            http_handler: self.http_handler,
            on_error: self.on_error,
            memory_budget: self.memory_budget,
        }
    }
}

impl<S> ServeOptions<S> {
    /// The core's config for each connection (the seed's `timeout` as the
    /// idle deadline unless `config.timeouts.idle` is set). Both servers
    /// read the options here.
    pub(crate) fn core_config(&self) -> Config {
        let timeouts = self.config.timeouts;
        Config {
            secure: self.is_tls(),
            streaming: false,
            timeouts: Timeouts {
                idle: timeouts.idle.or(Some(self.timeout).filter(|t| !t.is_zero())),
                ..timeouts
            },
            ..self.config.clone()
        }
    }

    fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }
}

impl<S> std::fmt::Debug for ServeOptions<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("port", &self.port)
            .field("listen_ip", &self.listen_ip)
            .field("max_waiting", &self.max_waiting)
            .field("timeout", &self.timeout)
            .field("tls", &self.is_tls())
            .field("config", &self.config)
            .field("max_connections", &self.max_connections)
            .field("max_connections_per_ip", &self.max_connections_per_ip)
            .finish_non_exhaustive()
    }
}

/// A running server: [`stop`](Self::stop) it (or drop it) to stop accepting,
/// close every open connection with a close frame, and join every thread
/// (the seed returns a procedure that does this). To serve until something
/// else stops it, [`wait`](Self::wait) on it, with a
/// [`stopper`](Self::stopper) handed to whatever decides when.
///
/// Dropping the handle stops the server at once, so it must be kept:
/// `serve(handler, options)?;` alone starts a server and stops it on the
/// same line.
#[derive(Debug)]
#[must_use = "dropping a ServerHandle stops the server at once: keep it, or `wait()` on it"]
pub struct ServerHandle {
    local_addr: SocketAddr,
    state: Arc<ServerState>,
    listener: Arc<TcpListener>,
    accept_thread: Option<JoinHandle<()>>,
    budget: Option<Arc<MemoryBudget>>,
}

/// What the accept loop, the connection threads and the handle share.
struct ServerState {
    stopping: AtomicBool,
    /// Connection threads running, and their sockets.
    live: Mutex<Live>,
    /// Signalled when a connection thread ends.
    thread_ended: Condvar,
    threads: Mutex<Vec<JoinHandle<()>>>,
    close_timeout: Duration,
}

#[derive(Default)]
struct Live {
    next_id: u64,
    conns: HashMap<u64, LiveConn>,
    /// `conns` counted against the caps.
    admission: Admission,
}

struct LiveConn {
    /// For shutdown while the handshake is still under way.
    stream: TcpStream,
    /// The client's address, as `admission` counts it.
    ip: IpAddr,
    /// Once the connection exists.
    shared: Option<Weak<Shared>>,
}

impl Live {
    /// Counts `conn` in, or says which limit it is over.
    fn admit(&mut self, conn: LiveConn, caps: Caps) -> Result<u64, Refusal> {
        self.admission.admit(conn.ip, caps)?;
        let id = self.next_id;
        self.next_id += 1;
        self.conns.insert(id, conn);
        Ok(id)
    }

    /// Counts a connection out.
    fn remove(&mut self, id: u64) -> Option<LiveConn> {
        let conn = self.conns.remove(&id)?;
        self.admission.release(conn.ip);
        Some(conn)
    }
}

impl std::fmt::Debug for ServerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerState")
            .field("stopping", &self.stopping)
            .field("live", &lock(&self.live).conns.len())
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Everything a connection thread needs, shared by all of them.
struct Context<S> {
    config: Config,
    conn_headers: ConnHeaders<S>,
    http_handler: Option<HttpHandler>,
    on_error: Option<ErrorHook>,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::ServerTls>,
    handshake_timeout: Option<Duration>,
    budget: Option<Arc<MemoryBudget>>,
}

/// Starts a WebSocket server (the seed's `ws-serve`): each connection gets
/// its own thread, runs the opening handshake (any protocol in
/// `options.config.accept`, told apart by its request), asks
/// `options.conn_headers` what to answer, and then calls `handler` with the
/// open connection and the hook's state. When the handler returns, the
/// connection is closed (if it is still open).
///
/// Returns once the server listens. Plain HTTP requests are answered by
/// `options.http_handler`.
///
/// The returned [`ServerHandle`] is the server: dropping it stops it, so
/// keep it, and [`wait`](ServerHandle::wait) on it to serve until stopped.
///
/// ```no_run
/// use hybi::{serve, ServeOptions};
/// let server = serve(
///     |conn, ()| {
///         while let Ok(Some(message)) = conn.recv() {
///             let _ = conn.send(&message);
///         }
///     },
///     ServeOptions { port: 8080, ..ServeOptions::default() },
/// )?;
/// println!("listening on {}", server.local_addr());
/// server.wait(); // serves until the process ends (or a `stopper()` stops it)
/// # Ok::<(), hybi::Error>(())
/// ```
pub fn serve<S, H>(handler: H, options: ServeOptions<S>) -> Result<ServerHandle, Error>
where
    S: Send + 'static,
    H: Fn(Connection, S) + Send + Sync + 'static,
{
    let bound = match options.listen_ip {
        Some(ip) => bind(SocketAddr::new(ip, options.port), options.max_waiting, false),
        // Every interface: dual-stack where the system allows it.
        None => {
            bind(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), options.port), options.max_waiting, true)
                .or_else(|_| {
                    bind(
                        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), options.port),
                        options.max_waiting,
                        false,
                    )
                })
        }
    };
    let addr = SocketAddr::new(options.listen_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), options.port);
    let listener = match bound {
        Ok(listener) => listener,
        Err(e) => {
            let e = io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}"));
            if let Some(confirm) = &options.confirm {
                let _ = confirm.send(Err(io::Error::new(e.kind(), e.to_string())));
            }
            return Err(e.into());
        }
    };
    let local_addr = listener.local_addr()?;
    let state = Arc::new(ServerState {
        stopping: AtomicBool::new(false),
        live: Mutex::new(Live::default()),
        thread_ended: Condvar::new(),
        threads: Mutex::new(Vec::new()),
        close_timeout: options.config.timeouts.close.unwrap_or(Duration::from_secs(5)),
    });
    let budget =
        (options.memory_budget != usize::MAX).then(|| Arc::new(MemoryBudget::new(options.memory_budget)));
    let context = Arc::new(Context {
        budget: budget.clone(),
        config: options.core_config(),
        conn_headers: options.conn_headers,
        http_handler: options.http_handler,
        on_error: options.on_error,
        #[cfg(feature = "tls")]
        tls: options.tls,
        handshake_timeout: options.config.timeouts.handshake,
    });
    let handler = Arc::new(handler);
    let accept_listener = listener.try_clone()?;
    let accept_state = Arc::clone(&state);
    let caps = Caps::new(options.max_connections, options.max_connections_per_ip);
    let accept_thread = thread::Builder::new()
        .name(format!("hybi-accept-{local_addr}"))
        .spawn(move || accept_loop(accept_listener, accept_state, context, handler, caps))?;
    if let Some(confirm) = &options.confirm {
        let _ = confirm.send(Ok(local_addr));
    }
    Ok(ServerHandle {
        local_addr,
        state,
        listener: Arc::new(listener),
        accept_thread: Some(accept_thread),
        budget,
    })
}

/// A listening socket on `addr`; `dual_stack` (for `[::]`) turns
/// `IPV6_V6ONLY` off, so that IPv4 clients reach it too, and fails where the
/// system cannot.
pub(crate) fn bind(addr: SocketAddr, backlog: u32, dual_stack: bool) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if dual_stack {
        socket.set_only_v6(false)?;
    }
    // Restarting a server must not wait out TIME_WAIT of its old sockets.
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog.max(1)).unwrap_or(i32::MAX))?;
    Ok(socket.into())
}

fn accept_loop<S, H>(
    listener: TcpListener,
    state: Arc<ServerState>,
    context: Arc<Context<S>>,
    handler: Arc<H>,
    caps: Caps,
) where
    S: Send + 'static,
    H: Fn(Connection, S) + Send + Sync + 'static,
{
    let refuser = Refuser::start(context.is_plain());
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(_) if state.stopping.load(Ordering::SeqCst) => break,
            Err(e)
                if e.kind() == io::ErrorKind::Interrupted || e.kind() == io::ErrorKind::ConnectionAborted =>
            {
                continue
            }
            Err(_) => {
                // Out of file descriptors, typically: wait for some to close.
                thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        // The handshake deadline counts from here.
        let accepted = Instant::now();
        if state.stopping.load(Ordering::SeqCst) {
            break;
        }
        lock(&state.threads).retain(|t| !t.is_finished());
        let Ok(control) = stream.try_clone() else { continue };
        let ip = peer.ip().to_canonical();
        let admitted = lock(&state.live).admit(LiveConn { stream: control, ip, shared: None }, caps);
        let id = match admitted {
            Ok(id) => id,
            Err(why) => {
                refuser.refuse(stream, why);
                continue;
            }
        };
        let thread_state = Arc::clone(&state);
        let thread_context = Arc::clone(&context);
        let thread_handler = Arc::clone(&handler);
        let spawned = thread::Builder::new().name(format!("hybi-conn-{peer}")).spawn(move || {
            let _registration = Registration { state: &thread_state, id };
            let served = serve_one(stream, accepted, &thread_state, id, &thread_context, &*thread_handler);
            if let Err(e) = served {
                if let Some(hook) = &thread_context.on_error {
                    hook(peer, &e);
                }
            }
        });
        match spawned {
            Ok(thread) => lock(&state.threads).push(thread),
            Err(_) => {
                // No thread to serve it: refuse it like any connection over
                // the limit.
                let removed = lock(&state.live).remove(id);
                state.thread_ended.notify_all();
                if let Some(conn) = removed {
                    refuser.refuse(conn.stream, Refusal::Full);
                }
            }
        }
    }
    drop(refuser);
}

/// Removes a connection from the live set when its thread ends, even by a
/// panic in the handler.
struct Registration<'a> {
    state: &'a ServerState,
    id: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        lock(&self.state.live).remove(self.id);
        self.state.thread_ended.notify_all();
    }
}

impl<S> Context<S> {
    fn is_plain(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_none();
        #[cfg(not(feature = "tls"))]
        true
    }
}

fn serve_one<S, H>(
    stream: TcpStream,
    accepted: Instant,
    state: &ServerState,
    id: u64,
    context: &Context<S>,
    handler: &H,
) -> Result<(), Error>
where
    H: Fn(Connection, S),
{
    stream.set_nodelay(true)?;
    let clock = Clock::since(accepted);
    let control = stream.try_clone()?;
    let halves = handshake_transport(stream, context, clock.deadline(context.handshake_timeout))?;
    control.set_read_timeout(None)?;
    control.set_write_timeout(None)?;
    // Started at `accept`, so that the WebSocket handshake has what the TLS
    // one left of the deadline, not a fresh one.
    let core = hybi_core::Connection::server(clock.start(), context.config.clone());
    let shared = Shared::new(core, clock, halves, Box::new(control))?;
    if let Some(budget) = &context.budget {
        shared.set_budget(Arc::clone(budget));
    }
    if let Some(conn) = lock(&state.live).conns.get_mut(&id) {
        conn.shared = Some(Arc::downgrade(&shared));
    }
    if state.stopping.load(Ordering::SeqCst) {
        shared.abort();
        return Ok(());
    }
    let kind = match shared.next_handshake_event()? {
        Event::Request(kind) => kind,
        Event::Error(e) => {
            // The core queued its HTTP error answer and it went out.
            shared.linger(After::HttpAnswer);
            return Err(e.into());
        }
        other => {
            return Err(Error::new(ErrorKind::Protocol, format!("unexpected handshake event {other:?}")))
        }
    };
    let request = shared.request().expect("a request event comes with its request");
    let decision = match kind {
        RequestKind::Http => Err(match &context.http_handler {
            Some(answer) => answer(&request),
            None => default_page(&request),
        }),
        RequestKind::WebSocket(_) => (context.conn_headers)(&request),
    };
    let user_state = match decision {
        Ok((accept, user_state)) => {
            // The seed's `ws-conn-headers` on a server (`Connection::headers`).
            shared.set_accepted_headers(accept.headers.clone());
            match shared.command(|core| core.accept(accept)) {
                Ok(()) => user_state,
                Err(e) if e.kind() == ErrorKind::Misuse => {
                    // The hook asked for something the handshake cannot carry.
                    let response = HttpResponse::text(500, &format!("{e}\n"));
                    shared.command(|core| core.respond(response))?;
                    shared.linger(After::HttpAnswer);
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(response) => {
            shared.command(|core| core.respond(response))?;
            shared.linger(After::HttpAnswer);
            return Ok(());
        }
    };
    match shared.next_handshake_event()? {
        Event::Open => {}
        Event::Error(e) => return Err(e.into()),
        other => {
            return Err(Error::new(ErrorKind::Protocol, format!("unexpected handshake event {other:?}")))
        }
    }
    let conn = Connection::from_shared(Arc::clone(&shared));
    handler(conn.clone(), user_state);
    // The seed: the handler is in control until it returns; then the
    // connection is done.
    let closed = conn.close();
    shared.linger(After::End);
    closed
}

/// The connection's transport: for TLS, once its handshake is done, by
/// `deadline` (see [`transport::tls`]).
fn handshake_transport<S>(
    stream: TcpStream,
    context: &Context<S>,
    deadline: Option<Instant>,
) -> Result<(transport::ReadHalf, transport::WriteHalf), Error> {
    #[cfg(feature = "tls")]
    if let Some(tls) = &context.tls {
        let halves = transport::tls(stream, tls.session()?, deadline).map_err(Error::tls_handshake)?;
        return Ok(halves);
    }
    let _ = (context, deadline);
    Ok(transport::plain(Box::new(stream.try_clone()?), Box::new(stream)))
}

/// The answer to a plain HTTP request when the application gave none.
pub(crate) fn default_page(request: &RequestHead) -> HttpResponse {
    if request.method != "GET" {
        let mut response = HttpResponse::text(405, "method not allowed\n");
        response.headers.push(hybi_core::Header::new("Allow", "GET"));
        return response;
    }
    HttpResponse::text(
        200,
        concat!(
            "hybi ",
            env!("CARGO_PKG_VERSION"),
            ": a WebSocket server (draft-76 and RFC 6455).\n",
            "Connect with a WebSocket client, e.g. `hybi connect ws://HOST:PORT/`.\n"
        ),
    )
}

/// How often the reaper looks at the connections it lingers over.
const REAP_EVERY: Duration = Duration::from_millis(10);

/// Refuses connections over a limit with a 503 (plain TCP; over TLS there
/// is no plaintext to answer with, so just an orderly close), without the
/// accept loop ever waiting on a client.
///
/// The answer is written by the accepting thread itself, on a socket made
/// non-blocking: a fresh socket's send buffer takes those hundred-odd bytes
/// at once, and a client that does not read cannot stall the loop (at worst
/// its answer is cut). Our side is then shut, so the answer is followed by
/// a FIN, and the socket goes to one reaper thread that lingers over many
/// at once: it reads and drops what each client sends, without blocking,
/// until the client hangs up or [`REFUSED_LINGER`] passes, and then closes
/// it.
///
/// Why linger at all: closing a socket with unread input makes the kernel
/// reset the connection, and a client that gets the RST before it reads the
/// 503 may lose it (Windows drops received data on a reset). Why one reaper
/// for all rather than a linger per connection in turn: refusals come in
/// bursts, and a linger of 200 ms each, one after the other, kept a burst
/// of clients seconds from their 503 and reset, unanswered, the ones past
/// its queue. The reaper holds at most [`MAX_LINGERING`]; past that, a
/// refused socket is drained of what already arrived and closed at once.
/// Its 503 went out first, so the worst a client then sees is a reset after
/// the answer.
struct Refuser {
    /// The answer past `max_connections`, and past `max_connections_per_ip`
    /// (empty over TLS).
    full: Vec<u8>,
    full_for_ip: Vec<u8>,
    reaper: Option<(Sender<TcpStream>, JoinHandle<()>)>,
    /// Sockets sent to the reaper and not yet closed by it.
    lingering: Arc<AtomicUsize>,
}

impl Refuser {
    fn start(plain: bool) -> Refuser {
        let answer = |why: Refusal| if plain { why.answer() } else { Vec::new() };
        let lingering = Arc::new(AtomicUsize::new(0));
        let (sender, incoming) = mpsc::channel();
        let count = Arc::clone(&lingering);
        let reaper = thread::Builder::new()
            .name("hybi-refused".into())
            .spawn(move || reap(&incoming, &count))
            .ok()
            .map(|thread| (sender, thread));
        Refuser { full: answer(Refusal::Full), full_for_ip: answer(Refusal::FullForIp), reaper, lingering }
    }

    /// Answers and closes `stream` (or leaves it to the reaper to close);
    /// never blocks.
    fn refuse(&self, mut stream: TcpStream, why: Refusal) {
        if stream.set_nonblocking(true).is_err() {
            return;
        }
        let answer = match why {
            Refusal::Full => &self.full,
            Refusal::FullForIp => &self.full_for_ip,
        };
        if !answer.is_empty() {
            let _ = stream.write(answer);
        }
        let _ = stream.shutdown(Shutdown::Write);
        if let Some((reaper, _)) = &self.reaper {
            if self.lingering.fetch_add(1, Ordering::SeqCst) < MAX_LINGERING {
                match reaper.send(stream) {
                    Ok(()) => return,
                    Err(mpsc::SendError(back)) => stream = back,
                }
            }
            self.lingering.fetch_sub(1, Ordering::SeqCst);
        }
        drain_refused(&mut stream, &mut 0);
    }
}

impl Drop for Refuser {
    fn drop(&mut self) {
        // The reaper closes what it holds once its channel is gone.
        if let Some((sender, thread)) = self.reaper.take() {
            drop(sender);
            let _ = thread.join();
        }
    }
}

/// The reaper's loop: takes refused sockets, drains each every
/// [`REAP_EVERY`], closes each when its client hung up or its linger is
/// over. Ends, closing all it holds, when the refuser is dropped.
fn reap(incoming: &Receiver<TcpStream>, lingering: &AtomicUsize) {
    struct Held {
        stream: TcpStream,
        until: Instant,
        read: usize,
    }
    let mut held: Vec<Held> = Vec::new();
    loop {
        let next = if held.is_empty() {
            incoming.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            incoming.recv_timeout(REAP_EVERY)
        };
        match next {
            Ok(stream) => held.push(Held { stream, until: Instant::now() + REFUSED_LINGER, read: 0 }),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        while let Ok(stream) = incoming.try_recv() {
            held.push(Held { stream, until: Instant::now() + REFUSED_LINGER, read: 0 });
        }
        let now = Instant::now();
        let before = held.len();
        held.retain_mut(|h| drain_refused(&mut h.stream, &mut h.read) && now < h.until);
        lingering.fetch_sub(before - held.len(), Ordering::SeqCst);
    }
}

/// Reads and drops what a refused client has sent, without waiting (the
/// socket is non-blocking), counting it in `read`. Whether to keep
/// lingering: false once the client hung up, failed, or sent more than
/// [`REFUSED_READ_MAX`].
fn drain_refused(stream: &mut TcpStream, read: &mut usize) -> bool {
    use std::io::Read;
    let mut sink = [0u8; 4096];
    while *read < REFUSED_READ_MAX {
        match stream.read(&mut sink) {
            Ok(0) => return false,
            Ok(n) => *read += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    false
}

/// The getters both servers' handles have, over their `local_addr`,
/// `state.live` (the connections served, handshakes included) and `budget`
/// fields: one definition and one set of docs for the blocking
/// [`ServerHandle`] and the async one.
macro_rules! server_handle_getters {
    () => {
        /// The address the server listens on (with the port picked when
        /// asked for port 0).
        pub fn local_addr(&self) -> SocketAddr {
            self.local_addr
        }

        /// How many connections are being served now, handshakes included.
        pub fn connections(&self) -> usize {
            lock(&self.state.live).conns.len()
        }

        /// Bytes charged to the memory budget now (see
        /// [`ServeOptions::memory_budget`](crate::ServeOptions::memory_budget)):
        /// what all connections hold for data in transit beyond the first
        /// 64 KiB of each. `None` without a budget.
        pub fn buffered_bytes(&self) -> Option<usize> {
            self.budget.as_ref().map(|b| b.used())
        }
    };
}
#[cfg(feature = "tokio")]
pub(crate) use server_handle_getters;

impl ServerHandle {
    server_handle_getters!();

    /// Stops the server: stops accepting, sends every open connection a
    /// close (RFC 6455 code 1001, going away), waits up to the close timeout
    /// for handlers to finish, shuts the sockets of any still running (their
    /// `recv` ends), and joins every thread. A handler that ignores its
    /// connection ending keeps `stop` waiting.
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// Blocks until a [`ServerStopper`] of this server stops it, then
    /// finishes stopping as [`stop`](Self::stop) does. With no stopper
    /// handed out, serves until the process ends (what `hybi serve` does).
    ///
    /// ```
    /// use hybi::{serve, ServeOptions};
    /// let server = serve(
    ///     |conn, ()| {
    ///         while let Ok(Some(message)) = conn.recv() {
    ///             let _ = conn.send(&message);
    ///         }
    ///     },
    ///     ServeOptions { port: 0, listen_ip: Some([127, 0, 0, 1].into()), ..ServeOptions::default() },
    /// )?;
    /// let stopper = server.stopper();
    /// std::thread::spawn(move || {
    ///     // ... a signal, an admin command, a test being done ...
    ///     stopper.stop();
    /// });
    /// server.wait();
    /// # Ok::<(), hybi::Error>(())
    /// ```
    pub fn wait(mut self) {
        if let Some(accept_thread) = self.accept_thread.take() {
            // The accept loop ends only when a stopper sets `stopping`.
            let _ = accept_thread.join();
        }
        self.finish_shutdown();
    }

    /// A handle that stops this server from elsewhere (another thread, a
    /// signal handler's thread) while the owner of the [`ServerHandle`]
    /// waits in [`wait`](Self::wait).
    pub fn stopper(&self) -> ServerStopper {
        ServerStopper {
            state: Arc::clone(&self.state),
            listener: Arc::clone(&self.listener),
            local_addr: self.local_addr,
        }
    }

    fn shutdown(&mut self) {
        let Some(accept_thread) = self.accept_thread.take() else { return };
        self.stopper().stop();
        let _ = accept_thread.join();
        self.finish_shutdown();
    }

    /// What stopping does once the accept loop has ended: closes the open
    /// connections and joins their threads.
    fn finish_shutdown(&mut self) {
        let state = &self.state;

        let conns: Vec<(TcpStream, Option<Arc<Shared>>)> = lock(&state.live)
            .conns
            .values()
            .filter_map(|c| Some((c.stream.try_clone().ok()?, c.shared.as_ref().and_then(Weak::upgrade))))
            .collect();
        for (stream, shared) in &conns {
            match shared {
                Some(shared) if shared.try_go_away("server shutting down") => {}
                // Still in the handshake, or its writer is stuck: cut it.
                Some(shared) => shared.abort(),
                None => {
                    let _ = stream.shutdown(Shutdown::Both);
                }
            }
        }
        drop(conns);

        let deadline = Instant::now() + state.close_timeout + Duration::from_millis(500);
        let mut live = lock(&state.live);
        while !live.conns.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            live = state.thread_ended.wait_timeout(live, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        for conn in live.conns.values() {
            if let Some(shared) = conn.shared.as_ref().and_then(Weak::upgrade) {
                shared.abort();
            }
            let _ = conn.stream.shutdown(Shutdown::Both);
        }
        drop(live);
        let threads = std::mem::take(&mut *lock(&state.threads));
        for thread in threads {
            let _ = thread.join();
        }
    }
}

/// Stops a server from a thread other than its [`ServerHandle`]'s owner:
/// the handle's [`wait`](ServerHandle::wait) (or [`stop`](ServerHandle::stop)
/// or drop) then closes the connections and joins the threads. Cheap to
/// clone; stopping twice, or after the server stopped, does nothing.
#[derive(Clone, Debug)]
pub struct ServerStopper {
    state: Arc<ServerState>,
    listener: Arc<TcpListener>,
    local_addr: SocketAddr,
}

impl ServerStopper {
    /// Stops accepting connections and wakes the accept loop, so that a
    /// [`ServerHandle::wait`] goes on to close the open connections.
    pub fn stop(&self) {
        if !self.state.stopping.swap(true, Ordering::SeqCst) {
            wake_accept(&self.listener, self.local_addr);
        }
    }
}

/// Wakes an accept loop blocked in `accept` by connecting to it.
fn wake_accept(listener: &TcpListener, addr: SocketAddr) {
    let ips = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        // A dual-stack listener takes IPv4 too, where IPv6 loopback is off.
        IpAddr::V6(ip) if ip.is_unspecified() => {
            vec![IpAddr::V6(Ipv6Addr::LOCALHOST), IpAddr::V4(Ipv4Addr::LOCALHOST)]
        }
        ip => vec![ip],
    };
    let woken = ips.into_iter().any(|ip| {
        TcpStream::connect_timeout(&SocketAddr::new(ip, addr.port()), Duration::from_secs(1)).is_ok()
    });
    if !woken {
        // Linux wakes `accept` on a listener shut down for reading.
        let _ = socket2::SockRef::from(listener).shutdown(Shutdown::Read);
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_options_follow_the_seed() {
        let options = ServeOptions::<()>::default();
        assert_eq!((options.port, options.max_waiting), (80, 4));
        assert_eq!(options.timeout, Duration::from_secs(3600));
        assert_eq!(options.listen_ip, None);
        assert_eq!((options.max_connections, options.max_connections_per_ip), (1024, 64));
        assert_eq!(options.core_config().timeouts.idle, Some(Duration::from_secs(3600)));
    }

    #[test]
    fn timeouts_idle_when_set_wins_over_timeout() {
        let mut options = ServeOptions::<()> { timeout: Duration::from_secs(5), ..ServeOptions::default() };
        assert_eq!(options.core_config().timeouts.idle, Some(Duration::from_secs(5)));
        options.config.timeouts.idle = Some(Duration::from_secs(7));
        assert_eq!(options.core_config().timeouts.idle, Some(Duration::from_secs(7)));
        options = ServeOptions { timeout: Duration::ZERO, ..ServeOptions::default() };
        assert_eq!(options.core_config().timeouts.idle, None, "zero: no idle timeout");
    }
}
