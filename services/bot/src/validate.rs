//! Checks what a shopper answers or types into a form: names, e-mail syntax, phone numbers
//! (parsed and normalised to E.164 with libphonenumber's metadata, read in the rooftop's
//! country unless they start with `+`). Each refusal says which kind of wrong it is, so the bot
//! can ask again with a specific reason.

use thiserror::Error;

/// Longest name, in characters.
pub const MAX_NAME: usize = 60;
/// Longest e-mail address (RFC 5321's path limit).
pub const MAX_EMAIL: usize = 254;
/// Longest message left, in characters.
pub const MAX_MESSAGE: usize = 4000;

/// Why an answer was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Invalid {
    /// Nothing was given.
    #[error("is required")]
    Missing,
    /// Longer than allowed.
    #[error("is longer than {0} characters")]
    TooLong(usize),
    /// A name holding digits, `@` or markup-like characters.
    #[error("must be a name: letters, spaces, apostrophes, hyphens and dots only")]
    NotAName,
    /// Not an e-mail address.
    #[error("is not a complete e-mail address (like jane@example.com)")]
    BadEmail,
    /// Not a valid phone number for the country.
    #[error(
        "is not a valid phone number for {0} (include the area code, or start with + and the country code)"
    )]
    BadPhone(String),
}

/// A first or last name: trimmed, 1 to 60 characters, letters (any script) with spaces,
/// apostrophes, hyphens and dots between them.
pub fn name(raw: &str) -> Result<String, Invalid> {
    let n = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if n.is_empty() {
        return Err(Invalid::Missing);
    }
    if n.chars().count() > MAX_NAME {
        return Err(Invalid::TooLong(MAX_NAME));
    }
    if !n.chars().any(char::is_alphabetic)
        || !n
            .chars()
            .all(|c| c.is_alphabetic() || matches!(c, ' ' | '\'' | '’' | '-' | '.'))
    {
        return Err(Invalid::NotAName);
    }
    Ok(n)
}

/// An e-mail address: RFC 5322 syntax (the `email_address` crate), with a dotted domain (an
/// address a dealer can write to from the Internet). Returned trimmed, the domain lower-cased.
pub fn email(raw: &str) -> Result<String, Invalid> {
    let e = raw.trim();
    if e.is_empty() {
        return Err(Invalid::Missing);
    }
    if e.len() > MAX_EMAIL {
        return Err(Invalid::TooLong(MAX_EMAIL));
    }
    let parsed: email_address::EmailAddress = e.parse().map_err(|_| Invalid::BadEmail)?;
    let domain = parsed.domain();
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2
        || labels.iter().any(|l| l.is_empty())
        || domain.starts_with('[')
        || e.contains(char::is_whitespace)
    {
        return Err(Invalid::BadEmail);
    }
    Ok(format!(
        "{}@{}",
        parsed.local_part(),
        domain.to_ascii_lowercase()
    ))
}

/// A phone number in E.164 (`+13125550134`): parsed in `country` (ISO 3166-1 alpha-2, the
/// rooftop's) unless it starts with `+`, and valid by libphonenumber's metadata.
pub fn phone(raw: &str, country: &str) -> Result<String, Invalid> {
    let p = raw.trim();
    if p.is_empty() {
        return Err(Invalid::Missing);
    }
    if p.chars().count() > 40 {
        return Err(Invalid::TooLong(40));
    }
    let bad = || Invalid::BadPhone(country.to_string());
    let id: Option<phonenumber::country::Id> = country.parse().ok();
    let number = phonenumber::parse(id, p).map_err(|_| bad())?;
    if !phonenumber::is_valid(&number) {
        return Err(bad());
    }
    Ok(number.format().mode(phonenumber::Mode::E164).to_string())
}

/// Whether an answer to "e-mail or phone?" looks like an e-mail address (it has an `@`).
pub fn looks_like_email(raw: &str) -> bool {
    raw.contains('@')
}

/// A message: trimmed, 1 to 4000 characters.
pub fn message(raw: &str) -> Result<String, Invalid> {
    let m = raw.trim();
    if m.is_empty() {
        return Err(Invalid::Missing);
    }
    if m.chars().count() > MAX_MESSAGE {
        return Err(Invalid::TooLong(MAX_MESSAGE));
    }
    Ok(m.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_letters() {
        assert_eq!(name("  María   José ").unwrap(), "María José");
        assert_eq!(name("O'Brien-Smith").unwrap(), "O'Brien-Smith");
        assert_eq!(name(""), Err(Invalid::Missing));
        assert_eq!(name("R2D2"), Err(Invalid::NotAName));
        assert_eq!(name("jane@example.com"), Err(Invalid::NotAName));
        assert_eq!(name("<b>Jo</b>"), Err(Invalid::NotAName));
        assert_eq!(name(&"a".repeat(61)), Err(Invalid::TooLong(60)));
    }

    #[test]
    fn emails_need_a_full_address() {
        assert_eq!(
            email(" Jane.Doe@Example.COM ").unwrap(),
            "Jane.Doe@example.com"
        );
        assert_eq!(email("jane@example"), Err(Invalid::BadEmail));
        assert_eq!(email("jane.example.com"), Err(Invalid::BadEmail));
        assert_eq!(email("jane@@example.com"), Err(Invalid::BadEmail));
        assert_eq!(email("jane@example..com"), Err(Invalid::BadEmail));
        assert_eq!(email(""), Err(Invalid::Missing));
    }

    #[test]
    fn phones_become_e164_in_the_rooftops_country() {
        assert_eq!(phone("(312) 555-2368", "US").unwrap(), "+13125552368");
        assert_eq!(phone("312.555.2368", "US").unwrap(), "+13125552368");
        assert_eq!(phone("+52 55 1234 5678", "US").unwrap(), "+525512345678");
        assert_eq!(phone("55 1234 5678", "MX").unwrap(), "+525512345678");
        assert_eq!(phone("555-12", "US"), Err(Invalid::BadPhone("US".into())));
        assert_eq!(phone("call me", "US"), Err(Invalid::BadPhone("US".into())));
        assert_eq!(phone("", "US"), Err(Invalid::Missing));
    }
}
