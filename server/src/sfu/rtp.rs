//! RTP as the SFU forwards it: str0m runs in RTP mode, so a packet goes on to every receiver
//! as it came (the payload shared, never depacketized into frames and packetized again).
//! What a receiver must see changed is renumbered per receiver by a [`Rewriter`]: each
//! simulcast layer is its own RTP stream at the sender, with its own sequence numbers,
//! timestamps and VP8 picture ids, while the receiver gets one continuous stream across the
//! layer switches.

use std::sync::Arc;
use std::time::Instant;

use str0m::media::{MediaKind, Mid, Rid};
use str0m::rtp::{ExtensionValues, RtpPacket, Ssrc, Vp8Descriptor, Vp8Patch};

/// A receiver's first sequence number. Below 2^16 so that the SRTP rollover counter starts
/// at 0, as a receiver assumes without being told.
const FIRST_SEQ: u64 = 1;

/// One incoming packet of a published track, parsed once before it fans out.
#[derive(Debug, Clone)]
pub struct Packet {
    pub mid: Mid,
    pub rid: Option<Rid>,
    /// Its stream at the sender (a layer; a new one if the sender restarts it).
    pub ssrc: Ssrc,
    /// The sender's extended sequence number (no wrap-around to handle).
    pub seq: u64,
    pub timestamp: u32,
    pub marker: bool,
    /// When it arrived: the wallclock of its media time, as far as the SFU knows.
    pub arrival: Instant,
    /// The first packet of a VP8 keyframe (where a receiver may start or switch layers).
    pub keyframe: bool,
    /// Its VP8 payload descriptor (video only), whose picture id and TL0PICIDX are rewritten.
    pub vp8: Option<Vp8Descriptor>,
    pub payload: Arc<[u8]>,
    /// Header extensions a receiver needs: audio level and voice activity, video orientation.
    audio_level: Option<i8>,
    voice_activity: Option<bool>,
    video_orientation: Option<str0m::rtp::VideoOrientation>,
}

impl Packet {
    pub fn new(packet: RtpPacket, mid: Mid, rid: Option<Rid>, kind: MediaKind) -> Packet {
        let vp8 = (kind == MediaKind::Video)
            .then(|| Vp8Descriptor::parse(&packet.payload).ok())
            .flatten();
        let ext = &packet.header.ext_vals;
        Packet {
            mid,
            rid,
            ssrc: packet.header.ssrc,
            seq: *packet.seq_no,
            timestamp: packet.header.timestamp,
            marker: packet.header.marker,
            arrival: packet.timestamp,
            keyframe: vp8.is_some_and(|d| d.starts_keyframe(&packet.payload)),
            vp8,
            audio_level: ext.audio_level,
            voice_activity: ext.voice_activity,
            video_orientation: ext.video_orientation,
            payload: packet.payload,
        }
    }

    /// The header extensions passed on (str0m writes its own mid, transport-cc and the rest).
    pub fn ext_vals(&self) -> ExtensionValues {
        ExtensionValues {
            audio_level: self.audio_level,
            voice_activity: self.voice_activity,
            video_orientation: self.video_orientation,
            ..ExtensionValues::default()
        }
    }
}

/// A packet renumbered for one receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewritten {
    pub seq: u64,
    pub timestamp: u32,
    /// The VP8 descriptor bytes to change (picture id, TL0PICIDX), if any.
    pub vp8: Option<Vp8Patch>,
}

/// Where the receiver's stream is: its last packet out.
#[derive(Debug, Clone, Copy)]
struct Last {
    seq: u64,
    timestamp: u32,
    picture_id: Option<u16>,
    tl0: Option<u8>,
    at: Instant,
}

/// Maps one sender stream (a layer) onto one receiver's continuous stream. [`Rewriter::start`]
/// at a keyframe begins a new source stream (the first, or a layer switch); then every packet
/// of that stream is shifted by the same offsets.
#[derive(Debug, Default)]
pub struct Rewriter {
    /// Out = in + these (sequence numbers and timestamps wrap as RTP's do).
    seq_offset: i64,
    timestamp_offset: u32,
    picture_id_offset: u16,
    tl0_offset: u8,
    /// The sender's first sequence number since `start`: older packets of that stream
    /// would land on numbers the previous stream used.
    floor: u64,
    /// The stream followed since `start`.
    ssrc: Option<Ssrc>,
    last: Option<Last>,
}

