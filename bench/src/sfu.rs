//! `bench sfu`: rooms of bots on loopback against the server's SFU (pinned to CPU 0). Each
//! bot joins `/meet`, connects with str0m, publishes a camera at 30 fps in three layers
//! (about 1.75 Mbit/s together) and a microphone (50 packets a second), and receives every
//! other bot's camera at the medium layer (about 500 kbit/s: "360p") and microphone. Step by
//! step more rooms: forwarded video streams (publisher → subscriber pairs), packets the SFU
//! sends a second, its CPU per forwarded packet, the forwarding delay (each frame carries its
//! send time) and the frames lost. Prints figures; asserts nothing.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::channel::ChannelId;
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;

use crate::client::{Conn, Frame};
use crate::histogram::Histogram;
use crate::metrics::Scrape;
use crate::stats::print_table;
use crate::target::{CpuWindow, Target};

/// Bytes of one frame of each layer at 30 fps: 150, 500 and 1100 kbit/s.
const LAYERS: [(&str, usize); 3] = [("l", 625), ("m", 2083), ("h", 4583)];
const FRAME_EVERY: Duration = Duration::from_micros(33_333);
const AUDIO_EVERY: Duration = Duration::from_millis(20);
const KEYFRAME_EVERY: u64 = 90;
/// Where a frame carries its layer and its send time (µs since the bench started).
const MARK_AT: usize = 10;

pub struct Setup {
    pub binary: PathBuf,
    pub room_size: usize,
    pub rooms: Vec<usize>,
    pub warmup: Duration,
    pub measure: Duration,
    /// Bots send their microphone too (a stream is then a camera layer and its audio);
    /// without, the shape: cameras only.
    pub microphones: bool,
    /// Extra flags for the server (e.g. `--media-loops`).
    pub server_flags: Vec<String>,
}

/// What every bot counts into.
#[derive(Default)]
struct Counts {
    video_sent: AtomicU64,
    video_received: AtomicU64,
    /// Forwarding delay, send to receipt, in µs.
    delay: Histogram,
    connected: AtomicU64,
}

struct Step {
    rooms: usize,
    streams: usize,
    packets_per_s: f64,
    cpu_share: f64,
    micros_per_packet: f64,
    p50: Option<Duration>,
    p99: Option<Duration>,
    lost_percent: f64,
}

pub async fn run(setup: Setup) {
    str0m::crypto::from_feature_flags().install_process_default();
    let mut flags = vec!["--meet-capacity".to_owned(), setup.room_size.to_string()];
    flags.extend(setup.server_flags.iter().cloned());
    let target = Target::start_switchboard_with(&setup.binary, true, &flags).await;
    println!(
        "bench sfu: rooms of {}, the SFU pinned to CPU 0, the bots on the other core; {}{}",
        setup.room_size,
        if setup.microphones {
            "cameras and microphones (a stream: a camera's medium layer and its audio)"
        } else {
            "cameras only (a stream: a camera's medium layer)"
        },
        if setup.server_flags.is_empty() {
            String::new()
        } else {
            format!("; server flags {}", setup.server_flags.join(" "))
        }
    );
    let epoch = Instant::now();
    let counts = Arc::new(Counts::default());
    let mut bots = Vec::new();
    let mut steps = Vec::new();
    let mut rooms_now = 0;
    for &rooms in &setup.rooms {
        while rooms_now < rooms {
            for n in 0..setup.room_size {
                let room = format!("bench-{rooms_now}");
                let bot = Bot::start(
                    target.addr,
                    &room,
                    n,
                    epoch,
                    setup.microphones,
                    counts.clone(),
                );
                match bot.await {
                    Ok(bot) => bots.push(bot),
                    Err(error) => {
                        println!("  a bot could not join: {error}");
                        return;
                    }
                }
            }
            rooms_now += 1;
        }
        tokio::time::sleep(setup.warmup).await;
        counts.video_sent.store(0, Relaxed);
        counts.video_received.store(0, Relaxed);
        counts.delay.clear();
        let before = Scrape::read(target.addr).await;
        let cpu = CpuWindow::start(&target);
        let started = Instant::now();
        tokio::time::sleep(setup.measure).await;
        let seconds = started.elapsed().as_secs_f64();
        let cpu = cpu.finish(&target);
        let after = Scrape::read(target.addr).await;
        let sent = |s: &Option<Scrape>| {
            s.as_ref()
                .and_then(|s| s.get("switchboard_sfu_sent_packets_total"))
        };
        let packets = match (sent(&after), sent(&before)) {
            (Some(a), Some(b)) => a - b,
            _ => 0.0,
        };
        let expected = counts.video_sent.load(Relaxed) as f64 * (setup.room_size - 1) as f64;
        let received = counts.video_received.load(Relaxed) as f64;
        let (cpu_seconds, share) = cpu.unwrap_or((0.0, 0.0));
        steps.push(Step {
            rooms,
            streams: rooms * setup.room_size * (setup.room_size - 1),
            packets_per_s: packets / seconds,
            cpu_share: share,
            micros_per_packet: if packets > 0.0 {
                cpu_seconds * 1e6 / packets
            } else {
                0.0
            },
            p50: counts.delay.percentile(50.0),
            p99: counts.delay.percentile(99.0),
            lost_percent: if expected > 0.0 {
                (100.0 * (1.0 - received / expected)).max(0.0)
            } else {
                0.0
            },
        });
        let last = steps.last().expect("a step");
        println!(
            "  {rooms} rooms: {} streams, {:.0} packets/s, CPU {:.0} %, p99 {:?}, lost {:.2} %",
            last.streams,
            last.packets_per_s,
            last.cpu_share * 100.0,
            last.p99,
            last.lost_percent
        );
        if last.cpu_share > 0.95 || last.lost_percent > 5.0 {
            break;
        }
    }
    print(&steps, setup.room_size);
    for bot in &bots {
        bot.stop();
    }
    target.stop().await;
}

