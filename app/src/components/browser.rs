//! Browser hooks that clean up after themselves when their component unmounts: window
//! listeners, intervals, an animation-frame loop, and a once-per-frame throttle; and random
//! ids from the browser's CSPRNG.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use leptos::ev::EventDescriptor;
use leptos::prelude::*;
use send_wrapper::SendWrapper;
use wasm_bindgen::prelude::*;

/// `chars` random characters of `a-z2-7` (5 bits each, so no symbol is likelier than another)
/// from the browser's cryptographic generator; `None` where it has none (never a weaker
/// stand-in: these ids keep calls and rooms private).
pub fn random_id(chars: usize) -> Option<String> {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut bytes = vec![0u8; chars];
    window()
        .crypto()
        .and_then(|c| c.get_random_values_with_u8_array(&mut bytes))
        .ok()?;
    Some(
        bytes
            .iter()
            .map(|b| ALPHABET[usize::from(b & 31)] as char)
            .collect(),
    )
}

/// Listens for `event` on the window while the component lives.
pub fn use_window_listener<E>(event: E, handler: impl Fn(E::EventType) + 'static)
where
    E: EventDescriptor + 'static,
    E::EventType: JsCast,
{
    let handle = window_event_listener(event, handler);
    on_cleanup(move || handle.remove());
}

/// Calls `tick` every `period` while the component lives.
pub fn use_interval(period: Duration, tick: impl Fn() + 'static) {
    if let Ok(handle) = set_interval_with_handle(tick, period) {
        on_cleanup(move || handle.clear());
    }
}

/// Returns a function that remembers the latest value it is given and passes it to `send`
/// at most once per animation frame: pointer events fire far more often than screens draw.
pub fn use_frame_throttle<T: Clone + Send + Sync + 'static>(
    send: impl Fn(T) + 'static,
) -> impl Fn(T) + Clone {
    let latest = StoredValue::new(None::<T>);
    let send = Rc::new(send);
    move |value: T| {
        let first_in_frame = latest.with_value(Option::is_none);
        latest.set_value(Some(value));
        if first_in_frame {
            let send = send.clone();
            request_animation_frame(move || {
                if let Some(value) = latest.try_update_value(Option::take).flatten() {
                    send(value);
                }
            });
        }
    }
}

/// Calls `frame(dt)` on every animation frame while the component lives, `dt` being the
/// seconds since the previous frame (capped, so a hidden tab does not make time jump).
pub fn use_animation_loop(mut frame: impl FnMut(f64) + 'static) {
    type Callback = Closure<dyn FnMut(f64)>;
    let callback: Rc<RefCell<Option<Callback>>> = Rc::default();
    let request = Rc::new(Cell::new(None::<i32>));
    let previous = Cell::new(None::<f64>);
    let (again, requested) = (callback.clone(), request.clone());
    *callback.borrow_mut() = Some(Closure::new(move |now: f64| {
        let dt = previous
            .replace(Some(now))
            .map_or(0.0, |before| ((now - before) / 1000.0).clamp(0.0, 0.05));
        frame(dt);
        if let Some(next) = again.borrow().as_ref() {
            requested.set(
                window()
                    .request_animation_frame(next.as_ref().unchecked_ref())
                    .ok(),
            );
        }
    }));
    if let Some(first) = callback.borrow().as_ref() {
        request.set(
            window()
                .request_animation_frame(first.as_ref().unchecked_ref())
                .ok(),
        );
    }
    let stop = SendWrapper::new(move || {
        if let Some(id) = request.take() {
            let _ = window().cancel_animation_frame(id);
        }
        // Dropped later: cleanup may run inside the very callback being dropped.
        let callback = callback.clone();
        wasm_bindgen_futures::spawn_local(async move {
            callback.borrow_mut().take();
        });
    });
    on_cleanup(move || (stop.take())());
}

/// A colour of its own for each id (same id, same colour, on every screen).
pub fn colour_for(id: &str) -> String {
    // FNV-1a: tiny, stable across platforms.
    let hash = id.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    });
    format!("hsl({} 80% 45%)", hash % 360)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_stable_and_spread() {
        assert_eq!(colour_for("abc"), colour_for("abc"));
        assert_ne!(colour_for("abc"), colour_for("abd"));
        assert!(colour_for("x").starts_with("hsl("));
    }
}