impl Rewriter {
    /// Makes `packet` (a keyframe's first packet, or any first packet of audio) follow on from
    /// what the receiver got last: the next sequence number, a timestamp as much later as
    /// time went by at the track's `clock_rate`, the next picture id.
    pub fn start(&mut self, packet: &Packet, clock_rate: u32) {
        let (seq, timestamp, picture_id, tl0) = match self.last {
            None => (FIRST_SEQ, packet.timestamp, None, None),
            Some(last) => {
                let elapsed = packet.arrival.saturating_duration_since(last.at);
                let ticks = (elapsed.as_micros() * u128::from(clock_rate) / 1_000_000).max(1);
                (
                    last.seq + 1,
                    last.timestamp.wrapping_add(ticks as u32),
                    last.picture_id.map(|p| p.wrapping_add(1)),
                    last.tl0.map(|t| t.wrapping_add(1)),
                )
            }
        };
        self.seq_offset = seq as i64 - packet.seq as i64;
        self.timestamp_offset = timestamp.wrapping_sub(packet.timestamp);
        let vp8 = packet.vp8.as_ref();
        self.picture_id_offset = match (picture_id, vp8.and_then(|d| d.picture_id())) {
            (Some(out), Some(incoming)) => out.wrapping_sub(incoming),
            _ => 0,
        };
        self.tl0_offset = match (tl0, vp8.and_then(|d| d.tl0_pic_idx())) {
            (Some(out), Some(incoming)) => out.wrapping_sub(incoming),
            _ => 0,
        };
        self.floor = packet.seq;
        self.ssrc = Some(packet.ssrc);
    }

    /// Whether `packet` belongs to the stream followed since `start`: a sender that restarts
    /// a layer under a new SSRC numbers it afresh, so it needs a `start` of its own.
    pub fn follows(&self, packet: &Packet) -> bool {
        self.ssrc == Some(packet.ssrc)
    }

