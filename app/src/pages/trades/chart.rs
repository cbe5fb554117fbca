//! The live price chart: an SVG line of the last minutes of trades.

use leptos::prelude::*;

use super::format::group_thousands;

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 200.0;

/// Scales `points` (time, price) into the chart's box; `None` until there are two points.
pub fn polyline(points: &[(f64, f64)]) -> Option<(String, f64, f64)> {
    if points.len() < 2 {
        return None;
    }
    let (t0, t1) = (points[0].0, points[points.len() - 1].0);
    let (low, high) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (_, p)| {
            (lo.min(*p), hi.max(*p))
        });
    let span_t = (t1 - t0).max(1e-6);
    // A flat market is drawn across the middle, not along the edge.
    let (low, high) = if (high - low).abs() < f64::EPSILON {
        (low - 1.0, high + 1.0)
    } else {
        (low, high)
    };
    let coords: Vec<String> = points
        .iter()
        .map(|(t, p)| {
            let x = (t - t0) / span_t * WIDTH;
            let y = HEIGHT - (p - low) / (high - low) * HEIGHT;
            format!("{x:.1},{y:.1}")
        })
        .collect();
    Some((coords.join(" "), low, high))
}

#[component]
pub fn PriceChart(points: RwSignal<Vec<(f64, f64)>>, decimals: Signal<usize>) -> impl IntoView {
    let line = Memo::new(move |_| points.with(|p| polyline(p)));
    let label = move |v: f64| group_thousands(&format!("{v:.*}", decimals.get()));
    view! {
        <figure class="chart">
            {move || match line.get() {
                None => view! { <p class="muted chart-empty">"The chart starts with the second trade."</p> }.into_any(),
                Some((coords, low, high)) => view! {
                    <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") preserveAspectRatio="none" role="img" aria-label="Price over the last minutes">
                        <polyline data-testid="price-line" points=coords fill="none" vector-effect="non-scaling-stroke"/>
                    </svg>
                    <figcaption>
                        <span>"high " {label(high)}</span>
                        <span>"low " {label(low)}</span>
                    </figcaption>
                }.into_any(),
            }}
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_fill_the_box() {
        let (line, low, high) = polyline(&[(10.0, 100.0), (15.0, 110.0), (20.0, 105.0)]).unwrap();
        assert_eq!(line, "0.0,200.0 300.0,0.0 600.0,100.0");
        assert_eq!((low, high), (100.0, 110.0));
    }

    #[test]
    fn one_point_is_no_line_and_a_flat_market_is_centred() {
        assert!(polyline(&[(1.0, 5.0)]).is_none());
        let (line, _, _) = polyline(&[(1.0, 5.0), (2.0, 5.0)]).unwrap();
        assert_eq!(line, "0.0,100.0 600.0,100.0");
    }
}
