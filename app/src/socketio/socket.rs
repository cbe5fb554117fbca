//! A page's socket for one namespace `N`: it can listen only to `N`'s server events and emit
//! only `N`'s client events. Its state is a Leptos signal, so every page can show it.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;

use futures_channel::mpsc::{self, UnboundedSender};
use futures_channel::oneshot;
use leptos::logging::warn;
use leptos::prelude::ArcRwSignal;
use serde::de::DeserializeOwned;

use super::driver::{self, Command, Handler, Shared};
use super::session::Session;
use super::EmitError;
use crate::connection::ConnectionState;
use crate::protocol::{ClientEvent, Namespace, ServerEvent};

/// A connection to namespace `N` of the server this page came from. Cheap to clone; every
/// clone is the same connection, and it ends when the last clone is dropped or
/// [`Socket::close`] is called.
pub struct Socket<N> {
    shared: Rc<Shared>,
    /// Wakes the driver (and, once every clone is gone, ends it).
    commands: UnboundedSender<Command>,
    _namespace: PhantomData<fn() -> N>,
}

impl<N> Clone for Socket<N> {
    fn clone(&self) -> Self {
        Socket {
            shared: self.shared.clone(),
            commands: self.commands.clone(),
            _namespace: PhantomData,
        }
    }
}

impl<N: Namespace> Socket<N> {
    /// Connects to `N`, sending `auth` with every namespace connect.
    pub fn connect(auth: Option<serde_json::Value>) -> Self {
        let session = Session::new(
            N::PATH,
            auth,
            Box::new(js_sys::Math::random),
            driver::browser_online(),
            js_sys::Date::now(),
        );
        let shared = Rc::new(Shared {
            state: ArcRwSignal::new(session.state().clone()),
            session: RefCell::new(session),
            handlers: RefCell::default(),
            on_connect: RefCell::default(),
            replies: RefCell::default(),
            id: ArcRwSignal::new(None),
        });
        let (commands, inbox) = mpsc::unbounded();
        driver::spawn(shared.clone(), inbox);
        Socket {
            shared,
            commands,
            _namespace: PhantomData,
        }
    }

    /// The connection state, reactive.
    pub fn state(&self) -> ArcRwSignal<ConnectionState> {
        self.shared.state.clone()
    }

    /// Our socket id while connected, reactive.
    pub fn id(&self) -> ArcRwSignal<Option<String>> {
        self.shared.id.clone()
    }

    /// Calls `handler` with the arguments of every `E` event from the server. Arguments that
    /// do not fit the contract are logged and skipped.
    pub fn on<E: ServerEvent<Namespace = N>>(&self, handler: impl Fn(E::Args) + 'static) {
        let decode: Handler =
            Rc::new(
                move |args: &str| match serde_json::from_str::<E::Args>(args) {
                    Ok(args) => handler(args),
                    Err(error) => warn!(
                        "socket.io: ignoring {:?} with unexpected arguments: {error}",
                        E::NAME
                    ),
                },
            );
        self.shared
            .handlers
            .borrow_mut()
            .entry(E::NAME)
            .or_default()
            .push(decode);
    }

    /// Calls `handler` after every successful connect, the first and each reconnect.
    pub fn on_connect(&self, handler: impl Fn() + 'static) {
        self.shared.on_connect.borrow_mut().push(Rc::new(handler));
    }

    /// Sends `E` to the server; fails at once when not connected (nothing is queued).
    pub fn emit<E: ClientEvent<Namespace = N>>(&self, args: E::Args) -> Result<(), EmitError> {
        let args = encode(&args)?;
        let sent = self
            .shared
            .session
            .borrow_mut()
            .emit(E::NAME, args, None, js_sys::Date::now());
        self.wake();
        sent.map(|_| ())
    }

    /// Sends `E` asking for an acknowledgement and waits for it up to `timeout_ms`.
    /// `R` is the acknowledgement's argument list as a tuple.
    pub async fn emit_with_ack<E: ClientEvent<Namespace = N>, R: DeserializeOwned>(
        &self,
        args: E::Args,
        timeout_ms: u32,
    ) -> Result<R, EmitError> {
        let args = encode(&args)?;
        let id = self.shared.session.borrow_mut().emit(
            E::NAME,
            args,
            Some(f64::from(timeout_ms)),
            js_sys::Date::now(),
        )?;
        let (tx, rx) = oneshot::channel();
        if let Some(id) = id {
            self.shared.replies.borrow_mut().insert(id, tx);
        }
        self.wake();
        let reply = rx.await.map_err(|_| EmitError::Lost)??;
        serde_json::from_str(&reply).map_err(|_| EmitError::BadReply)
    }

    /// Leaves the namespace and stops reconnecting. Pages call this when they unmount.
    pub fn close(&self) {
        self.shared.session.borrow_mut().close();
        self.wake();
    }

    fn wake(&self) {
        let _ = self.commands.unbounded_send(Command::Wake);
    }
}

fn encode<T: serde::Serialize>(args: &T) -> Result<String, EmitError> {
    serde_json::to_string(args).map_err(|_| EmitError::Unencodable)
}

/// Connects to namespace `N` for as long as the calling component lives.
pub fn use_socket<N: Namespace>() -> Socket<N> {
    use_socket_with_auth(None)
}

/// [`use_socket`] with an `auth` payload.
pub fn use_socket_with_auth<N: Namespace>(auth: Option<serde_json::Value>) -> Socket<N> {
    let socket = Socket::<N>::connect(auth);
    let on_unmount = send_wrapper::SendWrapper::new(socket.clone());
    leptos::prelude::on_cleanup(move || on_unmount.close());
    socket
}
