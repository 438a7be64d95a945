//! Who the shopper is: the language they chat in and the contact details the bot collected,
//! with the consent shown when they gave a phone number.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The languages every shopper-facing text exists in.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord,
)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    /// English, the default.
    #[default]
    En,
    /// Spanish.
    Es,
}

impl Language {
    /// Every language, English first.
    pub const ALL: [Self; 2] = [Self::En, Self::Es];

    /// The wire and database name (`en`, `es`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Es => "es",
        }
    }

    /// The language of a BCP 47 tag as a browser sends it (`es-MX` → Spanish); anything we do
    /// not speak is English.
    pub fn from_tag(tag: &str) -> Self {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or("");
        if primary.eq_ignore_ascii_case("es") {
            Self::Es
        } else {
            Self::En
        }
    }

    /// Parses the exact wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "en" => Some(Self::En),
            "es" => Some(Self::Es),
            _ => None,
        }
    }
}

/// What the dealership showed the shopper when they gave a phone number: the proof it needs
/// before anyone calls or texts them.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Consent {
    /// The consent text exactly as shown.
    pub text: String,
    /// The version of that text (raised whenever the dealer changes it).
    pub version: String,
    /// When the shopper gave the number.
    pub at: DateTime<Utc>,
    /// The page they were on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_url: Option<String>,
    /// The address they connected from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// How `ip` was worked out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_source: Option<AddressSource>,
}

/// How the gateway worked out a client's address (see `libs/rest/src/extract.rs`,
/// `client_ip`): a forwarding header is believed only from a proxy the operator trusts.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AddressSource {
    /// The TCP peer itself (no trusted proxy in front of it).
    Peer,
    /// `X-Forwarded-For`, as a trusted proxy passed it on.
    XForwardedFor,
    /// `Forwarded` (RFC 7239), as a trusted proxy passed it on.
    Forwarded,
}

impl AddressSource {
    /// Its name on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Peer => "peer",
            Self::XForwardedFor => "x_forwarded_for",
            Self::Forwarded => "forwarded",
        }
    }

    /// The inverse of [`Self::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Peer, Self::XForwardedFor, Self::Forwarded]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// A client's address, and how it was worked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddress {
    /// The address.
    pub ip: std::net::IpAddr,
    /// Where it came from.
    pub source: AddressSource,
}

/// A shopper's contact details, validated: what a lead is made of.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Contact {
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// E-mail address, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Mobile phone number in E.164 (`+13125550134`), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The consent shown with the phone number (absent without a phone, or when the dealer's
    /// own form posted none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<Consent>,
}

impl Contact {
    /// "First Last", as the agent sees the shopper.
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name.trim(), self.last_name.trim())
            .trim()
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_tags_map_to_our_languages() {
        assert_eq!(Language::from_tag("es-MX"), Language::Es);
        assert_eq!(Language::from_tag("ES"), Language::Es);
        assert_eq!(Language::from_tag("en-US"), Language::En);
        assert_eq!(Language::from_tag("fr-CA"), Language::En);
        assert_eq!(Language::from_tag(""), Language::En);
        assert_eq!(Language::parse("es"), Some(Language::Es));
        assert_eq!(Language::parse("es-MX"), None);
    }
}
