//! What a request's fields must be, checked once for every handler that takes them (the admin
//! pages, the profile, passwords): each check answers the value or why it is wrong, and
//! [`Problems`] gathers the faults of one request into a 400 that names every field.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use showroom_proto::{CommandError, ErrorCode};

use crate::directory::DirectoryError;
use crate::error::ApiError;

/// Shortest password, in characters.
pub(crate) const MIN_PASSWORD: usize = 10;
/// Longest password, in characters (argon2 takes any length; this bounds the work).
pub(crate) const MAX_PASSWORD: usize = 200;
/// Most origins a website may allow.
pub(crate) const MAX_ORIGINS: usize = 50;
/// Longest e-mail address.
const MAX_EMAIL: usize = 254;

/// The wrong fields of one request, gathered so a form can show every fault at once.
#[derive(Debug, Default)]
pub(crate) struct Problems(pub(crate) BTreeMap<String, String>);

impl Problems {
    /// Keeps a checked value, or records why `field` is wrong.
    pub(crate) fn check<T>(&mut self, field: &str, r: Result<T, String>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(reason) => {
                self.add(field, reason);
                None
            }
        }
    }

    /// Records why `field` is wrong (the first reason wins).
    pub(crate) fn add(&mut self, field: &str, reason: impl Into<String>) {
        self.0.entry(field.to_string()).or_insert(reason.into());
    }

    /// 400 naming every wrong field, if any.
    pub(crate) fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(fields_error(ErrorCode::BadRequest, self.0))
        }
    }
}

pub(crate) fn fields_error(code: ErrorCode, fields: BTreeMap<String, String>) -> ApiError {
    let message = fields
        .iter()
        .map(|(f, r)| format!("{f}: {r}"))
        .collect::<Vec<_>>()
        .join("; ");
    ApiError::from(CommandError {
        code,
        message,
        fields,
    })
}

/// 400 naming one wrong field.
pub(crate) fn invalid(field: &str, reason: impl Into<String>) -> ApiError {
    fields_error(
        ErrorCode::BadRequest,
        BTreeMap::from([(field.to_string(), reason.into())]),
    )
}

/// 409 (`already_taken`) naming the field whose value is used already.
pub(crate) fn taken(field: &str, reason: impl Into<String>) -> ApiError {
    fields_error(
        ErrorCode::AlreadyTaken,
        BTreeMap::from([(field.to_string(), reason.into())]),
    )
}

impl From<DirectoryError> for ApiError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::Taken { field: "label" } => {
                taken("label", "another department of this rooftop has this label")
            }
            DirectoryError::Taken { field: "email" } => {
                taken("email", "another agent of this group has this e-mail")
            }
            DirectoryError::Taken { field } => taken(field, "is already taken"),
            DirectoryError::InUse(uses) => ApiError::new(
                StatusCode::CONFLICT,
                "in_use",
                format!(
                    "this department cannot be deleted while it has history ({uses}): \
                     it stays so that transcripts and reports keep it; rename it instead"
                ),
            ),
            DirectoryError::Hash(e) => ApiError::internal(e),
            DirectoryError::Busy(secs) => ApiError::busy(secs),
            DirectoryError::Audit(e) => crate::audit::required(e),
            DirectoryError::Db(e) => ApiError::from(e),
        }
    }
}

/// A required line of text: trimmed, 1 to `max` characters, no control characters.
pub(crate) fn text(raw: &str, max: usize) -> Result<String, String> {
    let t = raw.trim();
    let n = t.chars().count();
    if n == 0 {
        return Err("is required".into());
    }
    if n > max {
        return Err(format!("must be at most {max} characters"));
    }
    if t.chars().any(char::is_control) {
        return Err("must be plain text on one line".into());
    }
    Ok(t.to_string())
}

/// A new password: 10 to 200 characters (any characters; argon2 hashes it).
pub(crate) fn password(raw: &str) -> Result<(), String> {
    let n = raw.chars().count();
    if n < MIN_PASSWORD {
        Err(format!("must be at least {MIN_PASSWORD} characters"))
    } else if n > MAX_PASSWORD {
        Err(format!("must be at most {MAX_PASSWORD} characters"))
    } else {
        Ok(())
    }
}

/// An optional line of text: blank means none.
pub(crate) fn optional_text(raw: Option<&str>, max: usize) -> Result<Option<String>, String> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => text(t, max).map(Some),
    }
}

