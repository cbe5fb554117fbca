//! Messages between the nodes of a cluster that are not socket.io packets (cursor moves,
//! who is connected where), over the same pub/sub as socketioxide's Redis adapter: its
//! `Driver` (fred, against Redis), or [`MemoryDriver`] for several servers in one process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::{FutureExt, StreamExt};
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use tokio::sync::mpsc;

use super::kv::Unreachable;
use crate::sync::lock;

/// Publishing to every node (this one included) and hearing what they publish.
pub trait Bus: Send + Sync + 'static {
    fn publish(
        &self,
        channel: &str,
        message: Vec<u8>,
    ) -> BoxFuture<'static, Result<(), Unreachable>>;
    fn subscribe(
        &self,
        channel: &str,
    ) -> BoxFuture<'static, Result<BoxStream<'static, Vec<u8>>, Unreachable>>;
}

/// Messages waiting per subscription before the slowest are dropped.
const BUFFER: usize = 1024;

/// A [`Bus`] over an adapter driver.
pub struct DriverBus<D>(pub D);

impl<D: Driver> Bus for DriverBus<D> {
    fn publish(
        &self,
        channel: &str,
        message: Vec<u8>,
    ) -> BoxFuture<'static, Result<(), Unreachable>> {
        let (driver, channel) = (self.0.clone(), channel.to_owned());
        async move {
            driver
                .publish(channel, message)
                .await
                .map_err(|e| Unreachable(e.to_string()))
        }
        .boxed()
    }

    fn subscribe(
        &self,
        channel: &str,
    ) -> BoxFuture<'static, Result<BoxStream<'static, Vec<u8>>, Unreachable>> {
        let (driver, channel) = (self.0.clone(), channel.to_owned());
        async move {
            let stream = driver
                .subscribe(channel, BUFFER)
                .await
                .map_err(|e| Unreachable(e.to_string()))?;
            Ok(stream.map(|(_, message)| message).boxed())
        }
        .boxed()
    }
}

/// Pub/sub in memory: every [`MemoryDriver`] joined to one hub hears the others, as servers
/// that share a Redis do.
#[derive(Clone, Default)]
pub struct MemoryHub {
    inner: Arc<Mutex<Hub>>,
}

#[derive(Default)]
struct Hub {
    /// Subscribers per channel, with the driver that subscribed.
    channels: HashMap<String, Vec<(u64, mpsc::Sender<ChanItem>)>>,
    next_driver: u64,
    down: bool,
    /// Drivers cut off from the hub (their server is as good as dead to the others).
    severed: std::collections::HashSet<u64>,
}

impl MemoryHub {
    /// A driver for one more server.
    pub fn driver(&self) -> MemoryDriver {
        let mut hub = lock(&self.inner);
        hub.next_driver += 1;
        MemoryDriver {
            hub: self.clone(),
            id: hub.next_driver,
        }
    }

    /// Makes publishing fail (or work again), as a Redis that goes down and comes back.
    pub fn set_down(&self, down: bool) {
        lock(&self.inner).down = down;
    }
}

/// One server's view of a [`MemoryHub`].
#[derive(Clone)]
pub struct MemoryDriver {
    hub: MemoryHub,
    id: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("the in-memory hub is down")]
pub struct MemoryDown;

impl MemoryDriver {
    /// Cuts this server off from the others, as if its process died: it hears nothing more,
    /// and what it publishes reaches nobody.
    pub fn sever(&self) {
        let mut hub = lock(&self.hub.inner);
        hub.severed.insert(self.id);
        for subscribers in hub.channels.values_mut() {
            subscribers.retain(|(driver, _)| *driver != self.id);
        }
    }
}

impl Driver for MemoryDriver {
    type Error = MemoryDown;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), MemoryDown> {
        let mut hub = lock(&self.hub.inner);
        if hub.down {
            return Err(MemoryDown);
        }
        if hub.severed.contains(&self.id) {
            return Ok(());
        }
        if let Some(subscribers) = hub.channels.get_mut(&chan) {
            subscribers.retain(|(_, tx)| !tx.is_closed());
            for (_, tx) in subscribers.iter() {
                let _ = tx.try_send((chan.clone(), val.clone()));
            }
        }
        Ok(())
    }

    async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> Result<MessageStream<ChanItem>, MemoryDown> {
        let (tx, rx) = mpsc::channel(size.max(1));
        let mut hub = lock(&self.hub.inner);
        if !hub.severed.contains(&self.id) {
            hub.channels.entry(chan).or_default().push((self.id, tx));
        }
        Ok(MessageStream::new(rx))
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), MemoryDown> {
        if let Some(subscribers) = lock(&self.hub.inner).channels.get_mut(&chan) {
            subscribers.retain(|(driver, _)| *driver != self.id);
        }
        Ok(())
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, MemoryDown> {
        let hub = lock(&self.hub.inner);
        let count = hub.channels.get(chan).map_or(0, |subscribers| {
            subscribers.iter().filter(|(_, tx)| !tx.is_closed()).count()
        });
        Ok(u16::try_from(count).unwrap_or(u16::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_node_hears_every_node() {
        let hub = MemoryHub::default();
        let (a, b) = (DriverBus(hub.driver()), DriverBus(hub.driver()));
        let mut heard_by_a = a.subscribe("news").await.unwrap();
        let mut heard_by_b = b.subscribe("news").await.unwrap();
        a.publish("news", b"from a".to_vec()).await.unwrap();
        assert_eq!(heard_by_a.next().await.unwrap(), b"from a");
        assert_eq!(heard_by_b.next().await.unwrap(), b"from a");
        hub.set_down(true);
        assert!(b.publish("news", b"lost".to_vec()).await.is_err());
    }
}
