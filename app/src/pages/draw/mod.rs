//! `/draw`: a whiteboard everyone here draws on. Lines appear on this page at once and go to
//! the others at most once per animation frame; a page that (re)connects gets the board.
//! Mouse, pen and touch draw (the canvas does not scroll the page); a stroke drawn while the
//! connection is down is sent once it is back.

mod painter;

use leptos::ev;
use leptos::html::Canvas;
use leptos::prelude::*;
use web_sys::PointerEvent;

use crate::components::browser::{use_frame_throttle, use_window_listener};
use crate::components::ConnectionBadge;
use crate::protocol::draw::{
    Board, Clear, Cleared, Colour, Draw, Drawing, Drawn, Segment, BOARD_SEGMENTS, PALETTE, WIDTHS,
};
use crate::protocol::Nothing;
use crate::socketio::{use_socket, EmitError};
use painter::Painter;

/// The board as this page knows it, oldest first, and how it is shown.
#[derive(Clone, Copy)]
struct Sheet {
    painter: StoredValue<Option<Painter>, LocalStorage>,
    segments: StoredValue<Vec<Segment>>,
    /// How many segments are on it (the canvas carries it for tests and tools).
    count: RwSignal<usize>,
}

impl Sheet {
    fn paint(&self, segment: Segment) {
        self.painter
            .with_value(|p| p.as_ref().map(|p| p.draw(&segment)));
        self.segments.update_value(|all| {
            if all.len() == BOARD_SEGMENTS {
                all.remove(0);
            }
            all.push(segment);
        });
        self.count.set(self.segments.with_value(Vec::len));
    }

    fn wipe(&self) {
        self.segments.update_value(Vec::clear);
        self.painter.with_value(|p| p.as_ref().map(Painter::clear));
        self.count.set(0);
    }

    /// Fits the canvas to its size on screen and draws everything again if that changed.
    fn fit(&self) {
        let segments = self.segments;
        self.painter.update_value(|p| {
            if let Some(p) = p.as_mut() {
                if p.fit() {
                    segments.with_value(|all| p.redraw(all));
                }
            }
        });
    }
}

