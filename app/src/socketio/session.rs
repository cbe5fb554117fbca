//! The socket.io client's protocol as a state machine without I/O (sans-IO): frames, closes,
//! timer ticks and the network's comings and goings go in; frames to send, events to deliver,
//! state changes and when to be woken come out. The browser driver (`driver.rs`) is a thin
//! loop around it, and every rule here is tested natively with a fake clock.
//!
//! One session is one namespace over its own Engine.IO connection (one WebSocket per page
//! socket: pages use one namespace each, so sharing a connection would buy nothing).

use std::collections::{BTreeMap, VecDeque};

use super::packet::{EnginePacket, Packet, ENGINE_PONG};
use super::EmitError;
use crate::connection::{Backoff, ConnectionState};

/// How long an attempt may take before it counts as failed, in milliseconds.
pub const CONNECT_TIMEOUT_MS: f64 = 20_000.0;

/// What the session asks its driver to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Open a new transport (a WebSocket to the Engine.IO endpoint).
    Open,
    /// Close the current transport.
    Drop,
    /// Send this frame on the current transport.
    Send(String),
    /// The connection state changed.
    State(ConnectionState),
    /// Joined the namespace as `sid` (the first time and after every reconnect).
    Joined { sid: String },
    /// The server sent an event; `args` is the JSON array of its arguments.
    Event { name: String, args: String },
    /// The answer to the emit with ack id `id`: the acknowledgement's arguments (a JSON
    /// array), or why there will be none.
    Reply {
        id: u64,
        result: Result<String, EmitError>,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// No transport: waiting for `retry_at`.
    Waiting,
    /// A transport is opening; the Engine.IO handshake has not come yet.
    Opening,
    /// Handshake done, namespace connect sent; the server has not answered it yet.
    Joining,
    Connected,
    /// The server refused the namespace: retrying would not help.
    Refused,
    /// Closed by the page.
    Closed,
}

/// One namespace's connection, as protocol state.
pub struct Session {
    /// The namespace, e.g. `/chat`.
    nsp: &'static str,
    /// Sent with every namespace connect (socket.io's `auth`).
    auth: Option<serde_json::Value>,
    backoff: Backoff,
    /// A random number in [0, 1) for the backoff's jitter.
    random: Box<dyn FnMut() -> f64>,
    phase: Phase,
    state: ConnectionState,
    /// Failed attempts since the last successful connect.
    attempt: u32,
    /// Largest frame the server accepts (from its handshake), in bytes.
    max_payload: usize,
    /// When the connection counts as dead unless the server is heard from (ms).
    deadline: Option<f64>,
    /// Allowed silence between two pings from the server (ms), from its handshake.
    heartbeat_ms: f64,
    /// When the next attempt starts, while waiting (ms).
    retry_at: Option<f64>,
    /// Emits waiting for an acknowledgement: id → when to give up (ms).
    acks: BTreeMap<u64, f64>,
    next_ack: u64,
    /// What the browser last said about the network.
    online: bool,
    outputs: VecDeque<Output>,
}

impl Session {
    /// Starts connecting to `nsp` at time `now`: the first output is [`Output::Open`].
    /// `online` is what the browser says of the network at that time.
    pub fn new(
        nsp: &'static str,
        auth: Option<serde_json::Value>,
        random: Box<dyn FnMut() -> f64>,
        online: bool,
        now: f64,
    ) -> Session {
        let mut session = Session {
            nsp,
            auth,
            backoff: Backoff::default(),
            random,
            phase: Phase::Waiting,
            state: ConnectionState::Connecting,
            attempt: 0,
            max_payload: 100_000,
            deadline: None,
            heartbeat_ms: CONNECT_TIMEOUT_MS,
            retry_at: None,
            acks: BTreeMap::new(),
            next_ack: 0,
            online,
            outputs: VecDeque::new(),
        };
        session.open(now);
        session
    }

