//! Squash, the arcade game of the remote page: keep the ball in play with a paddle that the
//! phone steers. The rules are plain Rust (tested natively); the view draws them in SVG.

use leptos::prelude::*;

use crate::components::browser::use_animation_loop;

/// The arena is 1 wide and this tall; the ball bounces off the top and both sides.
pub const HEIGHT: f64 = 0.75;
pub const BALL_RADIUS: f64 = 0.018;
pub const PADDLE_WIDTH: f64 = 0.22;
/// The paddle's top edge.
pub const PADDLE_Y: f64 = HEIGHT - 0.05;
const PADDLE_HEIGHT: f64 = 0.02;
/// Ball speed after a serve, in arena widths per second; each return speeds it up.
const SERVE_SPEED: f64 = 0.5;
const SPEEDUP: f64 = 1.06;
const MAX_SPEED: f64 = 1.6;

#[derive(Debug, Clone, PartialEq)]
pub struct Squash {
    pub ball: (f64, f64),
    pub velocity: (f64, f64),
    /// The paddle's centre.
    pub paddle: f64,
    /// Returns in a row.
    pub score: u32,
    pub best: u32,
    pub misses: u32,
}

impl Default for Squash {
    fn default() -> Self {
        let mut game = Squash {
            ball: (0.0, 0.0),
            velocity: (0.0, 0.0),
            paddle: 0.5,
            score: 0,
            best: 0,
            misses: 0,
        };
        game.serve();
        game
    }
}

impl Squash {
    /// Moves the paddle's centre to `x` (a fraction of the width), keeping it on court.
    pub fn steer(&mut self, x: f64) {
        let half = PADDLE_WIDTH / 2.0;
        self.paddle = if x.is_finite() {
            x.clamp(half, 1.0 - half)
        } else {
            0.5
        };
    }

    /// Advances the game by `dt` seconds.
    pub fn step(&mut self, dt: f64) {
        let (mut x, mut y) = self.ball;
        let (mut vx, mut vy) = self.velocity;
        let bottom_before = y + BALL_RADIUS;
        x += vx * dt;
        y += vy * dt;
        if x < BALL_RADIUS {
            x = BALL_RADIUS;
            vx = vx.abs();
        } else if x > 1.0 - BALL_RADIUS {
            x = 1.0 - BALL_RADIUS;
            vx = -vx.abs();
        }
        if y < BALL_RADIUS {
            y = BALL_RADIUS;
            vy = vy.abs();
        }
        let crossed_paddle = vy > 0.0 && bottom_before <= PADDLE_Y && y + BALL_RADIUS >= PADDLE_Y;
        if crossed_paddle && (x - self.paddle).abs() <= PADDLE_WIDTH / 2.0 + BALL_RADIUS {
            // Where it hits decides the angle, as in Pong: the edges send it off sideways.
            let offset = ((x - self.paddle) / (PADDLE_WIDTH / 2.0)).clamp(-1.0, 1.0);
            let speed = ((vx * vx + vy * vy).sqrt() * SPEEDUP).min(MAX_SPEED);
            let angle = offset * 60f64.to_radians();
            vx = speed * angle.sin();
            vy = -speed * angle.cos();
            y = PADDLE_Y - BALL_RADIUS;
            self.score += 1;
            self.best = self.best.max(self.score);
        }
        self.ball = (x, y);
        self.velocity = (vx, vy);
        if y - BALL_RADIUS > HEIGHT {
            self.misses += 1;
            self.score = 0;
            self.serve();
        }
    }

    /// Puts the ball back at the top, falling, alternating sides.
    fn serve(&mut self) {
        let side = if self.misses.is_multiple_of(2) {
            1.0
        } else {
            -1.0
        };
        self.ball = (0.5, 0.15);
        self.velocity = (side * SERVE_SPEED * 0.45, SERVE_SPEED * 0.9);
    }
}