fn print(steps: &[Step], room_size: usize) {
    let rows: Vec<Vec<String>> = steps
        .iter()
        .map(|s| {
            vec![
                s.rooms.to_string(),
                (s.rooms * room_size).to_string(),
                s.streams.to_string(),
                format!("{:.0}", s.packets_per_s),
                format!("{:.0} %", s.cpu_share * 100.0),
                format!("{:.1}", s.micros_per_packet),
                crate::stats::ms(s.p50),
                crate::stats::ms(s.p99),
                format!("{:.2} %", s.lost_percent),
            ]
        })
        .collect();
    print_table(
        &[
            "rooms",
            "bots",
            "video streams",
            "packets out/s",
            "SFU CPU",
            "µs CPU/packet",
            "delay p50",
            "delay p99",
            "frames lost",
        ],
        &rows,
    );
    let held = steps
        .iter()
        .filter(|s| s.lost_percent <= 0.5 && s.p99.is_some_and(|p| p <= Duration::from_millis(20)))
        .max_by_key(|s| s.streams);
    if let Some(best) = held {
        let per_core = if best.cpu_share > 0.0 {
            best.streams as f64 / best.cpu_share
        } else {
            0.0
        };
        println!(
            "held: {} rooms of {room_size} ({} video streams) with p99 ≤ 20 ms and ≤ 0.5 % lost, at {:.0} % of a core: about {per_core:.0} streams per full core",
            best.rooms,
            best.streams,
            best.cpu_share * 100.0
        );
    }
}

struct BotHandle {
    stop: Arc<AtomicBool>,
}

impl BotHandle {
    fn stop(&self) {
        self.stop.store(true, Relaxed);
    }
}

struct Bot {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    camera: Mid,
    microphone: Mid,
    channel: Option<ChannelId>,
    outbox: VecDeque<String>,
    /// The members whose camera we asked the medium layer of.
    asked: std::collections::HashSet<String>,
    epoch: Instant,
    started: Option<Instant>,
    microphone_on: bool,
    frame: u64,
    keyframe_due: bool,
    counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
    /// Kept open: closing it would take the bot out of its room.
    _conn: Conn,
}

