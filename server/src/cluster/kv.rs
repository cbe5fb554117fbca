//! The few Redis commands cluster mode uses, behind one trait: Redis itself (`RedisKv`, with
//! fred), and an in-memory stand-in with the same semantics for tests of two servers in one
//! process (`MemoryKv`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;

use crate::sync::lock;

/// Why a command failed: the store cannot be reached (or answered in error).
#[derive(Debug, Clone, thiserror::Error)]
#[error("the cluster's Redis did not answer: {0}")]
pub struct Unreachable(pub String);

pub type KvResult<T> = Result<T, Unreachable>;

/// A seat asked for (see [`Kv::take_seat`]).
#[derive(Debug, Clone, Copy)]
pub struct Seat<'a> {
    pub id: &'a str,
    pub entry: &'a str,
    /// A secret of the page's: its next connection may take this seat over.
    pub claim: Option<&'a str>,
    pub cap: usize,
    pub ttl: Duration,
}

/// A seat given: the entries of those seated before, oldest first, and the id whose seat it
/// took over, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seated {
    pub others: Vec<String>,
    pub replaced: Option<String>,
}

/// Keys with a time to live, compare-and-delete, and a capped list.
pub trait Kv: Send + Sync + 'static {
    /// Sets `key` to `value` for `ttl` only if it does not exist; whether it was set.
    fn set_if_absent(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> BoxFuture<'static, KvResult<bool>>;
    fn get(&self, key: &str) -> BoxFuture<'static, KvResult<Option<String>>>;
    /// Deletes `key` if it holds `value`; whether it did.
    fn delete_if(&self, key: &str, value: &str) -> BoxFuture<'static, KvResult<bool>>;
    /// Sets `key` to `new` for `ttl` if it holds `old`; whether it did.
    fn replace_if(
        &self,
        key: &str,
        old: &str,
        new: &str,
        ttl: Duration,
    ) -> BoxFuture<'static, KvResult<bool>>;
    /// Gives `key` a new `ttl` if it holds `value`; whether it did.
    fn renew_if(&self, key: &str, value: &str, ttl: Duration)
        -> BoxFuture<'static, KvResult<bool>>;
    /// Appends `item` to the list at `key`, keeping only the last `cap` items.
    fn push_capped(&self, key: &str, item: &str, cap: usize) -> BoxFuture<'static, KvResult<()>>;
    /// The whole list at `key`, oldest first.
    fn list(&self, key: &str) -> BoxFuture<'static, KvResult<Vec<String>>>;
    /// Adds one to the counter at `key` and returns it.
    fn increment(&self, key: &str) -> BoxFuture<'static, KvResult<i64>>;
    /// Removes `key`, whatever it holds.
    fn delete(&self, key: &str) -> BoxFuture<'static, KvResult<()>>;

    /// Seats (a set of at most `cap` ids at `key`, each with an entry, a lease and maybe a
    /// claim): gives `id` a seat holding `entry` for `ttl`, in one step with reading who holds
    /// the others; `None` when all `cap` are taken. Leases that ran out (their node died) are
    /// freed first, and so is a seat held with the same `claim` (the same page's previous
    /// connection): its id is returned as `replaced`.
    fn take_seat(&self, key: &str, seat: Seat<'_>) -> BoxFuture<'static, KvResult<Option<Seated>>>;
    /// Frees `id`'s seat at `key`, if it has one.
    fn free_seat(&self, key: &str, id: &str) -> BoxFuture<'static, KvResult<()>>;
    /// Extends the leases of those of `ids` that still hold a seat at `key`.
    fn renew_seats(
        &self,
        key: &str,
        ids: &[String],
        ttl: Duration,
    ) -> BoxFuture<'static, KvResult<()>>;
    /// Whether `id` holds a seat at `key` (with a lease that has not run out).
    fn has_seat(&self, key: &str, id: &str) -> BoxFuture<'static, KvResult<bool>>;
}

/// Redis through fred: one multiplexed client that reconnects by itself.
pub struct RedisKv {
    pub client: fred::clients::Client,
}

/// `DEL` only if the key still holds our value (a name released by its holder only).
const DELETE_IF: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
/// `PEXPIRE` only if the key still holds our value (never extending someone else's claim).
const RENEW_IF: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";
/// `SET` only if the key still holds the old value (a name handed to its owner's new socket).
const REPLACE_IF: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3]); return 1 else return 0 end";
/// `RPUSH` and `LTRIM` at once.
const PUSH_CAPPED: &str = "redis.call('rpush', KEYS[1], ARGV[1]); redis.call('ltrim', KEYS[1], -tonumber(ARGV[2]), -1); return 1";

