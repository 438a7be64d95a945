//! What happens that someone must hear of, and who hears it: desktop notices to agents
//! (coalesced per agent and chat), missed-chat e-mails to the department's managers, messages
//! left forwarded, transcripts mailed to shoppers once a chat has been quiet long enough, or at
//! once when they ask from the widget.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use chrono::Utc;
use showroom_bus::Bus;
use showroom_proto::bot::MessageLeft;
use showroom_proto::contact::Language;
use showroom_proto::conversation::{
    Conversation, ConversationEvent, ConversationEventKind, ConversationState, TransferState,
};
use showroom_proto::message::{AuthorKind, Message};
use showroom_proto::notification::{
    DesktopNotice, DesktopNotices, EmailTranscript, NoticeKind, NotificationPrefs,
    TRANSCRIPT_REQUESTS_PER_HOUR, TranscriptRequested, WebsiteNotifications,
};
use showroom_proto::{CommandError, Envelope, ErrorCode, v1};
use showroom_store::read;
use showroom_store::sqlx::{self, PgPool};
use uuid::Uuid;

use crate::mail::{self, MailError, Mailer};
use crate::marks::Marks;
use crate::settings;

/// Sends notices; shared by the consumers and the transcript sweep.
pub struct Notices {
    /// The bus, for desktop notices.
    pub bus: Bus,
    /// The database.
    pub pool: PgPool,
    /// The SMTP server.
    pub mailer: Mailer,
    /// At most one desktop notice per agent and chat within the coalescing time.
    pub marks: Marks,
    /// How long a chat is quiet before its transcript is mailed.
    pub transcript_after: Duration,
    /// The console's address, for links in e-mails.
    pub console_url: String,
}

fn shopper_name(c: &Conversation) -> String {
    named(c.shopper.name.as_deref())
}

/// "Maria at Showroom Honda": who a chat is with and where, as a notice's text.
fn shopper_at(c: &Conversation) -> String {
    format!("{} at {}", shopper_name(c), c.rooftop.name)
}

/// A shopper's name as notices show it ("A shopper" when they gave none).
fn named(name: Option<&str>) -> String {
    name.filter(|n| !n.trim().is_empty())
        .unwrap_or("A shopper")
        .to_string()
}

/// A desktop notice one agent may get about one chat, before their choices and the coalescing
/// decide.
struct Candidate {
    group: Uuid,
    agent: Uuid,
    kind: NoticeKind,
    conversation: Uuid,
    title: String,
    body: String,
}

/// The desktop notices a conversation event may give: a new chat to the agents offered it, a
/// transfer to the agents asked, a reassigned chat to its new agent.
fn news(group: Uuid, ev: &ConversationEvent) -> Vec<Candidate> {
    let c = &ev.conversation;
    let to = |agents: &[Uuid], kind: NoticeKind, title: String, body: String| -> Vec<Candidate> {
        agents
            .iter()
            .map(|&agent| Candidate {
                group,
                agent,
                kind,
                conversation: c.id,
                title: title.clone(),
                body: body.clone(),
            })
            .collect()
    };
    match (ev.kind, &ev.transfer) {
        (ConversationEventKind::Offered, _) => to(
            &ev.offered_to,
            NoticeKind::Incoming,
            format!("New chat · {}", c.department.label),
            shopper_at(c),
        ),
        (ConversationEventKind::Transferred, Some(t)) if t.state == TransferState::Requested => {
            let body = if t.note.trim().is_empty() {
                shopper_at(c)
            } else {
                t.note.clone()
            };
            to(
                &ev.offered_to,
                NoticeKind::Transfer,
                format!("Transfer from {}", t.from_agent.name),
                body,
            )
        }
        (ConversationEventKind::Transferred, Some(t)) if t.state == TransferState::Reassigned => {
            match &t.to_agent {
                Some(agent) => to(
                    &[agent.id],
                    NoticeKind::Assigned,
                    format!("Chat assigned to you by {}", t.from_agent.name),
                    shopper_at(c),
                ),
                None => Vec::new(),
            }
        }
        _ => Vec::new(),
    }
}

