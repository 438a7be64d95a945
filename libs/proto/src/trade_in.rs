//! Trade-in details: the vehicle a shopper would trade in, collected as data (by the agent's
//! form in the console or the bot's questions when the shopper's interest is a trade-in),
//! stored per chat by lead-capture and carried in the lead and its ADF.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::vin;

/// The units of an odometer reading (the ADF's `odometer units`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MileageUnit {
    /// Miles (the default: US dealers).
    #[default]
    Mi,
    /// Kilometres.
    Km,
}

impl MileageUnit {
    /// The wire and ADF name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mi => "mi",
            Self::Km => "km",
        }
    }
}

/// How the shopper or the agent judges the vehicle.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Like new.
    Excellent,
    /// Normal wear.
    Good,
    /// Needs some work.
    Fair,
    /// Needs a lot of work.
    Poor,
}

impl Condition {
    /// Every condition, best first.
    pub const ALL: [Self; 4] = [Self::Excellent, Self::Good, Self::Fair, Self::Poor];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Excellent => "excellent",
            Self::Good => "good",
            Self::Fair => "fair",
            Self::Poor => "poor",
        }
    }
}

/// Oldest model year taken.
const OLDEST_YEAR: u16 = 1900;
/// Highest odometer reading taken.
const MAX_MILEAGE: u32 = 2_000_000;
/// Highest payoff taken, in cents.
const MAX_PAYOFF_CENTS: i64 = 100_000_000;
/// Longest make or model.
const MAX_NAME: usize = 60;
/// Longest comments.
const MAX_COMMENTS: usize = 2000;

/// A trade-in vehicle. Year, make and model are required (a VIN fills a missing year and a
/// make it knows), mileage and condition too; the VIN is optional but checked when given.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TradeIn {
    /// Model year (1900 to next year); filled from the VIN when missing, and must agree with it.
    #[serde(default)]
    pub year: Option<u16>,
    /// Make, e.g. "Honda" (1 to 60 characters); filled from the VIN when missing and known.
    #[serde(default)]
    pub make: Option<String>,
    /// Model, e.g. "Civic" (1 to 60 characters).
    #[serde(default)]
    pub model: Option<String>,
    /// The odometer reading, 0 to 2 000 000.
    #[serde(default)]
    pub mileage: Option<u32>,
    /// `mi` (the default) or `km`.
    #[serde(default)]
    pub mileage_unit: MileageUnit,
    /// `excellent`, `good`, `fair` or `poor`.
    #[serde(default)]
    pub condition: Option<Condition>,
    /// 17 characters with a right check digit (stored upper case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vin: Option<String>,
    /// What is still owed on it, in cents of the rooftop's currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payoff_cents: Option<i64>,
    /// Anything else (up to 2000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comments: Option<String>,
}

