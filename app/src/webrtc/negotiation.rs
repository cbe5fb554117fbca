//! The decisions of MDN's "perfect negotiation": what to do with a description that arrives
//! while we may be making an offer ourselves. One side is *polite* (it yields when both offer
//! at once) and one *impolite* (it ignores the other's colliding offer), so two peers calling
//! each other at the same moment still end in one working connection.

use crate::protocol::signal::SdpKind;

/// What the peer connection is doing right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Negotiation {
    /// We are creating and setting our own offer.
    pub making_offer: bool,
    /// The signalling state is `stable` (no offer outstanding).
    pub stable: bool,
    /// We are applying a remote answer (then an offer is still welcome).
    pub applying_answer: bool,
}

/// What to do with an incoming description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// A colliding offer at the impolite side: drop it (and errors of its candidates).
    Ignore,
    /// Apply it; answer it when it is an offer. A polite side applying a colliding offer rolls
    /// its own back (the browser does that implicitly).
    Apply { answer: bool },
}

pub fn decide(kind: SdpKind, polite: bool, now: Negotiation) -> Decision {
    let ready_for_offer = !now.making_offer && (now.stable || now.applying_answer);
    let collision = kind == SdpKind::Offer && !ready_for_offer;
    if collision && !polite {
        Decision::Ignore
    } else {
        Decision::Apply {
            answer: kind == SdpKind::Offer,
        }
    }
}

/// Who yields when two peers call each other at once: the one with the greater id. Both sides
/// compute the same answer from the two ids, so exactly one of them is polite.
pub fn polite(my_id: &str, peer_id: &str) -> bool {
    my_id > peer_id
}

#[cfg(test)]
mod tests {
    use super::*;

    const STABLE: Negotiation = Negotiation {
        making_offer: false,
        stable: true,
        applying_answer: false,
    };
    const OFFERING: Negotiation = Negotiation {
        making_offer: true,
        stable: true,
        applying_answer: false,
    };
    const OFFER_SENT: Negotiation = Negotiation {
        making_offer: false,
        stable: false,
        applying_answer: false,
    };

    #[test]
    fn an_offer_in_a_stable_state_is_answered_by_either_side() {
        for polite in [true, false] {
            assert_eq!(
                decide(SdpKind::Offer, polite, STABLE),
                Decision::Apply { answer: true }
            );
        }
    }

    #[test]
    fn colliding_offers_are_ignored_by_the_impolite_side_and_taken_by_the_polite_one() {
        for now in [OFFERING, OFFER_SENT] {
            assert_eq!(decide(SdpKind::Offer, false, now), Decision::Ignore);
            assert_eq!(
                decide(SdpKind::Offer, true, now),
                Decision::Apply { answer: true }
            );
        }
    }

    #[test]
    fn answers_are_always_applied() {
        for now in [STABLE, OFFERING, OFFER_SENT] {
            for polite in [true, false] {
                assert_eq!(
                    decide(SdpKind::Answer, polite, now),
                    Decision::Apply { answer: false }
                );
            }
        }
    }

    #[test]
    fn an_offer_while_an_answer_is_being_applied_is_not_a_collision() {
        let now = Negotiation {
            making_offer: false,
            stable: false,
            applying_answer: true,
        };
        assert_eq!(
            decide(SdpKind::Offer, false, now),
            Decision::Apply { answer: true }
        );
    }

    #[test]
    fn exactly_one_of_two_peers_is_polite() {
        let (a, b) = ("Xb2aQ9", "kR7z0p");
        assert_ne!(polite(a, b), polite(b, a));
    }
}
