//! The SFU with bots for browsers (`common/sfu_bot.rs`: str0m as a client): each publishes
//! a camera in three simulcast layers and a microphone, and records what it receives.

mod common;

use std::time::{Duration, Instant};

use app::protocol::meet::{Layer, PeerMessage};
use common::sfu_bot::{Bot, Publishing};
use common::{eventually_within, metric, SioClient, TestServer};
use serde_json::json;

const SETTLE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_room_of_ten_every_bot_receives_every_other_bots_media() {
    let server = TestServer::start().await;
    let mut bots = Vec::new();
    for n in 0..10 {
        bots.push(Bot::join(&server, "ten", &format!("bot {n}")).await);
    }
    let ids: Vec<String> = bots.iter().map(|b| b.id.clone()).collect();
    eventually_within(
        SETTLE,
        "every bot gets video and audio of the 9 others",
        async || {
            bots.iter().all(|bot| {
                let seen = bot.seen.lock().unwrap();
                ids.iter()
                    .filter(|id| **id != bot.id)
                    .all(|other| seen.video_from(other).len() >= 5 && seen.audio_from(other) >= 5)
            })
        },
    )
    .await;
    for bot in &bots {
        let seen = bot.seen.lock().unwrap();
        assert!(
            !seen.frames.contains_key(&bot.id),
            "nobody gets its own media back"
        );
        for (from, frames) in &seen.frames {
            let video: Vec<_> = frames.iter().filter(|f| f.layer.is_some()).collect();
            assert!(
                video[0].keyframe,
                "{from}'s video to {} starts with a keyframe",
                bot.id
            );
        }
    }
    assert_eq!(metric(&server, "switchboard_sfu_rooms").await, 1.0);
    assert_eq!(metric(&server, "switchboard_sfu_publishers").await, 10.0);
    // Each bot receives the 9 others' camera and microphone: the gauge counts them once
    // answered, without waiting for some later event.
    assert_eq!(
        metric(&server, "switchboard_sfu_subscriptions").await,
        10.0 * 9.0 * 2.0
    );
    assert!(metric(&server, "switchboard_sfu_forwarded_packets_total").await > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_that_leaves_stops_being_forwarded_within_a_second() {
    let server = TestServer::start().await;
    let stays = Bot::join(&server, "leaving", "stays").await;
    let goes = Bot::join(&server, "leaving", "goes").await;
    eventually_within(SETTLE, "media flows", async || stays.gets_video_of(&goes)).await;
    goes.leave().await;
    let left = Instant::now();
    // Silence must last: watch past the second the SFU has.
    eventually_within(SETTLE, "a second and a half has passed", async || {
        left.elapsed() > Duration::from_millis(1500)
    })
    .await;
    let seen = stays.seen.lock().unwrap();
    let last = seen.frames[&goes.id].iter().map(|f| f.at).max().unwrap();
    assert!(
        last < left + Duration::from_secs(1),
        "a frame came {:?} after it left",
        last - left
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_gets_only_the_layer_it_asks_for() {
    let server = TestServer::start().await;
    let sender = Bot::join(&server, "layers", "sender").await;
    let receiver = Bot::join(&server, "layers", "receiver").await;
    let only = async |layer: Layer| {
        let asked = Instant::now();
        receiver.want(&sender.id, layer);
        eventually_within(
            SETTLE,
            &format!("20 frames of {layer:?} after asking"),
            async || {
                let seen = receiver.seen.lock().unwrap();
                let since: Vec<_> = seen
                    .video_from(&sender.id)
                    .into_iter()
                    .filter(|f| f.at > asked)
                    .skip_while(|f| f.layer != Some(layer))
                    .collect();
                assert!(
                    since.iter().all(|f| f.layer == Some(layer)),
                    "once switched, only {layer:?}: {:?}",
                    since.iter().map(|f| f.layer).collect::<Vec<_>>()
                );
                since.len() >= 20
            },
        )
        .await;
    };
    only(Layer::High).await;
    only(Layer::Low).await;
    only(Layer::Medium).await;
    assert!(metric(&server, "switchboard_sfu_layer_switches_total").await >= 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_joins_gets_the_sender_to_make_a_keyframe() {
    let server = TestServer::start().await;
    // A sender that makes a keyframe only when asked (after its first).
    let rare = Publishing {
        keyframe_every: u64::MAX,
        ..Publishing::default()
    };
    let sender = Bot::join_with(&server, "keyframes", "sender", rare).await;
    let early = Bot::join(&server, "keyframes", "early").await;
    eventually_within(SETTLE, "the first receiver gets video", async || {
        early.seen.lock().unwrap().video_from(&sender.id).len() >= 10
    })
    .await;
    let asked_before = sender.seen.lock().unwrap().keyframe_requests;
    let late = Bot::join(&server, "keyframes", "late").await;
    eventually_within(SETTLE, "the latecomer gets video", async || {
        late.gets_video_of(&sender)
    })
    .await;
    assert!(sender.seen.lock().unwrap().keyframe_requests > asked_before);
    assert!(late.seen.lock().unwrap().video_from(&sender.id)[0].keyframe);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_members_say_reaches_the_others_and_newcomers_get_their_state() {
    let server = TestServer::start().await;
    let first = Bot::join(&server, "talk", "first").await;
    eventually_within(SETTLE, "the data channel opens", async || {
        first.seen.lock().unwrap().connected
    })
    .await;
    first.say(PeerMessage::State {
        muted: true,
        camera_off: false,
    });
    let second = Bot::join(&server, "talk", "second").await;
    eventually_within(
        SETTLE,
        "the newcomer learns the first is muted",
        async || {
            second.seen.lock().unwrap().said.iter().any(|(from, m)| {
                *from == first.id && matches!(m, PeerMessage::State { muted: true, .. })
            })
        },
    )
    .await;
    second.say(PeerMessage::Chat {
        text: "hello".into(),
    });
    eventually_within(SETTLE, "the chat line arrives", async || {
        first.seen.lock().unwrap().said.iter().any(|(from, m)| {
            *from == second.id
                && *m
                    == PeerMessage::Chat {
                        text: "hello".into(),
                    }
        })
    })
    .await;
}

#[tokio::test]
async fn bad_offers_are_refused_and_the_room_goes_on() {
    let server = TestServer::start().await;
    let mut stranger = SioClient::connect(&server, "/meet").await;
    stranger.emit("media-offer", vec![json!("v=0\r\n")]).await;
    let refusal = stranger.expect("meetError").await;
    assert!(
        refusal[0].as_str().unwrap().contains("Join a room"),
        "{refusal:?}"
    );

    let member = Bot::join(&server, "bad", "member").await;
    let mut bad = SioClient::connect(&server, "/meet").await;
    bad.emit("join", vec![json!("bad"), json!("bad")]).await;
    bad.expect("room").await;
    for (offer, says) in [
        ("not sdp".to_owned(), "v=0"),
        ("v=0\r\nthis is not SDP".to_owned(), "not valid SDP"),
        (many_mlines(50), "at most 4 media sections"),
        ("v=0".to_owned() + &"x".repeat(40_000), "32 KiB"),
    ] {
        bad.emit("media-offer", vec![json!(offer)]).await;
        let refusal = bad.expect("meetError").await;
        assert!(refusal[0].as_str().unwrap().contains(says), "{refusal:?}");
    }
    assert!(metric(&server, "switchboard_sfu_refused_offers_total").await >= 2.0);
    let other = Bot::join(&server, "bad", "other").await;
    eventually_within(SETTLE, "the room still works", async || {
        other.gets_video_of(&member)
    })
    .await;
}

/// An offer whose text has `n` media sections.
fn many_mlines(n: usize) -> String {
    let mut sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n".to_owned();
    for _ in 0..n {
        sdp += "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n";
    }
    sdp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_that_floods_is_capped_and_the_others_go_on() {
    // 50 Mbit/s of junk besides its media.
    let wild = Publishing {
        flood: 50_000_000 / 8,
        ..Publishing::default()
    };
    a_flood_is_capped_and_the_others_go_on("flood", wild).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_small_rtcp_packets_is_capped_and_the_others_go_on() {
    // 10,000 packets a second of 60 bytes: under the byte cap, over the packet cap.
    let wild = Publishing {
        flood: 600_000,
        flood_packet: 60,
        ..Publishing::default()
    };
    a_flood_is_capped_and_the_others_go_on("rtcp-flood", wild).await;
}

/// A third member floods the room's SFU: its excess is counted, and the other two still get
/// each other's media during the flood.
async fn a_flood_is_capped_and_the_others_go_on(room: &str, wild: Publishing) {
    let server = TestServer::start().await;
    let ada = Bot::join(&server, room, "ada").await;
    let bo = Bot::join(&server, room, "bo").await;
    let flooder = Bot::join_with(&server, room, "flooder", wild).await;
    eventually_within(SETTLE, "the flood is noticed", async || {
        metric(&server, "switchboard_sfu_over_rate_packets_total").await > 1000.0
    })
    .await;
    let flooding = Instant::now();
    eventually_within(SETTLE, "20 frames each way during the flood", async || {
        ada.frames_of_since(&bo, flooding) >= 20 && bo.frames_of_since(&ada, flooding) >= 20
    })
    .await;
    drop(flooder);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_floods_the_data_channel_is_held_to_its_rate() {
    let server = TestServer::start().await;
    let ada = Bot::join(&server, "chatty", "ada").await;
    let bo = Bot::join(&server, "chatty", "bo").await;
    eventually_within(SETTLE, "the channels open", async || {
        ada.seen.lock().unwrap().connected && bo.seen.lock().unwrap().connected
    })
    .await;
    for n in 0..500 {
        bo.say(PeerMessage::Chat {
            text: format!("line {n}"),
        });
    }
    eventually_within(SETTLE, "most of the flood is dropped", async || {
        metric(&server, "switchboard_sfu_bad_messages_total").await >= 400.0
    })
    .await;
    let heard = ada.seen.lock().unwrap().said.len();
    assert!(
        heard <= 100,
        "ada heard {heard} of 500 lines sent in a moment"
    );
    let flooded = Instant::now();
    eventually_within(SETTLE, "the room goes on", async || {
        ada.frames_of_since(&bo, flooded) >= 10
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_loops_rooms_are_spread_over_both_ports_and_each_works() {
    let server = TestServer::start_with(&["--media-loops", "2"]).await;
    let mut rooms = Vec::new();
    for room in ["east", "west"] {
        let a = Bot::join(&server, room, "a").await;
        let b = Bot::join(&server, room, "b").await;
        assert_eq!(
            a.media_port, b.media_port,
            "a room's members share its loop"
        );
        rooms.push((a, b));
    }
    assert_ne!(
        rooms[0].0.media_port, rooms[1].0.media_port,
        "the second room goes to the second loop"
    );
    eventually_within(
        SETTLE,
        "in each room each gets the other's media",
        async || {
            rooms
                .iter()
                .all(|(a, b)| a.gets_video_of(b) && b.gets_video_of(a))
        },
    )
    .await;
    assert_eq!(metric(&server, "switchboard_sfu_rooms").await, 2.0);
}
