//! A small TURN client written from the STUN/TURN codecs (RFC 8489, RFC 8656), over UDP or
//! TCP: what the relay's tests talk to it with.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use stun_types::attribute::{ErrorCode, Nonce, Realm, Username, XorMappedAddress};
use stun_types::message::{
    IntegrityAlgorithm, LongTermKeyCredentials, Message, MessageClass, MessageWriteExt,
    MessageWriteVec, Method, TransactionId, BINDING,
};
use stun_types::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use turn_types::attribute::{
    ChannelNumber, Data, Lifetime, RequestedTransport, XorPeerAddress, XorRelayedAddress,
};
use turn_types::channel::ChannelData;
use turn_types::message::{ALLOCATE, CHANNEL_BIND, CREATE_PERMISSION, REFRESH, SEND};

use super::PATIENCE;

/// How the client reaches the relay.
enum Link {
    Udp(UdpSocket, SocketAddr),
    /// The stream and what has been read of it but not yet framed.
    Tcp(TcpStream, Vec<u8>),
}

/// What a peer sent, as the relay delivered it.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivered {
    /// A Data indication: from this peer.
    Data(SocketAddr, Vec<u8>),
    /// ChannelData on this channel.
    Channel(u16, Vec<u8>),
}

pub struct TurnClient {
    link: Link,
    /// Its own address.
    pub local: SocketAddr,
    credentials: Option<(String, String)>,
    realm: String,
    nonce: String,
    /// Frames that arrived while waiting for a response.
    pending: VecDeque<Vec<u8>>,
}

impl TurnClient {
    pub async fn udp(server: SocketAddr) -> TurnClient {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let local = socket.local_addr().expect("addr");
        Self::new(Link::Udp(socket, server), local)
    }

    pub async fn tcp(server: SocketAddr) -> TurnClient {
        let stream = TcpStream::connect(server).await.expect("connect");
        let local = stream.local_addr().expect("addr");
        Self::new(Link::Tcp(stream, Vec::new()), local)
    }

    fn new(link: Link, local: SocketAddr) -> TurnClient {
        TurnClient {
            link,
            local,
            credentials: None,
            realm: String::new(),
            nonce: String::new(),
            pending: VecDeque::new(),
        }
    }

    /// Uses these credentials for the requests that need them.
    pub fn with_credentials(mut self, username: &str, password: &str) -> TurnClient {
        self.credentials = Some((username.to_owned(), password.to_owned()));
        self
    }

    fn is_tcp(&self) -> bool {
        matches!(self.link, Link::Tcp(..))
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        match &mut self.link {
            Link::Udp(socket, server) => {
                socket.send_to(bytes, *server).await.expect("send");
            }
            Link::Tcp(stream, _) => stream.write_all(bytes).await.expect("send"),
        }
    }

    /// The next frame (a STUN message or ChannelData), `None` after `wait`.
    pub async fn recv_within(&mut self, wait: Duration) -> Option<Vec<u8>> {
        if let Some(frame) = self.pending.pop_front() {
            return Some(frame);
        }
        tokio::time::timeout(wait, self.read_frame())
            .await
            .ok()
            .flatten()
    }

    async fn read_frame(&mut self) -> Option<Vec<u8>> {
        match &mut self.link {
            Link::Udp(socket, _) => {
                let mut buf = vec![0; 65_536];
                let (n, _) = socket.recv_from(&mut buf).await.ok()?;
                buf.truncate(n);
                Some(buf)
            }
            Link::Tcp(stream, buffer) => loop {
                if buffer.len() >= 4 {
                    let length = u16::from_be_bytes([buffer[2], buffer[3]]) as usize;
                    let total = if buffer[0] >> 6 == 0 {
                        20 + length
                    } else {
                        (4 + length + 3) & !3
                    };
                    if buffer.len() >= total {
                        let rest = buffer.split_off(total);
                        return Some(std::mem::replace(buffer, rest));
                    }
                }
                let mut chunk = [0; 4096];
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buffer.extend_from_slice(&chunk[..n]);
            },
        }
    }

    /// Sends a request with the attributes `fill` adds (it gets the transaction id, for XOR
    /// addresses), authenticating as a client does (401 or 438 → retry with the nonce).
    /// The response, or its error code.
    pub async fn request(
        &mut self,
        method: Method,
        fill: impl Fn(&mut MessageWriteVec, TransactionId),
    ) -> Result<Vec<u8>, u16> {
        for _ in 0..3 {
            let mut msg = Message::builder_request(method, MessageWriteVec::new());
            let tid = msg.transaction_id();
            fill(&mut msg, tid);
            let key = self.key();
            if let (Some(key), false) = (&key, self.nonce.is_empty()) {
                let (username, _) = self.credentials.as_ref().expect("credentials");
                msg.add_attribute(&Username::new(username).unwrap())
                    .unwrap();
                msg.add_attribute(&Realm::new(&self.realm).unwrap())
                    .unwrap();
                msg.add_attribute(&Nonce::new(&self.nonce).unwrap())
                    .unwrap();
                msg.add_message_integrity(&key.clone().into(), IntegrityAlgorithm::Sha1)
                    .unwrap();
            }
            msg.add_fingerprint().unwrap();
            self.send_raw(&msg.finish()).await;
            let reply = self.response(tid).await;
            let parsed = Message::from_bytes(&reply).expect("a STUN response");
            match parsed.attribute::<ErrorCode>().map(|e| e.code()) {
                Ok(401 | 438) if key.is_some() && method != BINDING => {
                    let retry = self.nonce.is_empty()
                        || parsed.attribute::<ErrorCode>().unwrap().code() == 438;
                    self.realm = parsed.attribute::<Realm>().unwrap().realm().to_owned();
                    self.nonce = parsed.attribute::<Nonce>().unwrap().nonce().to_owned();
                    if !retry {
                        return Err(401);
                    }
                }
                Ok(code) => return Err(code),
                Err(_) => {
                    // Binding is answered to anyone, unsigned; the rest must be signed.
                    if let (Some(key), false) = (key, method == BINDING) {
                        parsed
                            .validate_integrity(&key.into())
                            .expect("a signed success");
                    }
                    return Ok(reply);
                }
            }
        }
        panic!("the relay kept asking for credentials");
    }

