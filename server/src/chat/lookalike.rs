//! When two names are one: the forms a name is compared in, so that "alice", "ALICE", "аlice"
//! (a Cyrillic а) and "aIice" (a capital I) all collide. Unicode TR39's confusable skeleton
//! does the matching; names reach here already NFKC-normalised, invisible characters refused.
//! Both name stores refuse a collision with the same sentence ([`taken`]).

use app::protocol::chat::Nickname;
use app::protocol::Rejection;

/// The keys a name is held under; two names collide when they share one. Case is folded
/// before the skeleton ("ALICE" is "alice") and after it ("aIice", whose capital I looks like
/// an l, is "alice" too), so each name has the two.
pub fn keys(name: &Nickname) -> Vec<String> {
    let skeleton = |s: &str| {
        unicode_security::skeleton(s)
            .collect::<String>()
            .to_lowercase()
    };
    let mut keys = vec![
        skeleton(&name.as_str().to_lowercase()),
        skeleton(name.as_str()),
    ];
    keys.dedup();
    keys
}

/// Why a name cannot be had: it, or one that looks just like it, is held.
pub fn taken(name: &Nickname) -> Rejection {
    Rejection::new(format!(
        "The name “{name}” is already taken (or one that looks just like it). Please choose another."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(raw: &str) -> Nickname {
        Nickname::parse(raw).unwrap()
    }

    fn collide(a: &str, b: &str) -> bool {
        let (a, b) = (keys(&name(a)), keys(&name(b)));
        a.iter().any(|key| b.contains(key))
    }

    #[test]
    fn look_alikes_collide() {
        for (taken, lookalike) in [
            ("alice", "ALICE"),
            ("alice", "\u{0430}lice"),
            ("alice", "al\u{0456}ce"),
            ("alice", "aIice"),
            ("alice", "a1ice"),
            ("alice", "al\u{0131}ce"),
            ("alice", "ａｌｉｃｅ"),
            ("alice", "𝐚𝐥𝐢𝐜𝐞"),
            ("josé", "jose\u{0301}"),
            ("josé", "JOSÉ"),
        ] {
            assert!(collide(taken, lookalike), "{taken} ~ {lookalike:?}");
        }
    }

    #[test]
    fn different_names_do_not() {
        for (a, b) in [
            ("alice", "alicia"),
            ("josé", "jose"),
            ("Ada", "Bo"),
            ("李", "季"),
        ] {
            assert!(!collide(a, b), "{a} ≠ {b}");
        }
    }
}
