//! The wire contract of `app::protocol`, enforced on the server's side of socketioxide.
//!
//! - [`Nsp`]: one namespace, typed: only its own server events can be sent through it.
//! - [`serve`] and [`Listener`]: a namespace's handlers see the parsed domain value of each
//!   event, in the order the client sent them ([`InOrder`]), within the client's rate
//!   ([`Limits`]); a refused event is answered for them (error event, receipt, log line). A
//!   handler is `async fn(Cx, Args) -> Result`.
//!
//! Handlers are generic over socketioxide's adapter, so the same code serves one process
//! (the local adapter) and a cluster.

mod in_order;
mod limits;
mod listener;
mod nsp;

use std::sync::Arc;

use socketioxide::adapter::Adapter;
use socketioxide_core::adapter::DefinedAdapter;

pub use in_order::{InOrder, Waited};
pub use limits::{Admission, Bucket, Limits, Rate};
pub use listener::{nothing, serve, Cx, Listener};
pub use nsp::Nsp;

use crate::metrics::Metrics;

/// What every namespace of one server shares.
pub struct Shared {
    /// This server's counters.
    pub metrics: Metrics,
    /// How fast one client may send to each namespace.
    pub limits: Limits,
    /// The other nodes, in cluster mode.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    /// The server's tasks: every namespace's loops run here.
    pub tasks: crate::tasks::Tasks,
    /// How `/meet` carries media.
    pub meet: MeetSettings,
}

/// How `/meet` carries media: through the SFU (rooms of `capacity`), or a mesh of 4.
#[derive(Clone)]
pub struct MeetSettings {
    pub sfu: Option<Arc<crate::sfu::MediaRoute>>,
    pub capacity: usize,
}

impl Shared {
    /// Logs held-back input warnings once a second, even when no more bad input arrives (one
    /// of the server's tasks).
    pub fn spawn_housekeeping(self: &Arc<Self>) {
        let shared = self.clone();
        self.tasks.spawn(async move {
            let mut every_second = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                every_second.tick().await;
                shared.metrics.flush_warnings();
            }
        });
    }
}

#[cfg(test)]
impl Shared {
    /// One process, no limits or per-namespace counts, its loops in `tasks` (unit tests of a
    /// namespace's loops).
    pub fn for_tests(tasks: &crate::tasks::Tasks) -> Arc<Shared> {
        Arc::new(Shared {
            metrics: Metrics::default(),
            limits: Limits::none(),
            cluster: None,
            tasks: tasks.clone(),
            meet: MeetSettings {
                sfu: None,
                capacity: app::protocol::meet::ROOM_CAPACITY,
            },
        })
    }
}

/// An adapter namespaces can be served on: socketioxide's local one, or a cluster's.
pub trait Served: Adapter + DefinedAdapter {}
impl<A: Adapter + DefinedAdapter> Served for A {}

/// Disconnects a client that must go, and closes its connection: a client whose buffer is
/// full cannot even be sent socket.io's disconnect packet, and a flooder's further frames are
/// not worth reading.
pub fn hang_up<A: Adapter>(socket: &socketioxide::extract::SocketRef<A>) {
    if let Some(hangup) = socket.req_parts().extensions.get::<crate::hangup::Hangup>() {
        hangup.now();
    }
    let _ = socket.clone().disconnect();
}
