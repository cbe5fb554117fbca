//! The `/meet` join invariant, checked from the clients' side: many sockets, spread over one
//! or more nodes, join (and leave) the same rooms at the same moment; every member must end
//! up knowing exactly the others, from its `room` reply or a `joined`, never from both as two
//! offers and never from neither, and nobody may keep a member who left.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::Barrier;

use super::{RawClient, Reachable, PATIENCE};

/// How long a member listens after its reply for what the room still tells it (quiet for
/// this long: nothing more is coming). Between processes the news goes through Redis, and
/// with the other Redis tests' nodes and bots on the same two cores 700 ms was sometimes
/// too short (2 of 4 runs of `server/tests/redis.rs`).
const SETTLE: Duration = Duration::from_secs(2);
const CAPACITY: usize = 4;

/// A node by its address.
pub struct At(pub SocketAddr);

impl Reachable for At {
    fn addr(&self) -> SocketAddr {
        self.0
    }
}

/// What one socket learnt of its room.
struct Heard {
    client: RawClient,
    /// The members its `room` reply named; `None` when it was refused.
    listed: Option<Vec<String>>,
    refusal: Option<String>,
    joined: Vec<String>,
    left: Vec<String>,
}

impl Heard {
    /// Who it believes is in the room with it now.
    fn view(&self) -> BTreeSet<String> {
        let mut view: BTreeSet<String> = self.listed.iter().flatten().cloned().collect();
        view.extend(self.joined.iter().cloned());
        for gone in &self.left {
            view.remove(gone);
        }
        view
    }
}

/// Sends `event` with `args` (if any) once every task is ready, then reads until the room is
/// quiet.
async fn speak_and_listen(
    mut client: RawClient,
    event: &'static str,
    args: Value,
    start: Arc<Barrier>,
) -> Heard {
    start.wait().await;
    if !event.is_empty() {
        client.emit(event, args).await;
    }
    let mut heard = Heard {
        client,
        listed: None,
        refusal: None,
        joined: Vec::new(),
        left: Vec::new(),
    };
    let mut answered = event != "join";
    loop {
        let wait = if answered { SETTLE } else { PATIENCE };
        let Ok(Some((name, args))) = tokio::time::timeout(wait, heard.client.next_event()).await
        else {
            assert!(answered, "{}: no answer to its join", heard.client.sid);
            return heard;
        };
        match name.as_str() {
            "room" => {
                let members = args[0]["members"].as_array().expect("members");
                heard.listed = Some(
                    members
                        .iter()
                        .map(|m| m["id"].as_str().expect("id").to_owned())
                        .collect(),
                );
                answered = true;
            }
            "meetError" => {
                heard.refusal = Some(args[0].as_str().unwrap_or_default().to_owned());
                answered = true;
            }
            "joined" => heard
                .joined
                .push(args[0]["id"].as_str().expect("id").to_owned()),
            "left" => heard.left.push(args[0].as_str().expect("id").to_owned()),
            _ => {}
        }
    }
}

/// `rooms` fresh rooms, each with `per_room` sockets (spread over `nodes` in turn) that all
/// send `join` at once. Checks the invariant in every room.
pub async fn joins_at_once(nodes: &[At], rooms: usize, per_room: usize) {
    let mut clients = Vec::new();
    for r in 0..rooms {
        for i in 0..per_room {
            let node = &nodes[(r + i) % nodes.len()];
            clients.push((r, RawClient::connect(node, "/meet").await));
        }
    }
    let start = Arc::new(Barrier::new(clients.len()));
    let tag = std::process::id();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|(r, client)| {
            let args = json!([format!("at-once-{tag}-{r}"), format!("m{r}")]);
            (
                r,
                tokio::spawn(speak_and_listen(client, "join", args, start.clone())),
            )
        })
        .collect();
    let mut by_room: HashMap<usize, Vec<Heard>> = HashMap::new();
    for (r, task) in tasks {
        by_room
            .entry(r)
            .or_default()
            .push(task.await.expect("listener"));
    }
    for (r, heard) in &by_room {
        check_room(*r, heard, per_room);
    }
}

