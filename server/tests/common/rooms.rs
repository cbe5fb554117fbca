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

/// How long a member keeps listening once it sees the room as it should: time enough for a
/// stray `joined` or `left` (a ghost) to come, while the test waits for the news itself,
/// however late, rather than for a quiet spell (2 s of quiet was once too short between two
/// processes on a busy CI machine).
const GRACE: Duration = Duration::from_millis(500);
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
    fn new(client: RawClient) -> Heard {
        Heard {
            client,
            listed: None,
            refusal: None,
            joined: Vec::new(),
            left: Vec::new(),
        }
    }

    /// Who it believes is in the room with it now.
    fn view(&self) -> BTreeSet<String> {
        let mut view: BTreeSet<String> = self.listed.iter().flatten().cloned().collect();
        view.extend(self.joined.iter().cloned());
        for gone in &self.left {
            view.remove(gone);
        }
        view
    }

    /// Whether its `room` reply named `other`.
    fn found_in_reply(&self, other: &Heard) -> bool {
        self.listed
            .iter()
            .flatten()
            .any(|id| *id == other.client.sid)
    }

    fn answered(&self) -> bool {
        self.listed.is_some() || self.refusal.is_some()
    }

    /// Reads one event within `wait`; false when none came.
    async fn hear(&mut self, wait: Duration) -> bool {
        let Ok(Some((name, args))) = tokio::time::timeout(wait, self.client.next_event()).await
        else {
            return false;
        };
        match name.as_str() {
            "room" => {
                let members = args[0]["members"].as_array().expect("members");
                self.listed = Some(
                    members
                        .iter()
                        .map(|m| m["id"].as_str().expect("id").to_owned())
                        .collect(),
                );
            }
            "meetError" => {
                self.refusal = Some(args[0].as_str().unwrap_or_default().to_owned());
            }
            "joined" => self
                .joined
                .push(args[0]["id"].as_str().expect("id").to_owned()),
            "left" => self.left.push(args[0].as_str().expect("id").to_owned()),
            _ => {}
        }
        true
    }

    /// Listens until it sees exactly `expected` (failing after [`PATIENCE`] of silence), then
    /// for [`GRACE`] more, and checks that nothing changed it.
    async fn until_view(&mut self, expected: &BTreeSet<String>, what: &str) {
        while self.view() != *expected {
            assert!(
                self.hear(PATIENCE).await,
                "{what}: {} sees {:?}, not {expected:?} (reply {:?}, joined {:?}, left {:?})",
                self.client.sid,
                self.view(),
                self.listed,
                self.joined,
                self.left
            );
        }
        while self.hear(GRACE).await {}
        assert_eq!(
            self.view(),
            *expected,
            "{what}: {} sees the room as it is",
            self.client.sid
        );
    }
}

/// Sends `event` with `args` (if any) once every task is ready, then, for a `join`, reads
/// until its answer (and whatever news came before it).
async fn speak(client: RawClient, event: &'static str, args: Value, start: Arc<Barrier>) -> Heard {
    let mut heard = Heard::new(client);
    start.wait().await;
    if !event.is_empty() {
        heard.client.emit(event, args).await;
    }
    if event == "join" {
        while !heard.answered() {
            assert!(
                heard.hear(PATIENCE).await,
                "{}: no answer to its join",
                heard.client.sid
            );
        }
    }
    heard
}

/// Each member listens, all at once, until it sees the room it should (see
/// [`Heard::until_view`]).
async fn until_all_see(members: Vec<(Heard, BTreeSet<String>, String)>) -> Vec<Heard> {
    let tasks: Vec<_> = members
        .into_iter()
        .map(|(mut heard, expected, what)| {
            tokio::spawn(async move {
                heard.until_view(&expected, &what).await;
                heard
            })
        })
        .collect();
    let mut heard = Vec::new();
    for task in tasks {
        heard.push(task.await.expect("listener"));
    }
    heard
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
            (r, tokio::spawn(speak(client, "join", args, start.clone())))
        })
        .collect();
    let mut by_room: HashMap<usize, Vec<Heard>> = HashMap::new();
    for (r, task) in tasks {
        by_room
            .entry(r)
            .or_default()
            .push(task.await.expect("listener"));
    }
    // Every room's members listen at once; then each room's news is checked.
    let rooms_listen = by_room.into_iter().map(|(r, heard)| async move {
        let seated = check_replies(r, heard, per_room);
        let ids: BTreeSet<String> = seated.iter().map(|h| h.client.sid.clone()).collect();
        let listening = seated
            .into_iter()
            .map(|heard| {
                let mut others = ids.clone();
                others.remove(&heard.client.sid);
                (heard, others, format!("room {r}"))
            })
            .collect();
        check_news(r, &until_all_see(listening).await);
    });
    futures_util::future::join_all(rooms_listen).await;
}

