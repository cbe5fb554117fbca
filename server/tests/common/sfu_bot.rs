//! A meeting member without a browser: it joins a `/meet` room over socket.io and connects
//! to the SFU with str0m (the library the server uses, here as a client), publishes a
//! synthetic camera in three simulcast layers and a microphone, answers the SFU's offers,
//! and records every frame it receives and every keyframe request it gets.
//!
//! Its video frames look like VP8 to the SFU (a keyframe's tag and start code, so the SFU can
//! tell keyframes from the rest) and carry the layer they were sent on at [`MARK_AT`], so a
//! receiver can tell which layer it was forwarded.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::protocol::meet::{FromSfu, Layer, PeerMessage, ToSfu};
use app::protocol::PeerId;
use serde_json::json;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::channel::ChannelId;
use str0m::format::PayloadParams;
use str0m::media::{Direction, MediaKind, MediaTime, Mid, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::{Reachable, SioClient};

/// Where a video frame says which layer it was sent on.
pub const MARK_AT: usize = 10;

/// What a bot has seen.
#[derive(Debug, Default)]
pub struct Seen {
    /// Frames received, by the member who sent them.
    pub frames: HashMap<String, Vec<Frame>>,
    /// Keyframe requests its browser-side would have acted on.
    pub keyframe_requests: u64,
    /// Its data channel to the SFU is open.
    pub connected: bool,
    /// What others said through the SFU.
    pub said: Vec<(String, PeerMessage)>,
}

#[derive(Debug, Clone)]
pub struct Frame {
    pub at: Instant,
    pub kind: MediaKind,
    /// The layer it was sent on (video only).
    pub layer: Option<Layer>,
    pub keyframe: bool,
}

impl Seen {
    pub fn video_from(&self, member: &str) -> Vec<Frame> {
        self.frames
            .get(member)
            .map(|f| {
                f.iter()
                    .filter(|f| f.kind == MediaKind::Video)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn audio_from(&self, member: &str) -> usize {
        self.frames
            .get(member)
            .map(|f| f.iter().filter(|f| f.kind == MediaKind::Audio).count())
            .unwrap_or(0)
    }
}

/// How a bot publishes.
#[derive(Debug, Clone, Copy)]
pub struct Publishing {
    /// A keyframe every this many frames (besides those asked for).
    pub keyframe_every: u64,
    /// Junk sent to the SFU besides the media, in bytes a second (a sender gone wild).
    pub flood: usize,
    /// The size of each junk packet: RTP-looking at a full 1200 bytes, RTCP-looking (a
    /// sender report's type) below.
    pub flood_packet: usize,
}

impl Default for Publishing {
    fn default() -> Self {
        Publishing {
            keyframe_every: 30,
            flood: 0,
            flood_packet: 1200,
        }
    }
}

enum Control {
    Send(ToSfu),
    Stop,
}

pub struct Bot {
    pub id: String,
    /// The SFU's UDP port its answer named (the loop its room is on).
    pub media_port: u16,
    pub sio: SioClient,
    pub seen: Arc<Mutex<Seen>>,
    control: mpsc::UnboundedSender<Control>,
}

impl Bot {
    /// Joins `room` as `name` and connects its media; returns once the SFU answered.
    pub async fn join(server: &impl Reachable, room: &str, name: &str) -> Bot {
        Self::join_with(server, room, name, Publishing::default()).await
    }

    pub async fn join_with(
        server: &impl Reachable,
        room: &str,
        name: &str,
        publishing: Publishing,
    ) -> Bot {
        match Self::try_join_with(server, room, name, publishing).await {
            Ok(bot) => bot,
            Err(refused) => panic!("{name} could not connect its media: {refused}"),
        }
    }

    /// Joins, or returns the server's refusal of its media (`meetError`).
    pub async fn try_join(server: &impl Reachable, room: &str, name: &str) -> Result<Bot, String> {
        Self::try_join_with(server, room, name, Publishing::default()).await
    }

    pub async fn try_join_with(
        server: &impl Reachable,
        room: &str,
        name: &str,
        publishing: Publishing,
    ) -> Result<Bot, String> {
        str0m::crypto::from_feature_flags().install_process_default();
        let mut sio = SioClient::connect(server, "/meet").await;
        sio.emit("join", vec![json!(room), json!(name)]).await;
        let view = sio.expect("room").await;
        let id = view[0]["you"].as_str().expect("my id").to_owned();

        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let local = socket.local_addr().expect("addr");
        let mut rtc = Rtc::builder().build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp").expect("candidate"));
        let mut change = rtc.sdp_api();
        let mut layers = Simulcast::new();
        for layer in Layer::ALL {
            layers.add_send_layer(SimulcastLayer::new(layer.rid()));
        }
        let camera = change.add_media(
            MediaKind::Video,
            Direction::SendOnly,
            None,
            None,
            Some(layers),
        );
        let microphone = change.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        change.add_channel("sfu".into());
        let (offer, pending) = change.apply().expect("an offer");
        sio.emit("media-offer", vec![json!(offer.to_sdp_string())])
            .await;
        let answer = match sio.next().await {
            (event, args) if event == "media-answer" => args,
            (event, args) if event == "meetError" => {
                return Err(args[0].as_str().unwrap_or_default().to_owned())
            }
            other => panic!("expected media-answer, got {other:?}"),
        };
        let answer = answer[0].as_str().expect("sdp");
        let media_port = answer
            .lines()
            .find(|line| line.starts_with("a=candidate"))
            .and_then(|line| line.split_whitespace().nth(5))
            .and_then(|port| port.parse().ok())
            .expect("a candidate with a port in the answer");
        let answer = SdpAnswer::from_sdp_string(answer).expect("answer");
        rtc.sdp_api()
            .accept_answer(pending, answer)
            .expect("accept the answer");

        let seen = Arc::new(Mutex::new(Seen::default()));
        let (control, controls) = mpsc::unbounded_channel();
        let member = Member {
            rtc,
            socket,
            local,
            camera,
            microphone,
            channel: None,
            outbox: Vec::new(),
            seen: seen.clone(),
            publishing,
            frame: 0,
            keyframe_due: true,
            started: None,
            sfu: None,
        };
        tokio::spawn(member.run(controls));
        Ok(Bot {
            id,
            media_port,
            sio,
            seen,
            control,
        })
    }

    /// Whether `other`'s camera reaches it (a few frames of it came).
    pub fn gets_video_of(&self, other: &Bot) -> bool {
        self.seen.lock().unwrap().video_from(&other.id).len() >= 5
    }

    /// How many frames of `other`'s camera came after `since`.
    pub fn frames_of_since(&self, other: &Bot, since: Instant) -> usize {
        let seen = self.seen.lock().unwrap();
        seen.video_from(&other.id)
            .iter()
            .filter(|f| f.at > since)
            .count()
    }

    /// Asks the SFU for `layer` of `member`'s camera.
    pub fn want(&self, member: &str, layer: Layer) {
        let member = PeerId::parse(member).expect("an id");
        let _ = self
            .control
            .send(Control::Send(ToSfu::Want { member, layer }));
    }

    pub fn say(&self, message: PeerMessage) {
        let _ = self.control.send(Control::Send(ToSfu::Say { message }));
    }

    /// Leaves the room (the SFU stops its media); keeps its socket.
    pub async fn leave(&self) {
        self.sio.emit("leave", vec![]).await;
        let _ = self.control.send(Control::Stop);
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.control.send(Control::Stop);
    }
}

/// The bot's side of the connection, run by its own task.
struct Member {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    camera: Mid,
    microphone: Mid,
    channel: Option<ChannelId>,
    outbox: Vec<String>,
    seen: Arc<Mutex<Seen>>,
    publishing: Publishing,
    frame: u64,
    keyframe_due: bool,
    started: Option<Instant>,
    /// Where the SFU is (the first address str0m sent to).
    sfu: Option<SocketAddr>,
}

/// A 20 fps camera (as Chromium's fake one) and 50 audio packets a second.
const FRAME_EVERY: Duration = Duration::from_millis(50);
const AUDIO_EVERY: Duration = Duration::from_millis(20);

impl Member {
    async fn run(mut self, mut controls: mpsc::UnboundedReceiver<Control>) {
        let mut buf = vec![0u8; 2048];
        let mut video = tokio::time::interval(FRAME_EVERY);
        let mut audio = tokio::time::interval(AUDIO_EVERY);
        loop {
            let timeout = match self.drain() {
                Some(at) => at,
                None => return,
            };
            let sleep = timeout.saturating_duration_since(Instant::now());
            tokio::select! {
                control = controls.recv() => match control {
                    Some(Control::Send(message)) => self.send(&message),
                    Some(Control::Stop) | None => {
                        self.rtc.disconnect();
                        return;
                    }
                },
                received = self.socket.recv_from(&mut buf) => {
                    if let Ok((n, source)) = received {
                        if let Ok(contents) = buf[..n].try_into() {
                            let input = Input::Receive(Instant::now(), Receive {
                                proto: Protocol::Udp,
                                source,
                                destination: self.local,
                                contents,
                            });
                            let _ = self.rtc.handle_input(input);
                        }
                    }
                }
                _ = video.tick() => self.write_video(),
                _ = audio.tick() => {
                    self.write_audio();
                    self.flood();
                }
                () = tokio::time::sleep(sleep) => {}
            }
            let _ = self.rtc.handle_input(Input::Timeout(Instant::now()));
        }
    }

    /// Polls until str0m waits for time; `None` once the connection is gone.
    fn drain(&mut self) -> Option<Instant> {
        loop {
            if !self.rtc.is_alive() {
                return None;
            }
            match self.rtc.poll_output().ok()? {
                Output::Timeout(at) => return Some(at),
                Output::Transmit(t) => {
                    self.sfu.get_or_insert(t.destination);
                    let _ = self.socket.try_send_to(&t.contents, t.destination);
                }
                Output::Event(event) => self.on_event(event),
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Connected => self.started = Some(Instant::now()),
            Event::ChannelOpen(id, _) => {
                self.channel = Some(id);
                self.seen.lock().unwrap().connected = true;
                self.flush();
            }
            Event::ChannelData(data) => match serde_json::from_slice::<FromSfu>(&data.data) {
                Ok(FromSfu::Offer { sdp }) => {
                    let offer = SdpOffer::from_sdp_string(&sdp).expect("the SFU's offer");
                    let answer = self.rtc.sdp_api().accept_offer(offer).expect("accept");
                    self.send(&ToSfu::Answer {
                        sdp: answer.to_sdp_string(),
                    });
                }
                Ok(FromSfu::Said { from, message }) => {
                    self.seen
                        .lock()
                        .unwrap()
                        .said
                        .push((from.to_string(), message));
                }
                Ok(FromSfu::Answer { .. }) | Err(_) => {}
            },
            Event::KeyframeRequest(_) => {
                self.keyframe_due = true;
                self.seen.lock().unwrap().keyframe_requests += 1;
            }
            Event::MediaData(data) => {
                let Some(media) = self.rtc.media(data.mid) else {
                    return;
                };
                let member = media.stream_id().to_owned();
                let kind = media.kind();
                let layer = (kind == MediaKind::Video)
                    .then(|| {
                        data.data
                            .get(MARK_AT)
                            .and_then(|m| Layer::ALL.get(*m as usize))
                            .copied()
                    })
                    .flatten();
                self.seen
                    .lock()
                    .unwrap()
                    .frames
                    .entry(member)
                    .or_default()
                    .push(Frame {
                        at: Instant::now(),
                        kind,
                        layer,
                        keyframe: data.is_keyframe(),
                    });
            }
            _ => {}
        }
    }

    /// Sends over the data channel, or holds the message until it opens.
    fn send(&mut self, message: &ToSfu) {
        self.outbox
            .push(serde_json::to_string(message).expect("json"));
        self.flush();
    }

    fn flush(&mut self) {
        if let Some(mut channel) = self.channel.and_then(|id| self.rtc.channel(id)) {
            for text in self.outbox.drain(..) {
                let _ = channel.write(false, text.as_bytes());
            }
        }
    }

    fn pt(&mut self, mid: Mid, want: fn(&PayloadParams) -> bool) -> Option<str0m::media::Pt> {
        let writer = self.rtc.writer(mid)?;
        let pt = writer.payload_params().find(|p| want(p)).map(|p| p.pt());
        pt
    }

    fn write_video(&mut self) {
        let Some(started) = self.started else {
            return;
        };
        let Some(pt) = self.pt(self.camera, |p| p.spec().codec == str0m::format::Codec::Vp8) else {
            return;
        };
        self.frame += 1;
        let keyframe =
            self.keyframe_due || self.frame.is_multiple_of(self.publishing.keyframe_every);
        self.keyframe_due = false;
        let time = MediaTime::from_90khz((started.elapsed().as_micros() * 9 / 100) as u64);
        for (index, layer) in Layer::ALL.into_iter().enumerate() {
            let mut frame = if keyframe {
                // A VP8 keyframe's tag (P bit clear, shown), its start code, 160x90.
                vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0xa0, 0x00, 0x5a, 0x00]
            } else {
                vec![0x11, 0x02, 0x00, 0, 0, 0, 0, 0, 0, 0]
            };
            frame.push(index as u8);
            frame.extend(self.frame.to_be_bytes());
            frame.resize(frame.len() + 200 * (index + 1), 0x55);
            if let Some(writer) = self.rtc.writer(self.camera) {
                let _ = writer
                    .rid(layer.rid().into())
                    .write(pt, Instant::now(), time, frame);
            }
        }
    }

    /// A 50th of a second's junk: packets of RTP's version 2, RTCP's type when small.
    fn flood(&mut self) {
        let (Some(sfu), Some(_)) = (self.sfu, self.started) else {
            return;
        };
        let mut junk = vec![0x55u8; self.publishing.flood_packet.max(8)];
        junk[0] = 0x80;
        if junk.len() < 1200 {
            junk[1] = 200;
        }
        for _ in 0..self.publishing.flood / 50 / junk.len() {
            let _ = self.socket.try_send_to(&junk, sfu);
        }
    }

    fn write_audio(&mut self) {
        let Some(started) = self.started else {
            return;
        };
        let Some(pt) = self.pt(self.microphone, |p| {
            p.spec().codec == str0m::format::Codec::Opus
        }) else {
            return;
        };
        let time = MediaTime::new(
            (started.elapsed().as_micros() * 48 / 1000) as u64,
            str0m::media::Frequency::FORTY_EIGHT_KHZ,
        );
        if let Some(writer) = self.rtc.writer(self.microphone) {
            let _ = writer.write(pt, Instant::now(), time, vec![0xfc; 40]);
        }
    }
}