fn check_room(r: usize, heard: &[Heard], per_room: usize) {
    let seated: Vec<&Heard> = heard.iter().filter(|h| h.listed.is_some()).collect();
    let refused: Vec<&Heard> = heard.iter().filter(|h| h.refusal.is_some()).collect();
    assert_eq!(seated.len(), per_room.min(CAPACITY), "room {r}: seated");
    assert_eq!(refused.len(), per_room - seated.len(), "room {r}: refused");
    for h in &refused {
        let why = h.refusal.as_deref().unwrap_or_default();
        assert!(why.contains("full"), "room {r}: {why}");
    }
    let ids: BTreeSet<String> = seated.iter().map(|h| h.client.sid.clone()).collect();
    for a in &seated {
        let listed = a.listed.as_ref().expect("seated");
        for b in &seated {
            if a.client.sid >= b.client.sid {
                continue;
            }
            let b_listed = b.listed.as_ref().expect("seated");
            let a_knows_b = listed.contains(&b.client.sid);
            let b_knows_a = b_listed.contains(&a.client.sid);
            assert!(
                a_knows_b != b_knows_a,
                "room {r}: exactly one of a pair finds the other in its reply ({} {a_knows_b}, {} {b_knows_a})",
                a.client.sid,
                b.client.sid
            );
            // The earlier one hears of the later one.
            let (earlier, later) = if a_knows_b { (b, a) } else { (a, b) };
            assert!(
                earlier.joined.contains(&later.client.sid),
                "room {r}: {} never heard that {} joined",
                earlier.client.sid,
                later.client.sid
            );
        }
        let mut others = ids.clone();
        others.remove(&a.client.sid);
        assert_eq!(
            a.view(),
            others,
            "room {r}: {} sees the room as it is",
            a.client.sid
        );
    }
}

/// Waits for the client's own `room`. The news that the member before it joined may come
/// first: between nodes it travels through Redis, the reply does not (pages hold such news
/// until their reply, as `room` lists that member anyway).
async fn until_seated(client: &mut RawClient) {
    loop {
        let (name, args) = tokio::time::timeout(PATIENCE, client.next_event())
            .await
            .expect("timed out waiting for the room")
            .expect("connection closed");
        match name.as_str() {
            "room" => return,
            "joined" => continue,
            _ => panic!("expected the room, got {name:?} {args:?}"),
        }
    }
}

/// In each of `rooms` rooms, `stay` members are seated; then at once `leave` of them leave and
/// `come` newcomers join. Everyone left in the room must see exactly who is there: no ghost of
/// a member who left, nobody missing.
pub async fn leaves_while_others_join(nodes: &[At], rooms: usize, come: usize) {
    let tag = std::process::id();
    let mut movers = Vec::new();
    for r in 0..rooms {
        let room = format!("churn-{tag}-{r}");
        let mut seated = Vec::new();
        for i in 0..2 {
            let mut client = RawClient::connect(&nodes[(r + i) % nodes.len()], "/meet").await;
            client.emit("join", json!([room, "old"])).await;
            until_seated(&mut client).await;
            seated.push(client);
        }
        // Each hears of the second seat (the first) or nothing (the second).
        seated[0].expect("joined").await;
        let leaver = seated.remove(0);
        movers.push((r, seated.remove(0), "", json!(null)));
        movers.push((r, leaver, "leave", json!([])));
        for i in 0..come {
            let client = RawClient::connect(&nodes[(r + i + 1) % nodes.len()], "/meet").await;
            movers.push((r, client, "join", json!([room, "new"])));
        }
    }
    let start = Arc::new(Barrier::new(movers.len()));
    let tasks: Vec<_> = movers
        .into_iter()
        .map(|(r, client, event, args)| {
            (
                r,
                event,
                tokio::spawn(speak_and_listen(client, event, args, start.clone())),
            )
        })
        .collect();
    let mut newcomers: HashMap<usize, Vec<Heard>> = HashMap::new();
    let mut stayed = Vec::new();
    for (r, event, task) in tasks {
        let heard = task.await.expect("listener");
        match event {
            "join" => newcomers.entry(r).or_default().push(heard),
            "" => stayed.push((r, heard)),
            _ => {}
        }
    }
    for (r, stayer) in stayed {
        let arrived = &newcomers[&r];
        // The one who stayed hears the newcomers join and the leaver leave.
        let present: BTreeSet<String> = arrived.iter().map(|h| h.client.sid.clone()).collect();
        assert_eq!(stayer.view(), present, "room {r}: the one who stayed");
        for newcomer in arrived {
            let mut expected = present.clone();
            expected.remove(&newcomer.client.sid);
            expected.insert(stayer.client.sid.clone());
            assert_eq!(
                newcomer.view(),
                expected,
                "room {r}: newcomer {} (no ghost of the one who left)",
                newcomer.client.sid
            );
        }
    }
}
