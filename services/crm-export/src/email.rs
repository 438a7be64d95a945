//! ADF e-mails over SMTP: a text/plain body holding only the XML, a subject with the
//! dealership's name, and a `Message-ID` made from the delivery id, so a resend (after a crash,
//! or a redelivery) is recognisably the same e-mail.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{Address, AsyncTransport, Tokio1Executor};
use uuid::Uuid;

use crate::answer::Answer;

/// The SMTP server and the sender.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    domain: String,
}

/// Why the mailer cannot be built (the URL is never repeated: it may hold a password).
#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    /// The SMTP URL is not one lettre reads.
    #[error(
        "the SMTP URL is not valid: use smtp://host:port, smtp://host:port?tls=required or smtps://host:port"
    )]
    Url,
    /// The sender is not an address.
    #[error("the sender {0:?} is not an e-mail address")]
    From(String),
}

impl Mailer {
    /// A mailer for `url`, sending as `from`, each conversation limited to `timeout`.
    pub fn new(url: &str, from: &str, timeout: Duration) -> Result<Self, MailerError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|_| MailerError::Url)?
            .timeout(Some(timeout))
            .build();
        let from: Mailbox = from
            .parse()
            .map_err(|_| MailerError::From(from.to_string()))?;
        let domain = from.email.domain().to_string();
        Ok(Self {
            transport,
            from,
            domain,
        })
    }

    /// The `Message-ID` of a delivery: the same on every attempt.
    pub fn message_id(&self, delivery: Uuid) -> String {
        format!("<{delivery}@{}>", self.domain)
    }

    /// Sends `xml` to `to` as the delivery's e-mail.
    pub async fn send(&self, delivery: Uuid, to: &str, subject: &str, xml: String) -> Answer {
        let to: Address = match to.parse() {
            Ok(a) => a,
            Err(_) => return Answer::permanent(None, "the destination's address is not valid"),
        };
        let message = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(one_line(subject))
            .message_id(Some(self.message_id(delivery)))
            .header(ContentType::TEXT_PLAIN)
            .body(xml);
        let message = match message {
            Ok(m) => m,
            Err(e) => return Answer::permanent(None, format!("cannot build the e-mail: {e}")),
        };
        match self.transport.send(message).await {
            Ok(response) => Answer::Delivered {
                code: response.code().to_string().parse().ok(),
            },
            Err(e) => {
                let code = e.status().and_then(|c| c.to_string().parse().ok());
                let error = if e.is_timeout() {
                    "the SMTP server did not answer in time".to_string()
                } else {
                    format!("SMTP: {e}")
                };
                if e.is_permanent() {
                    Answer::permanent(code, error)
                } else {
                    Answer::failed(code, error, None)
                }
            }
        }
    }
}

/// A subject on one line, at most 200 characters (control characters become spaces).
fn one_line(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_stay_on_one_line() {
        assert_eq!(one_line("Lead —\r\nBcc: x@y.z\t A"), "Lead — Bcc: x@y.z A");
    }

    // With lettre's connection pool, building a transport starts its pool's task: it needs a
    // Tokio runtime, as in the service.
    #[tokio::test]
    async fn message_ids_are_stable_per_delivery() {
        let m = Mailer::new(
            "smtp://127.0.0.1:2525",
            "Showroom <leads@showroom.example>",
            Duration::from_secs(1),
        )
        .unwrap();
        let id = Uuid::nil();
        assert_eq!(m.message_id(id), format!("<{id}@showroom.example>"));
        assert!(Mailer::new("ftp://x", "a@b.c", Duration::from_secs(1)).is_err());
        assert!(Mailer::new("smtp://x", "not an address", Duration::from_secs(1)).is_err());
    }
}