#[component]
pub fn DrawPage() -> impl IntoView {
    let socket = use_socket::<Draw>();
    let state = socket.state();
    let sheet = Sheet {
        painter: StoredValue::new_local(None),
        segments: StoredValue::new(Vec::new()),
        count: RwSignal::new(0),
    };
    let unsent = StoredValue::new(Vec::<Segment>::new());
    let problem = RwSignal::new(None::<String>);
    let socket = StoredValue::new_local(socket);

    let send = move |segment: Segment| match socket
        .with_value(|s| s.emit::<Drawing>((segment.clone(),)))
    {
        Ok(()) => {}
        Err(EmitError::NotConnected) => unsent.update_value(|u| {
            if u.len() < BOARD_SEGMENTS {
                u.push(segment)
            }
        }),
        Err(error) => leptos::logging::warn!("a line was not sent: {error}"),
    };
    socket.with_value(|s| {
        s.on::<Drawn>(move |(segment,)| sheet.paint(segment));
        s.on::<Board>(move |(piece,)| piece.into_iter().for_each(|s| sheet.paint(s)));
        s.on::<Cleared>(move |_| sheet.wipe());
        // The server sends the whole board after every (re)connect; then what we drew offline.
        s.on_connect(move || {
            sheet.wipe();
            for segment in unsent.try_update_value(std::mem::take).unwrap_or_default() {
                sheet.paint(segment.clone());
                send(segment);
            }
        });
    });

    let canvas = NodeRef::<Canvas>::new();
    Effect::new(move |_| {
        if let Some(canvas) = canvas.get() {
            sheet.painter.set_value(Painter::new(canvas));
            sheet.segments.with_value(|all| {
                sheet
                    .painter
                    .with_value(|p| p.as_ref().map(|p| p.redraw(all)));
            });
        }
    });
    use_window_listener(ev::resize, move |_| sheet.fit());

    let colour = RwSignal::new(PALETTE[0]);
    let width = RwSignal::new(WIDTHS[1]);
    // Where the stroke being drawn has got to.
    let stroke = StoredValue::new(None::<(f64, f64)>);
    let line_to = move |to: (f64, f64)| {
        let Some(from) = stroke.get_value() else {
            return;
        };
        stroke.set_value(Some(to));
        let Ok(color) = Colour::parse(colour.get_untracked()) else {
            return;
        };
        let segment = Segment {
            x0: from.0,
            y0: from.1,
            x1: to.0,
            y1: to.1,
            color,
            width: width.get_untracked(),
        };
        sheet.paint(segment.clone());
        send(segment);
    };
    let at = move |e: &PointerEvent| {
        sheet.painter.with_value(|p| {
            p.as_ref()
                .map(|p| p.fraction_at(e.client_x(), e.client_y()))
        })
    };
    let each_frame = use_frame_throttle(line_to);
    let on_down = move |e: PointerEvent| {
        if e.pointer_type() == "mouse" && e.button() != 0 {
            return;
        }
        let Some(point) = at(&e) else { return };
        e.prevent_default();
        if let Some(canvas) = canvas.get_untracked() {
            let _ = canvas.set_pointer_capture(e.pointer_id());
        }
        stroke.set_value(Some(point));
        line_to(point); // a dot, for a tap
    };
    let on_move = move |e: PointerEvent| {
        if stroke.with_value(Option::is_some) {
            if let Some(point) = at(&e) {
                each_frame(point);
            }
        }
    };
    let on_up = move |e: PointerEvent| {
        if let Some(point) = at(&e).filter(|p| Some(*p) != stroke.get_value()) {
            line_to(point);
        }
        stroke.set_value(None);
    };

    let confirming = RwSignal::new(false);
    let clear = move |_| {
        confirming.set(false);
        match socket.with_value(|s| s.emit::<Clear>(Nothing)) {
            Ok(()) => problem.set(None),
            Err(EmitError::NotConnected) => {
                problem.set(Some("Not connected: the board was not cleared.".into()))
            }
            Err(error) => problem.set(Some(format!("The board was not cleared: {error}."))),
        }
    };

    view! {
        <section class="draw-page">
            <div class="draw-bar">
                <h1 class="draw-title">"Whiteboard"</h1>
                <div class="swatches" role="group" aria-label="Colour">
                    {PALETTE.iter().map(|&name| view! {
                        <button class="swatch-button" aria-label=name title=name style:background=name
                            aria-pressed=move || (colour.get() == name).to_string()
                            on:click=move |_| colour.set(name)></button>
                    }).collect_view()}
                </div>
                <div class="widths" role="group" aria-label="Line width">
                    {WIDTHS.iter().map(|&w| view! {
                        <button class="width-button" aria-label=format!("{w} pixels") title=format!("{w} px")
                            aria-pressed=move || (width.get() == w).to_string()
                            on:click=move |_| width.set(w)>
                            <span style:width=format!("{w}px") style:height=format!("{w}px")></span>
                        </button>
                    }).collect_view()}
                </div>
                <button class="secondary" on:click=move |_| confirming.set(true)>"Clear"</button>
                <ConnectionBadge state=state/>
            </div>
            <Show when=move || confirming.get()>
                <div class="confirm" role="alertdialog" aria-label="Clear the board">
                    <span>"Clear the board for everyone?"</span>
                    <button on:click=clear data-testid="confirm-clear">"Clear for everyone"</button>
                    <button class="secondary" on:click=move |_| confirming.set(false)>"Cancel"</button>
                </div>
            </Show>
            {move || problem.get().map(|p| view! { <p class="warning" role="alert">{p}</p> })}
            <canvas class="board" node_ref=canvas data-testid="board" data-segments=move || sheet.count.get()
                on:pointerdown=on_down on:pointermove=on_move on:pointerup=on_up on:pointercancel=on_up>
                "Your browser cannot show the whiteboard."
            </canvas>
        </section>
    }
}
