//! Accepting connections, and what every client must keep to before any request is read:
//! a bounded number of connections per address and in all, request headers complete within a
//! few seconds (slowloris), and a connection that takes what we write (a writer stuck for
//! long is closed). TLS handshakes run off the accept loop; stopping is graceful.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_io_timeout::TimeoutStream;
use tokio_util::either::Either;
use tower::ServiceExt;

use crate::contract::Shared;
use crate::hangup::Hangup;
use crate::sync::lock;
use crate::tls::Handshake;

/// A connection that takes nothing we write for this long is closed (its client is stuck).
pub const WRITE_STALL: Duration = Duration::from_secs(15);
/// A TLS handshake must be done within this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stop waits for requests in progress.
const DRAIN_FOR: Duration = Duration::from_secs(5);

/// How many connections the server takes, and how long a client may take over its headers.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// From one client address (0: no limit). A classroom behind one NAT shares an address.
    pub per_ip: usize,
    /// In all (0: no limit).
    pub total: usize,
    /// A client must have sent its request headers this long after it began them.
    pub header_timeout: Duration,
}

/// Serves `router` on `tcp` (over TLS with `tls`) until `shutdown` completes.
pub async fn serve(
    tcp: TcpListener,
    tls: Option<Handshake>,
    router: Router,
    limits: ConnectionLimits,
    shared: Arc<Shared>,
    shutdown: impl std::future::Future<Output = ()>,
) -> io::Result<()> {
    let metrics = &shared.metrics;
    let gate = Arc::new(Gate::new(limits));
    let graceful = GracefulShutdown::new();
    let mut fd_limit_logged: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = tcp.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors (or a passing error): keep serving who is here.
                    if is_fd_limit(&error) && fd_limit_logged.is_none_or(|at| at.elapsed() > Duration::from_secs(10)) {
                        fd_limit_logged = Some(Instant::now());
                        tracing::error!(%error, "refusing new connections: the process is out of file descriptors (raise `ulimit -n`); existing clients are still served");
                    }
                    metrics.connection_refused("accept_failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(pass) = gate.admit(peer.ip()) else {
            metrics.connection_refused(gate.why_full(peer.ip()));
            metrics.warn_input(
                "-",
                &peer,
                "connect",
                "too many connections; this one was closed",
            );
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            stream,
            peer,
            pass,
            tls: tls.clone(),
            router: router.clone(),
            shared: shared.clone(),
            header_timeout: limits.header_timeout,
        };
        let watcher = graceful.watcher();
        // One of the server's tasks: one still busy after the drain below ends with the server.
        shared.tasks.spawn(connection.run(watcher));
    }
    drop(tcp);
    if tokio::time::timeout(DRAIN_FOR, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!("stopped waiting for connections that are still busy");
    }
    Ok(())
}

/// One accepted connection, before and while it is served.
struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    /// Counts this connection against the limits for as long as it lives.
    pass: Pass,
    tls: Option<Handshake>,
    router: Router,
    shared: Arc<Shared>,
    header_timeout: Duration,
}

impl Connection {
    async fn run(self, watcher: hyper_util::server::graceful::Watcher) {
        let Connection {
            stream,
            peer,
            pass,
            tls,
            router,
            shared,
            header_timeout,
        } = self;
        let mut timed = TimeoutStream::new(stream);
        timed.set_write_timeout(Some(WRITE_STALL));
        let hangup = Hangup::default();
        let guarded = Guarded {
            inner: Box::pin(timed),
            hangup: hangup.clone(),
            _pass: pass,
        };
        let service = router.map_request(move |request: hyper::Request<hyper::body::Incoming>| {
            let mut request = request.map(axum::body::Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            request.extensions_mut().insert(hangup.clone());
            request
        });
        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout);
        // Plain or TLS, one type for hyper (no boxing, no second copy of what follows).
        let io = match tls {
            None => Either::Left(guarded),
            Some(handshake) => {
                let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake.accept(guarded));
                match handshake.await {
                    Ok(Ok(Some(tls))) => Either::Right(tls),
                    // An ACME validation, answered by the handshake itself.
                    Ok(Ok(None)) => return,
                    Ok(Err(error)) => return tracing::debug!(%peer, %error, "TLS handshake failed"),
                    Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
                }
            }
        };
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(service))
            .into_owned();
        let served = watcher.watch(connection).await;
        if let Err(error) = served {
            let timed_out = error
                .downcast_ref::<hyper::Error>()
                .is_some_and(hyper::Error::is_timeout);
            if timed_out {
                shared.metrics.header_timeout();
                tracing::debug!(%peer, "closed a connection whose request headers did not arrive in time");
            } else {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        }
    }
}