    /// The next thing to do, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When to call [`Session::handle_timeout`] next (ms), if ever.
    pub fn next_wake(&self) -> Option<f64> {
        [
            self.deadline,
            self.retry_at,
            self.acks.values().copied().reduce(f64::min),
        ]
        .into_iter()
        .flatten()
        .reduce(f64::min)
    }

    pub fn state(&self) -> &ConnectionState {
        &self.state
    }

    /// Whether nothing more will happen: closed by the page, or refused by the server.
    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Refused | Phase::Closed)
    }

    /// A frame arrived on the transport.
    pub fn handle_frame(&mut self, frame: &str, now: f64) {
        if matches!(self.phase, Phase::Waiting | Phase::Refused | Phase::Closed) {
            return;
        }
        let packet = match EnginePacket::decode(frame) {
            Ok(packet) => packet,
            Err(error) => return skipped(&error.to_string()),
        };
        match packet {
            EnginePacket::Open(handshake) if self.phase == Phase::Opening => {
                self.max_payload =
                    usize::try_from(handshake.max_payload.max(1)).unwrap_or(usize::MAX);
                self.heartbeat_ms = (handshake.ping_interval + handshake.ping_timeout) as f64;
                self.deadline = Some(now + self.heartbeat_ms);
                self.phase = Phase::Joining;
                let connect = Packet::Connect {
                    nsp: self.nsp.to_owned(),
                    data: self.auth.clone(),
                };
                self.outputs.push_back(Output::Send(connect.encode()));
            }
            EnginePacket::Open(_) => skipped("a second handshake"),
            EnginePacket::Ping => {
                self.deadline = Some(now + self.heartbeat_ms);
                self.outputs.push_back(Output::Send(ENGINE_PONG.to_owned()));
            }
            EnginePacket::Close => self.lose("the server closed the session", now),
            EnginePacket::Message(data) => match Packet::decode(&data) {
                Ok(packet) if packet.nsp() == self.nsp => self.dispatch(packet, now),
                Ok(_) => {}
                Err(error) => skipped(&error.to_string()),
            },
            EnginePacket::Pong | EnginePacket::Upgrade | EnginePacket::Noop => {}
        }
    }

    /// The transport closed (WebSocket close `code`).
    pub fn handle_close(&mut self, code: u16, now: f64) {
        if matches!(
            self.phase,
            Phase::Opening | Phase::Joining | Phase::Connected
        ) {
            self.lose(&close_reason(code), now);
        }
    }

    /// Time has passed: heartbeats, retries and acknowledgements that are due.
    pub fn handle_timeout(&mut self, now: f64) {
        let expired: Vec<u64> = self
            .acks
            .iter()
            .filter(|(_, due)| **due <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.acks.remove(&id);
            self.outputs.push_back(Output::Reply {
                id,
                result: Err(EmitError::Timeout),
            });
        }
        if self.deadline.is_some_and(|due| due <= now) {
            let reason = match self.phase {
                Phase::Connected => "the server stopped answering",
                _ => "the server did not answer",
            };
            self.lose(reason, now);
        }
        if self.phase == Phase::Waiting && self.retry_at.is_some_and(|due| due <= now) {
            self.open(now);
        }
    }

    /// The browser says the network came or went. `navigator.onLine` is only a hint (it is
    /// false on a machine with nothing but loopback, where a local server still works), so
    /// retries go on either way; coming back online retries at once.
    ///
    /// Going offline drops a live connection at once: its TCP connection may linger until the
    /// heartbeat fails (up to a minute), while nothing it sends arrives. The page then says
    /// so, and the reconnect (with whatever the page does after one) starts as soon as the
    /// network is back.
    pub fn handle_network(&mut self, online: bool, now: f64) {
        let went_offline = self.online && !online;
        self.online = online;
        match self.phase {
            Phase::Waiting if online => {
                self.attempt = 0;
                self.retry_at = Some(now);
            }
            Phase::Waiting if !online => self.set_state(ConnectionState::Offline),
            Phase::Opening | Phase::Joining | Phase::Connected if went_offline => {
                self.lose("the browser went offline", now)
            }
            Phase::Opening | Phase::Joining if !online => self.set_state(ConnectionState::Offline),
            _ => {}
        }
    }

    /// Queues an event for the server; with `ack_timeout_ms`, asks for an acknowledgement and
    /// returns the id its [`Output::Reply`] will carry. Fails at once when not connected
    /// (nothing is queued for later) or when the server would refuse the frame as too large.
    pub fn emit(
        &mut self,
        event: &str,
        args: String,
        ack_timeout_ms: Option<f64>,
        now: f64,
    ) -> Result<Option<u64>, EmitError> {
        if self.phase != Phase::Connected {
            return Err(EmitError::NotConnected);
        }
        let ack = ack_timeout_ms.map(|_| {
            let id = self.next_ack;
            self.next_ack = self.next_ack.wrapping_add(1);
            id
        });
        let frame = Packet::Event {
            nsp: self.nsp.to_owned(),
            event: event.to_owned(),
            args,
            ack,
        }
        .encode();
        if frame.len() > self.max_payload {
            return Err(EmitError::TooLarge(frame.len()));
        }
        if let (Some(id), Some(timeout)) = (ack, ack_timeout_ms) {
            self.acks.insert(id, now + timeout);
        }
        self.outputs.push_back(Output::Send(frame));
        Ok(ack)
    }

    /// Leaves the namespace for good (the page is going away).
    pub fn close(&mut self) {
        if self.phase == Phase::Closed {
            return;
        }
        if self.phase == Phase::Connected {
            let leave = Packet::Disconnect {
                nsp: self.nsp.to_owned(),
            };
            self.outputs.push_back(Output::Send(leave.encode()));
        }
        self.end(Phase::Closed, ConnectionState::Offline);
    }

    fn dispatch(&mut self, packet: Packet, now: f64) {
        match packet {
            Packet::Connect { data, .. } if self.phase == Phase::Joining => {
                let sid = data
                    .as_ref()
                    .and_then(|d| d.get("sid"))
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                self.phase = Phase::Connected;
                self.attempt = 0;
                self.set_state(ConnectionState::Connected);
                self.outputs.push_back(Output::Joined { sid });
            }
            Packet::Connect { .. } => skipped("an unexpected namespace connect"),
            Packet::Event {
                event, args, ack, ..
            } => {
                self.outputs.push_back(Output::Event { name: event, args });
                if let Some(id) = ack {
                    // We never promise an answer; tell the server so it does not wait.
                    let reply = Packet::Ack {
                        nsp: self.nsp.to_owned(),
                        id,
                        args: "[]".into(),
                    };
                    self.outputs.push_back(Output::Send(reply.encode()));
                }
            }
            Packet::Ack { id, args, .. } => {
                if self.acks.remove(&id).is_some() {
                    self.outputs.push_back(Output::Reply {
                        id,
                        result: Ok(args),
                    });
                }
            }
            Packet::ConnectError { message, .. } => {
                self.end(Phase::Refused, ConnectionState::Refused(message))
            }
            Packet::Disconnect { .. } => self.lose("the server ended the session", now),
        }
    }

    fn open(&mut self, now: f64) {
        self.phase = Phase::Opening;
        self.retry_at = None;
        self.heartbeat_ms = CONNECT_TIMEOUT_MS;
        self.deadline = Some(now + CONNECT_TIMEOUT_MS);
        self.outputs.push_back(Output::Open);
    }

    /// The connection is gone: drop it, fail what waited on it, and schedule the next try.
    fn lose(&mut self, reason: &str, now: f64) {
        self.drop_transport();
        let delay = self.backoff.delay_ms(self.attempt, (self.random)());
        self.attempt = self.attempt.saturating_add(1);
        self.phase = Phase::Waiting;
        self.retry_at = Some(now + f64::from(delay));
        self.set_state(if self.online {
            ConnectionState::Reconnecting {
                attempt: self.attempt,
                retry_in_ms: delay,
                reason: reason.to_owned(),
            }
        } else {
            ConnectionState::Offline
        });
    }

    /// Stops for good, in `phase`.
    fn end(&mut self, phase: Phase, state: ConnectionState) {
        self.drop_transport();
        self.phase = phase;
        self.retry_at = None;
        self.set_state(state);
    }

    fn drop_transport(&mut self) {
        self.outputs.push_back(Output::Drop);
        self.deadline = None;
        for (id, _) in std::mem::take(&mut self.acks) {
            self.outputs.push_back(Output::Reply {
                id,
                result: Err(EmitError::Lost),
            });
        }
    }

    fn set_state(&mut self, state: ConnectionState) {
        if self.state != state {
            self.state = state.clone();
            self.outputs.push_back(Output::State(state));
        }
    }
}

