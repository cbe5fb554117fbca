//! Sending typed events in one namespace, counted for `/metrics`.
//!
//! A client whose outgoing buffer is full (it reads slower than we send) is disconnected
//! rather than silently skipped: it reconnects, and its chat has no gap it does not know of.
//! That needs to know which socket refused, so messages go to each socket in turn, encoded
//! once ([`Nsp::broadcast`]). Only state snapshots that the next one supersedes (the seed's
//! full cursor map, 10 a second) use socketioxide's shared broadcast, where a full buffer is
//! counted but cannot be told apart ([`Nsp::broadcast_snapshot`]).

use std::marker::PhantomData;
use std::sync::Arc;

use app::protocol::{Namespace, PeerId, ServerEvent};
use serde::Serialize;
use serde_json::value::RawValue;
use socketioxide::adapter::{Adapter, LocalAdapter};
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;
use socketioxide::{BroadcastError, SendError, SocketError, SocketIo};

use super::Shared;
use crate::metrics::Metrics;

/// Namespace `N` of a running server. Cheap to clone.
pub struct Nsp<N, A: Adapter = LocalAdapter> {
    io: SocketIo<A>,
    /// What the server's namespaces share (counters, limits).
    shared: Arc<Shared>,
    _namespace: PhantomData<fn() -> N>,
}

impl<N, A: Adapter> Clone for Nsp<N, A> {
    fn clone(&self) -> Self {
        Nsp {
            io: self.io.clone(),
            shared: self.shared.clone(),
            _namespace: PhantomData,
        }
    }
}

impl<N: Namespace, A: Adapter> Nsp<N, A> {
    pub fn new(io: &SocketIo<A>, shared: &Arc<Shared>) -> Self {
        Nsp {
            io: io.clone(),
            shared: shared.clone(),
            _namespace: PhantomData,
        }
    }

    pub fn io(&self) -> &SocketIo<A> {
        &self.io
    }

    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Who is connected to this namespace across the cluster, in cluster mode.
    pub fn cluster_members(&self) -> Option<&Arc<crate::cluster::Members>> {
        self.shared.cluster.as_ref()?.members(N::PATH)
    }

    /// Sends `E` to one socket.
    pub fn emit<E: ServerEvent<Namespace = N>>(&self, socket: &SocketRef<A>, args: &E::Args) {
        self.send(socket, E::NAME, args);
    }

    /// Sends `E` to every socket of the namespace on this node only.
    pub fn broadcast_here<E: ServerEvent<Namespace = N>>(&self, args: &E::Args) {
        self.deliver::<E>(self.sockets(), args);
    }

    /// Sends `E` to every socket of the namespace, on every node.
    pub async fn broadcast<E: ServerEvent<Namespace = N>>(&self, args: &E::Args) {
        self.deliver::<E>(self.sockets(), args);
        self.to_other_nodes::<E>(None, None, args).await;
    }

    /// Sends `E` to every socket of the namespace but `sender`, on every node.
    pub async fn broadcast_from<E: ServerEvent<Namespace = N>>(
        &self,
        sender: &SocketRef<A>,
        args: &E::Args,
    ) {
        let others = self.sockets().into_iter().filter(|s| s.id != sender.id);
        self.deliver::<E>(others.collect(), args);
        self.to_other_nodes::<E>(None, None, args).await;
    }

    /// Sends `E` to the socket `id` if it is on another node of the cluster (socketioxide's
    /// adapter carries it there); whether it is known to be there.
    pub async fn emit_remote<E: ServerEvent<Namespace = N>>(
        &self,
        id: &PeerId,
        args: &E::Args,
    ) -> bool {
        let Some(cluster) = &self.shared.cluster else {
            return false;
        };
        let known = cluster
            .members(N::PATH)
            .is_some_and(|members| members.is_remote(id.as_str()));
        if known {
            self.to_other_nodes::<E>(Some(id.to_string()), None, args)
                .await;
        }
        known
    }

    /// Sends `E` to the socket `id` on whichever other node holds it, without asking who is
    /// connected where (for callers that know it is connected, from a store of their own).
    pub async fn emit_elsewhere<E: ServerEvent<Namespace = N>>(&self, id: &PeerId, args: &E::Args) {
        self.to_other_nodes::<E>(Some(id.to_string()), None, args)
            .await;
    }

    /// In cluster mode, sends `E` through the adapter to the sockets of the other nodes (in
    /// `room`, outside `outside`, if given): this node's own sockets are served by
    /// [`Nsp::deliver`]. When Redis is down, they are the only ones served.
    async fn to_other_nodes<E: ServerEvent<Namespace = N>>(
        &self,
        room: Option<String>,
        outside: Option<String>,
        args: &E::Args,
    ) {
        let Some(cluster) = &self.shared.cluster else {
            return;
        };
        let Some(operators) = self.io.of(N::PATH) else {
            return;
        };
        let operators = match room {
            Some(room) => operators.to(room),
            None => operators,
        };
        let except: Vec<String> = outside.into_iter().chain([cluster.node_room()]).collect();
        let sent = operators.except(except).emit(E::NAME, args).await;
        cluster
            .health
            .reachable(!matches!(sent, Err(BroadcastError::Adapter(_))));
    }

    /// Sends `E` to every socket of `room` on this node only.
    pub fn broadcast_here_in<E: ServerEvent<Namespace = N>>(&self, room: &str, args: &E::Args) {
        self.deliver::<E>(self.members_here(room, true), args);
    }

