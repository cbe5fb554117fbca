//! The datagrams a batch of the loop produced, sent together. One `sendto` a packet made
//! the system call itself a sixth of the loop's CPU; on Linux the whole batch goes out in
//! one `sendmmsg` (elsewhere, one `send_to` each).

use std::net::SocketAddr;
use std::sync::Arc;

use str0m::net::DatagramSend;
use tokio::net::UdpSocket;

use super::Counters;

/// Sent before this many wait, so one `sendmmsg` stays well under the kernel's 1024.
const MOST_WAITING: usize = 256;

pub struct Outbox {
    socket: Arc<UdpSocket>,
    counters: Arc<Counters>,
    waiting: Vec<(SocketAddr, DatagramSend)>,
}

impl Outbox {
    pub fn new(socket: Arc<UdpSocket>, counters: Arc<Counters>) -> Outbox {
        Outbox {
            socket,
            counters,
            waiting: Vec::new(),
        }
    }

    pub fn push(&mut self, to: SocketAddr, datagram: DatagramSend) {
        self.waiting.push((to, datagram));
        if self.waiting.len() >= MOST_WAITING {
            self.flush();
        }
    }

    /// Sends what waits. A datagram the socket cannot take now (its buffer full) or at all
    /// is dropped and counted, as a router would: media is never queued behind the kernel.
    pub fn flush(&mut self) {
        if self.waiting.is_empty() {
            return;
        }
        let (sent, bytes) = send_all(&self.socket, &self.waiting);
        let counters = &self.counters;
        counters.add(&counters.sent_packets, sent as u64);
        counters.add(&counters.sent_bytes, bytes as u64);
        counters.add(
            &counters.dropped_packets,
            (self.waiting.len() - sent) as u64,
        );
        self.waiting.clear();
    }
}

/// Sends every datagram it can: how many went, and their bytes.
#[cfg(target_os = "linux")]
fn send_all(socket: &UdpSocket, datagrams: &[(SocketAddr, DatagramSend)]) -> (usize, usize) {
    use rustix::net::addr::SocketAddrArg;
    use rustix::net::{sendmmsg, MMsgHdr, SendAncillaryBuffer, SendFlags};
    use std::io::IoSlice;

    let addresses: Vec<_> = datagrams.iter().map(|(to, _)| to.as_any()).collect();
    let slices: Vec<[IoSlice; 1]> = datagrams.iter().map(|(_, d)| [IoSlice::new(d)]).collect();
    let mut controls: Vec<SendAncillaryBuffer> = datagrams
        .iter()
        .map(|_| SendAncillaryBuffer::default())
        .collect();
    let mut messages: Vec<MMsgHdr> = addresses
        .iter()
        .zip(&slices)
        .zip(controls.iter_mut())
        .map(|((to, slice), control)| MMsgHdr::new_with_addr(to, slice, control))
        .collect();
    let (mut at, mut sent, mut bytes) = (0, 0, 0);
    while at < messages.len() {
        match sendmmsg(socket, &mut messages[at..], SendFlags::DONTWAIT) {
            Ok(0) => break,
            Ok(n) => {
                bytes += datagrams[at..at + n]
                    .iter()
                    .map(|(_, d)| d.len())
                    .sum::<usize>();
                at += n;
                sent += n;
            }
            // The socket's buffer is full: the rest is dropped.
            Err(rustix::io::Errno::AGAIN) => break,
            // This one cannot go (e.g. no route to its address): skip it, send the rest.
            Err(_) => at += 1,
        }
    }
    (sent, bytes)
}

#[cfg(not(target_os = "linux"))]
fn send_all(socket: &UdpSocket, datagrams: &[(SocketAddr, DatagramSend)]) -> (usize, usize) {
    datagrams
        .iter()
        .filter(|(to, d)| socket.try_send_to(d, *to).is_ok())
        .fold((0, 0), |(sent, bytes), (_, d)| (sent + 1, bytes + d.len()))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering::Relaxed;

    use super::*;

    #[tokio::test]
    async fn a_datagram_that_cannot_go_is_counted_and_the_rest_still_go() {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let counters = Arc::new(Counters::default());
        let mut outbox = Outbox::new(socket, counters.clone());
        let to_a = a.local_addr().unwrap();
        let to_b = b.local_addr().unwrap();
        // An IPv6 address on an IPv4 socket: the system call refuses it.
        let nowhere: SocketAddr = "[::1]:9".parse().unwrap();
        for (to, text) in [
            (to_a, "one"),
            (nowhere, "lost"),
            (to_b, "two"),
            (to_a, "three"),
        ] {
            outbox.push(to, text.as_bytes().to_vec().into());
        }
        outbox.flush();

        let mut buf = [0u8; 16];
        let mut got = Vec::new();
        for receiver in [&a, &a, &b] {
            let (n, _) = receiver.recv_from(&mut buf).await.unwrap();
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        assert_eq!(got, ["one", "three", "two"]);
        assert_eq!(counters.sent_packets.load(Relaxed), 3);
        assert_eq!(counters.sent_bytes.load(Relaxed), 11);
        assert_eq!(counters.dropped_packets.load(Relaxed), 1);
    }
}