/// The game board; the paddle follows `steer_x` (the controller's latest x, if any).
#[component]
pub fn SquashGame(steer_x: Signal<Option<f64>>) -> impl IntoView {
    let game = RwSignal::new(Squash::default());
    use_animation_loop(move |dt| {
        game.update(|g| {
            if let Some(x) = steer_x.get_untracked() {
                g.steer(x);
            }
            g.step(dt);
        })
    });
    let scaled = |v: f64| format!("{:.2}", v * 100.0);
    view! {
        <div class="squash">
            <p class="scoreboard" aria-live="off">
                "Score " <strong data-testid="score">{move || game.with(|g| g.score)}</strong>
                " · Best " <strong>{move || game.with(|g| g.best)}</strong>
                " · Missed " <strong>{move || game.with(|g| g.misses)}</strong>
            </p>
            <svg viewBox=format!("0 0 100 {}", HEIGHT * 100.0) role="img" aria-label="Squash court">
                <rect class="court" x="0" y="0" width="100" height=scaled(HEIGHT)/>
                <circle
                    class="ball"
                    cx=move || game.with(|g| scaled(g.ball.0))
                    cy=move || game.with(|g| scaled(g.ball.1))
                    r=scaled(BALL_RADIUS)
                />
                <rect
                    class="paddle"
                    data-testid="paddle"
                    x=move || game.with(|g| scaled(g.paddle - PADDLE_WIDTH / 2.0))
                    y=scaled(PADDLE_Y)
                    width=scaled(PADDLE_WIDTH)
                    height=scaled(PADDLE_HEIGHT)
                    rx="1"
                />
            </svg>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn game_with_ball(ball: (f64, f64), velocity: (f64, f64)) -> Squash {
        Squash {
            ball,
            velocity,
            ..Squash::default()
        }
    }

    #[test]
    fn the_ball_bounces_off_the_walls_and_the_top() {
        let mut g = game_with_ball((0.02, 0.3), (-0.5, 0.0));
        g.step(0.1);
        assert!(g.velocity.0 > 0.0);
        let mut g = game_with_ball((0.98, 0.3), (0.5, 0.0));
        g.step(0.1);
        assert!(g.velocity.0 < 0.0);
        let mut g = game_with_ball((0.5, 0.02), (0.0, -0.5));
        g.step(0.1);
        assert!(g.velocity.1 > 0.0);
    }

    #[test]
    fn a_paddle_under_the_ball_returns_it_and_scores() {
        let mut g = game_with_ball((0.4, PADDLE_Y - BALL_RADIUS - 0.01), (0.0, 0.5));
        g.steer(0.4);
        g.step(0.05);
        assert_eq!(g.score, 1);
        assert!(g.velocity.1 < 0.0, "the ball goes back up");
        assert!((g.velocity.0).abs() < 1e-9, "a centre hit goes straight up");
    }

    #[test]
    fn an_edge_hit_sends_the_ball_sideways() {
        let mut g = game_with_ball(
            (0.5 + PADDLE_WIDTH / 2.0, PADDLE_Y - BALL_RADIUS - 0.01),
            (0.0, 0.5),
        );
        g.steer(0.5);
        g.step(0.05);
        assert_eq!(g.score, 1);
        assert!(g.velocity.0 > 0.0);
    }

    #[test]
    fn a_miss_resets_the_score_keeps_the_best_and_serves_again() {
        let mut g = game_with_ball((0.9, PADDLE_Y - BALL_RADIUS - 0.01), (0.0, 0.5));
        g.score = 4;
        g.best = 4;
        g.steer(0.1);
        for _ in 0..20 {
            g.step(0.05);
            if g.misses > 0 {
                break;
            }
        }
        assert_eq!((g.score, g.best, g.misses), (0, 4, 1));
        assert!(g.ball.1 < 0.5, "served from the top again");
    }

    #[test]
    fn the_paddle_stays_on_court() {
        let mut g = Squash::default();
        g.steer(0.0);
        assert_eq!(g.paddle, PADDLE_WIDTH / 2.0);
        g.steer(1.0);
        assert_eq!(g.paddle, 1.0 - PADDLE_WIDTH / 2.0);
        g.steer(f64::NAN);
        assert_eq!(g.paddle, 0.5);
    }
}