    /// Sends `E` to every socket of `room`, on every node.
    pub async fn broadcast_in<E: ServerEvent<Namespace = N>>(&self, room: &str, args: &E::Args) {
        self.deliver::<E>(self.members_here(room, true), args);
        self.to_other_nodes::<E>(Some(room.to_owned()), None, args)
            .await;
    }

    /// Sends `E` to every socket of `room` but `sender`, on every node.
    pub async fn broadcast_in_from<E: ServerEvent<Namespace = N>>(
        &self,
        sender: &SocketRef<A>,
        room: &str,
        args: &E::Args,
    ) {
        let others = self.members_here(room, true);
        let others = others.into_iter().filter(|s| s.id != sender.id).collect();
        self.deliver::<E>(others, args);
        self.to_other_nodes::<E>(Some(room.to_owned()), None, args)
            .await;
    }

    /// Sends `E` to every socket outside `room`, on every node.
    pub async fn broadcast_outside<E: ServerEvent<Namespace = N>>(
        &self,
        room: &str,
        args: &E::Args,
    ) {
        self.deliver::<E>(self.members_here(room, false), args);
        self.to_other_nodes::<E>(None, Some(room.to_owned()), args)
            .await;
    }

    /// This node's sockets in `room` (or, with `inside` false, outside it).
    fn members_here(&self, room: &str, inside: bool) -> Vec<SocketRef<A>> {
        let Some(ns) = self.io.of(N::PATH) else {
            return Vec::new();
        };
        let sockets = if inside {
            ns.within(room.to_owned()).sockets()
        } else {
            ns.except(room.to_owned()).sockets()
        };
        sockets.into_iter().filter(|s| s.connected()).collect()
    }

    /// Sends a snapshot `E` to every socket of `room`, encoded once and shared by all of them.
    /// A client too slow to take it misses it (counted): the next snapshot replaces it.
    pub async fn broadcast_snapshot<E: ServerEvent<Namespace = N>>(
        &self,
        room: &'static str,
        args: &E::Args,
    ) {
        let Some(operators) = self.io.of(N::PATH) else {
            return;
        };
        // Each node sends its own clients their snapshots.
        let operators = operators.within(room).local();
        let recipients = operators.clone().sockets().len();
        let failed = match operators.emit(E::NAME, args).await {
            Ok(()) => 0,
            Err(BroadcastError::Socket(errors)) => {
                let full = errors
                    .iter()
                    .filter(|e| matches!(e, SocketError::InternalChannelFull))
                    .count();
                if full > 0 {
                    self.metrics().dropped(N::PATH, full);
                }
                errors.len()
            }
            Err(error) => {
                tracing::warn!(ns = N::PATH, event = E::NAME, %error, "broadcast failed");
                recipients
            }
        };
        self.metrics()
            .events_out(N::PATH, recipients.saturating_sub(failed));
    }

    /// Disconnects the socket `sid` and closes its connection, on whichever node it is.
    pub async fn hang_up(&self, sid: Sid) {
        let Some(operators) = self.io.of(N::PATH) else {
            return;
        };
        if let Some(socket) = operators.get_socket(sid) {
            super::hang_up(&socket);
        } else if self.shared.cluster.is_some() {
            // Every socket of a cluster is in the room of its own id.
            if let Err(error) = operators.within(sid.to_string()).disconnect().await {
                tracing::warn!(ns = N::PATH, %sid, %error, "could not disconnect a remote socket");
            }
        }
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

    /// Sends `E` to each of `sockets`, encoding its arguments once.
    fn deliver<E: ServerEvent<Namespace = N>>(&self, sockets: Vec<SocketRef<A>>, args: &E::Args) {
        let encoded = match encode_args(args) {
            Ok(encoded) => encoded,
            Err(error) => {
                return tracing::error!(ns = N::PATH, event = E::NAME, %error, "cannot encode")
            }
        };
        for socket in &sockets {
            self.send(socket, E::NAME, &encoded);
        }
    }

    fn send<T: Serialize + ?Sized>(&self, socket: &SocketRef<A>, event: &'static str, args: &T) {
        match socket.emit(event, args) {
            Ok(()) => self.metrics().events_out(N::PATH, 1),
            Err(SendError::Socket(SocketError::InternalChannelFull)) => {
                self.metrics().slow_consumer(N::PATH);
                tracing::warn!(ns = N::PATH, sid = %socket.id, "disconnecting a client that reads too slowly (its buffer is full)");
                super::hang_up(socket);
            }
            // It just left.
            Err(SendError::Socket(SocketError::Closed)) => {}
            Err(error) => {
                tracing::warn!(ns = N::PATH, sid = %socket.id, event, %error, "emit failed")
            }
        }
    }
}

/// Event arguments as one JSON text each: copied, not re-encoded, per recipient.
struct EncodedArgs(Vec<Box<RawValue>>);

impl Serialize for EncodedArgs {
    /// As a tuple, like the arguments it stands for: socketioxide writes a tuple's elements
    /// after the event name (and any other value as a single argument).
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut tuple = serializer.serialize_tuple(self.0.len())?;
        for arg in &self.0 {
            tuple.serialize_element(arg)?;
        }
        tuple.end()
    }
}

fn encode_args<T: Serialize>(args: &T) -> Result<EncodedArgs, serde_json::Error> {
    let list = serde_json::to_string(args)?;
    serde_json::from_str(&list).map(EncodedArgs)
}
