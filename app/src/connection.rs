//! What every live connection of a page shares, socket.io or not (the trades feed is a plain
//! WebSocket): the state a page shows, and the reconnection delays (exponential, capped, with
//! jitter so that a server restart is not followed by every client reconnecting in the same
//! millisecond).

/// What the user should know about a connection.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectionState {
    /// First attempt, not yet confirmed by the server.
    Connecting,
    Connected,
    /// Lost; the next attempt is scheduled.
    Reconnecting {
        attempt: u32,
        retry_in_ms: u32,
        reason: String,
    },
    /// The browser says there is no network; we keep retrying, and at once when it is back.
    Offline,
    /// The server refused us; retrying would not help.
    Refused(String),
}

impl ConnectionState {
    pub fn is_connected(&self) -> bool {
        matches!(self, ConnectionState::Connected)
    }

    /// A short word for badges and CSS classes.
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectionState::Connecting => "connecting",
            ConnectionState::Connected => "connected",
            ConnectionState::Reconnecting { .. } => "reconnecting",
            ConnectionState::Offline => "offline",
            ConnectionState::Refused(_) => "refused",
        }
    }

    /// A sentence for people.
    pub fn describe(&self) -> String {
        match self {
            ConnectionState::Connecting => "Connecting…".into(),
            ConnectionState::Connected => "Connected".into(),
            ConnectionState::Reconnecting {
                attempt,
                retry_in_ms,
                reason,
            } => format!(
                "Reconnecting (attempt {attempt}, in {:.1} s): {reason}",
                *retry_in_ms as f64 / 1000.0
            ),
            ConnectionState::Offline => "Offline: no network. Retrying…".into(),
            ConnectionState::Refused(reason) => format!("Refused by the server: {reason}"),
        }
    }
}

/// Exponential backoff with jitter, as the official socket.io client does it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Delay before the first retry, in milliseconds.
    pub base_ms: f64,
    /// No delay is longer than this, in milliseconds.
    pub max_ms: f64,
    /// How far (as a fraction) a delay may deviate either way from the exponential value.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base_ms: 500.0,
            max_ms: 10_000.0,
            jitter: 0.5,
        }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (0-based), given a random number in [0, 1).
    pub fn delay_ms(&self, attempt: u32, random: f64) -> u32 {
        let exponential = self.base_ms * 2f64.powi(attempt.min(30) as i32);
        let capped = exponential.min(self.max_ms);
        let spread = self.jitter * (2.0 * random.clamp(0.0, 1.0) - 1.0);
        (capped * (1.0 + spread)).clamp(0.0, self.max_ms) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_until_the_cap() {
        let b = Backoff {
            jitter: 0.0,
            ..Backoff::default()
        };
        let delays: Vec<u32> = (0..7).map(|n| b.delay_ms(n, 0.5)).collect();
        assert_eq!(delays, vec![500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
        assert_eq!(b.delay_ms(u32::MAX, 0.5), 10_000);
    }

    #[test]
    fn jitter_spreads_delays_within_bounds() {
        let b = Backoff::default();
        assert_eq!(b.delay_ms(1, 0.0), 500);
        assert_eq!(b.delay_ms(1, 0.5), 1000);
        assert_eq!(b.delay_ms(1, 0.999_999), 1499);
        assert!(b.delay_ms(10, 1.0) <= 10_000);
    }
}