impl Bot {
    async fn start(
        addr: SocketAddr,
        room: &str,
        n: usize,
        epoch: Instant,
        microphone_on: bool,
        counts: Arc<Counts>,
    ) -> Result<BotHandle, String> {
        let mut conn = Conn::connect(addr, "/meet", None).await?;
        conn.send(format!(
            "42/meet,{}",
            json!(["join", room, format!("bot {n}")])
        ))
        .await;
        expect(&mut conn, "room").await?;
        let socket = UdpSocket::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let local = socket.local_addr().map_err(|e| e.to_string())?;
        let mut rtc = Rtc::builder().build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp").map_err(|e| e.to_string())?);
        let mut change = rtc.sdp_api();
        let mut simulcast = Simulcast::new();
        for (rid, _) in LAYERS {
            simulcast.add_send_layer(SimulcastLayer::new(rid));
        }
        let camera = change.add_media(
            MediaKind::Video,
            Direction::SendOnly,
            None,
            None,
            Some(simulcast),
        );
        let microphone = change.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        change.add_channel("sfu".into());
        let (offer, pending) = change.apply().ok_or("no offer")?;
        conn.send(format!(
            "42/meet,{}",
            json!(["media-offer", offer.to_sdp_string()])
        ))
        .await;
        let answer = expect(&mut conn, "media-answer").await?;
        let answer = SdpAnswer::from_sdp_string(answer[1].as_str().unwrap_or_default())
            .map_err(|e| e.to_string())?;
        rtc.sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| e.to_string())?;
        let stop = Arc::new(AtomicBool::new(false));
        let bot = Bot {
            rtc,
            socket,
            local,
            camera,
            microphone,
            channel: None,
            outbox: VecDeque::new(),
            asked: Default::default(),
            epoch,
            started: None,
            microphone_on,
            frame: 0,
            keyframe_due: true,
            counts,
            stop: stop.clone(),
            _conn: conn,
        };
        tokio::spawn(bot.run());
        Ok(BotHandle { stop })
    }

    async fn run(mut self) {
        let mut buf = vec![0u8; 2048];
        let mut video = tokio::time::interval(FRAME_EVERY);
        let mut audio = tokio::time::interval(AUDIO_EVERY);
        video.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        audio.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        while !self.stop.load(Relaxed) {
            let Some(timeout) = self.drain() else { return };
            let sleep = timeout.saturating_duration_since(Instant::now());
            tokio::select! {
                received = self.socket.recv_from(&mut buf) => {
                    if let Ok((n, source)) = received {
                        if let Ok(contents) = buf[..n].try_into() {
                            let _ = self.rtc.handle_input(Input::Receive(Instant::now(), Receive {
                                proto: Protocol::Udp,
                                source,
                                destination: self.local,
                                contents,
                            }));
                        }
                    }
                }
                _ = video.tick() => self.write_video(),
                _ = audio.tick(), if self.microphone_on => self.write_audio(),
                () = tokio::time::sleep(sleep) => {}
            }
            let _ = self.rtc.handle_input(Input::Timeout(Instant::now()));
        }
        self.rtc.disconnect();
    }

    fn drain(&mut self) -> Option<Instant> {
        loop {
            if !self.rtc.is_alive() {
                return None;
            }
            match self.rtc.poll_output().ok()? {
                Output::Timeout(at) => return Some(at),
                Output::Transmit(t) => {
                    let _ = self.socket.try_send_to(&t.contents, t.destination);
                }
                Output::Event(event) => self.on_event(event),
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Connected => {
                self.started = Some(Instant::now());
                self.counts.connected.fetch_add(1, Relaxed);
            }
            Event::ChannelOpen(id, _) => {
                self.channel = Some(id);
                self.flush();
            }
            Event::ChannelData(data) => {
                let Ok(message) = serde_json::from_slice::<Value>(&data.data) else {
                    return;
                };
                if message["kind"] == "offer" {
                    let sdp = message["sdp"].as_str().unwrap_or_default();
                    let Ok(offer) = SdpOffer::from_sdp_string(sdp) else {
                        return;
                    };
                    if let Ok(answer) = self.rtc.sdp_api().accept_offer(offer) {
                        self.send(json!({"kind": "answer", "sdp": answer.to_sdp_string()}));
                    }
                }
            }
            Event::MediaAdded(added) => {
                // Another member's track: ask for its camera's medium layer.
                let Some(media) = self.rtc.media(added.mid) else {
                    return;
                };
                let member = media.stream_id().to_owned();
                if added.kind == MediaKind::Video && self.asked.insert(member.clone()) {
                    self.send(json!({"kind": "want", "member": member, "layer": "medium"}));
                }
            }
            Event::KeyframeRequest(_) => self.keyframe_due = true,
            Event::MediaData(data) => {
                if self.rtc.media(data.mid).map(|m| m.kind()) != Some(MediaKind::Video) {
                    return;
                }
                let Some(sent) = data
                    .data
                    .get(MARK_AT + 1..MARK_AT + 9)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_be_bytes)
                else {
                    return;
                };
                let now = self.epoch.elapsed().as_micros() as u64;
                self.counts.video_received.fetch_add(1, Relaxed);
                self.counts.delay.record(now.saturating_sub(sent));
            }
            _ => {}
        }
    }

    fn send(&mut self, message: Value) {
        self.outbox.push_back(message.to_string());
        self.flush();
    }

    fn flush(&mut self) {
        let Some(mut channel) = self.channel.and_then(|id| self.rtc.channel(id)) else {
            return;
        };
        while let Some(text) = self.outbox.pop_front() {
            let _ = channel.write(false, text.as_bytes());
        }
    }

    fn pt(&mut self, mid: Mid, codec: Codec) -> Option<str0m::media::Pt> {
        let writer = self.rtc.writer(mid)?;
        let pt = writer
            .payload_params()
            .find(|p| p.spec().codec == codec)
            .map(|p| p.pt());
        pt
    }

    fn write_video(&mut self) {
        let Some(started) = self.started else {
            return;
        };
        let Some(pt) = self.pt(self.camera, Codec::Vp8) else {
            return;
        };
        self.frame += 1;
        let keyframe = self.keyframe_due || self.frame.is_multiple_of(KEYFRAME_EVERY);
        self.keyframe_due = false;
        let time = MediaTime::from_90khz((started.elapsed().as_micros() * 9 / 100) as u64);
        let sent = self.epoch.elapsed().as_micros() as u64;
        for (index, (rid, bytes)) in LAYERS.into_iter().enumerate() {
            let mut frame = if keyframe {
                vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01]
            } else {
                vec![0x11, 0x02, 0x00, 0, 0, 0, 0, 0, 0, 0]
            };
            frame.push(index as u8);
            frame.extend(sent.to_be_bytes());
            frame.resize(bytes, 0x55);
            if let Some(writer) = self.rtc.writer(self.camera) {
                let _ = writer
                    .rid(rid.into())
                    .write(pt, Instant::now(), time, frame);
            }
        }
        self.counts.video_sent.fetch_add(1, Relaxed);
    }

    fn write_audio(&mut self) {
        let Some(started) = self.started else {
            return;
        };
        let Some(pt) = self.pt(self.microphone, Codec::Opus) else {
            return;
        };
        let time = MediaTime::new(
            (started.elapsed().as_micros() * 48 / 1000) as u64,
            Frequency::FORTY_EIGHT_KHZ,
        );
        if let Some(writer) = self.rtc.writer(self.microphone) {
            let _ = writer.write(pt, Instant::now(), time, vec![0xfc; 80]);
        }
    }
}

/// Reads packets until `event` arrives; returns its arguments (the event name first).
async fn expect(conn: &mut Conn, event: &str) -> Result<Vec<Value>, String> {
    // (Engine.IO's message type, 4, is stripped by `Conn::next`.)
    let prefix = "2/meet,";
    loop {
        match tokio::time::timeout(Duration::from_secs(10), conn.next()).await {
            Ok(Frame::Packet(packet)) => {
                let Some(json) = packet.strip_prefix(prefix) else {
                    continue;
                };
                let args: Vec<Value> = serde_json::from_str(json).map_err(|e| e.to_string())?;
                if args.first().and_then(Value::as_str) == Some(event) {
                    return Ok(args);
                }
                if args.first().and_then(Value::as_str) == Some("meetError") {
                    return Err(format!("refused: {args:?}"));
                }
            }
            Ok(Frame::Other) => continue,
            Ok(Frame::Closed) => return Err("closed".into()),
            Err(_) => return Err(format!("no {event:?} within 10 s")),
        }
    }
}
