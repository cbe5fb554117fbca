//! The TURN client of `bench turn`: allocations over UDP with the TURN REST credentials
//! (coturn's `use-auth-secret`), channels, and ChannelData. Setup is blocking and sequential
//! (one request at a time per socket); the load itself is sent and read elsewhere.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use ring::hmac;
use stun_types::attribute::{ErrorCode, Nonce, Realm, Username};
use stun_types::message::{
    IntegrityAlgorithm, LongTermKeyCredentials, Message, MessageWriteExt, MessageWriteVec, Method,
    TransactionId, BINDING,
};
use stun_types::prelude::*;
use turn_types::attribute::{ChannelNumber, RequestedTransport, XorPeerAddress, XorRelayedAddress};
use turn_types::message::{ALLOCATE, CHANNEL_BIND};

/// How long a request waits for its answer.
const PATIENCE: Duration = Duration::from_secs(2);

/// `(username, password)` for `user`, valid for an hour: username `expiry:user`, password
/// base64(HMAC-SHA1(secret, username)).
pub fn credentials(secret: &str, user: &str) -> (String, String) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let username = format!("{}:{user}", now + 3600);
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes());
    let password =
        base64::engine::general_purpose::STANDARD.encode(hmac::sign(&key, username.as_bytes()));
    (username, password)
}

/// One client socket and its allocation on the relay.
pub struct Allocation {
    /// Connected to the relay; blocking during setup.
    pub socket: UdpSocket,
    /// The address peers reach it at.
    pub relayed: SocketAddr,
    key: LongTermKeyCredentials,
    username: String,
    realm: String,
    nonce: String,
}

fn error(text: impl Into<String>) -> io::Error {
    io::Error::other(text.into())
}

/// Answers a STUN Binding request: the relay is up.
pub fn binding(server: SocketAddr) -> io::Result<()> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.connect(server)?;
    socket.set_read_timeout(Some(Duration::from_millis(200)))?;
    let msg = Message::builder_request(BINDING, MessageWriteVec::new());
    socket.send(&msg.finish())?;
    let mut buf = [0u8; 1500];
    socket.recv(&mut buf).map(drop)
}

impl Allocation {
    /// Allocates a UDP relay for `user` (the 401 round trip first, as every client does).
    pub fn new(server: SocketAddr, secret: &str, user: &str) -> io::Result<Allocation> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.connect(server)?;
        socket.set_read_timeout(Some(PATIENCE))?;
        let (username, password) = credentials(secret, user);
        let mut allocation = Allocation {
            socket,
            relayed: SocketAddr::from(([0, 0, 0, 0], 0)),
            key: LongTermKeyCredentials::new(username.clone(), password.clone(), String::new()),
            username,
            realm: String::new(),
            nonce: String::new(),
        };
        let reply = allocation.request(ALLOCATE, |msg, _| {
            msg.add_attribute(&RequestedTransport::new(RequestedTransport::UDP))
                .map_err(|e| error(format!("{e:?}")))
        })?;
        let reply = Message::from_bytes(&reply).map_err(|e| error(format!("{e:?}")))?;
        allocation.relayed = reply
            .attribute::<XorRelayedAddress>()
            .map_err(|_| error("no XOR-RELAYED-ADDRESS"))?
            .addr(reply.transaction_id());
        Ok(allocation)
    }

    /// Binds channel `number` to `peer` (which also permits it).
    pub fn bind_channel(&mut self, peer: SocketAddr, number: u16) -> io::Result<()> {
        self.request(CHANNEL_BIND, |msg, tid| {
            msg.add_attribute(&XorPeerAddress::new(peer, tid))
                .and_then(|()| msg.add_attribute(&ChannelNumber::new(number)))
                .map_err(|e| error(format!("{e:?}")))
        })
        .map(drop)
    }

    /// Sends a signed request (after a 401 or 438, again with the realm and nonce it gave);
    /// the success response.
    fn request(
        &mut self,
        method: Method,
        fill: impl Fn(&mut MessageWriteVec, TransactionId) -> io::Result<()>,
    ) -> io::Result<Vec<u8>> {
        for _ in 0..3 {
            let mut msg = Message::builder_request(method, MessageWriteVec::new());
            let tid = msg.transaction_id();
            fill(&mut msg, tid)?;
            if !self.nonce.is_empty() {
                let malformed = |e| error(format!("{e:?}"));
                msg.add_attribute(&Username::new(&self.username).map_err(malformed)?)
                    .map_err(|e| error(format!("{e:?}")))?;
                msg.add_attribute(&Realm::new(&self.realm).map_err(malformed)?)
                    .map_err(|e| error(format!("{e:?}")))?;
                msg.add_attribute(&Nonce::new(&self.nonce).map_err(malformed)?)
                    .map_err(|e| error(format!("{e:?}")))?;
                msg.add_message_integrity(&self.key.clone().into(), IntegrityAlgorithm::Sha1)
                    .map_err(|e| error(format!("{e:?}")))?;
            }
            msg.add_fingerprint().map_err(|e| error(format!("{e:?}")))?;
            self.socket.send(&msg.finish())?;
            let reply = self.response(tid)?;
            let parsed = Message::from_bytes(&reply).map_err(|e| error(format!("{e:?}")))?;
            match parsed.attribute::<ErrorCode>().map(|e| e.code()) {
                Ok(401 | 438) => {
                    let realm = parsed.attribute::<Realm>().map_err(|_| error("no REALM"))?;
                    let nonce = parsed.attribute::<Nonce>().map_err(|_| error("no NONCE"))?;
                    self.realm = realm.realm().to_owned();
                    self.nonce = nonce.nonce().to_owned();
                    let (username, password) = (self.key.username(), self.key.password());
                    self.key = LongTermKeyCredentials::new(
                        username.to_owned(),
                        password.to_owned(),
                        self.realm.clone(),
                    );
                }
                Ok(code) => return Err(error(format!("{method:?} refused: {code}"))),
                Err(_) => return Ok(reply),
            }
        }
        Err(error("the relay kept asking for credentials"))
    }

    /// The response to `tid` (anything else that arrives meanwhile is skipped).
    fn response(&self, tid: TransactionId) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; 2048];
        loop {
            let n = self.socket.recv(&mut buf)?;
            if Message::from_bytes(&buf[..n]).is_ok_and(|m| m.transaction_id() == tid) {
                return Ok(buf[..n].to_vec());
            }
        }
    }
}

/// A ChannelData frame on `channel` carrying `payload`.
pub fn channel_data(channel: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(4 + payload.len());
    frame.extend_from_slice(&channel.to_be_bytes());
    frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// The payload of a ChannelData frame, `None` for anything else (a STUN message).
pub fn channel_payload(frame: &[u8]) -> Option<&[u8]> {
    if frame.len() < 4 || frame[0] >> 6 != 1 {
        return None;
    }
    let length = u16::from_be_bytes([frame[2], frame[3]]) as usize;
    frame.get(4..4 + length)
}
