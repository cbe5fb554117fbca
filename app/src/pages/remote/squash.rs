//! Squash, the arcade game of the remote page: keep the ball in play with a paddle that the
//! phone steers. With a second phone it is Pong: player 2's paddle takes the top wall's
//! place, and a ball past a paddle is the other player's point. The rules are plain Rust
//! (tested natively); the view draws them in SVG.

use leptos::prelude::*;

use crate::components::browser::use_animation_loop;

/// The arena is 1 wide and this tall; the ball bounces off the top and both sides.
pub const HEIGHT: f64 = 0.75;
pub const BALL_RADIUS: f64 = 0.018;
pub const PADDLE_WIDTH: f64 = 0.22;
/// Player 1's paddle's top edge (the bottom paddle).
pub const PADDLE_Y: f64 = HEIGHT - 0.05;
/// Player 2's paddle's bottom edge (the top paddle).
pub const TOP_PADDLE_Y: f64 = 0.05;
const PADDLE_HEIGHT: f64 = 0.02;
/// Ball speed after a serve, in arena widths per second; each return speeds it up.
const SERVE_SPEED: f64 = 0.5;
const SPEEDUP: f64 = 1.06;
const MAX_SPEED: f64 = 1.6;

#[derive(Debug, Clone, PartialEq)]
pub struct Squash {
    pub ball: (f64, f64),
    pub velocity: (f64, f64),
    /// Player 1's paddle's centre.
    pub paddle: f64,
    /// Player 2's paddle's centre while a second player plays; without one the top is a wall.
    pub top: Option<f64>,
    /// Returns in a row (by either player).
    pub score: u32,
    pub best: u32,
    pub misses: u32,
    /// Each player's points in a game for two.
    pub points: [u32; 2],
}

impl Default for Squash {
    fn default() -> Self {
        let mut game = Squash {
            ball: (0.0, 0.0),
            velocity: (0.0, 0.0),
            paddle: 0.5,
            top: None,
            score: 0,
            best: 0,
            misses: 0,
            points: [0, 0],
        };
        game.serve(false);
        game
    }
}

impl Squash {
    /// Moves player 1's paddle's centre to `x` (a fraction of the width), keeping it on court.
    pub fn steer(&mut self, x: f64) {
        self.paddle = on_court(x);
    }

    /// Moves player 2's paddle, or (with `None`) takes it away: the top is a wall again.
    pub fn steer_top(&mut self, x: Option<f64>) {
        self.top = x.map(on_court);
    }

    /// Advances the game by `dt` seconds.
    pub fn step(&mut self, dt: f64) {
        let (mut x, mut y) = self.ball;
        let (mut vx, mut vy) = self.velocity;
        let (bottom_before, top_before) = (y + BALL_RADIUS, y - BALL_RADIUS);
        x += vx * dt;
        y += vy * dt;
        if x < BALL_RADIUS {
            x = BALL_RADIUS;
            vx = vx.abs();
        } else if x > 1.0 - BALL_RADIUS {
            x = 1.0 - BALL_RADIUS;
            vx = -vx.abs();
        }
        match self.top {
            None if y < BALL_RADIUS => {
                y = BALL_RADIUS;
                vy = vy.abs();
            }
            None => {}
            Some(top) => {
                let crossed =
                    vy < 0.0 && top_before >= TOP_PADDLE_Y && y - BALL_RADIUS <= TOP_PADDLE_Y;
                if crossed && hits(x, top) {
                    (vx, vy) = returned(x, top, (vx, vy), 1.0);
                    y = TOP_PADDLE_Y + BALL_RADIUS;
                    self.returned();
                }
            }
        }
        let crossed_paddle = vy > 0.0 && bottom_before <= PADDLE_Y && y + BALL_RADIUS >= PADDLE_Y;
        if crossed_paddle && hits(x, self.paddle) {
            (vx, vy) = returned(x, self.paddle, (vx, vy), -1.0);
            y = PADDLE_Y - BALL_RADIUS;
            self.returned();
        }
        self.ball = (x, y);
        self.velocity = (vx, vy);
        if y - BALL_RADIUS > HEIGHT {
            // Past player 1: player 2's point, if there is a player 2.
            self.lost(Some(1).filter(|_| self.top.is_some()));
            self.serve(false);
        } else if y + BALL_RADIUS < 0.0 {
            self.lost(Some(0));
            self.serve(true);
        }
    }

    fn returned(&mut self) {
        self.score += 1;
        self.best = self.best.max(self.score);
    }

    fn lost(&mut self, point_to: Option<usize>) {
        self.misses += 1;
        self.score = 0;
        if let Some(player) = point_to {
            self.points[player] += 1;
        }
    }

    /// Puts the ball back in play towards the player who just lost it (player 1 at the
    /// bottom, or player 2 at the top), alternating sides.
    fn serve(&mut self, upwards: bool) {
        let side = if self.misses.is_multiple_of(2) {
            1.0
        } else {
            -1.0
        };
        let (y, vertical) = if upwards {
            (HEIGHT - 0.15, -1.0)
        } else {
            (0.15, 1.0)
        };
        self.ball = (0.5, y);
        self.velocity = (side * SERVE_SPEED * 0.45, vertical * SERVE_SPEED * 0.9);
    }
}