impl Notices {
    /// Sends these notices, except to agents who turned desktop notices off or were told about
    /// the same chat within the coalescing time: one read of the agents' choices and one
    /// round trip for their marks ([`Marks::take`]), however many agents and chats (an offer to
    /// many agents, a batch of messages), and one bus message per dealer group
    /// ([`DesktopNotices`]). Of two candidates for the same agent and chat, the first is the
    /// one sent.
    async fn desktop_all(&self, mut candidates: Vec<Candidate>) -> Result<(), sqlx::Error> {
        // One mark once: the first candidate for an agent and chat is the one sent.
        let mut seen = HashSet::new();
        candidates.retain(|c| seen.insert((c.agent, c.conversation)));
        if candidates.is_empty() {
            return Ok(());
        }
        let agents: Vec<Uuid> = candidates.iter().map(|c| c.agent).collect();
        let prefs = settings::prefs_of(&self.pool, &agents).await?;
        let choice = |a: &Uuid| prefs.get(a).copied().unwrap_or_default();
        candidates.retain(|c| choice(&c.agent).desktop);
        if candidates.is_empty() {
            return Ok(());
        }
        let pairs: Vec<(Uuid, Uuid)> = candidates
            .iter()
            .map(|c| (c.agent, c.conversation))
            .collect();
        let fresh = self.marks.take(&pairs).await;
        // One bus message per dealer group, not one per agent: an offer to 40 agents is one
        // message for each gateway holding the group's sockets to read, not 40.
        let mut by_group: BTreeMap<Uuid, Vec<DesktopNotice>> = BTreeMap::new();
        for (c, fresh) in candidates.into_iter().zip(fresh) {
            if !fresh {
                continue;
            }
            by_group.entry(c.group).or_default().push(DesktopNotice {
                agent_id: c.agent,
                kind: c.kind,
                conversation_id: c.conversation,
                title: c.title,
                body: c.body,
                sound: choice(&c.agent).sound,
                at: Utc::now(),
            });
        }
        for (group, mut notices) in by_group {
            while !notices.is_empty() {
                let rest = notices.split_off(notices.len().min(DesktopNotices::MOST));
                let some = std::mem::replace(&mut notices, rest);
                let env = Envelope::new(group, DesktopNotices::Many(some));
                if let Err(e) = self
                    .bus
                    .publish_signal(v1::notification_desktop(group), &env)
                    .await
                {
                    tracing::warn!(error = %e, "desktop notices not sent");
                }
            }
        }
        Ok(())
    }

    /// A batch of conversation events, as the consumer took them: the desktop notices of new
    /// chats offered, transfers asked and reassignments, all in one go
    /// ([`Notices::desktop_all`]), then each missed chat's e-mails. Harmless to run again:
    /// notices are coalesced and each e-mail is sent once per key.
    pub async fn on_conversations(
        &self,
        batch: &[Envelope<ConversationEvent>],
    ) -> Result<(), NoticeError> {
        let notices = batch
            .iter()
            .flat_map(|env| news(env.tenant, &env.data))
            .collect();
        self.desktop_all(notices).await?;
        for env in batch {
            if env.data.kind == ConversationEventKind::Missed {
                self.missed(env.tenant, &env.data.conversation).await?;
            }
        }
        Ok(())
    }

