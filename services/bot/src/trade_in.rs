//! The Lead Gate's trade-in questions (issue 20, item 3), asked after the contact when the
//! shopper's interest (a pre-chat form's `interest` variable) is a trade-in: year, make and
//! model in one answer, the mileage (miles or km), the condition, and the VIN, which may be
//! skipped. Each answer is read here, in English or Spanish; the whole is checked again and
//! stored by lead-capture (`leads.trade_in`), which owns trade-ins, before the chat is routed.

use std::time::Duration;

use showroom_bus::Bus;
use showroom_proto::contact::Language;
use showroom_proto::lead::LeadCommand;
use showroom_proto::trade_in::{Condition, MileageUnit, SetTradeIn, TradeIn};
use showroom_proto::vin::{self, VinError};
use showroom_proto::{Envelope, v1};
use uuid::Uuid;

use crate::gate::GateError;

/// How long the request to lead-capture may keep retrying.
const REQUEST_WITHIN: Duration = Duration::from_secs(10);

/// An answer the bot could not read (it asks again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotUnderstood;

/// Whether an `interest` value means a trade-in (`trade-in`, `Trade-in`, `trade in`, `tradein`,
/// `trade_in`).
pub fn is_trade_in(interest: &str) -> bool {
    let k: String = interest
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    k == "tradein"
}

/// Year, make and model from one answer ("2018 Honda Civic", "Honda Civic 2018"): the model
/// year is the one four-digit word from 1900 to next year, the make the first other word, the
/// model the rest.
pub fn vehicle(text: &str, this_year: i32, trade: &mut TradeIn) -> Result<(), NotUnderstood> {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    let latest = this_year + 1;
    let is_year =
        |w: &str| w.len() == 4 && w.parse::<i32>().is_ok_and(|y| (1900..=latest).contains(&y));
    let years: Vec<&str> = words.iter().copied().filter(|w| is_year(w)).collect();
    let [year] = years.as_slice() else {
        return Err(NotUnderstood);
    };
    let rest: Vec<&str> = words.iter().copied().filter(|w| w != year).collect();
    let [make, model @ ..] = rest.as_slice() else {
        return Err(NotUnderstood);
    };
    let model = model.join(" ");
    if model.is_empty() || make.chars().count() > 60 || model.chars().count() > 60 {
        return Err(NotUnderstood);
    }
    trade.year = year.parse().ok();
    trade.make = Some((*make).to_string());
    trade.model = Some(model);
    Ok(())
}

/// Countries whose odometers read miles; elsewhere a bare number is kilometres.
const MILES: &[&str] = &["US", "GB", "LR", "MM", "PR"];

/// The mileage from an answer ("42,000 miles", "68 000 km", "45k"): digits (with `,`, `.` or
/// spaces between thousands, or a `k` for thousands) and the units if named; otherwise the
/// rooftop's country's.
pub fn mileage(text: &str, country: &str, trade: &mut TradeIn) -> Result<(), NotUnderstood> {
    let lower = text.trim().to_lowercase();
    let digits_end = lower
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, ',' | '.' | ' ')))
        .unwrap_or(lower.len());
    let (number, rest) = lower.split_at(digits_end);
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    let mut value: u32 = digits.parse().map_err(|_| NotUnderstood)?;
    let mut rest = rest.trim();
    if rest == "k" || rest.starts_with("k ") {
        value = value.checked_mul(1000).ok_or(NotUnderstood)?;
        rest = rest[1..].trim();
    }
    let unit = if rest.is_empty() {
        if MILES.contains(&country) {
            MileageUnit::Mi
        } else {
            MileageUnit::Km
        }
    } else if [
        "km",
        "kms",
        "kilometers",
        "kilometres",
        "kilómetros",
        "kilometros",
    ]
    .contains(&rest)
    {
        MileageUnit::Km
    } else if ["mi", "miles", "mile", "millas", "mls"].contains(&rest) {
        MileageUnit::Mi
    } else {
        return Err(NotUnderstood);
    };
    if value > 2_000_000 {
        return Err(NotUnderstood);
    }
    trade.mileage = Some(value);
    trade.mileage_unit = unit;
    Ok(())
}

/// The condition from an answer, in English or Spanish, or its number in the list (1 to 4).
pub fn condition(text: &str, trade: &mut TradeIn) -> Result<(), NotUnderstood> {
    let a = text.trim().trim_end_matches(['.', '!']).to_lowercase();
    let c = match a.as_str() {
        "1" | "excellent" | "excelente" => Condition::Excellent,
        "2" | "good" | "bueno" | "buena" | "buen" => Condition::Good,
        "3" | "fair" | "regular" | "ok" | "okay" => Condition::Fair,
        "4" | "poor" | "bad" | "malo" | "mala" => Condition::Poor,
        _ => return Err(NotUnderstood),
    };
    trade.condition = Some(c);
    Ok(())
}

/// Words that skip the VIN question.
const SKIP: &[&str] = &[
    "skip",
    "no",
    "none",
    "n/a",
    "na",
    "don't know",
    "dont know",
    "idk",
    "omitir",
    "no sé",
    "no se",
    "no tengo",
    "no lo sé",
    "no lo se",
];