/// Seats: `KEYS[1]` a sorted set of ids scored by lease end (ms since the epoch), `KEYS[2]` a
/// hash of their entries (prefixed with a zero-padded sequence number: the seat's age),
/// `KEYS[3]` that sequence, `KEYS[4]` a hash of their claims. `ARGV`: id, entry, claim (or
/// ''), cap, now, ttl (ms). Answers `{'full'}` or `{'seated', replaced id or '', entries...}`.
/// Keys outlive every lease.
const TAKE_SEAT: &str = r#"
local id, claim, now, ttl = ARGV[1], ARGV[3], tonumber(ARGV[5]), tonumber(ARGV[6])
local function free(gone)
  redis.call('zrem', KEYS[1], gone)
  redis.call('hdel', KEYS[2], gone)
  redis.call('hdel', KEYS[4], gone)
end
for _, gone in ipairs(redis.call('zrangebyscore', KEYS[1], '-inf', now)) do free(gone) end
free(id)
local replaced = ''
if claim ~= '' then
  local claims = redis.call('hgetall', KEYS[4])
  for i = 1, #claims, 2 do
    if claims[i + 1] == claim then replaced = claims[i]; free(replaced) end
  end
end
if redis.call('zcard', KEYS[1]) >= tonumber(ARGV[4]) then return {'full'} end
local out = {'seated', replaced}
for _, entry in ipairs(redis.call('hvals', KEYS[2])) do out[#out + 1] = entry end
local seq = redis.call('incr', KEYS[3])
redis.call('zadd', KEYS[1], now + ttl, id)
redis.call('hset', KEYS[2], id, string.format('%020d', seq) .. ARGV[2])
if claim ~= '' then redis.call('hset', KEYS[4], id, claim) end
for i = 1, 4 do redis.call('pexpire', KEYS[i], 2 * ttl) end
return out
"#;
/// Frees `ARGV[1]`'s seat; an empty room leaves no keys.
const FREE_SEAT: &str = r#"
redis.call('zrem', KEYS[1], ARGV[1])
redis.call('hdel', KEYS[2], ARGV[1])
redis.call('hdel', KEYS[4], ARGV[1])
if redis.call('zcard', KEYS[1]) == 0 then redis.call('del', KEYS[1], KEYS[2], KEYS[3], KEYS[4]) end
return 1
"#;
/// Extends the leases of `ARGV[3..]` that are still held, to `ARGV[1]` + `ARGV[2]` ms.
const RENEW_SEATS: &str = r#"
local now, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 3, #ARGV do redis.call('zadd', KEYS[1], 'XX', now + ttl, ARGV[i]) end
for i = 1, 4 do redis.call('pexpire', KEYS[i], 2 * ttl) end
return 1
"#;
/// Whether `ARGV[1]`'s lease runs beyond `ARGV[2]` (now).
const HAS_SEAT: &str = r#"
local until = redis.call('zscore', KEYS[1], ARGV[1])
if until and tonumber(until) > tonumber(ARGV[2]) then return 1 else return 0 end
"#;
/// Width of the sequence number in front of each seat's entry.
const SEAT_SEQ_WIDTH: usize = 20;

/// The four keys of the seats at `key`.
fn seat_keys(key: &str) -> Vec<String> {
    ["leases", "entries", "seq", "claims"]
        .iter()
        .map(|part| format!("{key}:{part}"))
        .collect()
}

fn epoch_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

fn failed(error: fred::error::Error) -> Unreachable {
    Unreachable(error.to_string())
}

/// A script's reply of 1: it did what it was asked.
fn did(reply: KvResult<i64>) -> KvResult<bool> {
    reply.map(|n| n == 1)
}

/// A script's reply that only says it ran.
fn done(reply: KvResult<i64>) -> KvResult<()> {
    reply.map(|_| ())
}

impl RedisKv {
    /// Runs one of the scripts above on `keys` with `args`; its integer reply.
    fn script(
        &self,
        script: &'static str,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> BoxFuture<'static, KvResult<i64>> {
        use fred::interfaces::LuaInterface;
        let client = self.client.clone();
        async move { client.eval(script, keys, args).await.map_err(failed) }.boxed()
    }
}

impl Kv for RedisKv {
    fn set_if_absent(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> BoxFuture<'static, KvResult<bool>> {
        use fred::interfaces::KeysInterface;
        use fred::types::{Expiration, SetOptions};
        let (client, key, value) = (self.client.clone(), key.to_owned(), value.to_owned());
        async move {
            let set: Option<String> = client
                .set(
                    key,
                    value,
                    Some(Expiration::PX(ttl.as_millis() as i64)),
                    Some(SetOptions::NX),
                    false,
                )
                .await
                .map_err(failed)?;
            Ok(set.is_some())
        }
        .boxed()
    }

    fn get(&self, key: &str) -> BoxFuture<'static, KvResult<Option<String>>> {
        use fred::interfaces::KeysInterface;
        let (client, key) = (self.client.clone(), key.to_owned());
        async move { client.get(key).await.map_err(failed) }.boxed()
    }

    fn delete_if(&self, key: &str, value: &str) -> BoxFuture<'static, KvResult<bool>> {
        let run = self.script(DELETE_IF, vec![key.to_owned()], vec![value.to_owned()]);
        run.map(did).boxed()
    }

    fn replace_if(
        &self,
        key: &str,
        old: &str,
        new: &str,
        ttl: Duration,
    ) -> BoxFuture<'static, KvResult<bool>> {
        let args = vec![old.to_owned(), new.to_owned(), ttl.as_millis().to_string()];
        let run = self.script(REPLACE_IF, vec![key.to_owned()], args);
        run.map(did).boxed()
    }

    fn renew_if(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> BoxFuture<'static, KvResult<bool>> {
        let args = vec![value.to_owned(), ttl.as_millis().to_string()];
        let run = self.script(RENEW_IF, vec![key.to_owned()], args);
        run.map(did).boxed()
    }

    fn push_capped(&self, key: &str, item: &str, cap: usize) -> BoxFuture<'static, KvResult<()>> {
        let args = vec![item.to_owned(), cap.to_string()];
        let run = self.script(PUSH_CAPPED, vec![key.to_owned()], args);
        run.map(done).boxed()
    }

    fn list(&self, key: &str) -> BoxFuture<'static, KvResult<Vec<String>>> {
        use fred::interfaces::ListInterface;
        let (client, key) = (self.client.clone(), key.to_owned());
        async move { client.lrange(key, 0, -1).await.map_err(failed) }.boxed()
    }

    fn increment(&self, key: &str) -> BoxFuture<'static, KvResult<i64>> {
        use fred::interfaces::KeysInterface;
        let (client, key) = (self.client.clone(), key.to_owned());
        async move { client.incr(key).await.map_err(failed) }.boxed()
    }

    fn delete(&self, key: &str) -> BoxFuture<'static, KvResult<()>> {
        use fred::interfaces::KeysInterface;
        let (client, key) = (self.client.clone(), key.to_owned());
        async move {
            let _: i64 = client.del(key).await.map_err(failed)?;
            Ok(())
        }
        .boxed()
    }

    fn take_seat(&self, key: &str, seat: Seat<'_>) -> BoxFuture<'static, KvResult<Option<Seated>>> {
        use fred::interfaces::LuaInterface;
        let (client, keys) = (self.client.clone(), seat_keys(key));
        let args = vec![
            seat.id.to_owned(),
            seat.entry.to_owned(),
            seat.claim.unwrap_or_default().to_owned(),
            seat.cap.to_string(),
            epoch_millis().to_string(),
            seat.ttl.as_millis().to_string(),
        ];
        async move {
            let reply: Vec<String> = client.eval(TAKE_SEAT, keys, args).await.map_err(failed)?;
            let mut reply = reply.into_iter();
            if reply.next().as_deref() != Some("seated") {
                return Ok(None);
            }
            let replaced = reply.next().filter(|id| !id.is_empty());
            let mut entries: Vec<String> = reply.collect();
            entries.sort();
            let others = entries
                .into_iter()
                .map(|entry| entry.get(SEAT_SEQ_WIDTH..).unwrap_or_default().to_owned())
                .collect();
            Ok(Some(Seated { others, replaced }))
        }
        .boxed()
    }

    fn free_seat(&self, key: &str, id: &str) -> BoxFuture<'static, KvResult<()>> {
        let run = self.script(FREE_SEAT, seat_keys(key), vec![id.to_owned()]);
        run.map(done).boxed()
    }

    fn renew_seats(
        &self,
        key: &str,
        ids: &[String],
        ttl: Duration,
    ) -> BoxFuture<'static, KvResult<()>> {
        let mut args = vec![epoch_millis().to_string(), ttl.as_millis().to_string()];
        args.extend(ids.iter().cloned());
        self.script(RENEW_SEATS, seat_keys(key), args)
            .map(done)
            .boxed()
    }

    fn has_seat(&self, key: &str, id: &str) -> BoxFuture<'static, KvResult<bool>> {
        let args = vec![id.to_owned(), epoch_millis().to_string()];
        self.script(HAS_SEAT, seat_keys(key), args).map(did).boxed()
    }
}