    /// A missed chat, by e-mail to the managers of its department who want e-mails.
    async fn missed(&self, group: Uuid, c: &Conversation) -> Result<(), NoticeError> {
        let managers: Vec<(Uuid, String)> = sqlx::query_as(
            "SELECT a.id, a.email FROM agents a JOIN agent_memberships m ON m.agent_id = a.id \
             LEFT JOIN notification_prefs p ON p.agent_id = a.id \
             WHERE m.department_id = $1 AND a.group_id = $2 AND a.role IN ('manager', 'admin') \
               AND COALESCE(p.email, true)",
        )
        .bind(c.department.id)
        .bind(group)
        .fetch_all(&self.pool)
        .await?;
        if managers.is_empty() {
            return Ok(());
        }
        let mut body = format!(
            "Nobody took a chat in time at {} ({}).\n\nShopper: {}\n",
            c.rooftop.name,
            c.department.label,
            shopper_name(c)
        );
        if let Some(contact) = &c.contact {
            if let Some(e) = &contact.email {
                body.push_str(&format!("E-mail: {e}\n"));
            }
            if let Some(p) = &contact.phone {
                body.push_str(&format!("Phone: {p}\n"));
            }
        } else {
            body.push_str("The shopper left no contact details.\n");
        }
        if let Some(v) = &c.vehicle {
            let car: Vec<String> = [
                v.year.map(|y| y.to_string()),
                v.make.clone(),
                v.model.clone(),
                v.trim.clone(),
            ]
            .into_iter()
            .flatten()
            .collect();
            if !car.is_empty() {
                body.push_str(&format!("Vehicle: {}\n", car.join(" ")));
            }
        }
        body.push_str(&format!(
            "Started: {}\n\nTranscript: {}#conversation={}\n",
            c.created_at.format("%Y-%m-%d %H:%M UTC"),
            self.console_url,
            c.id
        ));
        let subject = format!("Missed chat · {} · {}", c.rooftop.name, c.department.label);
        for (manager, email) in managers {
            self.mailer
                .send_once(
                    &format!("missed:{}:{manager}", c.id),
                    &email,
                    &subject,
                    body.clone(),
                )
                .await?;
        }
        Ok(())
    }