    fn key(&self) -> Option<LongTermKeyCredentials> {
        let (username, password) = self.credentials.as_ref()?;
        Some(LongTermKeyCredentials::new(
            username.clone(),
            password.clone(),
            self.realm.clone(),
        ))
    }

    /// The response to `tid`; other frames are kept for later.
    async fn response(&mut self, tid: TransactionId) -> Vec<u8> {
        let mut kept = Vec::new();
        let found = loop {
            let frame = tokio::time::timeout(PATIENCE, self.read_frame())
                .await
                .expect("no response from the relay")
                .expect("the relay closed the connection");
            let answers = Message::from_bytes(&frame).is_ok_and(|m| {
                m.transaction_id() == tid
                    && matches!(m.class(), MessageClass::Success | MessageClass::Error)
            });
            if answers {
                break frame;
            }
            kept.push(frame);
        };
        self.pending.extend(kept);
        found
    }

    /// STUN Binding: the address the relay sees us at.
    pub async fn binding(&mut self) -> SocketAddr {
        let reply = self.request(BINDING, |_, _| {}).await.expect("binding");
        let reply = Message::from_bytes(&reply).unwrap();
        reply
            .attribute::<XorMappedAddress>()
            .unwrap()
            .addr(reply.transaction_id())
    }

    /// Allocates a UDP relay; its relayed address.
    pub async fn allocate(&mut self) -> Result<SocketAddr, u16> {
        let reply = self
            .request(ALLOCATE, |msg, _| {
                msg.add_attribute(&RequestedTransport::new(RequestedTransport::UDP))
                    .unwrap();
            })
            .await?;
        let reply = Message::from_bytes(&reply).unwrap();
        Ok(reply
            .attribute::<XorRelayedAddress>()
            .unwrap()
            .addr(reply.transaction_id()))
    }

    /// Refresh with this lifetime (0 deletes); the lifetime granted.
    pub async fn refresh(&mut self, seconds: u32) -> Result<u32, u16> {
        let reply = self
            .request(REFRESH, |msg, _| {
                msg.add_attribute(&Lifetime::new(seconds)).unwrap();
            })
            .await?;
        Ok(Message::from_bytes(&reply)
            .unwrap()
            .attribute::<Lifetime>()
            .unwrap()
            .seconds())
    }

    pub async fn create_permission(&mut self, peer: SocketAddr) -> Result<(), u16> {
        self.request(CREATE_PERMISSION, |msg, tid| {
            msg.add_attribute(&XorPeerAddress::new(peer, tid)).unwrap();
        })
        .await
        .map(drop)
    }

    pub async fn channel_bind(&mut self, peer: SocketAddr, number: u16) -> Result<(), u16> {
        self.request(CHANNEL_BIND, |msg, tid| {
            msg.add_attribute(&XorPeerAddress::new(peer, tid)).unwrap();
            msg.add_attribute(&ChannelNumber::new(number)).unwrap();
        })
        .await
        .map(drop)
    }

    /// A Send indication to `peer`.
    pub async fn send_to(&mut self, peer: SocketAddr, data: &[u8]) {
        let mut msg = Message::builder_indication(SEND, MessageWriteVec::new());
        let tid = msg.transaction_id();
        msg.add_attribute(&XorPeerAddress::new(peer, tid)).unwrap();
        msg.add_attribute(&Data::new(data)).unwrap();
        self.send_raw(&msg.finish()).await;
    }

    /// ChannelData on `number` (padded to four bytes over TCP, as RFC 8656 §12.5 asks).
    pub async fn send_channel(&mut self, number: u16, data: &[u8]) {
        let padded = if self.is_tcp() {
            (data.len() + 3) & !3
        } else {
            data.len()
        };
        let mut frame = vec![0; 4 + padded];
        ChannelData::new(number, data).write_into_unchecked(&mut frame[..4 + data.len()]);
        self.send_raw(&frame).await;
    }

    /// The next data a peer sent, `None` after `wait`.
    pub async fn delivered_within(&mut self, wait: Duration) -> Option<Delivered> {
        loop {
            let frame = self.recv_within(wait).await?;
            if frame.first().is_some_and(|b| b >> 6 == 1) {
                let channel = ChannelData::parse(&frame).expect("ChannelData");
                return Some(Delivered::Channel(channel.id(), channel.data().to_vec()));
            }
            let Ok(msg) = Message::from_bytes(&frame) else {
                continue;
            };
            if msg.has_method(turn_types::message::DATA) {
                let peer = msg
                    .attribute::<XorPeerAddress>()
                    .unwrap()
                    .addr(msg.transaction_id());
                let data = msg.attribute::<Data>().unwrap().data().to_vec();
                return Some(Delivered::Data(peer, data));
            }
        }
    }

    /// The next data a peer sent; fails the test when none comes.
    pub async fn delivered(&mut self) -> Delivered {
        self.delivered_within(PATIENCE)
            .await
            .expect("nothing was relayed to us")
    }
}
