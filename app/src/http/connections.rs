//! Serving connections so that strangers cannot hold the server: a header read timeout
//! (hyper's), a body read timeout (no progress for a while ends the body with
//! [`BodyTimedOut`]), an idle timeout between requests, and a cap on open connections.
//! At the cap the connection that has been idle longest is closed to make room; when
//! every connection has a request in flight the newcomer is refused.
//!
//! Per request this costs relaxed atomic writes on the connection's own counters and no
//! clock read (the connection's periodic check stamps the times); the shared table is
//! touched only when a connection opens or closes. Everything a request needs from the
//! server is reached through its connection's [`Shared`], so no reference count shared
//! by all connections is written per request.

use std::{
    collections::HashMap,
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::{
    body::{Body, HttpBody},
    extract::ConnectInfo,
};
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{net::TcpListener, sync::Notify, task::JoinSet};
use tower_service::Service;

use crate::{
    config::LimitsConfig,
    handlers::{axum_answer, AnswerBody, App},
    http::{cors, Peer},
    modules::ConnectionPin,
    state::AppState,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body that made no progress for the body read timeout.
#[derive(Debug)]
pub(crate) struct BodyTimedOut;

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the client sent no part of the request body in time")
    }
}

impl std::error::Error for BodyTimedOut {}

/// [`Connection::head_started_ms`] when no request head is being read.
const NO_HEAD: u64 = u64::MAX;

/// A time not yet read: the event happened (a head started, the connection became idle)
/// and the connection's next periodic check stamps it with the time, so that no request
/// reads the clock. A time is then late by at most one check interval.
const UNSTAMPED: u64 = u64::MAX - 1;

/// One open connection, as the table and its own task see it.
struct Connection {
    id: u64,
    /// Requests whose answer is not yet fully written.
    in_flight: AtomicUsize,
    /// Milliseconds since the table's start when the connection last became idle (or
    /// [`UNSTAMPED`]).
    idle_since_ms: AtomicU64,
    /// Milliseconds since the table's start when the connection was accepted (for its
    /// first request) or when the first byte of a later request head arrived with no
    /// request in flight; [`NO_HEAD`] once the head is complete (hyper called the
    /// service) and until the next head's first byte ([`UNSTAMPED`] until the periodic
    /// check reads the clock). The header read timeout is judged on it.
    head_started_ms: AtomicU64,
    /// Told when the connection is shed.
    close: Notify,
}

/// The open connections of one listener.
struct Table {
    start: Instant,
    open: Mutex<HashMap<u64, Arc<Connection>>>,
    next_id: AtomicU64,
}

impl Table {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Admits a connection, shedding the longest-idle one at the cap; `None` when every
    /// open connection is busy.
    fn admit(&self, max: usize) -> Option<Arc<Connection>> {
        let mut open = self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if open.len() >= max.max(1) {
            let victim = open
                .values()
                .filter(|c| c.in_flight.load(Ordering::Relaxed) == 0)
                .min_by_key(|c| c.idle_since_ms.load(Ordering::Relaxed))
                .cloned()?;
            open.remove(&victim.id);
            victim.close.notify_one();
            tracing::debug!("connection cap reached: closed the longest-idle connection");
        }
        let now = self.now_ms();
        let connection = Arc::new(Connection {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(now),
            // A new connection's first head is timed from the accept: one that sends
            // nothing at all is cut after the header timeout too.
            head_started_ms: AtomicU64::new(now),
            close: Notify::new(),
        });
        open.insert(connection.id, connection.clone());
        Some(connection)
    }

    fn remove(&self, id: u64) {
        self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&id);
    }
}

/// What the requests of one connection share. A request clones this one `Arc`, which only
/// its own connection's requests touch: the server-wide `Arc`s (the state, the app, the
/// table, the module registry) are cloned once per connection. On two cores, a count
/// that every request writes is a cache line bouncing between them.
struct Shared {
    app: App,
    state: Arc<AppState>,
    connection: Arc<Connection>,
    peer: Peer,
    body_timeout: Duration,
    /// The module registry this connection's requests are pinned to.
    registry: ConnectionPin,
}

/// Marks a request in flight until its answer's body is dropped.
struct InFlight {
    shared: Arc<Shared>,
}