/// The VIN from an answer, or a skip. A VIN must check (length, characters, check digit)
/// and agree with the model year given; the error is the reason, in the chat's language.
pub fn vin(text: &str, trade: &mut TradeIn, lang: Language) -> Result<(), String> {
    let a = text.trim().trim_end_matches(['.', '!']).to_lowercase();
    if SKIP.contains(&a.as_str()) {
        return Ok(());
    }
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let d = vin::decode(&compact).map_err(|e| reason(&e, lang))?;
    if let (Some(given), Some(decoded)) = (trade.year, d.year)
        && given != decoded
    {
        return Err(match lang {
            Language::En => format!("it is of model year {decoded}, not {given}"),
            Language::Es => format!("es del año modelo {decoded}, no {given}"),
        });
    }
    trade.vin = Some(d.vin);
    Ok(())
}

/// Why a VIN was refused, for the shopper.
fn reason(e: &VinError, lang: Language) -> String {
    match (e, lang) {
        (_, Language::En) => e.to_string(),
        (VinError::Length(n), Language::Es) => format!("tiene {n} caracteres, no 17"),
        (VinError::Character(c), Language::Es) => format!("«{c}» no puede estar en un VIN"),
        (VinError::CheckDigit { expected, .. }, Language::Es) => {
            format!("el dígito de control (9.º carácter) debería ser {expected}")
        }
    }
}

/// Hands the trade-in to lead-capture, which checks and stores it for the chat (a retry
/// stores nothing new).
pub async fn store(
    bus: &Bus,
    group: Uuid,
    conversation_id: Uuid,
    trade_in: TradeIn,
) -> Result<(), GateError> {
    let env = Envelope::new(
        group,
        SetTradeIn {
            conversation_id,
            agent_id: None,
            trade_in,
        },
    );
    let _: TradeIn = bus
        .request_retrying(
            v1::lead_command(group, LeadCommand::TradeIn),
            &env,
            REQUEST_WITHIN,
        )
        .await??;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interest_names_a_trade_in_in_any_spelling() {
        for s in ["trade-in", "Trade-in", "trade in", "TRADEIN", "trade_in"] {
            assert!(is_trade_in(s), "{s}");
        }
        assert!(!is_trade_in("New"));
        assert!(!is_trade_in("trade"));
    }

    #[test]
    fn year_make_and_model_come_in_one_answer() {
        let mut t = TradeIn::default();
        vehicle("2018 Honda Civic EX", 2026, &mut t).unwrap();
        assert_eq!(t.year, Some(2018));
        assert_eq!(t.make.as_deref(), Some("Honda"));
        assert_eq!(t.model.as_deref(), Some("Civic EX"));
        let mut t = TradeIn::default();
        vehicle("Ford F-150, 2015", 2026, &mut t).unwrap();
        assert_eq!((t.year, t.model.as_deref()), (Some(2015), Some("F-150")));
        for bad in [
            "Honda Civic",
            "2018 Civic",
            "2031 Honda Civic",
            "2018 2019 Honda Civic",
        ] {
            assert!(
                vehicle(bad, 2026, &mut TradeIn::default()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn mileage_takes_thousands_separators_k_and_units() {
        let mut t = TradeIn::default();
        mileage("42,000 miles", "US", &mut t).unwrap();
        assert_eq!((t.mileage, t.mileage_unit), (Some(42_000), MileageUnit::Mi));
        mileage("68 000 km", "US", &mut t).unwrap();
        assert_eq!((t.mileage, t.mileage_unit), (Some(68_000), MileageUnit::Km));
        mileage("45k", "US", &mut t).unwrap();
        assert_eq!((t.mileage, t.mileage_unit), (Some(45_000), MileageUnit::Mi));
        mileage("120000", "MX", &mut t).unwrap();
        assert_eq!(t.mileage_unit, MileageUnit::Km, "Mexico reads kilometres");
        mileage("90.000 kilómetros", "MX", &mut t).unwrap();
        assert_eq!(t.mileage, Some(90_000));
        for bad in ["a lot", "lots of miles", "42000 furlongs", "", "3000000"] {
            assert!(
                mileage(bad, "US", &mut TradeIn::default()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn conditions_in_english_spanish_or_by_number() {
        let mut t = TradeIn::default();
        for (a, want) in [
            ("Excellent", Condition::Excellent),
            ("bueno", Condition::Good),
            ("3", Condition::Fair),
            ("mala.", Condition::Poor),
        ] {
            condition(a, &mut t).unwrap();
            assert_eq!(t.condition, Some(want), "{a}");
        }
        assert!(condition("so-so", &mut t).is_err());
    }

    #[test]
    fn a_vin_is_checked_or_skipped() {
        let mut t = TradeIn {
            year: Some(2003),
            ..TradeIn::default()
        };
        assert_eq!(vin("skip", &mut t, Language::En), Ok(()));
        assert_eq!(vin("Omitir", &mut t, Language::Es), Ok(()));
        assert_eq!(t.vin, None);
        let e = vin("1HGCM82643A004352", &mut t, Language::En).unwrap_err();
        assert!(e.contains("make it 3"), "{e}");
        let e = vin("1HGCM82643A004352", &mut t, Language::Es).unwrap_err();
        assert!(e.contains("debería ser 3"), "{e}");
        t.year = Some(2005);
        let e = vin("1HGCM82633A004352", &mut t, Language::En).unwrap_err();
        assert!(e.contains("2003"), "{e}");
        t.year = Some(2003);
        vin("1hgcm8263 3a004352", &mut t, Language::En).unwrap();
        assert_eq!(t.vin.as_deref(), Some("1HGCM82633A004352"));
    }
}
