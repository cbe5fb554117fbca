//! Which simulcast layer of a camera one receiver gets. Pure functions of what the receiver
//! wants, what the sender is sending and how the receiver's downlink copes, so that they are
//! tested without a network.

use std::time::{Duration, Instant};

use app::protocol::meet::Layer;

/// The layer to forward: the one wanted, capped by the downlink, or the nearest one the
/// sender is actually sending: below first (a smaller picture is better than none), then
/// above. `None` while the sender sends no layer at all.
pub fn choose(wanted: Layer, cap: Layer, sending: LayerSet) -> Option<Layer> {
    let goal = wanted.min(cap);
    let below = Layer::ALL.into_iter().rev().filter(|l| *l <= goal);
    let above = Layer::ALL.into_iter().filter(|l| *l > goal);
    below.chain(above).find(|l| sending.contains(*l))
}

/// The layers a sender is sending now (a layer it pauses drops out, see str0m's
/// `StreamPaused`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LayerSet(u8);

impl LayerSet {
    pub fn contains(self, layer: Layer) -> bool {
        self.0 & bit(layer) != 0
    }

    pub fn set(&mut self, layer: Layer, on: bool) {
        if on {
            self.0 |= bit(layer);
        } else {
            self.0 &= !bit(layer);
        }
    }
}

fn bit(layer: Layer) -> u8 {
    1 << layer as u8
}

/// Loss above this on a receiver's downlink moves it down a layer.
const LOSSY: f32 = 0.08;
/// Loss below this for [`CALM_FOR`] moves it back up one.
const CLEAN: f32 = 0.02;
const CALM_FOR: Duration = Duration::from_secs(10);

/// How high a receiver may go, from the loss its receiver reports show (RTCP receiver
/// reports, through str0m's egress statistics).
#[derive(Debug, Clone)]
pub struct DownlinkCap {
    cap: Layer,
    calm_since: Option<Instant>,
}

impl Default for DownlinkCap {
    fn default() -> Self {
        DownlinkCap {
            cap: Layer::High,
            calm_since: None,
        }
    }
}

impl DownlinkCap {
    pub fn get(&self) -> Layer {
        self.cap
    }

    /// Takes one loss report (a fraction, 0 to 1); returns whether the cap moved.
    pub fn report(&mut self, loss: f32, now: Instant) -> bool {
        if loss > LOSSY {
            self.calm_since = None;
            return self.step(below(self.cap));
        }
        if loss >= CLEAN {
            self.calm_since = None;
            return false;
        }
        let since = *self.calm_since.get_or_insert(now);
        if now.duration_since(since) >= CALM_FOR {
            self.calm_since = Some(now);
            return self.step(above(self.cap));
        }
        false
    }

    fn step(&mut self, to: Layer) -> bool {
        let moved = to != self.cap;
        self.cap = to;
        moved
    }
}

fn below(layer: Layer) -> Layer {
    match layer {
        Layer::High => Layer::Medium,
        _ => Layer::Low,
    }
}

fn above(layer: Layer) -> Layer {
    match layer {
        Layer::Low => Layer::Medium,
        _ => Layer::High,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(layers: &[Layer]) -> LayerSet {
        let mut set = LayerSet::default();
        for layer in layers {
            set.set(*layer, true);
        }
        set
    }

    #[test]
    fn the_wanted_layer_when_it_is_sent() {
        let all = set(&Layer::ALL);
        for layer in Layer::ALL {
            assert_eq!(choose(layer, Layer::High, all), Some(layer));
        }
    }

    #[test]
    fn never_a_layer_the_sender_is_not_sending() {
        // Chromium sends no top layer until its estimate has ramped up.
        let no_top = set(&[Layer::Low, Layer::Medium]);
        assert_eq!(
            choose(Layer::High, Layer::High, no_top),
            Some(Layer::Medium)
        );
        let only_top = set(&[Layer::High]);
        assert_eq!(choose(Layer::Low, Layer::High, only_top), Some(Layer::High));
        assert_eq!(choose(Layer::Low, Layer::High, set(&[])), None);
    }

    #[test]
    fn the_downlink_caps_what_is_wanted() {
        let all = set(&Layer::ALL);
        assert_eq!(choose(Layer::High, Layer::Low, all), Some(Layer::Low));
        assert_eq!(choose(Layer::Low, Layer::Medium, all), Some(Layer::Low));
    }

    #[test]
    fn loss_moves_down_at_once_and_up_after_calm() {
        let start = Instant::now();
        let mut cap = DownlinkCap::default();
        assert!(cap.report(0.2, start));
        assert_eq!(cap.get(), Layer::Medium);
        assert!(cap.report(0.2, start));
        assert!(!cap.report(0.2, start), "the lowest stays");
        assert_eq!(cap.get(), Layer::Low);
        assert!(!cap.report(0.0, start));
        assert!(!cap.report(0.0, start + Duration::from_secs(5)));
        assert!(cap.report(0.0, start + Duration::from_secs(10)));
        assert_eq!(cap.get(), Layer::Medium);
        // Moderate loss neither raises nor lowers, and restarts the calm.
        assert!(!cap.report(0.05, start + Duration::from_secs(15)));
        assert!(!cap.report(0.0, start + Duration::from_secs(16)));
        assert!(!cap.report(0.0, start + Duration::from_secs(25)));
        assert!(cap.report(0.0, start + Duration::from_secs(26)));
        assert_eq!(cap.get(), Layer::High);
    }
}
