//! Sending typed events in one namespace, counted for `/metrics`.

use std::marker::PhantomData;
use std::sync::Arc;

use app::protocol::{Namespace, PeerId, ServerEvent};
use socketioxide::adapter::{Adapter, LocalAdapter};
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;
use socketioxide::{BroadcastError, SendError, SocketError, SocketIo};

use crate::metrics::Metrics;

/// Namespace `N` of a running server. Cheap to clone.
pub struct Nsp<N, A: Adapter = LocalAdapter> {
    io: SocketIo<A>,
    /// This server's counters.
    metrics: Arc<Metrics>,
    _namespace: PhantomData<fn() -> N>,
}

impl<N, A: Adapter> Clone for Nsp<N, A> {
    fn clone(&self) -> Self {
        Nsp {
            io: self.io.clone(),
            metrics: self.metrics.clone(),
            _namespace: PhantomData,
        }
    }
}

impl<N: Namespace, A: Adapter> Nsp<N, A> {
    pub fn new(io: &SocketIo<A>, metrics: &Arc<Metrics>) -> Self {
        Nsp {
            io: io.clone(),
            metrics: metrics.clone(),
            _namespace: PhantomData,
        }
    }

    pub fn io(&self) -> &SocketIo<A> {
        &self.io
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Sends `E` to one socket. A failure (the socket just left, or its buffer is full) is
    /// logged and counted.
    pub fn emit<E: ServerEvent<Namespace = N>>(&self, socket: &SocketRef<A>, args: &E::Args) {
        match socket.emit(E::NAME, args) {
            Ok(()) => self.metrics.events_out(N::PATH, 1),
            Err(SendError::Socket(SocketError::InternalChannelFull)) => {
                self.metrics.dropped(N::PATH, 1)
            }
            Err(error) => {
                tracing::warn!(ns = N::PATH, sid = %socket.id, event = E::NAME, %error, "emit failed")
            }
        }
    }

    /// Sends `E` to every socket of the namespace (the packet is encoded once).
    pub async fn broadcast<E: ServerEvent<Namespace = N>>(&self, args: &E::Args) {
        self.send_to_all::<E>(None, args).await
    }

    /// Sends `E` to every socket of `room`.
    pub async fn broadcast_to<E: ServerEvent<Namespace = N>>(
        &self,
        room: &'static str,
        args: &E::Args,
    ) {
        self.send_to_all::<E>(Some(room), args).await
    }

    async fn send_to_all<E: ServerEvent<Namespace = N>>(
        &self,
        room: Option<&'static str>,
        args: &E::Args,
    ) {
        let Some(operators) = self.io.of(N::PATH) else {
            tracing::error!(
                ns = N::PATH,
                event = E::NAME,
                "broadcast to a namespace that is not served"
            );
            return;
        };
        let operators = match room {
            Some(room) => operators.within(room),
            None => operators,
        };
        let recipients = operators.clone().sockets().len();
        let failed = match operators.emit(E::NAME, args).await {
            Ok(()) => 0,
            Err(BroadcastError::Socket(errors)) => {
                let full = errors
                    .iter()
                    .filter(|e| matches!(e, SocketError::InternalChannelFull))
                    .count();
                if full > 0 {
                    self.metrics.dropped(N::PATH, full);
                }
                errors.len()
            }
            Err(error) => {
                tracing::warn!(ns = N::PATH, event = E::NAME, %error, "broadcast failed");
                recipients
            }
        };
        self.metrics
            .events_out(N::PATH, recipients.saturating_sub(failed));
    }

    /// The connected socket a client named, if it is here.
    pub fn socket(&self, id: &PeerId) -> Option<SocketRef<A>> {
        let sid: Sid = id.as_str().parse().ok()?;
        self.io.of(N::PATH)?.get_socket(sid)
    }

    /// Every connected socket of the namespace.
    pub fn sockets(&self) -> Vec<SocketRef<A>> {
        self.io
            .of(N::PATH)
            .map(|ns| ns.sockets())
            .unwrap_or_default()
            .into_iter()
            .filter(|socket| socket.connected())
            .collect()
    }
}