impl InFlight {
    fn start(shared: &Arc<Shared>) -> Self {
        shared.connection.in_flight.fetch_add(1, Ordering::Relaxed);
        // The head is complete: hyper parsed it.
        shared.connection.head_started_ms.store(NO_HEAD, Ordering::Relaxed);
        Self { shared: shared.clone() }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let shared = &*self.shared;
        shared.connection.idle_since_ms.store(UNSTAMPED, Ordering::Relaxed);
        shared.connection.in_flight.fetch_sub(1, Ordering::Relaxed);
        // A registry a reload replaced while this request ran is not kept alive by an
        // idle connection.
        shared.registry.release_if_stale(&shared.state.modules);
    }
}

/// An answer body that keeps its request in flight until it is written. It is the body
/// hyper writes, unboxed: an answer known in full is not boxed into axum's `Body`.
struct Tracked {
    inner: AnswerBody,
    _in_flight: InFlight,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request body that fails with [`BodyTimedOut`] after `timeout` without progress.
/// The timer exists only while the body is waited on.
struct TimedBody {
    inner: Incoming,
    timeout: Duration,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                if let Some(deadline) = &mut this.deadline {
                    deadline.as_mut().reset(tokio::time::Instant::now() + this.timeout);
                }
                Poll::Ready(frame.map(|result| result.map_err(Into::into)))
            }
            Poll::Pending => {
                let timeout = this.timeout;
                let deadline = this.deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimedOut)))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

pin_project_lite::pin_project! {
    /// The connection's socket, noting when a request head starts to arrive: the header
    /// read timeout is judged by the connection's own periodic check, not by a timer per
    /// request (hyper's `header_read_timeout` boxes and arms one for every request, about
    /// a tenth of the server's CPU per request on loopback).
    struct Watched {
        #[pin]
        stream: tokio::net::TcpStream,
        connection: Arc<Connection>,
    }
}

impl tokio::io::AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let result = std::task::ready!(this.stream.poll_read(cx, buf));
        let connection = &**this.connection;
        if buf.filled().len() > before
            && connection.in_flight.load(Ordering::Relaxed) == 0
            && connection.head_started_ms.load(Ordering::Relaxed) == NO_HEAD
        {
            connection.head_started_ms.store(UNSTAMPED, Ordering::Relaxed);
        }
        Poll::Ready(result)
    }
}

impl tokio::io::AsyncWrite for Watched {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.project().stream.poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.project().stream.poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().stream.poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().stream.poll_shutdown(cx)
    }
}

