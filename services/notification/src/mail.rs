//! E-mails by SMTP: missed chats to the department's managers, messages left forwarded to the
//! addresses a website names, and transcripts to shoppers. Each e-mail has a key saying what
//! it is (`sent_mails`), claimed before it is sent, so neither a redelivered event nor a second
//! replica sends it twice.

use showroom_telemetry::metrics::names;
use std::time::Duration;
use tracing::Instrument;

use chrono::{DateTime, Utc};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, Message, MultiPart, SinglePart};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{Address, AsyncTransport, Tokio1Executor};
use showroom_store::sqlx::{self, PgPool};

/// Why an e-mail could not be sent now.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The SMTP URL or the sender is not valid (never repeats the URL: it may hold a password).
    #[error("the SMTP settings are not valid: {0}")]
    Settings(&'static str),
    /// The recipient is not an address.
    #[error("{0:?} is not an e-mail address")]
    Recipient(String),
    /// The SMTP server refused or was away.
    #[error("smtp: {0}")]
    Smtp(String),
    /// Postgres failed.
    #[error("postgres: {0}")]
    Db(#[from] sqlx::Error),
}

/// A calendar entry attached to an e-mail (`text/calendar` with its iTIP method).
#[derive(Debug, Clone)]
pub struct CalendarPart {
    /// `REQUEST` or `CANCEL`.
    pub method: &'static str,
    /// The file's name (`appointment.ics`).
    pub filename: String,
    /// The RFC 5545 text.
    pub ics: String,
}

/// How long a replica's claim on an e-mail's key lasts: longer than the SMTP time-out (10 s).
pub const CLAIM_LEASE: Duration = Duration::from_secs(30);

/// The SMTP server and the sender.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    pool: PgPool,
}

