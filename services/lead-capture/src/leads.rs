//! Making, merging and classifying leads. Each change is one transaction: the contact matched
//! (or created), the lead made or merged, its source recorded under a key (so a redelivered
//! event or a retried request finds its lead instead of making another), the change in the
//! history, and its CloudEvent in the outbox; the event is published after the commit.

use chrono::{DateTime, Utc};
use showroom_bus::{Bus, StoredEvent};
use showroom_proto::contact::{Consent, Language};
use showroom_proto::conversation::Named;
use showroom_proto::conversation::Vehicle;
use showroom_proto::forms::Answer;
use showroom_proto::lead::{
    Classification, ClassifyLead, CloudEvent, CreateLead, GetLead, LEAD_CREATED, LEAD_UPDATED,
    Lead, LeadChange, LeadOrigin, LeadWithHistory, LeadsOf,
};
use showroom_proto::{CommandError, ErrorCode, v1};
use showroom_runtime::outbox::Outbox;
pub(crate) use showroom_store::fault::db_error;
use showroom_store::read::{self, LeadFilter};
use showroom_store::sqlx::{self, PgConnection, PgPool};
use uuid::Uuid;

mod appointments;

/// What a source says a lead is.
#[derive(Debug, Clone)]
pub struct NewLead {
    /// The dealer group.
    pub group: Uuid,
    /// The website it came through (its lead settings), when known.
    pub website: Option<Uuid>,
    /// The dealership.
    pub rooftop: Uuid,
    /// The department.
    pub department: Option<Uuid>,
    /// Where it came from.
    pub origin: LeadOrigin,
    /// The source's key: one lead per key, however often it arrives.
    pub key: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// E-mail.
    pub email: Option<String>,
    /// E.164 phone.
    pub phone: Option<String>,
    /// The consent shown with the phone.
    pub consent: Option<Consent>,
    /// Their language.
    pub language: Language,
    /// The vehicle.
    pub vehicle: Option<Vehicle>,
    /// What they wrote.
    pub message: Option<String>,
    /// The chat.
    pub conversation: Option<Uuid>,
    /// The message left.
    pub message_id: Option<Uuid>,
    /// A website form's answers.
    pub form: Vec<Answer>,
    /// A first classification (an agent's lead).
    pub classification: Option<Classification>,
    /// The agent who made it, if one did.
    pub agent: Option<Uuid>,
}

/// Who a lead's source is about, as far as the group can tell before its contact is matched:
/// the e-mail (any case), else the phone, else `fallback` (the source's own key). Sources of one
/// person are made into leads one at a time (an advisory lock on it) and, from the bus, in the
/// order they came ([`lane`]).
pub fn person(group: Uuid, email: Option<&str>, phone: Option<&str>, fallback: &str) -> String {
    let who = email
        .map(str::to_lowercase)
        .or(phone.map(str::to_string))
        .unwrap_or_else(|| fallback.to_string());
    format!("{group}:{who}")
}

/// The bus lane of a source about [`person`]: one person's sources are handled in order.
pub fn lane(person: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    person.hash(&mut h);
    h.finish()
}

/// Makes and changes leads.
#[derive(Clone)]
pub struct Leads {
    pub(crate) bus: Bus,
    pub(crate) pool: PgPool,
    console_url: String,
}

impl Leads {
    /// Over the bus (to publish) and the database; `console_url` makes transcript links.
    pub fn new(bus: Bus, pool: PgPool, console_url: String) -> Self {
        Self {
            bus,
            pool,
            console_url,
        }
    }

