//! Masking what must never be stored: payment card numbers and social security numbers.
//!
//! Every message text passes through [`mask_sensitive`] before it is stored or published, so
//! neither the transcript, the bus, the consoles nor the CRM ever hold them. A card number is
//! a run of 13 to 19 digits (single spaces or dashes between them allowed) that passes the Luhn
//! check; its last four digits stay, as on a receipt. A social security number is written
//! `AAA-GG-SSSS` (dashes or spaces) with a valid area, group and serial; it is masked whole.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// What replaces a social security number.
pub const SSN_MASK: &str = "***-**-****";

static CARD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b\d(?:[ -]?\d){12,18}\b").expect("card pattern"));

static SSN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(\d{3})[- ](\d{2})[- ](\d{4})\b").expect("ssn pattern"));

/// Whether `digits` (ASCII digits only) pass the Luhn check.
pub fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0;
    for (i, b) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    !digits.is_empty() && sum % 10 == 0
}

fn is_ssn(area: &str, group: &str, serial: &str) -> bool {
    let area: u32 = area.parse().unwrap_or(0);
    area != 0 && area != 666 && area < 900 && group != "00" && serial != "0000"
}

/// The text with card numbers and social security numbers masked (borrowed when none).
pub fn mask_sensitive(text: &str) -> Cow<'_, str> {
    let cards = CARD.replace_all(text, |c: &Captures| {
        let run = &c[0];
        let digits: String = run.chars().filter(char::is_ascii_digit).collect();
        if !(13..=19).contains(&digits.len()) || !luhn_valid(&digits) {
            return run.to_string();
        }
        let keep_from = digits.len() - 4;
        let mut seen = 0;
        run.chars()
            .map(|ch| {
                if ch.is_ascii_digit() {
                    seen += 1;
                    if seen > keep_from { ch } else { '*' }
                } else {
                    ch
                }
            })
            .collect()
    });
    if !SSN.is_match(&cards) {
        return cards;
    }
    let masked = SSN
        .replace_all(&cards, |c: &Captures| {
            if is_ssn(&c[1], &c[2], &c[3]) {
                SSN_MASK.to_string()
            } else {
                c[0].to_string()
            }
        })
        .into_owned();
    Cow::Owned(masked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_numbers_keep_only_their_last_four_digits() {
        assert_eq!(
            mask_sensitive("card 4111 1111 1111 1111 exp 12/29"),
            "card **** **** **** 1111 exp 12/29"
        );
        assert_eq!(mask_sensitive("5500-0000-0000-0004"), "****-****-****-0004");
        assert_eq!(
            mask_sensitive("amex 378282246310005."),
            "amex ***********0005."
        );
    }

    #[test]
    fn numbers_that_are_not_cards_stay() {
        // Fails Luhn; a phone number; a VIN-like stock number; twenty digits.
        for s in [
            "4111 1111 1111 1112",
            "call me at (312) 555-0142",
            "+1 312 555 0142",
            "stock 1HGCM82633A004352",
            "12345678901234567890",
        ] {
            assert_eq!(mask_sensitive(s), s, "{s}");
        }
    }

    #[test]
    fn social_security_numbers_are_masked_whole() {
        assert_eq!(mask_sensitive("ssn 123-45-6789 ok"), "ssn ***-**-**** ok");
        assert_eq!(mask_sensitive("123 45 6789"), "***-**-****");
        // Never issued: area 000, 666 or 9xx, group 00, serial 0000.
        for s in [
            "000-12-3456",
            "666-12-3456",
            "912-34-5678",
            "123-00-4567",
            "123-45-0000",
        ] {
            assert_eq!(mask_sensitive(s), s, "{s}");
        }
    }

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(
            mask_sensitive("is the RAV4 still here?"),
            Cow::Borrowed(_)
        ));
    }
}
