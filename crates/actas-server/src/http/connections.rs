//! Accepting connections: how many at once, and for how long each may sit
//! without a request.
//!
//! The accept loop serves HTTP/1.1 with hyper, one task per connection,
//! and keeps, per connection, what it is doing: requests in flight (from
//! the moment a request's head is read until its response body is dropped,
//! so a long-lived feed counts as busy), when it went idle, and when the
//! first byte of a request head that has not completed yet arrived. From
//! that, each connection's task closes it:
//!
//! - a new connection whose first request head is not complete within
//!   [`Limits::header_timeout`];
//! - a keep-alive connection with no request for [`Limits::idle_timeout`];
//! - a started request head not complete within `header_timeout` of its
//!   first byte, however slowly it trickles in.
//!
//! A request's body must then arrive within [`Limits::body_timeout`].
//! At most [`Limits::max_connections`] are open: at the limit, a new
//! connection closes the connection that has been idle longest (one with no
//! request in flight) and waits for its place; when every connection is
//! busy, it waits in the listen backlog for the first to finish.
//!
//! **Invariant:** a connection is only closed between requests (its task
//! checks that no request is in flight, and the connection cannot make
//! progress while its own task checks). Shutdown stops accepting, closes
//! idle connections and lets requests in flight finish.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::Router;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, Semaphore};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// Limits on connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once.
    pub max_connections: usize,
    /// The time to send a whole request head: from the connection's
    /// opening for its first request, from its first byte for later ones.
    pub header_timeout: Duration,
    /// How long a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// The time to send a request's body once its head is in.
    pub body_timeout: Duration,
    /// How long a stopping server waits for the requests in flight (their
    /// writes are committed or refused by then) before it exits anyway.
    pub drain: Duration,
}

impl Default for Limits {
    /// 1,024 connections; 10 s for a head, 60 s idle, 30 s for a body;
    /// 10 s to drain.
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            drain: Duration::from_secs(10),
        }
    }
}

/// The largest request head (and read buffer) of a connection, so that a
/// thousand connections cannot hold more than a few tens of MiB.
const MAX_BUF: usize = 64 * 1024;

/// What one connection is doing; shared by its reads, its requests, its
/// task and the accept loop.
#[derive(Debug)]
struct Conn {
    state: Mutex<State>,
    /// Wakes the connection's task: its state changed, or it is asked to
    /// make room.
    wake: Notify,
    /// The accept loop asks this idle connection to close.
    evict: AtomicBool,
}

#[derive(Debug)]
struct State {
    in_flight: usize,
    /// When the last request ended (the opening, before the first).
    idle_since: Instant,
    /// The first byte of a request head still incomplete.
    head_since: Option<Instant>,
    requests: u64,
}

