//! The message being sent from `/chat`: it goes once the page is named on a live connection,
//! and is sent again after a lost connection or a missing acknowledgement, always with the
//! same id, so that the server delivers it once.

use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::components::browser::random_id;
use crate::protocol::chat::{Chat, ChatText, Outgoing, Receipt, SendMessage};
use crate::protocol::PeerId;
use crate::socketio::{EmitError, Socket};

/// How long a sent message may wait for the server's receipt, in milliseconds.
const RECEIPT_TIMEOUT_MS: u32 = 5000;

struct Pending {
    text: ChatText,
    id: PeerId,
    /// Clears the field it was typed in (if it still holds it).
    clear: Rc<dyn Fn()>,
    /// Sent, its receipt not yet in.
    in_flight: bool,
}

/// The page's outgoing message. Cheap to copy.
#[derive(Clone, Copy)]
pub struct Outbox {
    pending: StoredValue<Option<Pending>, LocalStorage>,
    /// Whether a message waits (for the page to show it).
    waiting: RwSignal<bool>,
    /// Named on the current connection: a message can go now.
    ready: StoredValue<bool>,
    socket: StoredValue<Socket<Chat>, LocalStorage>,
    error: RwSignal<Option<String>>,
}

impl Outbox {
    pub fn new(socket: Socket<Chat>, error: RwSignal<Option<String>>) -> Outbox {
        Outbox {
            pending: StoredValue::new_local(None),
            waiting: RwSignal::new(false),
            ready: StoredValue::new(false),
            socket: StoredValue::new_local(socket),
            error,
        }
    }

    pub fn is_waiting(&self) -> bool {
        self.waiting.get()
    }

    /// Sends `text` now or as soon as the page is named on a live connection; `clear` once the
    /// server has it. A second message waits for the first one's receipt.
    pub fn send(self, text: ChatText, clear: Box<dyn Fn()>) {
        let busy = self
            .pending
            .with_value(|p| p.as_ref().is_some_and(|p| p.in_flight));
        if busy {
            return self
                .error
                .set(Some("Still sending your previous message…".into()));
        }
        self.pending.update_value(|pending| {
            // The same text pressed again keeps its id: it is the same message.
            let id = match pending.take() {
                Some(old) if old.text == text => old.id,
                _ => {
                    // Unique, not secret: without a CSPRNG, Math.random serves.
                    let id = random_id(20)
                        .unwrap_or_else(|| format!("m{}", (js_sys::Math::random() * 1e15) as u64));
                    PeerId::parse(&id).expect("an id of 16 to 20 characters")
                }
            };
            *pending = Some(Pending {
                text,
                id,
                clear: Rc::from(clear),
                in_flight: false,
            });
        });
        self.waiting.set(true);
        self.flush();
    }

    /// The page was named on a new connection (`true`), or lost it (`false`).
    pub fn connection_changed(self, ready: bool) {
        self.ready.set_value(ready);
        if ready {
            self.flush();
        }
    }

    fn flush(self) {
        if !self.ready.get_value() {
            return;
        }
        let Some((text, id)) = self
            .pending
            .try_update_value(|pending| {
                let pending = pending.as_mut().filter(|p| !p.in_flight)?;
                pending.in_flight = true;
                Some((pending.text.clone(), pending.id.clone()))
            })
            .flatten()
        else {
            return;
        };
        let socket = self.socket.get_value();
        spawn_local(async move {
            let outgoing = Outgoing { client_id: id };
            let receipt = socket
                .emit_with_ack::<SendMessage, (Receipt,)>(
                    (text, Some(outgoing)),
                    RECEIPT_TIMEOUT_MS,
                )
                .await;
            self.settle(receipt);
        });
    }

    fn settle(self, receipt: Result<(Receipt,), EmitError>) {
        match receipt {
            Ok((Receipt { ok: true, .. },)) => {
                if let Some(sent) = self.pending.try_update_value(Option::take).flatten() {
                    (sent.clear)();
                }
                self.waiting.set(false);
                self.error.set(None);
            }
            Ok((Receipt { error, .. },)) => {
                self.give_up(error.unwrap_or_else(|| "Not sent.".into()))
            }
            // It may or may not have arrived: send it again, with its id, once named again.
            Err(EmitError::NotConnected | EmitError::Lost) => self.retry_later(),
            // Connected, but no answer: try once more now (the id keeps it single).
            Err(EmitError::Timeout) => {
                self.retry_later();
                self.flush();
            }
            Err(other) => self.give_up(format!("Not sent: {other}.")),
        }
    }

    fn retry_later(self) {
        self.pending.update_value(|p| {
            if let Some(p) = p {
                p.in_flight = false;
            }
        });
    }

    fn give_up(self, reason: String) {
        self.pending.set_value(None);
        self.waiting.set(false);
        self.error.set(Some(reason));
    }
}
