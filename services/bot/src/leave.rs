//! Messages left: the widget's leave-a-message form and dealers' own forms through REST. Each
//! is checked field by field, stored (`left_messages`, owned here) with the consent shown for
//! its phone number, and published as `bot.message_left` for lead-capture.
//!
//! Nothing is lost between the store and the bus: the row holds the event; it is published
//! right after the commit and marked; a relay publishes any row still unmarked (a crash in
//! between), under the same id, which JetStream deduplicates.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use showroom_bus::Bus;
use showroom_proto::bot::{LeaveMessage, LeftBecause, MessageLeft, MessageReceipt, TextKey};
use showroom_proto::contact::{Consent, Contact, Language};
use showroom_proto::conversation::{ConversationState, DepartmentRef, Named, OfflineReason};
use showroom_proto::{CommandError, Envelope, ErrorCode, v1};
use showroom_store::read;
use showroom_store::sqlx::{self, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::settings::db_error;
use crate::{forms, validate};
use showroom_proto::forms::{ContactField, FormKind};

/// Longest consent text or page address a form may send.
const MAX_URL: usize = 2000;

/// Checks, stores and publishes a message left.
pub async fn leave(
    bus: &Bus,
    pool: &PgPool,
    group: Uuid,
    cmd: LeaveMessage,
) -> Result<MessageReceipt, CommandError> {
    let site: Option<(Uuid, String, String)> = sqlx::query_as(
        "SELECT w.rooftop_id, r.name, r.country FROM websites w JOIN rooftops r ON r.id = w.rooftop_id \
         WHERE w.id = $1 AND w.group_id = $2",
    )
    .bind(cmd.website_id)
    .bind(group)
    .fetch_optional(pool)
    .await
    .map_err(db_error)?;
    let Some((rooftop_id, rooftop_name, country)) = site else {
        return Err(CommandError::new(ErrorCode::NotFound, "no such website"));
    };
    // A retry with the same key answers the first message.
    if let Some(key) = &cmd.idempotency_key
        && let Some(id) = existing(pool, cmd.website_id, key).await?
    {
        return Ok(MessageReceipt { id });
    }
    // The chat this form follows, when it is the shopper's own.
    let conversation = match (cmd.conversation_id, cmd.visitor_id) {
        (Some(c), Some(visitor)) => read::conversation(pool, group, c)
            .await
            .map_err(db_error)?
            .filter(|c| c.shopper.visitor_id == visitor && c.website_id == cmd.website_id),
        _ => None,
    };
    let mut form = cmd.form;
    let mut wrong: BTreeMap<String, String> = BTreeMap::new();
    // The website's own offline form: its answers fill the fields below.
    let mut answers = Vec::new();
    if let Some(given) = form.answers.take() {
        let Some(offline) = read::form(pool, cmd.website_id, FormKind::Offline)
            .await
            .map_err(db_error)?
        else {
            return Err(CommandError::invalid_fields(
                [(
                    "answers".to_string(),
                    "this website has no offline form".to_string(),
                )]
                .into_iter()
                .collect(),
            ));
        };
        let Some(visitor) = cmd.visitor_id else {
            return Err(CommandError::invalid_fields(
                [(
                    "answers".to_string(),
                    "the offline form is the widget's".to_string(),
                )]
                .into_iter()
                .collect(),
            ));
        };
        let target = forms::Target {
            website: cmd.website_id,
            visitor,
            kind: FormKind::Offline,
            country: &country,
        };
        let checked = forms::check(pool, &target, &offline, &given)
            .await?
            .map_err(CommandError::invalid_fields)?;
        let get = |c: ContactField| checked.contact.get(&c).cloned().unwrap_or_default();
        form.first_name = get(ContactField::FirstName);
        form.last_name = get(ContactField::LastName);
        form.email = get(ContactField::Email);
        form.message = get(ContactField::Message);
        form.phone = checked.contact.get(&ContactField::Phone).cloned();
        answers = checked.answers;
    }
    let mut field = |name: &str, r: Result<String, validate::Invalid>| match r {
        Ok(v) => Some(v),
        Err(e) => {
            wrong.insert(name.to_string(), e.to_string());
            None
        }
    };
    let first_name = field("first_name", validate::name(&form.first_name));
    let last_name = field("last_name", validate::name(&form.last_name));
    let email = field("email", validate::email(&form.email));
    let phone = match form
        .phone
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        None => None,
        Some(p) => field("phone", validate::phone(p, &country)),
    };
    let message = field("message", validate::message(&form.message));
    let language = match form.language.as_deref() {
        None => conversation
            .as_ref()
            .map(|c| c.language)
            .unwrap_or_default(),
        Some(l) => match Language::parse(l) {
            Some(l) => l,
            None => {
                wrong.insert("language".into(), "must be `en` or `es`".into());
                Language::En
            }
        },
    };
    let page_url = form
        .page_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty());
    if let Some(u) = page_url
        && (!(u.starts_with("https://") || u.starts_with("http://")) || u.len() > MAX_URL)
    {
        wrong.insert(
            "page_url".into(),
            format!("must be an http or https address of at most {MAX_URL} characters"),
        );
    }
    let vehicle = match form.vehicle.clone() {
        None => conversation.as_ref().and_then(|c| c.vehicle.clone()),
        Some(v) => match v.checked(chrono::Datelike::year(&Utc::now())) {
            Ok(v) => v,
            Err(e) => {
                wrong.insert("vehicle".into(), e);
                None
            }
        },
    };
    if let Some(c) = &form.consent
        && (c.text.trim().is_empty()
            || c.text.chars().count() > MAX_URL
            || c.version.trim().is_empty()
            || c.version.chars().count() > 100)
    {
        wrong.insert(
            "consent".into(),
            "needs the `text` shown (1 to 2000 characters) and its `version` (1 to 100)".into(),
        );
    }
    let departments: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, label FROM departments WHERE rooftop_id = $1")
            .bind(rooftop_id)
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
    let department = match form.department_id {
        None => conversation.as_ref().map(|c| c.department.clone()),
        Some(d) => match departments.iter().find(|(id, _)| *id == d) {
            Some((id, label)) => Some(DepartmentRef {
                id: *id,
                label: label.clone(),
            }),
            None => {
                wrong.insert(
                    "department_id".into(),
                    "is not a department of this website's dealership".into(),
                );
                None
            }
        },
    };
    if !wrong.is_empty() {
        return Err(CommandError::invalid_fields(wrong));
    }
    let (Some(first_name), Some(last_name), Some(email), Some(message)) =
        (first_name, last_name, email, message)
    else {
        return Err(CommandError::new(
            ErrorCode::Internal,
            "form check incomplete",
        ));
    };
    let now = Utc::now();
    let page_url = page_url
        .map(str::to_string)
        .or_else(|| conversation.as_ref().and_then(|c| c.page_url.clone()));
    // The consent shown with the phone: the dealer form's own, or (the widget's form) the bot's.
    let consent = match (&phone, form.consent, cmd.visitor_id) {
        (None, _, _) => None,
        (Some(_), Some(given), _) => Some(Consent {
            text: given.text.trim().to_string(),
            version: given.version.trim().to_string(),
            at: now,
            page_url: page_url.clone(),
            ip: cmd.ip.clone(),
            ip_source: cmd.ip_source,
        }),
        (Some(_), None, Some(_)) => {
            let settings = read::bot_settings(pool, cmd.website_id)
                .await
                .map_err(db_error)?;
            Some(Consent {
                text: showroom_proto::bot::fill(
                    settings.text(TextKey::Consent, language),
                    &[("rooftop", &rooftop_name)],
                ),
                version: settings.consent_version_tag(language),
                at: now,
                page_url: page_url.clone(),
                ip: cmd.ip.clone(),
                ip_source: cmd.ip_source,
            })
        }
        (Some(_), None, None) => None,
    };
    let trigger = if cmd.visitor_id.is_none() {
        LeftBecause::Rest
    } else if cmd.busy {
        LeftBecause::Busy
    } else {
        match conversation.as_ref().map(|c| (c.state, c.offline_reason)) {
            Some((ConversationState::Missed, _)) => LeftBecause::Missed,
            Some((ConversationState::Offline, Some(OfflineReason::AfterHours))) => {
                LeftBecause::AfterHours
            }
            Some((ConversationState::Offline, Some(OfflineReason::MaxSessions))) => {
                LeftBecause::MaxSessions
            }
            Some((ConversationState::Offline, Some(OfflineReason::WaitExpired))) => {
                LeftBecause::WaitExpired
            }
            Some((ConversationState::Offline, _)) => LeftBecause::NobodyAvailable,
            _ => LeftBecause::Form,
        }
    };
    let id = Uuid::now_v7();
    let event = MessageLeft {
        id,
        group_id: group,
        website_id: cmd.website_id,
        rooftop: Named {
            id: rooftop_id,
            name: rooftop_name,
        },
        department: department.clone(),
        conversation_id: conversation.as_ref().map(|c| c.id),
        trigger,
        contact: Contact {
            first_name,
            last_name,
            email: Some(email),
            phone,
            consent,
        },
        message,
        language,
        page_url,
        vehicle,
        answers,
        at: now,
    };
    let inserted: Option<(Uuid,)> = sqlx::query_as(
        "INSERT INTO left_messages (id, group_id, website_id, rooftop_id, department_id, conversation_id, \
            visitor_id, trigger, first_name, last_name, email, phone, consent, message, language, page_url, \
            vehicle, event, idempotency_key, created_at, answers) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21) \
         ON CONFLICT (website_id, idempotency_key) DO NOTHING RETURNING id",
    )
    .bind(id)
    .bind(group)
    .bind(cmd.website_id)
    .bind(rooftop_id)
    .bind(department.as_ref().map(|d| d.id))
    .bind(event.conversation_id)
    .bind(cmd.visitor_id)
    .bind(trigger.as_str())
    .bind(&event.contact.first_name)
    .bind(&event.contact.last_name)
    .bind(&event.contact.email)
    .bind(&event.contact.phone)
    .bind(event.contact.consent.as_ref().map(sqlx::types::Json))
    .bind(&event.message)
    .bind(language.as_str())
    .bind(&event.page_url)
    .bind(event.vehicle.as_ref().map(sqlx::types::Json))
    .bind(sqlx::types::Json(&event))
    .bind(&cmd.idempotency_key)
    .bind(now)
    .bind((!event.answers.is_empty()).then_some(sqlx::types::Json(&event.answers)))
    .fetch_optional(pool)
    .await
    .map_err(db_error)?;
    if inserted.is_none() {
        // A concurrent retry with the same key stored it first.
        let key = cmd.idempotency_key.as_deref().unwrap_or_default();
        let id = existing(pool, cmd.website_id, key)
            .await?
            .ok_or_else(|| CommandError::new(ErrorCode::Unavailable, "retry"))?;
        return Ok(MessageReceipt { id });
    }
    publish(bus, pool, &event).await;
    Ok(MessageReceipt { id })
}