/// Why a WebSocket closed, for people.
pub fn close_reason(code: u16) -> String {
    match code {
        1000 | 1001 | 1005 => "the server closed the connection".to_owned(),
        1006 => "the connection was lost".to_owned(),
        1009 => "a message was too large".to_owned(),
        code => format!("the connection closed (code {code})"),
    }
}

/// A frame from the server we could not understand: logged, never fatal.
fn skipped(what: &str) {
    leptos::logging::warn!("socket.io: skipped a frame from the server ({what})");
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: &str =
        r#"0{"sid":"e1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000}"#;

    fn session() -> Session {
        Session::new("/chat", None, Box::new(|| 0.5), true, 0.0)
    }

    fn outputs(s: &mut Session) -> Vec<Output> {
        std::iter::from_fn(|| s.poll_output()).collect()
    }

    /// A session that has joined `/chat` as `abc` at t = 0.
    fn joined() -> Session {
        let mut s = session();
        s.handle_frame(OPEN, 0.0);
        s.handle_frame(r#"40/chat,{"sid":"abc"}"#, 0.0);
        outputs(&mut s);
        s
    }

    #[test]
    fn the_handshake_joins_the_namespace() {
        let mut s = Session::new(
            "/cursors",
            Some(serde_json::json!({"compact": true})),
            Box::new(|| 0.5),
            true,
            0.0,
        );
        assert_eq!(outputs(&mut s), vec![Output::Open]);
        assert_eq!(
            s.emit("update", "[]".into(), None, 0.0),
            Err(EmitError::NotConnected)
        );
        s.handle_frame(OPEN, 10.0);
        assert_eq!(
            outputs(&mut s),
            vec![Output::Send(r#"40/cursors,{"compact":true}"#.into())]
        );
        s.handle_frame(r#"40/cursors,{"sid":"abc"}"#, 20.0);
        assert_eq!(
            outputs(&mut s),
            vec![
                Output::State(ConnectionState::Connected),
                Output::Joined { sid: "abc".into() }
            ]
        );
        assert_eq!(
            s.emit("update", r#"[{"x":0}]"#.into(), None, 30.0),
            Ok(None)
        );
        assert_eq!(
            outputs(&mut s),
            vec![Output::Send(r#"42/cursors,["update",{"x":0}]"#.into())]
        );
    }

    #[test]
    fn pings_are_answered_and_keep_the_connection_alive() {
        let mut s = joined();
        s.handle_frame("2", 40_000.0);
        assert_eq!(outputs(&mut s), vec![Output::Send("3".into())]);
        // Silence is allowed for pingInterval + pingTimeout after the last ping.
        assert_eq!(s.next_wake(), Some(85_000.0));
        s.handle_timeout(84_999.0);
        assert!(outputs(&mut s).is_empty());
        assert!(s.state().is_connected());
    }

    #[test]
    fn a_silent_server_is_given_up_on_and_retried_with_backoff() {
        let mut s = joined();
        s.handle_timeout(45_000.0);
        assert_eq!(
            outputs(&mut s),
            vec![
                Output::Drop,
                Output::State(ConnectionState::Reconnecting {
                    attempt: 1,
                    retry_in_ms: 500,
                    reason: "the server stopped answering".into()
                })
            ]
        );
        assert_eq!(s.next_wake(), Some(45_500.0));
        s.handle_timeout(45_499.0);
        assert!(outputs(&mut s).is_empty(), "not before its time");
        s.handle_timeout(45_500.0);
        assert_eq!(outputs(&mut s), vec![Output::Open]);
        // That attempt fails too: the next delay doubles.
        s.handle_close(1006, 45_600.0);
        let out = outputs(&mut s);
        assert!(
            out.contains(&Output::State(ConnectionState::Reconnecting {
                attempt: 2,
                retry_in_ms: 1000,
                reason: "the connection was lost".into()
            })),
            "{out:?}"
        );
    }

    #[test]
    fn a_server_that_never_answers_the_handshake_times_out() {
        let mut s = session();
        outputs(&mut s);
        assert_eq!(s.next_wake(), Some(CONNECT_TIMEOUT_MS));
        s.handle_timeout(CONNECT_TIMEOUT_MS);
        let out = outputs(&mut s);
        assert_eq!(out[0], Output::Drop);
        assert!(
            matches!(&out[1], Output::State(ConnectionState::Reconnecting { reason, .. }) if reason == "the server did not answer")
        );
    }

    #[test]
    fn after_a_reconnect_the_namespace_is_joined_again_and_backoff_starts_over() {
        let mut s = joined();
        s.handle_close(1006, 1000.0);
        outputs(&mut s);
        s.handle_timeout(1500.0);
        assert_eq!(outputs(&mut s), vec![Output::Open]);
        s.handle_frame(OPEN, 1600.0);
        assert_eq!(outputs(&mut s), vec![Output::Send("40/chat,".into())]);
        s.handle_frame(r#"40/chat,{"sid":"def"}"#, 1700.0);
        assert_eq!(
            outputs(&mut s),
            vec![
                Output::State(ConnectionState::Connected),
                Output::Joined { sid: "def".into() }
            ]
        );
        s.handle_close(1006, 2000.0);
        assert!(
            outputs(&mut s).contains(&Output::State(ConnectionState::Reconnecting {
                attempt: 1,
                retry_in_ms: 500,
                reason: "the connection was lost".into()
            }))
        );
    }

    #[test]
    fn acknowledgements_are_matched_timed_out_or_failed_with_the_connection() {
        let mut s = joined();
        let first = s
            .emit("message", r#"["a"]"#.into(), Some(5000.0), 0.0)
            .unwrap()
            .unwrap();
        let second = s
            .emit("message", r#"["b"]"#.into(), Some(5000.0), 10.0)
            .unwrap()
            .unwrap();
        let third = s
            .emit("message", r#"["c"]"#.into(), Some(50_000.0), 10.0)
            .unwrap()
            .unwrap();
        assert_eq!(
            outputs(&mut s)[0],
            Output::Send(format!(r#"42/chat,{first}["message","a"]"#))
        );
        s.handle_frame(&format!(r#"43/chat,{first}[{{"ok":true}}]"#), 100.0);
        assert_eq!(
            outputs(&mut s),
            vec![Output::Reply {
                id: first,
                result: Ok(r#"[{"ok":true}]"#.into())
            }]
        );
        s.handle_timeout(5010.0);
        assert_eq!(
            outputs(&mut s),
            vec![Output::Reply {
                id: second,
                result: Err(EmitError::Timeout)
            }]
        );
        // A late answer to a timed-out emit is ignored.
        s.handle_frame(&format!(r#"43/chat,{second}[{{"ok":true}}]"#), 5020.0);
        assert!(outputs(&mut s).is_empty());
        s.handle_close(1006, 6000.0);
        assert!(outputs(&mut s).contains(&Output::Reply {
            id: third,
            result: Err(EmitError::Lost)
        }));
    }

    #[test]
    fn a_server_initiated_disconnect_reconnects() {
        let mut s = joined();
        s.handle_frame("41/chat,", 100.0);
        let out = outputs(&mut s);
        assert_eq!(out[0], Output::Drop);
        assert!(
            matches!(&out[1], Output::State(ConnectionState::Reconnecting { reason, .. }) if reason == "the server ended the session")
        );
        s.handle_timeout(600.0);
        assert_eq!(outputs(&mut s), vec![Output::Open]);
    }

    #[test]
    fn a_refused_namespace_is_not_retried() {
        let mut s = session();
        s.handle_frame(OPEN, 0.0);
        s.handle_frame(r#"44/chat,{"message":"Invalid namespace"}"#, 0.0);
        let out = outputs(&mut s);
        assert_eq!(
            out[2..],
            [
                Output::Drop,
                Output::State(ConnectionState::Refused("Invalid namespace".into()))
            ]
        );
        assert_eq!(s.next_wake(), None, "nothing more to do");
    }

    #[test]
    fn events_are_delivered_for_this_namespace_only_and_acks_they_ask_for_are_answered() {
        let mut s = joined();
        s.handle_frame(r#"42/chat,["message",{"id":"x","name":"Bo"},"hi"]"#, 0.0);
        s.handle_frame(r#"42/other,["message","not ours"]"#, 0.0);
        s.handle_frame(r#"42/chat,7["poke"]"#, 0.0);
        s.handle_frame("42/chat,[1", 0.0);
        assert_eq!(
            outputs(&mut s),
            vec![
                Output::Event {
                    name: "message".into(),
                    args: r#"[{"id":"x","name":"Bo"},"hi"]"#.into()
                },
                Output::Event {
                    name: "poke".into(),
                    args: "[]".into()
                },
                Output::Send("43/chat,7[]".into()),
            ]
        );
    }

    #[test]
    fn frames_larger_than_the_server_accepts_are_refused_before_sending() {
        let mut s = joined();
        let big = format!(r#"["{}"]"#, "x".repeat(2000));
        assert!(matches!(
            s.emit("message", big, None, 0.0),
            Err(EmitError::TooLarge(_))
        ));
        assert!(outputs(&mut s).is_empty());
    }

    #[test]
    fn going_offline_drops_the_connection_and_coming_back_retries_at_once() {
        let mut s = joined();
        s.emit("message", r#"["hi"]"#.into(), Some(5000.0), 0.0)
            .unwrap();
        outputs(&mut s);
        s.handle_network(false, 10.0);
        let out = outputs(&mut s);
        assert!(out.contains(&Output::Drop), "{out:?}");
        assert!(out.contains(&Output::State(ConnectionState::Offline)));
        assert!(
            out.contains(&Output::Reply {
                id: 0,
                result: Err(EmitError::Lost)
            }),
            "the page learns its message may not have arrived"
        );
        s.handle_timeout(20.0);
        s.handle_close(1006, 20.0);
        s.handle_network(true, 30.0);
        assert_eq!(s.next_wake(), Some(30.0));
        s.handle_timeout(30.0);
        assert_eq!(outputs(&mut s), vec![Output::Open]);
    }

    #[test]
    fn closing_leaves_the_namespace_and_stops() {
        let mut s = joined();
        s.close();
        assert_eq!(
            outputs(&mut s),
            vec![
                Output::Send("41/chat,".into()),
                Output::Drop,
                Output::State(ConnectionState::Offline)
            ]
        );
        s.handle_close(1000, 10.0);
        assert!(outputs(&mut s).is_empty());
        assert_eq!(s.next_wake(), None);
    }
}