fn trimmed(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

impl TradeIn {
    /// The trade-in trimmed, its VIN decoded (year and make filled from it when missing) and
    /// every field checked; the error names each wrong field (`vin` with the check digit it
    /// should have).
    pub fn checked(self, this_year: i32) -> Result<TradeIn, BTreeMap<String, String>> {
        let mut wrong = BTreeMap::new();
        let mut t = TradeIn {
            make: trimmed(self.make),
            model: trimmed(self.model),
            vin: trimmed(self.vin),
            comments: trimmed(self.comments),
            ..self
        };
        if let Some(v) = t.vin.take() {
            match vin::decode(&v) {
                Ok(d) => {
                    match (t.year, d.year) {
                        (Some(given), Some(decoded)) if given != decoded => {
                            wrong.insert(
                                "year".into(),
                                format!("the VIN says model year {decoded}, not {given}"),
                            );
                        }
                        (None, decoded) => t.year = decoded,
                        _ => {}
                    }
                    if t.make.is_none() {
                        t.make = d.make.map(str::to_string);
                    }
                    t.vin = Some(d.vin);
                }
                Err(e) => {
                    wrong.insert("vin".into(), e.to_string());
                }
            }
        }
        let latest = u16::try_from(this_year + 1).unwrap_or(u16::MAX);
        match t.year {
            None if !wrong.contains_key("vin") => {
                wrong.insert("year".into(), "is required".into());
            }
            Some(y) if !(OLDEST_YEAR..=latest).contains(&y) => {
                wrong.insert("year".into(), format!("between {OLDEST_YEAR} and {latest}"));
            }
            _ => {}
        }
        for (field, value) in [("make", &t.make), ("model", &t.model)] {
            match value {
                None if !(field == "make" && wrong.contains_key("vin")) => {
                    wrong.insert(field.into(), "is required".into());
                }
                Some(v) if v.chars().count() > MAX_NAME || v.chars().any(char::is_control) => {
                    wrong.insert(
                        field.into(),
                        format!("1 to {MAX_NAME} characters, no control characters"),
                    );
                }
                _ => {}
            }
        }
        match t.mileage {
            None => {
                wrong.insert("mileage".into(), "is required".into());
            }
            Some(m) if m > MAX_MILEAGE => {
                wrong.insert("mileage".into(), format!("0 to {MAX_MILEAGE}"));
            }
            _ => {}
        }
        if t.condition.is_none() {
            wrong.insert(
                "condition".into(),
                "is required: excellent, good, fair or poor".into(),
            );
        }
        if t.payoff_cents
            .is_some_and(|p| !(0..=MAX_PAYOFF_CENTS).contains(&p))
        {
            wrong.insert(
                "payoff_cents".into(),
                format!("0 to {MAX_PAYOFF_CENTS} cents"),
            );
        }
        if t.comments
            .as_deref()
            .is_some_and(|c| c.chars().count() > MAX_COMMENTS)
        {
            wrong.insert(
                "comments".into(),
                format!("at most {MAX_COMMENTS} characters"),
            );
        }
        if wrong.is_empty() { Ok(t) } else { Err(wrong) }
    }

    /// One line for people (the ADF comments, the bot's summary): `2018 Honda Civic, 42000 mi,
    /// good`.
    pub fn summary(&self) -> String {
        let mut s = [
            self.year.map(|y| y.to_string()),
            self.make.clone(),
            self.model.clone(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        if let Some(m) = self.mileage {
            s.push_str(&format!(", {m} {}", self.mileage_unit.as_str()));
        }
        if let Some(c) = self.condition {
            s.push_str(&format!(", {}", c.as_str()));
        }
        s
    }
}

/// Who gave a stored trade-in.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TradeInSource {
    /// An agent, in the console.
    Agent,
    /// The shopper, answering the bot.
    Shopper,
}

/// Sets a chat's trade-in (lead-capture's `trade_in` request), replied with the stored
/// [`TradeIn`]. The leads of the chat carry it from then on, each published as `lead.updated`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SetTradeIn {
    /// The chat.
    pub conversation_id: Uuid,
    /// The agent who saved it; none when the shopper gave it to the bot.
    pub agent_id: Option<Uuid>,
    /// The trade-in, checked again by lead-capture.
    pub trade_in: TradeIn,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn civic() -> TradeIn {
        TradeIn {
            year: Some(2003),
            make: Some(" Honda ".into()),
            model: Some("Accord".into()),
            mileage: Some(142_000),
            mileage_unit: MileageUnit::Mi,
            condition: Some(Condition::Fair),
            vin: Some("1hgcm82633a004352".into()),
            payoff_cents: None,
            comments: Some("  ".into()),
        }
    }

    #[test]
    fn a_good_trade_in_is_trimmed_and_its_vin_upper_cased() {
        let t = civic().checked(2026).unwrap();
        assert_eq!(t.make.as_deref(), Some("Honda"));
        assert_eq!(t.vin.as_deref(), Some("1HGCM82633A004352"));
        assert_eq!(t.comments, None);
        assert_eq!(t.summary(), "2003 Honda Accord, 142000 mi, fair");
    }

    #[test]
    fn the_vin_fills_year_and_make_and_must_agree_with_the_year() {
        let t = TradeIn {
            year: None,
            make: None,
            ..civic()
        }
        .checked(2026)
        .unwrap();
        assert_eq!((t.year, t.make.as_deref()), (Some(2003), Some("Honda")));
        let e = TradeIn {
            year: Some(2005),
            ..civic()
        }
        .checked(2026)
        .unwrap_err();
        assert_eq!(e["year"], "the VIN says model year 2003, not 2005");
    }

    #[test]
    fn a_wrong_check_digit_is_refused_naming_vin() {
        let e = TradeIn {
            vin: Some("1HGCM82643A004352".into()),
            ..civic()
        }
        .checked(2026)
        .unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e["vin"].contains("check digit"), "{e:?}");
        assert!(e["vin"].contains("make it 3"), "{e:?}");
    }

    #[test]
    fn missing_and_out_of_range_fields_are_each_named() {
        let e = TradeIn {
            mileage_unit: MileageUnit::Km,
            year: Some(2031),
            ..TradeIn::default()
        }
        .checked(2026)
        .unwrap_err();
        let fields: Vec<&str> = e.keys().map(String::as_str).collect();
        assert_eq!(
            fields,
            ["condition", "make", "mileage", "model", "year"],
            "{e:?}"
        );
        assert_eq!(e["year"], "between 1900 and 2027");
        let e = TradeIn {
            mileage: Some(2_000_001),
            payoff_cents: Some(-1),
            ..civic()
        }
        .checked(2026)
        .unwrap_err();
        assert!(e.contains_key("mileage") && e.contains_key("payoff_cents"));
    }

    #[test]
    fn the_wire_names_are_the_documented_ones() {
        let t = civic().checked(2026).unwrap();
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["mileage_unit"], "mi");
        assert_eq!(v["condition"], "fair");
        assert!(v.get("payoff_cents").is_none());
        let back: TradeIn = serde_json::from_value(serde_json::json!({
            "year": 2018, "make": "Ford", "model": "F-150", "mileage": 80000,
            "mileage_unit": "km", "condition": "excellent"
        }))
        .unwrap();
        assert_eq!(back.mileage_unit, MileageUnit::Km);
        assert!(serde_json::from_value::<TradeIn>(serde_json::json!({"colour": "red"})).is_err());
    }
}
