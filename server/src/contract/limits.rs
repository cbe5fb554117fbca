//! How fast one client may send events to one namespace: a token bucket per client and
//! namespace. Over the limit an event is refused (the sender is told to slow down at most
//! once a second); a client that keeps pushing far past it is disconnected.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// A client that has been refused this many bursts' worth of events (net of what the rate
/// lets through meanwhile) is abusing the server, not typing fast.
const ABUSE_BURSTS: f64 = 5.0;

/// How often a client is told it is too fast.
const WARN_EVERY: Duration = Duration::from_secs(1);

/// Events per second, and how many may come at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

impl FromStr for Rate {
    type Err = String;

    /// `10/20`: 10 events a second, bursts of 20.
    fn from_str(raw: &str) -> Result<Rate, String> {
        let (rate, burst) = raw
            .split_once('/')
            .ok_or_else(|| format!("{raw:?} is not RATE/BURST, e.g. 10/20"))?;
        let number = |s: &str| {
            s.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v > 0.0)
                .ok_or_else(|| format!("{s:?} is not a positive number"))
        };
        Ok(Rate {
            per_second: number(rate)?,
            burst: number(burst)?,
        })
    }
}

/// The rate of each namespace; a namespace without one is not limited.
#[derive(Debug, Clone)]
pub struct Limits {
    by_path: HashMap<&'static str, Rate>,
}

impl Limits {
    /// These namespaces (by path) at these rates (the server's are in `namespaces.rs`).
    pub fn new(rates: impl IntoIterator<Item = (&'static str, Rate)>) -> Limits {
        Limits {
            by_path: rates.into_iter().collect(),
        }
    }

    /// No limits at all (benchmarks).
    pub fn none() -> Limits {
        Limits {
            by_path: HashMap::new(),
        }
    }

    /// Sets the limit of the namespace called `name` (its path without the slash), one of
    /// those it has a limit for.
    pub fn set(&mut self, name: &str, rate: Rate) -> Result<(), String> {
        let limit = self
            .by_path
            .iter_mut()
            .find(|(path, _)| path.trim_start_matches('/') == name)
            .map(|(_, limit)| limit)
            .ok_or_else(|| format!("there is no namespace {name:?}"))?;
        *limit = rate;
        Ok(())
    }

    pub fn of(&self, path: &str) -> Option<Rate> {
        self.by_path.get(path).copied()
    }
}

/// What the bucket says of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    /// Over the limit; `tell` when the client should be told so (once a second).
    Refused {
        tell: bool,
    },
    /// Far over the limit for a while: disconnect.
    Abusive,
    /// Cut off already (its events still in flight are dropped).
    CutOff,
}

/// One client's allowance in one namespace.
#[derive(Debug)]
pub struct Bucket {
    rate: Rate,
    tokens: f64,
    /// Refusals not yet paid back by the rate.
    excess: f64,
    at: Instant,
    told_at: Option<Instant>,
    cut_off: bool,
}

impl Bucket {
    pub fn new(rate: Rate, now: Instant) -> Bucket {
        Bucket {
            rate,
            tokens: rate.burst,
            excess: 0.0,
            at: now,
            told_at: None,
            cut_off: false,
        }
    }

    pub fn admit(&mut self, now: Instant) -> Admission {
        if self.cut_off {
            return Admission::CutOff;
        }
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * self.rate.per_second;
        self.at = now;
        self.tokens = (self.tokens + refill).min(self.rate.burst);
        self.excess = (self.excess - refill).max(0.0);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Admission::Admitted;
        }
        self.excess += 1.0;
        if self.excess > ABUSE_BURSTS * self.rate.burst {
            self.cut_off = true;
            return Admission::Abusive;
        }
        let tell = self
            .told_at
            .is_none_or(|told| now.saturating_duration_since(told) >= WARN_EVERY);
        if tell {
            self.told_at = Some(now);
        }
        Admission::Refused { tell }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHAT: Rate = Rate {
        per_second: 10.0,
        burst: 20.0,
    };

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let start = Instant::now();
        let mut bucket = Bucket::new(CHAT, start);
        assert!((0..20).all(|_| bucket.admit(start) == Admission::Admitted));
        assert_eq!(bucket.admit(start), Admission::Refused { tell: true });
        assert_eq!(
            bucket.admit(start),
            Admission::Refused { tell: false },
            "told once"
        );
        let later = start + Duration::from_millis(100);
        assert_eq!(
            bucket.admit(later),
            Admission::Admitted,
            "one token per 100 ms"
        );
        assert_eq!(bucket.admit(later), Admission::Refused { tell: false });
        assert_eq!(
            bucket.admit(start + Duration::from_secs(1)),
            Admission::Admitted,
        );
    }

    #[test]
    fn someone_pasting_quickly_is_slowed_a_flood_is_cut_off() {
        let start = Instant::now();
        let mut person = Bucket::new(CHAT, start);
        // 30 messages in a second: a few are refused, nothing more.
        let outcomes: Vec<Admission> = (0..30)
            .map(|i| person.admit(start + Duration::from_millis(i * 33)))
            .collect();
        assert!(!outcomes.contains(&Admission::Abusive));
        assert!(
            outcomes
                .iter()
                .filter(|a| **a == Admission::Admitted)
                .count()
                >= 20
        );

        let mut flood = Bucket::new(CHAT, start);
        let cut_off = (0..1000).position(|_| flood.admit(start) == Admission::Abusive);
        assert_eq!(
            cut_off,
            Some(20 + 100),
            "a burst, then five bursts' worth of refusals"
        );
    }

    #[test]
    fn flags_read_rate_and_burst_for_a_namespace() {
        assert_eq!(
            "5/8".parse::<Rate>(),
            Ok(Rate {
                per_second: 5.0,
                burst: 8.0
            })
        );
        assert!("5".parse::<Rate>().is_err());
        assert!("-1/3".parse::<Rate>().is_err());
        let mut limits = Limits::new([("/chat", CHAT)]);
        limits.set("chat", "1/2".parse().unwrap()).unwrap();
        assert_eq!(limits.of("/chat").unwrap().burst, 2.0);
        assert!(limits.set("nope", CHAT).is_err());
        assert!(Limits::none().of("/chat").is_none());
    }
}