async fn existing(pool: &PgPool, website: Uuid, key: &str) -> Result<Option<Uuid>, CommandError> {
    let found: Option<(Uuid,)> = sqlx::query_as(
        "SELECT id FROM left_messages WHERE website_id = $1 AND idempotency_key = $2",
    )
    .bind(website)
    .bind(key)
    .fetch_optional(pool)
    .await
    .map_err(db_error)?;
    Ok(found.map(|(id,)| id))
}

/// Publishes a stored message's event and marks it; a failure is left to the relay.
async fn publish(bus: &Bus, pool: &PgPool, event: &MessageLeft) {
    let env = Envelope {
        id: event.id,
        tenant: event.group_id,
        time: event.at,
        data: event,
    };
    if let Err(e) = bus
        .publish_event(v1::message_left(event.group_id), &env)
        .await
    {
        tracing::warn!(error = %e, id = %event.id, "message_left not published yet; the relay will");
        return;
    }
    if let Err(e) = sqlx::query("UPDATE left_messages SET published_at = now() WHERE id = $1")
        .bind(event.id)
        .execute(pool)
        .await
    {
        tracing::warn!(error = %e, "cannot mark a message left as published");
    }
}

/// Publishes, every second, the messages left that were stored but not published (a crash or
/// a bus outage in between).
pub async fn relay(bus: Bus, pool: PgPool, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        let rows: Result<Vec<(sqlx::types::Json<MessageLeft>,)>, _> = sqlx::query_as(
            "SELECT event FROM left_messages WHERE published_at IS NULL \
             AND created_at < now() - interval '2 seconds' ORDER BY created_at LIMIT 100",
        )
        .fetch_all(&pool)
        .await;
        match rows {
            Ok(rows) => {
                for (event,) in rows {
                    publish(&bus, &pool, &event.0).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "relay cannot read left_messages"),
        }
    }
}
