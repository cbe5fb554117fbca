//! Drawing segments on a canvas that is as sharp as the screen: its pixels follow its CSS size
//! times the device pixel ratio, and segments, kept as fractions of the canvas, are drawn
//! again whenever that size changes.

use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};

use crate::protocol::draw::Segment;

/// The canvas and its 2D context.
pub struct Painter {
    canvas: HtmlCanvasElement,
    context: CanvasRenderingContext2d,
    /// The canvas's size in CSS pixels.
    width: f64,
    height: f64,
}

impl Painter {
    pub fn new(canvas: HtmlCanvasElement) -> Option<Painter> {
        let context = canvas
            .get_context("2d")
            .ok()
            .flatten()?
            .dyn_into::<CanvasRenderingContext2d>()
            .ok()?;
        let mut painter = Painter {
            canvas,
            context,
            width: 1.0,
            height: 1.0,
        };
        painter.fit();
        Some(painter)
    }

    /// Matches the canvas's pixels to its size on screen (which clears it); whether it changed.
    pub fn fit(&mut self) -> bool {
        let ratio = web_sys::window().map_or(1.0, |w| w.device_pixel_ratio());
        let (width, height) = (
            f64::from(self.canvas.client_width()).max(1.0),
            f64::from(self.canvas.client_height()).max(1.0),
        );
        let (pixels_x, pixels_y) = (
            (width * ratio).round() as u32,
            (height * ratio).round() as u32,
        );
        if pixels_x == self.canvas.width() && pixels_y == self.canvas.height() {
            return false;
        }
        self.canvas.set_width(pixels_x);
        self.canvas.set_height(pixels_y);
        // Draw in CSS pixels: line widths look the same on every screen.
        let _ = self.context.set_transform(ratio, 0.0, 0.0, ratio, 0.0, 0.0);
        self.context.set_line_cap("round");
        self.context.set_line_join("round");
        (self.width, self.height) = (width, height);
        true
    }

    /// Where a pointer at (`client_x`, `client_y`) is, as fractions of the canvas.
    pub fn fraction_at(&self, client_x: i32, client_y: i32) -> (f64, f64) {
        let rect = self.canvas.get_bounding_client_rect();
        let x = (f64::from(client_x) - rect.left()) / rect.width().max(1.0);
        let y = (f64::from(client_y) - rect.top()) / rect.height().max(1.0);
        (x.clamp(0.0, 1.0), y.clamp(0.0, 1.0))
    }

    pub fn draw(&self, segment: &Segment) {
        let c = &self.context;
        c.begin_path();
        c.set_stroke_style_str(segment.color.as_str());
        c.set_line_width(f64::from(segment.width));
        c.move_to(segment.x0 * self.width, segment.y0 * self.height);
        c.line_to(segment.x1 * self.width, segment.y1 * self.height);
        c.stroke();
    }

    pub fn clear(&self) {
        self.context.clear_rect(0.0, 0.0, self.width, self.height);
    }

    pub fn redraw<'a>(&self, segments: impl IntoIterator<Item = &'a Segment>) {
        self.clear();
        for segment in segments {
            self.draw(segment);
        }
    }
}
