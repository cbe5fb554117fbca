//! Percentiles, and the tables the benchmark prints.

use std::time::Duration;

/// The `p`-th percentile (0–100) of `sorted`, which must be sorted; `None` when empty.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    Some(sorted[rank.min(sorted.len() - 1)])
}

pub fn ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    })
}

/// Prints `rows` under `header`, columns padded to fit.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if i == 0 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        println!("  {}", padded.join("  "));
    };
    line(header.to_vec());
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line(rule.iter().map(String::as_str).collect());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// One measured figure, for the comparison table.
#[derive(Debug, Clone)]
pub struct Figure {
    pub name: String,
    pub value: Option<f64>,
    /// How the value is written (unit included).
    pub unit: &'static str,
}

impl Figure {
    pub fn new(name: impl Into<String>, value: Option<f64>, unit: &'static str) -> Figure {
        Figure {
            name: name.into(),
            value,
            unit,
        }
    }

    pub fn show(&self) -> String {
        match self.value {
            None => "-".into(),
            Some(v) if v.abs() >= 100.0 => format!("{v:.0} {}", self.unit),
            Some(v) if v.abs() >= 10.0 => format!("{v:.1} {}", self.unit),
            Some(v) => format!("{v:.2} {}", self.unit),
        }
        .trim_end()
        .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_by_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50.0), Some(Duration::from_millis(51)));
        assert_eq!(percentile(&v, 99.0), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&v, 100.0), Some(Duration::from_millis(100)));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn figures_round_to_what_matters() {
        assert_eq!(Figure::new("x", Some(1234.4), "ms").show(), "1234 ms");
        assert_eq!(Figure::new("x", Some(12.34), "%").show(), "12.3 %");
        assert_eq!(Figure::new("x", Some(0.1234), "").show(), "0.12");
        assert_eq!(Figure::new("x", None, "ms").show(), "-");
    }
}
