//! A lean socket.io client for the capacity runs, where the generator must outlast the server:
//! its own WebSocket handshake and framing over one buffer per connection, no allocation per
//! received frame, and frames handed out as byte slices. Only what a load client needs:
//! unfragmented text frames in, masked text frames out, Engine.IO pings answered.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct LeanConn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Unparsed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// The socket id the namespace gave us.
    pub sid: String,
    pong_due: bool,
}

/// What [`LeanConn::read`] found.
pub enum Read {
    /// Bytes arrived; call [`LeanConn::packets`].
    Data,
    Closed,
}

const READ_SIZE: usize = 64 * 1024;

impl LeanConn {
    /// Opens a WebSocket to `addr` and joins namespace `ns`.
    pub async fn connect(addr: SocketAddr, ns: &str) -> Result<LeanConn, String> {
        let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let request = format!(
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {addr}\r\n\
             Upgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut conn = LeanConn {
            stream,
            buf: vec![0; READ_SIZE],
            start: 0,
            end: 0,
            sid: String::new(),
            pong_due: false,
        };
        // The response head; whatever follows it is already WebSocket frames.
        let head_end = loop {
            if let Read::Closed = conn.read().await {
                return Err("closed during the WebSocket handshake".into());
            }
            if let Some(at) = find(&conn.buf[..conn.end], b"\r\n\r\n") {
                break at + 4;
            }
        };
        if !conn.buf.starts_with(b"HTTP/1.1 101") {
            let head = String::from_utf8_lossy(&conn.buf[..head_end]).into_owned();
            return Err(format!("no upgrade: {head}"));
        }
        conn.start = head_end;
        conn.wait_for(|text| text.starts_with(b"0")).await?;
        conn.send(format!("40{ns},").as_bytes()).await?;
        let joined = format!("40{ns},");
        let sid = conn
            .wait_for(|text| text.starts_with(joined.as_bytes()) || text.starts_with(b"44"))
            .await?;
        let sid = String::from_utf8_lossy(&sid);
        let sid = sid
            .split(r#""sid":""#)
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .ok_or_else(|| format!("refused: {sid}"))?;
        conn.sid = sid.to_owned();
        Ok(conn)
    }

    /// Reads the first text frame for which `wanted` holds (others are skipped).
    async fn wait_for(&mut self, wanted: impl Fn(&[u8]) -> bool) -> Result<Vec<u8>, String> {
        loop {
            let mut found = None;
            self.texts(|text| {
                if found.is_none() && wanted(text) {
                    found = Some(text.to_vec());
                }
            });
            self.answer_pings().await;
            if let Some(text) = found {
                return Ok(text);
            }
            if let Read::Closed = self.read().await {
                return Err("closed while joining".into());
            }
        }
    }

    /// Waits for bytes (cancel-safe: nothing is lost if another branch of a `select!` wins).
    pub async fn read(&mut self) -> Read {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.buf.len() - self.end < READ_SIZE / 4 {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        if self.buf.len() - self.end < READ_SIZE / 4 {
            // A frame larger than the buffer: make room for it.
            self.buf.resize(self.buf.len() * 2, 0);
        }
        match self.stream.read(&mut self.buf[self.end..]).await {
            Ok(0) | Err(_) => Read::Closed,
            Ok(n) => {
                self.end += n;
                Read::Data
            }
        }
    }

    /// Hands every complete Socket.IO packet (a text frame's payload after Engine.IO's `4`)
    /// to `on_packet`; Engine.IO pings are noted for [`Self::answer_pings`].
    pub fn packets(&mut self, mut on_packet: impl FnMut(&[u8])) {
        self.texts(|text| {
            if let [b'4', packet @ ..] = text {
                on_packet(packet)
            }
        });
    }

    fn texts(&mut self, mut on_text: impl FnMut(&[u8])) {
        while let Some((opcode, payload, len)) = frame(&self.buf[self.start..self.end]) {
            let (from, to) = (self.start + payload.0, self.start + payload.1);
            if opcode == 1 {
                match &self.buf[from..to] {
                    b"2" => self.pong_due = true,
                    text => on_text(text),
                }
            }
            self.start += len;
        }
    }

    /// Answers the Engine.IO pings seen since the last call.
    pub async fn answer_pings(&mut self) -> bool {
        if std::mem::take(&mut self.pong_due) {
            return self.send(b"3").await.is_ok();
        }
        true
    }

    /// Sends one text frame (masked, as a client must; with a zero key the bytes stay as
    /// they are, which servers accept).
    pub async fn send(&mut self, text: &[u8]) -> Result<(), String> {
        let mut frame = Vec::with_capacity(text.len() + 14);
        frame.push(0x81);
        match text.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= u16::MAX as usize => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&[0; 4]);
        frame.extend_from_slice(text);
        self.stream
            .write_all(&frame)
            .await
            .map_err(|e| e.to_string())
    }
}

/// One complete unmasked frame at the start of `bytes`: its opcode, payload range and length.
fn frame(bytes: &[u8]) -> Option<(u8, (usize, usize), usize)> {
    let [first, second, ..] = *bytes else {
        return None;
    };
    let (len, head) = match second & 0x7f {
        126 => (
            u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    let total = head + len;
    (bytes.len() >= total).then_some((first & 0x0f, (head, total), total))
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Connects `count` lean clients to `ns`, a hundred at a time.
pub async fn connect_many(addr: SocketAddr, ns: &str, count: usize) -> Vec<LeanConn> {
    let mut all = Vec::with_capacity(count);
    while all.len() < count {
        let batch = (count - all.len()).min(100);
        let joins = (0..batch).map(|_| LeanConn::connect(addr, ns));
        for result in futures_util::future::join_all(joins).await {
            match result {
                Ok(conn) => all.push(conn),
                Err(error) => panic!("a client could not join {ns}: {error}"),
            }
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_read_only_when_complete() {
        let mut bytes = vec![0x81, 5];
        bytes.extend_from_slice(b"42abc");
        assert_eq!(frame(&bytes), Some((1, (2, 7), 7)));
        assert_eq!(frame(&bytes[..6]), None);
        let mut long = vec![0x81, 126, 0x01, 0x00];
        long.extend(std::iter::repeat_n(b'x', 256));
        assert_eq!(frame(&long), Some((1, (4, 260), 260)));
        assert_eq!(frame(&long[..100]), None);
    }
}