impl Mailer {
    /// A mailer for `url` (`smtp://host:port`), sending as `from`.
    pub fn new(url: &str, from: &str, pool: PgPool) -> Result<Self, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|_| MailError::Settings("the SMTP URL"))?
            .timeout(Some(Duration::from_secs(10)))
            .build();
        let from: Mailbox = from
            .parse()
            .map_err(|_| MailError::Settings("the sender address"))?;
        Ok(Self {
            transport,
            from,
            pool,
        })
    }

    /// Sends a plain-text e-mail once per `key`, whichever replica asks: the key is claimed
    /// before the e-mail goes (`sent_mails.sending_until`, a lease of [`CLAIM_LEASE`]), marked
    /// sent after the SMTP server took it, and released if sending failed. Answers `false` when
    /// the key was sent already. While another replica holds the claim this waits for it to
    /// finish (sent: `false`; failed: it sends itself). A holder that died leaves a claim taken
    /// over when its lease ends; a crash between the hand-off and the mark may then send the
    /// e-mail again (at least once, never lost, never twice at the same time).
    pub async fn send_once(
        &self,
        key: &str,
        to: &str,
        subject: &str,
        body: String,
    ) -> Result<bool, MailError> {
        self.send_once_with(key, to, subject, body, None).await
    }

    /// [`Mailer::send_once`] with a calendar entry attached (an appointment's confirmation).
    pub async fn send_once_with(
        &self,
        key: &str,
        to: &str,
        subject: &str,
        body: String,
        calendar: Option<&CalendarPart>,
    ) -> Result<bool, MailError> {
        let address: Address = to
            .trim()
            .parse()
            .map_err(|_| MailError::Recipient(to.to_string()))?;
        let deadline = tokio::time::Instant::now() + CLAIM_LEASE + Duration::from_secs(1);
        loop {
            let claimed: Option<(bool,)> = sqlx::query_as(
                "INSERT INTO sent_mails (key, sending_until) \
                 VALUES ($1, now() + make_interval(secs => $2)) \
                 ON CONFLICT (key) DO UPDATE SET sending_until = EXCLUDED.sending_until \
                 WHERE sent_mails.sending_until < now() RETURNING true",
            )
            .bind(key)
            .bind(CLAIM_LEASE.as_secs_f64())
            .fetch_optional(&self.pool)
            .await?;
            if claimed.is_some() {
                break;
            }
            let state: Option<(Option<DateTime<Utc>>,)> =
                sqlx::query_as("SELECT sending_until FROM sent_mails WHERE key = $1")
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await?;
            match state {
                Some((None,)) => return Ok(false), // sent
                _ if tokio::time::Instant::now() >= deadline => {
                    return Err(MailError::Smtp(format!(
                        "{key} is being sent by another replica still"
                    )));
                }
                // Another replica is sending it (or just released it): look again.
                _ => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
        if let Err(e) = self.deliver_with(address, subject, body, calendar).await {
            sqlx::query("DELETE FROM sent_mails WHERE key = $1 AND sending_until IS NOT NULL")
                .bind(key)
                .execute(&self.pool)
                .await?;
            return Err(e);
        }
        sqlx::query("UPDATE sent_mails SET sending_until = NULL, sent_at = now() WHERE key = $1")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(true)
    }

    /// Hands one plain-text e-mail to the SMTP server, with no bookkeeping: for callers that
    /// record the key themselves, inside their own transaction (a shopper's transcript request,
    /// which is rate-limited under a lock).
    pub async fn deliver(&self, to: Address, subject: &str, body: String) -> Result<(), MailError> {
        self.deliver_with(to, subject, body, None).await
    }

    /// The sender's address (an appointment's ORGANIZER).
    pub fn from_address(&self) -> String {
        self.from.email.to_string()
    }

    async fn deliver_with(
        &self,
        to: Address,
        subject: &str,
        body: String,
        calendar: Option<&CalendarPart>,
    ) -> Result<(), MailError> {
        let subject: String = subject.chars().filter(|c| !c.is_control()).collect();
        let builder = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(subject);
        let message = match calendar {
            None => builder.header(ContentType::TEXT_PLAIN).body(body),
            Some(c) => {
                let kind = ContentType::parse(&format!(
                    "text/calendar; charset=utf-8; method={}",
                    c.method
                ))
                .map_err(|e| MailError::Smtp(e.to_string()))?;
                builder.multipart(
                    MultiPart::mixed()
                        .singlepart(SinglePart::plain(body))
                        .singlepart(Attachment::new(c.filename.clone()).body(c.ics.clone(), kind)),
                )
            }
        }
        .map_err(|e| MailError::Smtp(e.to_string()))?;
        let span = tracing::info_span!("smtp.send");
        let sent = self.transport.send(message).instrument(span).await;
        let outcome = if sent.is_ok() { "sent" } else { "failed" };
        metrics::counter!(names::EMAIL_ATTEMPTS, "purpose" => "notification", "outcome" => outcome)
            .increment(1);
        sent.map_err(|e| MailError::Smtp(e.to_string()))?;
        Ok(())
    }
}

/// `to` as an address we will write to: RFC 5321 syntax (lettre's parser), at most 254
/// characters, a dotted domain (a shopper's typo like `jane@gmail` is refused rather than
/// bounced later).
pub fn address(to: &str) -> Result<Address, MailError> {
    let to = to.trim();
    let bad = || MailError::Recipient(to.to_string());
    let address: Address = to.parse().map_err(|_| bad())?;
    let domain = address.domain();
    if to.len() > 254
        || domain.starts_with('[')
        || domain.split('.').count() < 2
        || domain.split('.').any(str::is_empty)
    {
        return Err(bad());
    }
    Ok(address)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_need_a_dotted_domain() {
        assert!(address(" jane@example.com ").is_ok());
        for bad in [
            "jane",
            "jane@example",
            "jane@.com",
            "jane@example..com",
            "a b@example.com",
            "",
        ] {
            assert!(address(bad).is_err(), "{bad}");
        }
        assert!(address(&format!("{}@example.com", "a".repeat(250))).is_err());
    }
}