/// Serves `app` on `listener` under `limits` until `shutdown` completes; then stops
/// accepting, lets in-flight requests finish and returns.
pub(crate) async fn serve(
    listener: TcpListener,
    app: App,
    state: Arc<AppState>,
    limits: LimitsConfig,
    x_forwarded: bool,
    shutdown: impl Future<Output = ()> + Send,
) {
    let table = Arc::new(Table { start: Instant::now(), open: Mutex::new(HashMap::new()), next_id: AtomicU64::new(0) });
    let mut builder = http1::Builder::new();
    // The header read timeout is the connection task's own check (see `Watched`).
    builder.timer(TokioTimer::new()).header_read_timeout(None).keep_alive(true);
    let (stopping, stop) = tokio::sync::watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut last_refusal_log: Option<Instant> = None;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        while tasks.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: wait for connections to close.
                tracing::warn!("accepting a connection failed: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(connection) = table.admit(limits.max_connections) else {
            if last_refusal_log.is_none_or(|at| at.elapsed() > Duration::from_secs(10)) {
                tracing::warn!(
                    "refusing connections: all {} connections have a request in flight (limits.max_connections)",
                    limits.max_connections
                );
                last_refusal_log = Some(Instant::now());
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        tasks.spawn(serve_connection(
            stream,
            Peer::new(peer, x_forwarded),
            app.clone(),
            state.clone(),
            builder.clone(),
            ConnectionScope { table: table.clone(), connection, limits: limits.clone(), stop: stop.clone() },
        ));
    }
    drop(listener);
    let _ = stopping.send(true);
    while tasks.join_next().await.is_some() {}
}

/// What one connection's task shares with the listener.
struct ConnectionScope {
    table: Arc<Table>,
    connection: Arc<Connection>,
    limits: LimitsConfig,
    stop: tokio::sync::watch::Receiver<bool>,
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: Peer,
    app: App,
    state: Arc<AppState>,
    builder: http1::Builder,
    mut scope: ConnectionScope,
) {
    let shared = Arc::new(Shared {
        app,
        state,
        connection: scope.connection.clone(),
        peer,
        body_timeout: scope.limits.body_read_timeout(),
        registry: ConnectionPin::default(),
    });
    let service = {
        let shared = shared.clone();
        hyper::service::service_fn(move |request: http::Request<Incoming>| {
            let in_flight = InFlight::start(&shared);
            // A request with no body (every GET) has nothing to time or box.
            let request = request.map(|inner| match inner.is_end_stream() {
                true => Body::empty(),
                false => Body::new(TimedBody { inner, timeout: shared.body_timeout, deadline: None }),
            });
            // The request is served by the module registry current now, to its end. Its
            // future (about 2 KB) is built in its one allocation rather than moved, by
            // value, through `pin` and into hyper's slot for it.
            shared.state.modules.pin(&shared.registry, Box::pin(serve_request(request, in_flight)))
        })
    };
    let stream = Watched { stream, connection: scope.connection.clone() };
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    let idle_timeout = scope.limits.idle_timeout();
    let header_timeout = scope.limits.header_read_timeout();
    let mut idle_check = tokio::time::interval((idle_timeout.min(header_timeout) / 4).max(Duration::from_millis(50)));
    // Made once and polled in place: a `Notified` or `changed()` made anew on every wake-up
    // (that is, every request) would join and leave its waiter list each time.
    let mut close = std::pin::pin!(scope.connection.close.notified());
    let mut stop = std::pin::pin!(scope.stop.changed());
    loop {
        tokio::select! {
            // The connection first: it is what wakes the task, request after request.
            biased;
            _ = connection.as_mut() => break,
            () = close.as_mut() => break,
            _ = stop.as_mut() => {
                connection.as_mut().graceful_shutdown();
                let _ = connection.as_mut().await;
                break;
            }
            _ = idle_check.tick() => {
                let now = scope.table.now_ms();
                for stamp in [&scope.connection.idle_since_ms, &scope.connection.head_started_ms] {
                    let _ = stamp.compare_exchange(UNSTAMPED, now, Ordering::Relaxed, Ordering::Relaxed);
                }
                // An idle kept-alive connection lets a registry that a reload replaced go
                // within one check (a request in flight keeps its own handle on it).
                shared.registry.release_if_stale(&shared.state.modules);
                if scope.connection.in_flight.load(Ordering::Relaxed) > 0 {
                    continue;
                }
                let head_started = scope.connection.head_started_ms.load(Ordering::Relaxed);
                if head_started != NO_HEAD && now.saturating_sub(head_started) > millis(header_timeout) {
                    tracing::debug!("closed a connection whose request head took longer than limits.header_read_timeout_ms");
                    break;
                }
                let since = scope.connection.idle_since_ms.load(Ordering::Relaxed);
                if now.saturating_sub(since) > millis(idle_timeout) {
                    break;
                }
            }
        }
    }
    scope.table.remove(scope.connection.id);
}

/// Serves one request of a connection: a CORS preflight, the front door's, or the
/// router's.
async fn serve_request(
    request: http::Request<Body>,
    in_flight: InFlight,
) -> Result<http::Response<Tracked>, Infallible> {
    let shared = &*in_flight.shared;
    let cors = cors::applies(request.uri().path());
    let mut response = if cors && request.method() == http::Method::OPTIONS {
        axum_answer(cors::preflight())
    } else if let Some(answer) = shared.app.front.route(&request) {
        shared.app.front.serve(answer, request, &shared.state).await
    } else {
        // The client's address, for the router's handlers (the rate limiter keys on it);
        // the front door's answers do not read it.
        let mut request = request;
        request.extensions_mut().insert(ConnectInfo(shared.peer));
        match shared.app.router.clone().call(request).await {
            Ok(response) => axum_answer(response),
            Err(never) => match never {},
        }
    };
    if cors {
        cors::add_headers(response.headers_mut());
    }
    Ok(response.map(|inner| Tracked { inner, _in_flight: in_flight }))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