fn on_court(x: f64) -> f64 {
    let half = PADDLE_WIDTH / 2.0;
    if x.is_finite() {
        x.clamp(half, 1.0 - half)
    } else {
        0.5
    }
}

/// Whether a ball at `x` meets a paddle centred at `paddle`.
fn hits(x: f64, paddle: f64) -> bool {
    (x - paddle).abs() <= PADDLE_WIDTH / 2.0 + BALL_RADIUS
}

/// The ball's velocity off a paddle, faster, going `direction` (-1 up, 1 down). Where it hits
/// decides the angle, as in Pong: the edges send it off sideways.
fn returned(x: f64, paddle: f64, (vx, vy): (f64, f64), direction: f64) -> (f64, f64) {
    let offset = ((x - paddle) / (PADDLE_WIDTH / 2.0)).clamp(-1.0, 1.0);
    let speed = ((vx * vx + vy * vy).sqrt() * SPEEDUP).min(MAX_SPEED);
    let angle = offset * 60f64.to_radians();
    (speed * angle.sin(), direction * speed * angle.cos())
}

/// The game board; the bottom paddle follows `steer_x` (player 1's latest x, if any), the
/// top one `top_x` (player 2's, while player 2 is connected).
#[component]
pub fn SquashGame(steer_x: Signal<Option<f64>>, top_x: Signal<Option<f64>>) -> impl IntoView {
    let game = RwSignal::new(Squash::default());
    use_animation_loop(move |dt| {
        game.update(|g| {
            if let Some(x) = steer_x.get_untracked() {
                g.steer(x);
            }
            g.steer_top(top_x.get_untracked());
            g.step(dt);
        })
    });
    let scaled = |v: f64| format!("{:.2}", v * 100.0);
    let two = move || game.with(|g| g.top.is_some());
    view! {
        <div class="squash">
            <Show when=two fallback=move || view! {
                <p class="scoreboard" aria-live="off">
                    "Score " <strong data-testid="score">{move || game.with(|g| g.score)}</strong>
                    " · Best " <strong>{move || game.with(|g| g.best)}</strong>
                    " · Missed " <strong>{move || game.with(|g| g.misses)}</strong>
                </p>
            }>
                <p class="scoreboard" aria-live="off">
                    "Player 1 " <strong data-testid="points-1">{move || game.with(|g| g.points[0])}</strong>
                    " · Player 2 " <strong data-testid="points-2">{move || game.with(|g| g.points[1])}</strong>
                    " · Rally " <strong>{move || game.with(|g| g.score)}</strong>
                </p>
            </Show>
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
                {move || game.with(|g| g.top).map(|top| view! {
                    <rect
                        class="paddle top"
                        data-testid="paddle-2"
                        x=scaled(top - PADDLE_WIDTH / 2.0)
                        y=scaled(TOP_PADDLE_Y - PADDLE_HEIGHT)
                        width=scaled(PADDLE_WIDTH)
                        height=scaled(PADDLE_HEIGHT)
                        rx="1"
                    />
                })}
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
    fn with_a_second_player_the_top_is_a_paddle_and_misses_are_points() {
        // Player 2's paddle returns the ball downwards.
        let mut g = game_with_ball((0.3, TOP_PADDLE_Y + BALL_RADIUS + 0.01), (0.0, -0.5));
        g.steer_top(Some(0.3));
        g.step(0.05);
        assert_eq!(g.score, 1);
        assert!(g.velocity.1 > 0.0, "the ball goes back down");
        // Past player 2's paddle: player 1's point, and the ball comes back up at player 2.
        let mut g = game_with_ball((0.9, TOP_PADDLE_Y + BALL_RADIUS + 0.01), (0.0, -0.5));
        g.steer_top(Some(0.1));
        for _ in 0..20 {
            g.step(0.05);
        }
        assert_eq!(g.points, [1, 0]);
        // Past player 1's: player 2's point.
        let mut g = game_with_ball((0.9, PADDLE_Y - BALL_RADIUS - 0.01), (0.0, 0.5));
        g.steer(0.1);
        g.steer_top(Some(0.5));
        for _ in 0..5 {
            g.step(0.05);
        }
        assert_eq!(g.points, [0, 1]);
        // Player 2 gone: the top is a wall again, and misses score for nobody.
        let mut g = game_with_ball((0.5, 0.02), (0.0, -0.5));
        g.steer_top(None);
        g.step(0.1);
        assert!(g.velocity.1 > 0.0);
        assert_eq!(g.points, [0, 0]);
    }

    #[test]
    fn two_paddles_that_follow_the_ball_keep_it_in_play() {
        let mut g = Squash::default();
        g.steer_top(Some(0.5));
        for _ in 0..60 * 20 {
            g.steer(g.ball.0);
            g.steer_top(Some(g.ball.0));
            g.step(1.0 / 60.0);
        }
        assert_eq!((g.points, g.misses), ([0, 0], 0));
        assert!(g.score > 5, "{} returns", g.score);
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