impl Conn {
    fn new(now: Instant) -> Conn {
        Conn {
            state: Mutex::new(State { in_flight: 0, idle_since: now, head_since: None, requests: 0 }),
            wake: Notify::new(),
            evict: AtomicBool::new(false),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes arrived.
    fn read_some(&self) {
        let mut s = self.state();
        if s.in_flight == 0 && s.head_since.is_none() {
            s.head_since = Some(Instant::now());
            drop(s);
            self.wake.notify_one();
        }
    }

    /// When the connection is closed if nothing happens before; `None`
    /// while a request is in flight.
    fn deadline(&self, limits: &Limits) -> Option<Instant> {
        let s = self.state();
        if s.in_flight > 0 {
            None
        } else if s.requests == 0 {
            Some(s.idle_since + limits.header_timeout)
        } else if let Some(t) = s.head_since {
            Some(t + limits.header_timeout)
        } else {
            Some(s.idle_since + limits.idle_timeout)
        }
    }

    /// Whether to close now: idle and past its deadline or asked to make
    /// room. A request that started since the accept loop asked keeps the
    /// connection.
    fn should_close(&self, limits: &Limits) -> bool {
        let idle = self.state().in_flight == 0;
        let evicted = self.evict.swap(false, Ordering::SeqCst);
        idle && (evicted || self.deadline(limits).is_some_and(|d| d <= Instant::now()))
    }
}

/// A request in flight on a connection, until its response body is dropped.
#[derive(Debug)]
struct InFlight(Arc<Conn>);

impl InFlight {
    fn start(conn: Arc<Conn>) -> InFlight {
        {
            let mut s = conn.state();
            s.in_flight += 1;
            s.requests += 1;
            s.head_since = None;
        }
        InFlight(conn)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        {
            let mut s = self.0.state();
            s.in_flight = s.in_flight.saturating_sub(1);
            if s.in_flight == 0 {
                s.idle_since = Instant::now();
                s.head_since = None;
            }
        }
        self.0.wake.notify_one();
    }
}

/// The socket, telling its connection when bytes arrive.
struct Tracked {
    io: TcpStream,
    conn: Arc<Conn>,
}

impl AsyncRead for Tracked {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.conn.read_some();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// A response body that keeps its request in flight until it is dropped.
struct Guarded {
    body: Body,
    _in_flight: InFlight,
}

impl http_body::Body for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The body of a request did not arrive within [`Limits::body_timeout`].
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimeout(Duration);

/// A request body that fails once its time is up.
struct Deadline {
    body: Incoming,
    at: Instant,
    /// Armed the first time the body is not there yet.
    sleep: Option<Pin<Box<Sleep>>>,
    limit: Duration,
}

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => {
                let at = this.at;
                match this.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at))).as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(BodyTimeout(this.limit).into()))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

type Open = Arc<Mutex<HashMap<u64, Arc<Conn>>>>;

/// Asks the connection idle longest to close; false when none is idle.
fn evict_one(open: &Open) -> bool {
    let open = open.lock().unwrap_or_else(|e| e.into_inner());
    let victim = open
        .values()
        .filter(|c| !c.evict.load(Ordering::SeqCst))
        .filter_map(|c| {
            let s = c.state();
            (s.in_flight == 0).then_some((s.idle_since, c))
        })
        .min_by_key(|(since, _)| *since);
    match victim {
        Some((_, c)) => {
            c.evict.store(true, Ordering::SeqCst);
            c.wake.notify_one();
            true
        }
        None => false,
    }
}