    /// Renumbers a packet of the current source stream; `None` for one older than its start.
    pub fn rewrite(&mut self, packet: &Packet) -> Option<Rewritten> {
        if !self.follows(packet) || packet.seq < self.floor {
            return None;
        }
        let seq = u64::try_from(packet.seq as i64 + self.seq_offset).ok()?;
        let timestamp = packet.timestamp.wrapping_add(self.timestamp_offset);
        let descriptor = packet.vp8.as_ref();
        let picture_id = descriptor
            .and_then(|d| d.picture_id())
            .map(|id| id.wrapping_add(self.picture_id_offset) & 0x7fff);
        let tl0 = descriptor
            .and_then(|d| d.tl0_pic_idx())
            .map(|t| t.wrapping_add(self.tl0_offset));
        let vp8 = descriptor.and_then(|d| {
            let patch = |id: Option<u16>| {
                let mut patch = d.patch();
                if let Some(id) = id {
                    patch = patch.picture_id(id);
                }
                if let Some(tl0) = tl0 {
                    patch = patch.tl0_pic_idx(tl0);
                }
                patch.build()
            };
            // A sender with 7-bit picture ids keeps them 7 bits wide.
            patch(picture_id)
                .or_else(|_| patch(picture_id.map(|id| id & 0x7f)))
                .ok()
        });
        if self.last.is_none_or(|last| seq > last.seq) {
            let previous = self.last;
            self.last = Some(Last {
                seq,
                timestamp,
                picture_id: picture_id.or(previous.and_then(|l| l.picture_id)),
                tl0: tl0.or(previous.and_then(|l| l.tl0)),
                at: packet.arrival,
            });
        }
        Some(Rewritten {
            seq,
            timestamp,
            vp8,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A VP8 payload with a 15-bit picture id and a TL0PICIDX; `key` marks a keyframe start.
    fn vp8(picture_id: u16, tl0: u8, key: bool) -> Arc<[u8]> {
        let tag = if key { 0x10 } else { 0x11 };
        vec![
            0x90,
            0xe0,
            0x80 | (picture_id >> 8) as u8,
            picture_id as u8,
            tl0,
            0x00,
            tag,
            0x02,
            0x00,
            0x9d,
            0x01,
            0x2a,
        ]
        .into()
    }

    fn packet(
        seq: u64,
        timestamp: u32,
        picture_id: u16,
        tl0: u8,
        key: bool,
        at: Instant,
    ) -> Packet {
        let payload = vp8(picture_id, tl0, key);
        let vp8 = Vp8Descriptor::parse(&payload).ok();
        Packet {
            mid: Mid::from("0"),
            rid: None,
            ssrc: Ssrc::from(7),
            seq,
            timestamp,
            marker: false,
            arrival: at,
            keyframe: vp8.is_some_and(|d| d.starts_keyframe(&payload)),
            vp8,
            payload,
            audio_level: None,
            voice_activity: None,
            video_orientation: None,
        }
    }

    /// The patch that writes this picture id and TL0PICIDX into `p`.
    fn patch(p: &Packet, picture_id: u16, tl0: u8) -> Option<Vp8Patch> {
        let d = p.vp8.expect("a descriptor");
        d.patch()
            .picture_id(picture_id)
            .tl0_pic_idx(tl0)
            .build()
            .ok()
    }

    #[test]
    fn a_first_stream_starts_at_one_and_keeps_its_gaps() {
        let t0 = Instant::now();
        let mut r = Rewriter::default();
        let first = packet(40_000, 9_000, 100, 7, true, t0);
        r.start(&first, 90_000);
        assert_eq!(r.rewrite(&first).map(|o| o.seq), Some(1));
        let later = packet(40_003, 12_000, 101, 7, false, t0);
        let out = r.rewrite(&later).expect("rewritten");
        assert_eq!(
            out.seq, 4,
            "a gap upstream stays a gap, for the receiver's NACK"
        );
        assert_eq!(
            out.timestamp, 12_000,
            "timestamps keep their own base at first"
        );
        assert_eq!(out.vp8, patch(&later, 101, 7));
    }

    #[test]
    fn a_layer_switch_continues_numbers_time_and_picture_ids() {
        let t0 = Instant::now();
        let mut r = Rewriter::default();
        let low = packet(500, 1_000, 30_000, 200, true, t0);
        r.start(&low, 90_000);
        r.rewrite(&low);
        let low2 = packet(501, 1_000, 30_001, 255, false, t0);
        let before = r.rewrite(&low2).expect("rewritten");
        assert_eq!(before.vp8, patch(&low2, 30_001, 255));

        // 100 ms later the high layer's keyframe: a stream of its own numbering.
        let at = t0 + Duration::from_millis(100);
        let high = packet(9_000, 4_000_000_000, 12, 3, true, at);
        r.start(&high, 90_000);
        let out = r.rewrite(&high).expect("rewritten");
        assert_eq!(out.seq, before.seq + 1);
        assert_eq!(
            out.timestamp,
            1_000 + 9_000,
            "100 ms at 90 kHz after the last"
        );
        assert_eq!(
            out.vp8,
            patch(&high, 30_002, 0),
            "the next picture id and TL0PICIDX"
        );

        // A packet of the new layer from before its keyframe is dropped, not renumbered
        // onto the old layer's numbers.
        assert_eq!(r.rewrite(&packet(8_999, 0, 11, 3, false, at)), None);
    }

    #[test]
    fn picture_ids_wrap_within_fifteen_bits() {
        let t0 = Instant::now();
        let mut r = Rewriter::default();
        let a = packet(1, 0, 0x7fff, 0, true, t0);
        r.start(&a, 90_000);
        r.rewrite(&a);
        let b = packet(1, 0, 5, 0, true, t0);
        r.start(&b, 90_000);
        let out = r.rewrite(&b).expect("rewritten");
        assert_eq!(out.vp8, patch(&b, 0, 1), "0x7fff + 1 wraps to 0");
    }

    #[test]
    fn a_restarted_sender_stream_is_not_followed_until_started_again() {
        let t0 = Instant::now();
        let mut r = Rewriter::default();
        let a = packet(70_000, 0, 1, 0, true, t0);
        r.start(&a, 90_000);
        r.rewrite(&a);
        let mut restarted = packet(3, 3_000, 9, 0, true, t0 + Duration::from_millis(40));
        restarted.ssrc = Ssrc::from(8);
        assert!(!r.follows(&restarted));
        assert_eq!(r.rewrite(&restarted), None);
        r.start(&restarted, 90_000);
        assert_eq!(r.rewrite(&restarted).map(|o| o.seq), Some(2));
    }
}
