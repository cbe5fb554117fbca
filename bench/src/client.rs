//! A minimal socket.io client for load: a WebSocket, the Engine.IO handshake, one namespace.
//! Frames are read as text and only looked at as far as a scenario needs (parsing every
//! broadcast would make the generator, not the server, the bottleneck).

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

pub type Ws = WebSocketStream<TcpStream>;

/// One client joined to one namespace.
pub struct Conn {
    pub ws: Ws,
    /// The socket id the namespace gave us.
    pub sid: String,
}

/// What arrived on a connection.
pub enum Frame {
    /// A Socket.IO packet for our namespace, as sent (`42/ns,[...]` etc.).
    Packet(String),
    /// Anything else worth no attention (pings are answered before this is returned).
    Other,
    Closed,
}

impl Conn {
    /// Opens a WebSocket to `addr` and joins `ns`, optionally with an auth payload (JSON).
    pub async fn connect(addr: SocketAddr, ns: &str, auth: Option<&str>) -> Result<Conn, String> {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let (mut ws, _) = tokio_tungstenite::client_async(url, tcp)
            .await
            .map_err(|e| e.to_string())?;
        match ws.next().await {
            Some(Ok(Message::Text(open))) if open.starts_with('0') => {}
            other => return Err(format!("no Engine.IO open packet: {other:?}")),
        }
        ws.send(Message::text(format!("40{ns},{}", auth.unwrap_or(""))))
            .await
            .map_err(|e| e.to_string())?;
        let joined = format!("40{ns},");
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) if text.as_str() == "2" => {
                    ws.send(Message::text("3"))
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Some(Ok(Message::Text(text))) if text.starts_with(&joined) => {
                    let json: serde_json::Value =
                        serde_json::from_str(&text[joined.len()..]).map_err(|e| e.to_string())?;
                    let sid = json["sid"].as_str().ok_or("no sid")?.to_owned();
                    return Ok(Conn { ws, sid });
                }
                Some(Ok(Message::Text(text))) if text.starts_with("44") => {
                    return Err(format!("refused: {text}"))
                }
                Some(Ok(_)) => continue,
                other => return Err(format!("closed while joining {ns}: {other:?}")),
            }
        }
    }

    /// Sends one text frame.
    pub async fn send(&mut self, frame: String) -> bool {
        self.ws.send(Message::text(frame)).await.is_ok()
    }

    /// The next frame; Engine.IO pings are answered on the way.
    pub async fn next(&mut self) -> Frame {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    if text.as_str() == "2" {
                        if self.ws.send(Message::text("3")).await.is_err() {
                            return Frame::Closed;
                        }
                        continue;
                    }
                    return match text.strip_prefix('4') {
                        Some(packet) => Frame::Packet(packet.to_owned()),
                        None => Frame::Other,
                    };
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Frame::Closed,
                Some(Ok(_)) => return Frame::Other,
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// Connects `count` clients to `ns`, `batch` at a time.
pub async fn connect_many(
    addr: SocketAddr,
    ns: &str,
    count: usize,
    auth: Option<&str>,
) -> Vec<Conn> {
    const BATCH: usize = 100;
    let mut all = Vec::with_capacity(count);
    while all.len() < count {
        let batch = (count - all.len()).min(BATCH);
        let joins = (0..batch).map(|_| Conn::connect(addr, ns, auth));
        for result in futures_util::future::join_all(joins).await {
            match result {
                Ok(conn) => all.push(conn),
                Err(error) => panic!(
                    "client {} of {count} could not connect to {ns}: {error}",
                    all.len() + 1
                ),
            }
        }
    }
    all
}
