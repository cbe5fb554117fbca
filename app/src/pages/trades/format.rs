//! Numbers as the trades page shows them.

/// `43210.55` as `43 210.55` (thin spaces between thousands, the decimals kept as given).
pub fn group_thousands(number: &str) -> String {
    let (sign, unsigned) = number
        .strip_prefix('-')
        .map_or(("", number), |rest| ("-", rest));
    let (whole, fraction) = unsigned
        .split_once('.')
        .map_or((unsigned, None), |(w, f)| (w, Some(f)));
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push('\u{202f}');
        }
        grouped.push(digit);
    }
    match fraction {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_grouped_by_thousands() {
        assert_eq!(group_thousands("43210.55"), "43\u{202f}210.55");
        assert_eq!(group_thousands("1234567"), "1\u{202f}234\u{202f}567");
        assert_eq!(group_thousands("999.5"), "999.5");
        assert_eq!(group_thousands("0.05123"), "0.05123");
    }
}
