//! E-mails by SMTP: missed chats to the department's managers, messages left forwarded to the
//! addresses a website names, and transcripts to shoppers. Each e-mail has a key saying what
//! it is (`sent_mails`), so a redelivered event never sends it twice.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
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

    /// Sends a plain-text e-mail once per `key`: a key already sent sends nothing. The key is
    /// recorded after the server took the e-mail, so a crash in between may send it again
    /// (at least once), never lose it.
    pub async fn send_once(
        &self,
        key: &str,
        to: &str,
        subject: &str,
        body: String,
    ) -> Result<bool, MailError> {
        let sent: Option<(String,)> = sqlx::query_as("SELECT key FROM sent_mails WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        if sent.is_some() {
            return Ok(false);
        }
        let address: Address = to
            .trim()
            .parse()
            .map_err(|_| MailError::Recipient(to.to_string()))?;
        self.deliver(address, subject, body).await?;
        sqlx::query("INSERT INTO sent_mails (key) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(true)
    }

    /// Hands one plain-text e-mail to the SMTP server, with no bookkeeping: for callers that
    /// record the key themselves, inside their own transaction (a shopper's transcript request,
    /// which is rate-limited under a lock).
    pub async fn deliver(&self, to: Address, subject: &str, body: String) -> Result<(), MailError> {
        let subject: String = subject.chars().filter(|c| !c.is_control()).collect();
        let message = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| MailError::Smtp(e.to_string()))?;
        self.transport
            .send(message)
            .await
            .map_err(|e| MailError::Smtp(e.to_string()))?;
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