    /// Makes a lead, or merges it into the contact's open lead at the same rooftop within the
    /// website's dedupe window. A key seen before answers its lead unchanged.
    pub async fn make(&self, n: NewLead) -> Result<Lead, CommandError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let result: Result<(Uuid, Option<StoredEvent>), sqlx::Error> = async {
            // One source at a time per contact-ish key, so two sources of one person do not
            // make two leads side by side.
            let person = person(n.group, n.email.as_deref(), n.phone.as_deref(), &n.key);
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 13))")
                .bind(person)
                .execute(&mut *tx)
                .await?;
            if let Some((lead,)) = sqlx::query_as::<_, (Uuid,)>(
                "SELECT lead_id FROM lead_sources WHERE source_key = $1",
            )
            .bind(&n.key)
            .fetch_optional(&mut *tx)
            .await?
            {
                return Ok((lead, None));
            }
            let (match_by, dedupe_hours): (String, i32) = match n.website {
                Some(w) => sqlx::query_as(
                    "SELECT match_by, dedupe_hours FROM lead_settings WHERE website_id = $1",
                )
                .bind(w)
                .fetch_optional(&mut *tx)
                .await?
                .unwrap_or(("email_then_phone".into(), 24)),
                None => ("email_then_phone".into(), 24),
            };
            let contact = self.contact(&mut tx, &n, &match_by).await?;
            let open: Option<(Uuid,)> = sqlx::query_as(
                "SELECT id FROM leads WHERE contact_id = $1 AND rooftop_id = $2 \
                 AND created_at > now() - make_interval(hours => $3) ORDER BY created_at DESC LIMIT 1 FOR UPDATE",
            )
            .bind(contact)
            .bind(n.rooftop)
            .bind(dedupe_hours)
            .fetch_optional(&mut *tx)
            .await?;
            let (lead, kind, what) = match open {
                Some((lead,)) => {
                    sqlx::query(
                        "UPDATE leads SET message = CASE WHEN $2::text IS NULL THEN message \
                           WHEN message IS NULL THEN $2 ELSE message || E'\\n\\n' || $2 END, \
                         vehicle = COALESCE(vehicle, $3), conversation_id = COALESCE(conversation_id, $4), \
                         department_id = COALESCE(department_id, $5), \
                         form = CASE WHEN jsonb_array_length($6) > 0 THEN form || $6 ELSE form END, \
                         updated_at = now(), version = version + 1 WHERE id = $1",
                    )
                    .bind(lead)
                    .bind(&n.message)
                    .bind(n.vehicle.as_ref().map(sqlx::types::Json))
                    .bind(n.conversation)
                    .bind(n.department)
                    .bind(sqlx::types::Json(&n.form))
                    .execute(&mut *tx)
                    .await?;
                    (lead, LEAD_UPDATED, "merged")
                }
                None => {
                    let lead = Uuid::now_v7();
                    sqlx::query(
                        "INSERT INTO leads (id, group_id, rooftop_id, department_id, contact_id, origin, conversation_id, \
                           vehicle, message, language, form, classification) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                    )
                    .bind(lead)
                    .bind(n.group)
                    .bind(n.rooftop)
                    .bind(n.department)
                    .bind(contact)
                    .bind(n.origin.as_str())
                    .bind(n.conversation)
                    .bind(n.vehicle.as_ref().map(sqlx::types::Json))
                    .bind(&n.message)
                    .bind(n.language.as_str())
                    .bind(sqlx::types::Json(&n.form))
                    .bind(sqlx::types::Json(n.classification.clone().unwrap_or_default()))
                    .execute(&mut *tx)
                    .await?;
                    (lead, LEAD_CREATED, "created")
                }
            };
            sqlx::query(
                "INSERT INTO lead_sources (source_key, lead_id, origin, conversation_id, message_id) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&n.key)
            .bind(lead)
            .bind(n.origin.as_str())
            .bind(n.conversation)
            .bind(n.message_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO lead_changes (lead_id, group_id, agent_id, what, after) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(lead)
            .bind(n.group)
            .bind(n.agent)
            .bind(what)
            .bind(n.classification.as_ref().map(sqlx::types::Json))
            .execute(&mut *tx)
            .await?;
            let event = self.stage(&mut tx, n.group, lead, kind).await?;
            Ok((lead, Some(event)))
        }
        .await;
        let (lead, event) = result.map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        if let Some(e) = event {
            Outbox::Leads.publish(&self.bus, &self.pool, &[e]).await;
        }
        self.get_lead(n.group, lead).await
    }

    /// Finds the contact by the website's rule (e-mail, phone, or both in an order), filling in
    /// what it lacked; or creates it.
    async fn contact(
        &self,
        tx: &mut PgConnection,
        n: &NewLead,
        match_by: &str,
    ) -> Result<Uuid, sqlx::Error> {
        let email = n.email.as_deref();
        let phone = n.phone.as_deref();
        let found = match match_by {
            "email" => find(tx, n.group, By::Email, email).await?,
            "phone" => find(tx, n.group, By::Phone, phone).await?,
            "phone_then_email" => match find(tx, n.group, By::Phone, phone).await? {
                Some(c) => Some(c),
                None => find(tx, n.group, By::Email, email).await?,
            },
            _ => match find(tx, n.group, By::Email, email).await? {
                Some(c) => Some(c),
                None => find(tx, n.group, By::Phone, phone).await?,
            },
        };
        if let Some(id) = found {
            // Fill what the contact lacked; an e-mail another contact holds stays there.
            sqlx::query(
                "UPDATE contacts SET \
                   email = CASE WHEN email IS NULL AND NOT EXISTS (SELECT 1 FROM contacts o WHERE o.group_id = $2 AND lower(o.email) = lower($3)) \
                           THEN $3 ELSE email END, \
                   phone = COALESCE(phone, $4), \
                   consent = CASE WHEN $5::jsonb IS NOT NULL THEN $5 ELSE consent END, \
                   language = $6, updated_at = now() WHERE id = $1",
            )
            .bind(id)
            .bind(n.group)
            .bind(&n.email)
            .bind(&n.phone)
            .bind(n.consent.as_ref().map(sqlx::types::Json))
            .bind(n.language.as_str())
            .execute(&mut *tx)
            .await?;
            return Ok(id);
        }
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO contacts (id, group_id, first_name, last_name, email, phone, language, consent) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(n.group)
        .bind(&n.first_name)
        .bind(&n.last_name)
        .bind(&n.email)
        .bind(&n.phone)
        .bind(n.language.as_str())
        .bind(n.consent.as_ref().map(sqlx::types::Json))
        .execute(&mut *tx)
        .await?;
        Ok(id)
    }

    /// Writes the lead's event to the outbox in the change's transaction.
    pub(crate) async fn stage(
        &self,
        tx: &mut PgConnection,
        group: Uuid,
        lead: Uuid,
        kind: &str,
    ) -> Result<StoredEvent, sqlx::Error> {
        let now = read::lead(&mut *tx, group, lead, &self.console_url)
            .await?
            .ok_or(sqlx::Error::RowNotFound)?;
        let event = CloudEvent::lead(Uuid::now_v7(), kind, now);
        let subject = if kind == LEAD_CREATED {
            v1::lead_created(group)
        } else {
            v1::lead_updated(group)
        };
        let stored = StoredEvent::json(event.id, subject, &event)
            .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        Outbox::Leads
            .write(tx, std::slice::from_ref(&stored))
            .await?;
        Ok(stored)
    }

    /// A lead of the group.
    pub async fn get_lead(&self, group: Uuid, id: Uuid) -> Result<Lead, CommandError> {
        read::lead(&self.pool, group, id, &self.console_url)
            .await
            .map_err(db_error)?
            .ok_or_else(|| CommandError::new(ErrorCode::NotFound, "no such lead"))
    }

    /// A lead with who changed what.
    pub async fn with_history(
        &self,
        group: Uuid,
        _request: Uuid,
        q: GetLead,
    ) -> Result<LeadWithHistory, CommandError> {
        let id = q.lead_id;
        let lead = self.get_lead(group, id).await?;
        type Row = (
            DateTime<Utc>,
            Option<Uuid>,
            Option<String>,
            String,
            Option<sqlx::types::Json<Classification>>,
            Option<sqlx::types::Json<Classification>>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT c.at, c.agent_id, a.first_name || ' ' || a.last_name, c.what, c.before, c.after \
             FROM lead_changes c LEFT JOIN agents a ON a.id = c.agent_id WHERE c.lead_id = $1 ORDER BY c.id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        let history = rows
            .into_iter()
            .map(|(at, agent, name, what, before, after)| LeadChange {
                at,
                agent: agent.zip(name).map(|(id, name)| Named { id, name }),
                what,
                before: before.map(|b| b.0),
                after: after.map(|a| a.0),
            })
            .collect();
        Ok(LeadWithHistory { lead, history })
    }

    /// The leads a chat made or was merged into; `not_found` for a chat that is not the
    /// group's (rather than an empty list, which would say nothing about the id).
    pub async fn of_conversation(
        &self,
        group: Uuid,
        _request: Uuid,
        q: LeadsOf,
    ) -> Result<Vec<Lead>, CommandError> {
        read::conversation(&self.pool, group, q.conversation_id)
            .await
            .map_err(db_error)?
            .ok_or_else(|| CommandError::new(ErrorCode::NotFound, "no such conversation"))?;
        read::leads(
            &self.pool,
            group,
            LeadFilter::Conversation(q.conversation_id),
            100,
            &self.console_url,
        )
        .await
        .map_err(db_error)
    }

    /// An agent's "create lead" on a chat of the group (open or closed): the chat's contact,
    /// with what the agent corrected or added. `key` makes a retried request make one lead.
    pub async fn create(
        &self,
        group: Uuid,
        key: Uuid,
        cmd: CreateLead,
    ) -> Result<Lead, CommandError> {
        let conv = read::conversation(&self.pool, group, cmd.conversation_id)
            .await
            .map_err(db_error)?
            .ok_or_else(|| CommandError::new(ErrorCode::NotFound, "no such conversation"))?;
        let known = conv.contact.clone().unwrap_or_default();
        let pick = |given: &Option<String>, had: &str| {
            given
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| had.to_string())
        };
        let first_name = pick(&cmd.first_name, &known.first_name);
        let last_name = pick(&cmd.last_name, &known.last_name);
        let email = cmd
            .email
            .clone()
            .map(|e| e.trim().to_string())
            .filter(|e| !e.is_empty())
            .or(known.email.clone());
        let phone = cmd
            .phone
            .clone()
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .or(known.phone.clone());
        let mut wrong = std::collections::BTreeMap::new();
        if first_name.trim().is_empty() {
            wrong.insert(
                "first_name".to_string(),
                "is required (the chat has none)".to_string(),
            );
        }
        if last_name.trim().is_empty() {
            wrong.insert(
                "last_name".to_string(),
                "is required (the chat has none)".to_string(),
            );
        }
        if email.is_none() && phone.is_none() {
            wrong.insert(
                "email".to_string(),
                "an e-mail or a phone is required".to_string(),
            );
        }
        if let Some(e) = &email
            && (!e.contains('@') || e.len() > 254)
        {
            wrong.insert("email".to_string(), "is not an e-mail address".to_string());
        }
        if let Some(p) = &phone
            && !(p.starts_with('+') && p.len() <= 16 && p[1..].chars().all(|c| c.is_ascii_digit()))
        {
            wrong.insert(
                "phone".to_string(),
                "must be in E.164 (+13125552368)".to_string(),
            );
        }
        if let Some(c) = &cmd.classification
            && let Err((field, problem)) = c.check()
        {
            wrong.insert(format!("classification.{field}"), problem);
        }
        if !wrong.is_empty() {
            return Err(CommandError::invalid_fields(wrong));
        }
        let same_phone = phone == known.phone;
        self.make(NewLead {
            group,
            website: Some(conv.website_id),
            rooftop: conv.rooftop.id,
            department: Some(conv.department.id),
            origin: LeadOrigin::Agent,
            key: format!("agent:{key}"),
            first_name,
            last_name,
            email,
            consent: if same_phone { known.consent } else { None },
            phone,
            language: conv.language,
            vehicle: conv.vehicle.clone(),
            message: None,
            conversation: Some(conv.id),
            message_id: None,
            form: conv.form.clone(),
            classification: cmd.classification,
            agent: Some(cmd.agent_id),
        })
        .await
    }

    /// Replaces a lead's classification; the change is in its history and published.
    pub async fn classify(
        &self,
        group: Uuid,
        _request: Uuid,
        cmd: ClassifyLead,
    ) -> Result<Lead, CommandError> {
        cmd.classification.check().map_err(|(field, problem)| {
            CommandError::invalid_fields([(field, problem)].into_iter().collect())
        })?;
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let result: Result<Option<StoredEvent>, sqlx::Error> = async {
            let before: Option<(sqlx::types::Json<Classification>,)> = sqlx::query_as(
                "SELECT classification FROM leads WHERE id = $1 AND group_id = $2 FOR UPDATE",
            )
            .bind(cmd.lead_id)
            .bind(group)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((before,)) = before else {
                return Ok(None);
            };
            if before.0 == cmd.classification {
                return Ok(None);
            }
            sqlx::query(
                "UPDATE leads SET classification = $2, updated_at = now(), version = version + 1 WHERE id = $1",
            )
            .bind(cmd.lead_id)
            .bind(sqlx::types::Json(&cmd.classification))
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO lead_changes (lead_id, group_id, agent_id, what, before, after) VALUES ($1, $2, $3, 'classified', $4, $5)",
            )
            .bind(cmd.lead_id)
            .bind(group)
            .bind(cmd.agent_id)
            .bind(&before)
            .bind(sqlx::types::Json(&cmd.classification))
            .execute(&mut *tx)
            .await?;
            Ok(Some(self.stage(&mut tx, group, cmd.lead_id, LEAD_UPDATED).await?))
        }
        .await;
        let event = result.map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        if let Some(e) = event {
            Outbox::Leads.publish(&self.bus, &self.pool, &[e]).await;
        }
        self.get_lead(group, cmd.lead_id).await
    }
}

/// What a contact is matched by.
#[derive(Clone, Copy)]
enum By {
    Email,
    Phone,
}

/// The group's contact with this e-mail (any case) or phone, locked for the change.
async fn find(
    tx: &mut PgConnection,
    group: Uuid,
    by: By,
    value: Option<&str>,
) -> Result<Option<Uuid>, sqlx::Error> {
    let Some(value) = value else {
        return Ok(None);
    };
    let sql = match by {
        By::Email => {
            "SELECT id FROM contacts WHERE group_id = $1 AND lower(email) = lower($2) LIMIT 1 FOR UPDATE"
        }
        By::Phone => {
            "SELECT id FROM contacts WHERE group_id = $1 AND phone = $2 ORDER BY created_at LIMIT 1 FOR UPDATE"
        }
    };
    let row: Option<(Uuid,)> = sqlx::query_as(sql)
        .bind(group)
        .bind(value)
        .fetch_optional(&mut *tx)
        .await?;
    Ok(row.map(|(id,)| id))
}