/// An IANA time zone known to chrono-tz, by its canonical name (`America/Chicago`).
pub(crate) fn time_zone(raw: &str) -> Result<String, String> {
    let t = raw.trim();
    if t.is_empty() {
        return Err("is required".into());
    }
    let tz: chrono_tz::Tz = t
        .parse()
        .map_err(|_| format!("\"{t}\" is not an IANA time zone such as America/Chicago"))?;
    let name = tz.name();
    // The rooftops table's CHECK: a region, then `/`-separated parts (no legacy `EST5EDT`).
    let mut parts = name.split('/');
    let first_ok = parts
        .next()
        .is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphabetic() || c == '_'));
    let rest_ok = parts.all(|p| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-'))
    });
    if first_ok && rest_ok {
        Ok(name.to_string())
    } else {
        Err(format!(
            "\"{t}\" is a legacy zone name; use a Region/City zone such as America/New_York"
        ))
    }
}

/// ISO 3166-1 alpha-2 country code: two capital letters.
pub(crate) fn country(raw: &str) -> Result<String, String> {
    let c = raw.trim();
    if c.len() == 2 && c.chars().all(|ch| ch.is_ascii_uppercase()) {
        Ok(c.to_string())
    } else {
        Err("must be a two-letter country code in capitals, such as US".into())
    }
}

/// A rooftop's phone number as people write it: 7 to 30 characters of digits, spaces and
/// `+ - ( ) .`, with at least 7 digits; blank means none.
pub(crate) fn phone(raw: &str) -> Result<Option<String>, String> {
    let p = raw.trim();
    if p.is_empty() {
        return Ok(None);
    }
    let digits = p.chars().filter(char::is_ascii_digit).count();
    if p.chars().count() > 30
        || digits < 7
        || !p
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | '(' | ')' | '.'))
    {
        return Err(
            "must be a phone number such as +1 312 555 0100 (digits, spaces, + - ( ) .)".into(),
        );
    }
    Ok(Some(p.to_string()))
}

/// An e-mail address: RFC 5322 syntax with a dotted domain, trimmed, the domain lower-cased.
pub(crate) fn email(raw: &str) -> Result<String, String> {
    let e = raw.trim();
    if e.is_empty() {
        return Err("is required".into());
    }
    let bad = || format!("\"{e}\" is not an e-mail address");
    if e.len() > MAX_EMAIL || e.contains(char::is_whitespace) || e.contains(char::is_control) {
        return Err(bad());
    }
    let parsed: email_address::EmailAddress = e.parse().map_err(|_| bad())?;
    let domain = parsed.domain();
    if domain.starts_with('[')
        || domain.split('.').count() < 2
        || domain.split('.').any(str::is_empty)
    {
        return Err(bad());
    }
    Ok(format!(
        "{}@{}",
        parsed.local_part(),
        domain.to_ascii_lowercase()
    ))
}

/// One allowed origin: `http(s)://host[:port]`, nothing after it (one trailing `/` is
/// forgiven), lower-cased, the scheme's default port dropped (browsers leave it out of
/// `Origin`, so `https://x:443` would never match).
pub fn origin(raw: &str) -> Result<String, String> {
    let o = raw.trim().to_ascii_lowercase();
    let o = o.strip_suffix('/').unwrap_or(&o);
    let (scheme, rest) = o
        .split_once("://")
        .ok_or("must start with http:// or https://")?;
    let default_port = match scheme {
        "https" => "443",
        "http" => "80",
        _ => return Err("must start with http:// or https://".into()),
    };
    if rest.contains(['/', '?', '#', '@', '\\']) || rest.contains(char::is_whitespace) {
        return Err("must be only scheme, host and port, without a path, query or user".into());
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !host_ok {
        return Err("has no valid host name".into());
    }
    match port {
        None => Ok(format!("{scheme}://{host}")),
        Some(p) if p == default_port => Ok(format!("{scheme}://{host}")),
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && !p.starts_with('0') => Ok(format!("{scheme}://{host}:{n}")),
            _ => Err("has a port that is not a number from 1 to 65535".into()),
        },
    }
}

/// A website's allowed origins: each checked by [`origin`], duplicates (any case) dropped, at
/// most [`MAX_ORIGINS`]. The error names the bad entry.
pub fn origins(raw: &[String]) -> Result<Vec<String>, String> {
    if raw.len() > MAX_ORIGINS {
        return Err(format!("at most {MAX_ORIGINS} origins"));
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for (i, r) in raw.iter().enumerate() {
        let o = origin(r).map_err(|why| {
            format!("entry {i} \"{r}\" {why} (an origin looks like https://www.example.com)")
        })?;
        if !out.contains(&o) {
            out.push(o);
        }
    }
    Ok(out)
}