/// The same commands in memory, for several servers in one process. Time to live is read on
/// tokio's clock, so that a test can pause it.
#[derive(Clone, Default)]
pub struct MemoryKv {
    inner: Arc<Mutex<Memory>>,
}

use tokio::time::Instant;

#[derive(Default)]
struct Memory {
    values: HashMap<String, (String, Option<Instant>)>,
    lists: HashMap<String, Vec<String>>,
    seats: HashMap<String, Seats>,
    /// While set, every command fails (a Redis that is down).
    down: bool,
}

/// One set of seats.
#[derive(Default)]
struct Seats {
    taken: u64,
    held: HashMap<String, Held>,
}

/// One seat: its age, entry, claim and lease end.
struct Held {
    age: u64,
    entry: String,
    claim: Option<String>,
    until: Instant,
}

impl Memory {
    /// The seats at `key`, with the leases that ran out freed.
    fn seats(&mut self, key: &str) -> &mut Seats {
        let seats = self.seats.entry(key.to_owned()).or_default();
        let now = Instant::now();
        seats.held.retain(|_, held| held.until > now);
        seats
    }

    fn live(&mut self, key: &str) -> Option<&String> {
        let expired = self
            .values
            .get(key)
            .is_some_and(|(_, until)| until.is_some_and(|t| t <= Instant::now()));
        if expired {
            self.values.remove(key);
        }
        self.values.get(key).map(|(value, _)| value)
    }
}