    /// A batch of transcript messages, as the consumer took them (several chats and dealer
    /// groups, in order): what the shopper wrote in an agent's chat becomes a desktop notice
    /// for that agent (coalesced), and a chat whose shopper gave an e-mail has its
    /// transcript's due time pushed back. One read of the chats' own rows, one round trip for
    /// the notices' marks and one write of the due times, for the whole batch: this runs for every
    /// message.
    pub async fn on_messages(&self, batch: &[Envelope<Message>]) -> Result<(), NoticeError> {
        let chats: Vec<(Uuid, Uuid)> = batch
            .iter()
            .map(|e| (e.tenant, e.data.conversation_id))
            .collect();
        let glances: HashMap<(Uuid, Uuid), read::Glance> = read::glances(&self.pool, &chats)
            .await?
            .into_iter()
            .map(|g| ((g.group_id, g.id), g))
            .collect();
        let mut notices = Vec::new();
        let mut due: Vec<(Uuid, Uuid)> = Vec::new();
        for env in batch {
            let (group, m) = (env.tenant, &env.data);
            let Some(c) = glances.get(&(group, m.conversation_id)) else {
                continue;
            };
            // Only what the shopper wrote since the agent took the chat: a message from before
            // (an answer to the Lead Gate, handled late) is in the transcript the agent opened.
            if m.author.kind == AuthorKind::Shopper
                && c.state() == ConversationState::Active
                && c.assigned_at.is_none_or(|at| m.at >= at)
                && let Some(agent) = c.agent_id
            {
                let name = named(c.shopper_name.as_deref());
                notices.push(Candidate {
                    group,
                    agent,
                    kind: NoticeKind::Message,
                    conversation: m.conversation_id,
                    title: format!("New message · {name}"),
                    body: m.plain_text().chars().take(140).collect(),
                });
            }
            if c.has_email {
                due.push((m.conversation_id, group));
            }
        }
        self.desktop_all(notices).await?;
        // One row once: an upsert may not touch a row twice.
        due.sort_unstable();
        due.dedup();
        if !due.is_empty() {
            let (ids, groups): (Vec<Uuid>, Vec<Uuid>) = due.into_iter().unzip();
            sqlx::query(
                "INSERT INTO transcript_mails (conversation_id, group_id, due_at) \
                 SELECT id, grp, now() + make_interval(secs => $3) \
                 FROM unnest($1::uuid[], $2::uuid[]) AS k(id, grp) \
                 ON CONFLICT (conversation_id) DO UPDATE SET due_at = EXCLUDED.due_at \
                 WHERE transcript_mails.sent_at IS NULL",
            )
            .bind(ids)
            .bind(groups)
            .bind(self.transcript_after.as_secs_f64())
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// A message left, forwarded to the addresses the website names.
    pub async fn on_message_left(&self, group: Uuid, m: &MessageLeft) -> Result<(), NoticeError> {
        let settings: WebsiteNotifications = settings::website(&self.pool, m.website_id).await?;
        if settings.forward_messages_to.is_empty() {
            return Ok(());
        }
        let mut body = format!(
            "A shopper left a message for {}{}.\n\nName: {} {}\nE-mail: {}\n",
            m.rooftop.name,
            m.department
                .as_ref()
                .map(|d| format!(" ({})", d.label))
                .unwrap_or_default(),
            m.contact.first_name,
            m.contact.last_name,
            m.contact.email.clone().unwrap_or_default(),
        );
        if let Some(p) = &m.contact.phone {
            body.push_str(&format!("Mobile: {p}\n"));
        }
        body.push_str(&format!(
            "Language: {}\n\n{}\n",
            m.language.as_str(),
            m.message
        ));
        for a in &m.answers {
            body.push_str(&format!("\n{}: {}", a.label, a.value));
        }
        let subject = format!("Message left · {}", m.rooftop.name);
        for to in &settings.forward_messages_to {
            self.mailer
                .send_once(
                    &format!("forward:{}:{to}", m.id),
                    to,
                    &subject,
                    body.clone(),
                )
                .await?;
        }
        let _ = group;
        Ok(())
    }

    /// Mails every transcript that is due: the chat quiet for the inactivity time, the
    /// shopper's e-mail known, the website's setting on; in the shopper's language.
    pub async fn send_due_transcripts(&self) -> Result<usize, NoticeError> {
        // Replicas share the due rows: each claims a batch no other holds (a lease, so a dead
        // replica's batch comes back), skipping rows another is claiming right now.
        let due: Vec<(Uuid, Uuid)> = sqlx::query_as(
            "WITH due AS (SELECT conversation_id FROM transcript_mails \
               WHERE sent_at IS NULL AND due_at <= now() \
                 AND (claimed_until IS NULL OR claimed_until < now()) \
               ORDER BY due_at LIMIT 50 FOR UPDATE SKIP LOCKED) \
             UPDATE transcript_mails t SET claimed_until = now() + interval '2 minutes' \
             FROM due WHERE t.conversation_id = due.conversation_id \
             RETURNING t.conversation_id, t.group_id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut sent = 0;
        for (id, group) in due {
            let Some(c) = read::conversation(&self.pool, group, id).await? else {
                continue;
            };
            let website = settings::website(&self.pool, c.website_id).await?;
            let email = c.contact.as_ref().and_then(|k| k.email.clone());
            if let (true, Some(email)) = (website.transcript_email, email) {
                let body = self.transcript(&c, i64::MAX).await?;
                let subject = transcript_subject(&c);
                match self
                    .mailer
                    .send_once(&format!("transcript:{id}"), &email, &subject, body)
                    .await
                {
                    Ok(_) => sent += 1,
                    Err(MailError::Recipient(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            sqlx::query("UPDATE transcript_mails SET sent_at = now() WHERE conversation_id = $1")
                .bind(id)
                .execute(&self.pool)
                .await?;
        }
        Ok(sent)
    }

    /// A shopper asked for the transcript by e-mail now (the widget's "Email me this chat").
    /// Sent once per chat, address and last message (`transcript-request:<chat>:<email>:<seq>`
    /// in `sent_mails`), so a retried request sends nothing twice; at most
    /// [`TRANSCRIPT_REQUESTS_PER_HOUR`] per chat in an hour. Requests for one chat are
    /// serialised by an advisory lock held in a transaction around the check, the SMTP hand-off
    /// and the record, so two tabs cannot both slip under the limit; it is one connection, held
    /// at most the SMTP time-out (10 s).
    pub async fn email_transcript(
        &self,
        group: Uuid,
        req: EmailTranscript,
    ) -> Result<TranscriptRequested, CommandError> {
        let to = mail::address(&req.email).map_err(|_| {
            CommandError::invalid_fields(
                [(
                    "email".to_string(),
                    "is not a complete e-mail address (like jane@example.com)".to_string(),
                )]
                .into_iter()
                .collect(),
            )
        })?;
        let email = to.to_string();
        let c = read::conversation(&self.pool, group, req.conversation_id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| CommandError::new(ErrorCode::NotFound, "no such conversation"))?;
        let upto = req.upto_seq.clamp(0, c.last_seq);
        if upto == 0 {
            return Err(CommandError::new(
                ErrorCode::NotAllowed,
                "this chat has no messages to send yet",
            ));
        }
        let body = self.transcript(&c, upto).await.map_err(unavailable)?;
        let subject = transcript_subject(&c);
        let prefix = format!("transcript-request:{}:", c.id);
        let key = format!("{prefix}{}:{upto}", email.to_lowercase());

        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('transcript-request'), hashtext($1))")
            .bind(c.id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        let sent: Option<(String,)> = sqlx::query_as("SELECT key FROM sent_mails WHERE key = $1")
            .bind(&key)
            .fetch_optional(&mut *tx)
            .await
            .map_err(unavailable)?;
        if sent.is_some() {
            return Ok(TranscriptRequested::AlreadySent { email });
        }
        let (count, wait): (i64, Option<f64>) = sqlx::query_as(
            "SELECT count(*), EXTRACT(EPOCH FROM min(sent_at) + interval '1 hour' - now())::float8 \
             FROM sent_mails WHERE starts_with(key, $1) AND sent_at > now() - interval '1 hour'",
        )
        .bind(&prefix)
        .fetch_one(&mut *tx)
        .await
        .map_err(unavailable)?;
        if count >= TRANSCRIPT_REQUESTS_PER_HOUR {
            return Ok(TranscriptRequested::RateLimited {
                retry_after_secs: wait.unwrap_or(3600.0).ceil().clamp(1.0, 3600.0) as u64,
            });
        }
        self.mailer.deliver(to, &subject, body).await.map_err(|e| {
            tracing::warn!(error = %e, conversation = %c.id, "transcript request not mailed");
            CommandError::new(
                ErrorCode::Unavailable,
                "the e-mail could not be sent just now; try again",
            )
        })?;
        sqlx::query("INSERT INTO sent_mails (key) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(&key)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(TranscriptRequested::Sent { email })
    }

    /// The transcript as plain text, in the chat's language, up to message `upto`.
    async fn transcript(&self, c: &Conversation, upto: i64) -> Result<String, sqlx::Error> {
        type Row = (
            String,
            Option<String>,
            String,
            Option<String>,
            chrono::DateTime<Utc>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT author_kind, author_name, body, file_name, created_at FROM messages \
             WHERE conversation_id = $1 AND seq <= $2 ORDER BY seq",
        )
        .bind(c.id)
        .bind(upto)
        .fetch_all(&self.pool)
        .await?;
        let (intro, you) = match c.language {
            Language::En => (format!("Here is your chat with {}.", c.rooftop.name), "You"),
            Language::Es => (
                format!("Aquí está su chat con {}.", c.rooftop.name),
                "Usted",
            ),
        };
        let mut out = format!("{intro}\n\n");
        for (kind, name, body, file, at) in rows {
            let body = showroom_proto::message::plain_text(&body, file.as_deref());
            let who = match kind.as_str() {
                "shopper" => you.to_string(),
                "system" => "·".to_string(),
                _ => name.unwrap_or_else(|| c.rooftop.name.clone()),
            };
            out.push_str(&format!("[{}] {who}: {body}\n", at.format("%H:%M")));
        }
        Ok(out)
    }
}

/// The transcript e-mail's subject, in the chat's language.
fn transcript_subject(c: &Conversation) -> String {
    match c.language {
        Language::En => format!("Your chat with {}", c.rooftop.name),
        Language::Es => format!("Su chat con {}", c.rooftop.name),
    }
}

/// A store failure, as the retryable refusal the requester sees (details only in the log).
fn unavailable(e: sqlx::Error) -> CommandError {
    tracing::error!(error = %e, "postgres failed");
    CommandError::new(ErrorCode::Unavailable, "notification store unavailable")
}

/// Why a notice could not be sent now (retried by the redelivered event or the next sweep).
#[derive(Debug, thiserror::Error)]
pub enum NoticeError {
    /// Postgres failed.
    #[error("postgres: {0}")]
    Db(#[from] sqlx::Error),
    /// Mail failed.
    #[error("mail: {0}")]
    Mail(#[from] MailError),
}

/// The defaults of an agent who set nothing.
pub fn default_prefs() -> NotificationPrefs {
    NotificationPrefs::default()
}