fn is_fd_limit(error: &io::Error) -> bool {
    // EMFILE (process) and ENFILE (system), as Linux numbers them.
    matches!(error.raw_os_error(), Some(23 | 24))
}

/// Live connections per client address and in all.
struct Gate {
    limits: ConnectionLimits,
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

impl Gate {
    fn new(limits: ConnectionLimits) -> Gate {
        Gate {
            limits,
            counts: Mutex::default(),
        }
    }

    /// A pass for one more connection from `ip`, if the limits allow it.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Pass> {
        let mut counts = lock(&self.counts);
        let from_ip = counts.per_ip.get(&ip).copied().unwrap_or(0);
        let over = |limit: usize, count: usize| limit != 0 && count >= limit;
        if over(self.limits.total, counts.total) || over(self.limits.per_ip, from_ip) {
            return None;
        }
        counts.total += 1;
        counts.per_ip.insert(ip, from_ip + 1);
        Some(Pass {
            gate: self.clone(),
            ip,
        })
    }

    fn why_full(&self, ip: IpAddr) -> &'static str {
        let counts = lock(&self.counts);
        if self.limits.total != 0 && counts.total >= self.limits.total {
            "max_connections"
        } else if counts.per_ip.contains_key(&ip) {
            "max_connections_per_ip"
        } else {
            "limit"
        }
    }

    fn release(&self, ip: IpAddr) {
        let mut counts = lock(&self.counts);
        counts.total = counts.total.saturating_sub(1);
        if let Some(count) = counts.per_ip.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                counts.per_ip.remove(&ip);
            }
        }
    }
}

/// One connection's place in the [`Gate`], given back when it is dropped.
struct Pass {
    gate: Arc<Gate>,
    ip: IpAddr,
}

impl Drop for Pass {
    fn drop(&mut self) {
        self.gate.release(self.ip);
    }
}

/// A connection that holds its pass for as long as it is open, WebSocket upgrades included.
struct Guarded {
    inner: Pin<Box<TimeoutStream<TcpStream>>>,
    hangup: Hangup,
    _pass: Pass,
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(error) = self.hangup.check_read(cx) {
            return Poll::Ready(Err(error));
        }
        self.inner.as_mut().poll_read(cx, buf)
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(error) = self.hangup.check_write(cx) {
            return Poll::Ready(Err(error));
        }
        self.inner.as_mut().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Some(error) = self.hangup.check_write(cx) {
            return Poll::Ready(Err(error));
        }
        self.inner.as_mut().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.as_mut().poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_counts_per_address_and_in_all() {
        let gate = Arc::new(Gate::new(ConnectionLimits {
            per_ip: 2,
            total: 3,
            header_timeout: Duration::from_secs(5),
        }));
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = gate.admit(a).unwrap();
        let _second = gate.admit(a).unwrap();
        assert!(gate.admit(a).is_none(), "a third from one address");
        assert_eq!(gate.why_full(a), "max_connections_per_ip");
        let _third = gate.admit(b).unwrap();
        assert!(gate.admit(b).is_none(), "a fourth in all");
        assert_eq!(gate.why_full(b), "max_connections");
        drop(first);
        assert!(
            gate.admit(b).is_some(),
            "a closed connection frees its place"
        );
    }

    #[test]
    fn zero_means_no_limit() {
        let gate = Arc::new(Gate::new(ConnectionLimits {
            per_ip: 0,
            total: 0,
            header_timeout: Duration::from_secs(5),
        }));
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let passes: Vec<Pass> = (0..1000).filter_map(|_| gate.admit(ip)).collect();
        assert_eq!(passes.len(), 1000);
    }
}