impl MemoryKv {
    /// Makes every command fail (or work again), as a Redis that goes down and comes back.
    pub fn set_down(&self, down: bool) {
        lock(&self.inner).down = down;
    }

    fn run<T: Send + 'static>(
        &self,
        command: impl FnOnce(&mut Memory) -> T,
    ) -> BoxFuture<'static, KvResult<T>> {
        let mut memory = lock(&self.inner);
        let outcome = if memory.down {
            Err(Unreachable("down (in memory)".into()))
        } else {
            Ok(command(&mut memory))
        };
        futures_util::future::ready(outcome).boxed()
    }
}

impl Kv for MemoryKv {
    fn set_if_absent(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> BoxFuture<'static, KvResult<bool>> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.run(move |m| {
            if m.live(&key).is_some() {
                return false;
            }
            m.values.insert(key, (value, Some(Instant::now() + ttl)));
            true
        })
    }

    fn get(&self, key: &str) -> BoxFuture<'static, KvResult<Option<String>>> {
        let key = key.to_owned();
        self.run(move |m| m.live(&key).cloned())
    }

    fn delete_if(&self, key: &str, value: &str) -> BoxFuture<'static, KvResult<bool>> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.run(move |m| {
            if m.live(&key) == Some(&value) {
                m.values.remove(&key);
                true
            } else {
                false
            }
        })
    }

    fn replace_if(
        &self,
        key: &str,
        old: &str,
        new: &str,
        ttl: Duration,
    ) -> BoxFuture<'static, KvResult<bool>> {
        let (key, old, new) = (key.to_owned(), old.to_owned(), new.to_owned());
        self.run(move |m| {
            if m.live(&key) == Some(&old) {
                m.values.insert(key, (new, Some(Instant::now() + ttl)));
                true
            } else {
                false
            }
        })
    }

    fn renew_if(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> BoxFuture<'static, KvResult<bool>> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.run(move |m| {
            if m.live(&key) == Some(&value) {
                m.values.insert(key, (value, Some(Instant::now() + ttl)));
                true
            } else {
                false
            }
        })
    }

    fn push_capped(&self, key: &str, item: &str, cap: usize) -> BoxFuture<'static, KvResult<()>> {
        let (key, item) = (key.to_owned(), item.to_owned());
        self.run(move |m| {
            let list = m.lists.entry(key).or_default();
            list.push(item);
            let excess = list.len().saturating_sub(cap);
            list.drain(..excess);
        })
    }

    fn list(&self, key: &str) -> BoxFuture<'static, KvResult<Vec<String>>> {
        let key = key.to_owned();
        self.run(move |m| m.lists.get(&key).cloned().unwrap_or_default())
    }

    fn increment(&self, key: &str) -> BoxFuture<'static, KvResult<i64>> {
        let key = key.to_owned();
        self.run(move |m| {
            let next = m
                .live(&key)
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
                + 1;
            m.values.insert(key, (next.to_string(), None));
            next
        })
    }

    fn delete(&self, key: &str) -> BoxFuture<'static, KvResult<()>> {
        let key = key.to_owned();
        self.run(move |m| {
            m.values.remove(&key);
            m.lists.remove(&key);
        })
    }

    fn take_seat(&self, key: &str, seat: Seat<'_>) -> BoxFuture<'static, KvResult<Option<Seated>>> {
        let (key, id, entry) = (key.to_owned(), seat.id.to_owned(), seat.entry.to_owned());
        let claim = seat.claim.map(str::to_owned);
        let (cap, ttl) = (seat.cap, seat.ttl);
        self.run(move |m| {
            let seats = m.seats(&key);
            seats.held.remove(&id);
            let replaced = claim.as_ref().and_then(|claim| {
                let ghost = seats
                    .held
                    .iter()
                    .find(|(_, held)| held.claim.as_ref() == Some(claim))
                    .map(|(ghost, _)| ghost.clone())?;
                seats.held.remove(&ghost);
                Some(ghost)
            });
            if seats.held.len() >= cap {
                return None;
            }
            let mut others: Vec<&Held> = seats.held.values().collect();
            others.sort_by_key(|held| held.age);
            let others = others.into_iter().map(|held| held.entry.clone()).collect();
            seats.taken += 1;
            let age = seats.taken;
            let until = Instant::now() + ttl;
            seats.held.insert(
                id,
                Held {
                    age,
                    entry,
                    claim,
                    until,
                },
            );
            Some(Seated { others, replaced })
        })
    }

    fn free_seat(&self, key: &str, id: &str) -> BoxFuture<'static, KvResult<()>> {
        let (key, id) = (key.to_owned(), id.to_owned());
        self.run(move |m| {
            m.seats(&key).held.remove(&id);
            if m.seats(&key).held.is_empty() {
                m.seats.remove(&key);
            }
        })
    }

    fn renew_seats(
        &self,
        key: &str,
        ids: &[String],
        ttl: Duration,
    ) -> BoxFuture<'static, KvResult<()>> {
        let (key, ids) = (key.to_owned(), ids.to_vec());
        self.run(move |m| {
            let seats = m.seats(&key);
            for id in ids {
                if let Some(held) = seats.held.get_mut(&id) {
                    held.until = Instant::now() + ttl;
                }
            }
        })
    }

    fn has_seat(&self, key: &str, id: &str) -> BoxFuture<'static, KvResult<bool>> {
        let (key, id) = (key.to_owned(), id.to_owned());
        self.run(move |m| m.seats(&key).held.contains_key(&id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn keys_expire_and_are_deleted_or_renewed_only_by_their_holder() {
        let kv = MemoryKv::default();
        let ttl = Duration::from_millis(50);
        assert!(kv.set_if_absent("name:ada", "a", ttl).await.unwrap());
        assert!(
            !kv.set_if_absent("name:ada", "b", ttl).await.unwrap(),
            "held"
        );
        assert!(!kv.delete_if("name:ada", "b").await.unwrap(), "not b's");
        assert!(!kv.renew_if("name:ada", "b", ttl).await.unwrap());
        assert!(kv.renew_if("name:ada", "a", ttl).await.unwrap());
        tokio::time::advance(ttl - Duration::from_millis(1)).await;
        assert_eq!(
            kv.get("name:ada").await.unwrap().as_deref(),
            Some("a"),
            "alive until its time to live is over"
        );
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(kv.get("name:ada").await.unwrap(), None, "expired");
        assert!(kv.set_if_absent("name:ada", "b", ttl).await.unwrap());
        assert!(
            !kv.replace_if("name:ada", "a", "c", ttl).await.unwrap(),
            "not a's"
        );
        assert!(kv.replace_if("name:ada", "b", "c", ttl).await.unwrap());
        assert!(!kv.delete_if("name:ada", "b").await.unwrap());
        assert!(kv.delete_if("name:ada", "c").await.unwrap());
    }

    #[tokio::test]
    async fn lists_are_capped_and_counters_count_and_down_means_down() {
        let kv = MemoryKv::default();
        for n in 0..5 {
            kv.push_capped("history", &n.to_string(), 3).await.unwrap();
        }
        assert_eq!(kv.list("history").await.unwrap(), ["2", "3", "4"]);
        kv.delete("history").await.unwrap();
        assert!(kv.list("history").await.unwrap().is_empty());
        assert_eq!(kv.increment("id").await.unwrap(), 1);
        assert_eq!(kv.increment("id").await.unwrap(), 2);
        kv.set_down(true);
        assert!(kv.get("id").await.is_err());
        kv.set_down(false);
        assert_eq!(kv.increment("id").await.unwrap(), 3);
    }

    fn seat<'a>(id: &'a str, claim: Option<&'a str>, ttl: Duration) -> Seat<'a> {
        Seat {
            id,
            entry: id,
            claim,
            cap: 3,
            ttl,
        }
    }

    fn others(seated: Option<Seated>) -> Vec<String> {
        seated.expect("seated").others
    }

    #[tokio::test(start_paused = true)]
    async fn seats_are_capped_listed_oldest_first_and_freed_when_leases_run_out() {
        let kv = MemoryKv::default();
        let (long, short) = (Duration::from_secs(60), Duration::from_millis(30));
        assert!(others(kv.take_seat("room", seat("a", None, long)).await.unwrap()).is_empty());
        assert_eq!(
            others(kv.take_seat("room", seat("b", None, short)).await.unwrap()),
            ["a"]
        );
        assert_eq!(
            others(
                kv.take_seat("room", seat("c", Some("key-c"), long))
                    .await
                    .unwrap()
            ),
            ["a", "b"]
        );
        assert_eq!(
            kv.take_seat("room", seat("d", None, long)).await.unwrap(),
            None,
            "full"
        );
        assert!(kv.has_seat("room", "b").await.unwrap());
        tokio::time::advance(short).await;
        assert!(
            !kv.has_seat("room", "b").await.unwrap(),
            "b's lease ran out"
        );
        assert_eq!(
            others(kv.take_seat("room", seat("d", None, long)).await.unwrap()),
            ["a", "c"]
        );
        // The same page's next connection takes its seat over, even in a full room.
        let took_over = kv
            .take_seat("room", seat("c2", Some("key-c"), long))
            .await
            .unwrap();
        assert_eq!(
            took_over,
            Some(Seated {
                others: vec!["a".into(), "d".into()],
                replaced: Some("c".into())
            })
        );
        kv.free_seat("room", "a").await.unwrap();
        assert!(!kv.has_seat("room", "a").await.unwrap());
        kv.renew_seats("room", &["a".to_owned(), "d".to_owned()], long)
            .await
            .unwrap();
        assert!(
            !kv.has_seat("room", "a").await.unwrap(),
            "a freed seat is not renewed"
        );
    }
}