/// Checks a room's answers (its first `CAPACITY` seated, the rest refused as full, and of any
/// two seated exactly one found the other in its reply); hands back the seated.
fn check_replies(r: usize, heard: Vec<Heard>, per_room: usize) -> Vec<Heard> {
    let (seated, refused): (Vec<Heard>, Vec<Heard>) =
        heard.into_iter().partition(|h| h.listed.is_some());
    assert_eq!(seated.len(), per_room.min(CAPACITY), "room {r}: seated");
    assert_eq!(refused.len(), per_room - seated.len(), "room {r}: refused");
    for h in &refused {
        let why = h.refusal.as_deref().unwrap_or_default();
        assert!(why.contains("full"), "room {r}: {why}");
    }
    for (a, b) in pairs(&seated) {
        let (a_knows_b, b_knows_a) = (a.found_in_reply(b), b.found_in_reply(a));
        assert!(
            a_knows_b != b_knows_a,
            "room {r}: exactly one of a pair finds the other in its reply ({} {a_knows_b}, {} {b_knows_a})",
            a.client.sid,
            b.client.sid
        );
    }
    seated
}

/// Of any two seated, the earlier one (not in the other's reply) heard `joined` of the later.
fn check_news(r: usize, seated: &[Heard]) {
    for (a, b) in pairs(seated) {
        let (earlier, later) = if a.found_in_reply(b) { (b, a) } else { (a, b) };
        assert!(
            earlier.joined.contains(&later.client.sid),
            "room {r}: {} never heard that {} joined",
            earlier.client.sid,
            later.client.sid
        );
    }
}

fn pairs(heard: &[Heard]) -> impl Iterator<Item = (&Heard, &Heard)> {
    heard
        .iter()
        .enumerate()
        .flat_map(move |(i, a)| heard[i + 1..].iter().map(move |b| (a, b)))
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
    let mut leaver_of = HashMap::new();
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
        leaver_of.insert(r, leaver.sid.clone());
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
                tokio::spawn(speak(client, event, args, start.clone())),
            )
        })
        .collect();
    let mut newcomers: HashMap<usize, Vec<Heard>> = HashMap::new();
    let mut stayed = Vec::new();
    // Connected until the end: the `left` the others wait for must come from `leave` itself,
    // not from a disconnect.
    let mut leavers = Vec::new();
    for (r, event, task) in tasks {
        let mut heard = task.await.expect("listener");
        match event {
            "join" => newcomers.entry(r).or_default().push(heard),
            "" => {
                // Its reply named the one who leaves (seated before it).
                heard.listed = Some(vec![leaver_of[&r].clone()]);
                stayed.push((r, heard));
            }
            _ => leavers.push(heard),
        }
    }
    let mut listening = Vec::new();
    for (r, stayer) in stayed {
        let arrived = newcomers.remove(&r).unwrap_or_default();
        // The one who stayed hears the newcomers join and the leaver leave; each newcomer
        // sees it and the other newcomers, and no ghost of the one who left.
        let present: BTreeSet<String> = arrived.iter().map(|h| h.client.sid.clone()).collect();
        for newcomer in arrived {
            let mut expected = present.clone();
            expected.remove(&newcomer.client.sid);
            expected.insert(stayer.client.sid.clone());
            let what = format!("room {r}: newcomer");
            listening.push((newcomer, expected, what));
        }
        listening.push((stayer, present, format!("room {r}: the one who stayed")));
    }
    until_all_see(listening).await;
    drop(leavers);
}