/// Errors of one connection's accept that say nothing about the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// The reconnection delay a stopping server gives open event streams.
pub const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// Serves `app` on `listener` within `limits` until `shutdown` completes,
/// then waits for the requests in flight, at most [`Limits::drain`].
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
    let permits = Arc::new(Semaphore::new(max));
    let open: Open = Arc::default();
    let (closing_tx, closing) = watch::channel(false);
    let mut next_id = 0u64;
    let mut http = hyper::server::conn::http1::Builder::new();
    // hyper's own timer, as a backstop: from the moment it waits for a head
    // until it has it, never longer than an idle wait plus a slow head.
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout.saturating_add(limits.header_timeout))
        .max_buf_size(MAX_BUF);
    tokio::pin!(shutdown);
    'accept: loop {
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors, most likely: let some close.
                    tracing::warn!(error = %e, "cannot accept connections");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
        };
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => loop {
                evict_one(&open);
                tokio::select! {
                    biased;
                    () = &mut shutdown => break 'accept,
                    p = permits.clone().acquire_owned() => match p {
                        Ok(p) => break p,
                        Err(_) => break 'accept,
                    },
                    // A busy connection may have gone idle since.
                    () = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let conn = Arc::new(Conn::new(Instant::now()));
        next_id += 1;
        let id = next_id;
        open.lock().unwrap_or_else(|e| e.into_inner()).insert(id, conn.clone());
        let service = {
            let (app, conn) = (app.clone(), conn.clone());
            let body_timeout = limits.body_timeout;
            hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let in_flight = InFlight::start(conn.clone());
                let mut req = req.map(|body| {
                    Body::new(Deadline { body, at: Instant::now() + body_timeout, sleep: None, limit: body_timeout })
                });
                req.extensions_mut().insert(ConnectInfo(peer));
                let app = app.clone();
                async move {
                    let res = app.oneshot(req).await?;
                    Ok::<_, Infallible>(res.map(|body| Body::new(Guarded { body, _in_flight: in_flight })))
                }
            })
        };
        let served = http.serve_connection(TokioIo::new(Tracked { io: stream, conn: conn.clone() }), service);
        let (open, mut closing) = (open.clone(), closing.clone());
        tokio::spawn(async move {
            let _permit = permit;
            tokio::pin!(served);
            let mut draining = false;
            loop {
                let deadline = conn.deadline(&limits);
                tokio::select! {
                    done = served.as_mut() => {
                        if let Err(e) = done {
                            tracing::debug!(error = %e, %peer, "connection ended with an error");
                        }
                        break;
                    }
                    () = conn.wake.notified() => {
                        if conn.should_close(&limits) {
                            break;
                        }
                    }
                    () = sleep_until(deadline) => {
                        if conn.should_close(&limits) {
                            tracing::debug!(%peer, "closed a connection that sent no request in time");
                            break;
                        }
                    }
                    _ = closing.changed(), if !draining => {
                        draining = true;
                        if conn.state().in_flight == 0 {
                            break;
                        }
                        served.as_mut().graceful_shutdown();
                    }
                }
            }
            open.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        });
    }
    drop(listener);
    let _ = closing_tx.send(true);
    // Every connection holds a permit until its task ends.
    if tokio::time::timeout(limits.drain, permits.acquire_many(max as u32)).await.is_err() {
        let left = open.lock().unwrap_or_else(|e| e.into_inner()).len();
        tracing::warn!(
            connections = left,
            "requests were still in flight when the drain time ran out; stopping anyway"
        );
    }
    Ok(())
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits { max_connections: 4, ..Limits::default() }
    }

    #[test]
    fn deadlines_follow_what_the_connection_is_doing() {
        let l = limits();
        let t = Instant::now();
        let c = Arc::new(Conn::new(t));
        assert_eq!(c.deadline(&l), Some(t + l.header_timeout), "a new connection has a head's time");
        let r = InFlight::start(c.clone());
        assert_eq!(c.deadline(&l), None, "no deadline while a request is in flight");
        drop(r);
        let idle = c.state().idle_since;
        assert_eq!(c.deadline(&l), Some(idle + l.idle_timeout), "then an idle wait");
        c.read_some();
        let head = c.state().head_since.unwrap();
        assert_eq!(c.deadline(&l), Some(head + l.header_timeout), "then a head's time from its first byte");
        let a = InFlight::start(c.clone());
        let b = InFlight::start(c.clone());
        drop(a);
        assert_eq!(c.deadline(&l), None, "still one in flight");
        drop(b);
        assert!(c.deadline(&l).is_some());
    }

    #[test]
    fn the_idle_connection_idle_longest_is_asked_to_make_room_and_a_busy_one_never() {
        let open: Open = Arc::default();
        let t = Instant::now();
        let busy = Arc::new(Conn::new(t));
        let older = Arc::new(Conn::new(t + Duration::from_millis(1)));
        let newer = Arc::new(Conn::new(t + Duration::from_millis(2)));
        let _req = InFlight::start(busy.clone());
        for (i, c) in [&busy, &older, &newer].into_iter().enumerate() {
            open.lock().unwrap().insert(i as u64, (*c).clone());
        }
        assert!(evict_one(&open));
        assert!(older.evict.load(Ordering::SeqCst) && !newer.evict.load(Ordering::SeqCst));
        assert!(evict_one(&open));
        assert!(newer.evict.load(Ordering::SeqCst));
        assert!(!evict_one(&open), "only the busy one is left");
        assert!(!busy.should_close(&limits()));
        assert!(older.should_close(&limits()));
    }
}
