//! The Lead Gate: before an agent is sought, the bot asks the department (when the shopper
//! has not chosen one), first name, last name, and an e-mail or a mobile number, checks each
//! answer, asks again with a specific reason when it is wrong, then hands the chat to the
//! router with what it collected.
//!
//! The shopper answers in the chat itself: their messages are in the transcript (durable
//! before they were acknowledged), and the bot follows them. Where a chat stands is a
//! `gate_sessions` row, locked while a chat is advanced, so replicas and redelivered events
//! never answer twice; every message the bot posts has an id derived from what it answers, so
//! a retry after a crash posts nothing new. A sweep picks up whatever an event did not.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use showroom_bus::Bus;
use showroom_proto::bot::{BotSettings, TextKey, fill};
use showroom_proto::contact::{AddressSource, Consent, Contact, Language};
use showroom_proto::conversation::{
    Conversation, ConversationCommand, ConversationState, RouteConversation,
};
use showroom_proto::message::{Author, AuthorKind, Message, PostMessage};
use showroom_proto::trade_in::TradeIn;
use showroom_proto::{CommandError, Envelope, ErrorCode, v1};
use showroom_store::read;
use showroom_store::sqlx::{self, PgPool};
use uuid::Uuid;

use crate::trade_in;
use crate::validate::{self, Invalid};

/// How long a request to the router or the gateway may keep retrying.
const REQUEST_WITHIN: Duration = Duration::from_secs(10);

/// Why a chat could not be advanced now (it is tried again by the next event or the sweep).
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// Postgres failed.
    #[error("postgres: {0}")]
    Db(#[from] sqlx::Error),
    /// The bus failed.
    #[error("bus: {0}")]
    Bus(#[from] showroom_bus::BusError),
    /// The router or the gateway refused.
    #[error("refused: {0}")]
    Refused(#[from] CommandError),
}

/// The question a chat is at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Department,
    FirstName,
    LastName,
    Contact,
    /// The trade-in's questions (only when the shopper's interest is a trade-in).
    TradeVehicle,
    TradeMileage,
    TradeCondition,
    TradeVin,
    Done,
}

impl Step {
    fn as_str(self) -> &'static str {
        match self {
            Self::Department => "department",
            Self::FirstName => "first_name",
            Self::LastName => "last_name",
            Self::Contact => "contact",
            Self::TradeVehicle => "trade_vehicle",
            Self::TradeMileage => "trade_mileage",
            Self::TradeCondition => "trade_condition",
            Self::TradeVin => "trade_vin",
            Self::Done => "done",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "department" => Self::Department,
            "first_name" => Self::FirstName,
            "last_name" => Self::LastName,
            "contact" => Self::Contact,
            "trade_vehicle" => Self::TradeVehicle,
            "trade_mileage" => Self::TradeMileage,
            "trade_condition" => Self::TradeCondition,
            "trade_vin" => Self::TradeVin,
            _ => Self::Done,
        }
    }
}

/// What was answered so far, each answer already checked.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Answers {
    #[serde(default)]
    department_id: Option<Uuid>,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    consent: Option<Consent>,
    /// The trade-in so far (each answer checked as it comes).
    #[serde(default)]
    trade_in: Option<TradeIn>,
    /// The VIN question was answered (with a VIN, or skipped).
    #[serde(default)]
    trade_vin_done: bool,
}

/// What the bot needs to know about a chat's website and dealership.
struct Context {
    /// The shopper chose no department and there is more than one to choose from.
    needs_department: bool,
    /// The shopper's interest (a pre-chat form's `interest` variable) is a trade-in.
    trade_in: bool,
    settings: BotSettings,
    lang: Language,
    rooftop: String,
    country: String,
    departments: Vec<(Uuid, String)>,
    client_ip: Option<String>,
    /// How `client_ip` was worked out.
    client_ip_source: Option<AddressSource>,
}

impl Context {
    fn text(&self, key: TextKey, extra: &[(&str, &str)]) -> String {
        let options = self
            .departments
            .iter()
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let mut values = vec![
            ("bot", self.settings.name(self.lang)),
            ("rooftop", self.rooftop.as_str()),
            ("options", options.as_str()),
            ("country", self.country.as_str()),
        ];
        values.extend_from_slice(extra);
        fill(self.settings.text(key, self.lang), &values)
    }
}

/// Runs the Lead Gate for every chat in state `bot`.
#[derive(Clone)]
pub struct Gate {
    bus: Bus,
    pool: PgPool,
}

impl Gate {
    /// A gate over the bus (to post messages and ask the router) and the database.
    pub fn new(bus: Bus, pool: PgPool) -> Self {
        Self { bus, pool }
    }

    /// Of these chats (`(group, id)`), those the gate has a say in (state `bot`), each once, in
    /// the order given: one read of their own rows for a whole batch of shopper messages.
    pub async fn in_bot(&self, chats: &[(Uuid, Uuid)]) -> Result<Vec<(Uuid, Uuid)>, GateError> {
        let bot: HashSet<(Uuid, Uuid)> = read::glances(&self.pool, chats)
            .await?
            .into_iter()
            .filter(|g| g.state() == ConversationState::Bot)
            .map(|g| (g.group_id, g.id))
            .collect();
        let mut seen = HashSet::new();
        Ok(chats
            .iter()
            .copied()
            .filter(|c| bot.contains(c) && seen.insert(*c))
            .collect())
    }

    /// Brings a chat up to date: greets it the first time, answers every shopper message not
    /// answered yet, and routes it once the gate is done. Harmless to call again at any time.
    pub async fn advance(&self, group: Uuid, id: Uuid) -> Result<(), GateError> {
        let Some(conv) = read::conversation(&self.pool, group, id).await? else {
            return Ok(());
        };
        if conv.state != ConversationState::Bot {
            return Ok(());
        }
        let ctx = self.context(&conv).await?;
        // What a pre-chat form already told us is not asked again.
        let prefilled = self.prefilled(id).await?;
        // A form that filled the contact skips the gate entirely, trade-in questions included.
        let first = if next_question(&prefilled, ctx.needs_department, false) == Step::Done {
            Step::Done
        } else {
            next_step(&prefilled, &ctx)
        };
        let mut tx = self.pool.begin().await?;
        let created: Option<(Uuid,)> = sqlx::query_as(
            "INSERT INTO gate_sessions (conversation_id, group_id, step, answers) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (conversation_id) DO NOTHING RETURNING conversation_id",
        )
        .bind(id)
        .bind(group)
        .bind(first.as_str())
        .bind(sqlx::types::Json(&prefilled))
        .fetch_optional(&mut *tx)
        .await?;
        if created.is_some() && first != Step::Done {
            self.post(
                group,
                &conv,
                &ctx,
                "gate-greeting",
                ctx.text(TextKey::Greeting, &[]),
            )
            .await?;
            for (i, text) in ask(first, &ctx, &prefilled).into_iter().enumerate() {
                self.post(group, &conv, &ctx, &format!("gate-ask-{i}"), text)
                    .await?;
            }
        }
        let (step, answers, handled): (String, sqlx::types::Json<Answers>, i64) =
            sqlx::query_as(
                "SELECT step, answers, handled_seq FROM gate_sessions WHERE conversation_id = $1 FOR UPDATE",
            )
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let mut step = Step::parse(&step);
        let mut answers = answers.0;
        let mut handled = handled;
        if conv.department_pending && ctx.departments.len() == 1 {
            answers.department_id = Some(ctx.departments[0].0);
        }
        // A file sent without a caption answers nothing: it waits for the agent.
        let unanswered: Vec<(i64, String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT seq, body, created_at FROM messages WHERE conversation_id = $1 \
             AND author_kind = 'shopper' AND seq > $2 AND (file_id IS NULL OR body <> '') \
             ORDER BY seq",
        )
        .bind(id)
        .bind(handled)
        .fetch_all(&mut *tx)
        .await?;
        for (seq, text, at) in unanswered {
            if step == Step::Done {
                // Anything written after the last answer waits for the agent.
                handled = seq;
                continue;
            }
            let (next, replies) = answer(step, &text, at, &conv, &ctx, &mut answers);
            for (i, reply) in replies.into_iter().enumerate() {
                self.post(group, &conv, &ctx, &format!("gate-{seq}-{i}"), reply)
                    .await?;
            }
            step = next;
            handled = seq;
        }
        sqlx::query(
            "UPDATE gate_sessions SET step = $2, answers = $3, handled_seq = $4, updated_at = now() \
             WHERE conversation_id = $1",
        )
        .bind(id)
        .bind(step.as_str())
        .bind(sqlx::types::Json(&answers))
        .bind(handled)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        // Routed outside the transaction: the router locks the conversation, which this
        // transaction's session row holds a key-share lock on. A failure here is retried by
        // the sweep (the session is `done`, the chat still with the bot); routing twice is
        // harmless.
        if step == Step::Done {
            if let Some(t) = answers.trade_in.clone() {
                match trade_in::store(&self.bus, group, conv.id, t).await {
                    // Each answer was checked as it came; a trade-in lead-capture still refuses
                    // must not keep the shopper from an agent (the chat shows the answers).
                    Err(GateError::Refused(e)) if e.code == ErrorCode::BadRequest => {
                        tracing::warn!(conversation = %conv.id, error = %e, "trade-in refused; routing without it");
                    }
                    other => other?,
                }
            }
            self.route(group, &conv, &ctx, &answers).await?;
        }
        Ok(())
    }

    /// Hands the chat to the router; says the online message when it waits for an agent.
    async fn route(
        &self,
        group: Uuid,
        conv: &Conversation,
        ctx: &Context,
        answers: &Answers,
    ) -> Result<(), GateError> {
        let contact = Contact {
            first_name: answers.first_name.clone().unwrap_or_default(),
            last_name: answers.last_name.clone().unwrap_or_default(),
            email: answers.email.clone(),
            phone: answers.phone.clone(),
            consent: answers.consent.clone(),
        };
        let first_name = contact.first_name.clone();
        let cmd = RouteConversation {
            conversation_id: conv.id,
            department_id: answers.department_id,
            contact,
            variables: BTreeMap::new(),
        };
        let env = Envelope::new(group, cmd);
        let routed: Conversation = self
            .bus
            .request_retrying(
                v1::conversation_command(group, ConversationCommand::Route),
                &env,
                REQUEST_WITHIN,
            )
            .await??;
        if routed.state == ConversationState::Incoming {
            let text = ctx.text(TextKey::Online, &[("first_name", &first_name)]);
            self.post(group, &routed, ctx, "gate-online", text).await?;
        }
        Ok(())
    }

    /// The contact a pre-chat form filled for this chat, if any.
    async fn prefilled(&self, id: Uuid) -> Result<Answers, GateError> {
        let row: Option<(sqlx::types::Json<serde_json::Value>,)> = sqlx::query_as(
            "SELECT fs.contact FROM conversations c JOIN form_submissions fs ON fs.id = c.form_id WHERE c.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some((contact,)) = row else {
            return Ok(Answers::default());
        };
        let field = |k: &str| {
            contact.0["fields"][k]
                .as_str()
                .map(str::to_string)
                .filter(|s| !s.is_empty())
        };
        Ok(Answers {
            department_id: None,
            first_name: field("first_name"),
            last_name: field("last_name"),
            email: field("email"),
            phone: field("phone"),
            consent: serde_json::from_value(contact.0["consent"].clone()).ok(),
            trade_in: None,
            trade_vin_done: false,
        })
    }

    async fn context(&self, conv: &Conversation) -> Result<Context, GateError> {
        let settings = read::bot_settings(&self.pool, conv.website_id).await?;
        let (rooftop, country, client_ip, source, interest): (
            String,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
        ) = sqlx::query_as(
            "SELECT r.name, r.country, c.client_ip, c.client_ip_source, c.variables->>'interest' \
             FROM conversations c JOIN rooftops r ON r.id = c.rooftop_id WHERE c.id = $1",
        )
        .bind(conv.id)
        .fetch_one(&self.pool)
        .await?;
        let departments: Vec<(Uuid, String)> = sqlx::query_as(
            "SELECT id, label FROM departments WHERE rooftop_id = $1 ORDER BY position, label",
        )
        .bind(conv.rooftop.id)
        .fetch_all(&self.pool)
        .await?;
        Ok(Context {
            needs_department: conv.department_pending && departments.len() > 1,
            trade_in: interest.as_deref().is_some_and(trade_in::is_trade_in),
            settings,
            lang: conv.language,
            rooftop,
            country,
            departments,
            client_ip,
            client_ip_source: source.as_deref().and_then(AddressSource::parse),
        })
    }

    /// Posts a bot message (once per `key`, however often it is called).
    async fn post(
        &self,
        group: Uuid,
        conv: &Conversation,
        ctx: &Context,
        key: &str,
        text: String,
    ) -> Result<Message, GateError> {
        post(
            &self.bus,
            group,
            conv.id,
            Author {
                kind: AuthorKind::Bot,
                id: None,
                name: Some(ctx.settings.name(ctx.lang).to_string()),
            },
            key,
            text,
        )
        .await
    }
}

/// Appends a message through the gateway (which owns the transcript); `key` makes it once.
pub async fn post(
    bus: &Bus,
    group: Uuid,
    conversation_id: Uuid,
    author: Author,
    key: &str,
    text: String,
) -> Result<Message, GateError> {
    let env = Envelope::new(
        group,
        PostMessage {
            conversation_id,
            author,
            text,
            client_msg_id: key.to_string(),
        },
    );
    Ok(bus
        .request_retrying(v1::message_post(group), &env, REQUEST_WITHIN)
        .await??)
}

/// The first question not answered yet.
fn next_step(answers: &Answers, ctx: &Context) -> Step {
    next_question(answers, ctx.needs_department, ctx.trade_in)
}

/// The first question not answered yet, the department and the trade-in asked or not.
fn next_question(answers: &Answers, needs_department: bool, trade_in: bool) -> Step {
    let trade = answers.trade_in.clone().unwrap_or_default();
    if needs_department && answers.department_id.is_none() {
        Step::Department
    } else if answers.first_name.is_none() {
        Step::FirstName
    } else if answers.last_name.is_none() {
        Step::LastName
    } else if answers.email.is_none() && answers.phone.is_none() {
        Step::Contact
    } else if !trade_in {
        Step::Done
    } else if trade.model.is_none() {
        Step::TradeVehicle
    } else if trade.mileage.is_none() {
        Step::TradeMileage
    } else if trade.condition.is_none() {
        Step::TradeCondition
    } else if !answers.trade_vin_done {
        Step::TradeVin
    } else {
        Step::Done
    }
}

/// The bot's messages that ask `step`.
fn ask(step: Step, ctx: &Context, answers: &Answers) -> Vec<String> {
    let first_name = answers.first_name.as_deref().unwrap_or("");
    match step {
        Step::Department => vec![ctx.text(TextKey::AskDepartment, &[])],
        Step::FirstName => vec![ctx.text(TextKey::AskFirstName, &[])],
        Step::LastName => vec![ctx.text(TextKey::AskLastName, &[("first_name", first_name)])],
        // The consent goes with the question, so it is shown before any number is given.
        Step::Contact => vec![
            ctx.text(TextKey::AskContact, &[]),
            ctx.text(TextKey::Consent, &[]),
        ],
        Step::TradeVehicle => vec![ctx.text(TextKey::AskTradeVehicle, &[])],
        Step::TradeMileage => vec![ctx.text(TextKey::AskTradeMileage, &[])],
        Step::TradeCondition => vec![ctx.text(TextKey::AskTradeCondition, &[])],
        Step::TradeVin => vec![ctx.text(TextKey::AskTradeVin, &[])],
        Step::Done => Vec::new(),
    }
}

/// Takes the shopper's answer to `step`: the next step and what the bot says.
fn answer(
    step: Step,
    text: &str,
    at: DateTime<Utc>,
    conv: &Conversation,
    ctx: &Context,
    answers: &mut Answers,
) -> (Step, Vec<String>) {
    let next = |answers: &Answers| {
        let s = next_step(answers, ctx);
        (s, ask(s, ctx, answers))
    };
    match step {
        Step::Department => match department(text, &ctx.departments) {
            Some(d) => {
                answers.department_id = Some(d);
                next(answers)
            }
            None => (step, vec![ctx.text(TextKey::BadDepartment, &[])]),
        },
        Step::FirstName => match validate::name(text) {
            Ok(n) => {
                answers.first_name = Some(n);
                next(answers)
            }
            Err(_) => (step, vec![ctx.text(TextKey::BadName, &[])]),
        },
        Step::LastName => match validate::name(text) {
            Ok(n) => {
                answers.last_name = Some(n);
                next(answers)
            }
            Err(_) => (step, vec![ctx.text(TextKey::BadName, &[])]),
        },
        Step::Contact if validate::looks_like_email(text) => match validate::email(text) {
            Ok(e) => {
                answers.email = Some(e);
                next(answers)
            }
            Err(_) => (step, vec![ctx.text(TextKey::BadEmail, &[])]),
        },
        Step::Contact => match validate::phone(text, &ctx.country) {
            Ok(p) => {
                answers.phone = Some(p);
                answers.consent = Some(Consent {
                    text: ctx.text(TextKey::Consent, &[]),
                    version: ctx.settings.consent_version_tag(ctx.lang),
                    at,
                    page_url: conv.page_url.clone(),
                    ip: ctx.client_ip.clone(),
                    ip_source: ctx.client_ip_source,
                });
                next(answers)
            }
            Err(Invalid::BadPhone(_)) | Err(_) => (step, vec![ctx.text(TextKey::BadPhone, &[])]),
        },
        Step::TradeVehicle | Step::TradeMileage | Step::TradeCondition | Step::TradeVin => {
            let trade = answers.trade_in.get_or_insert_with(TradeIn::default);
            let this_year = at.year();
            let took = match step {
                Step::TradeVehicle => trade_in::vehicle(text, this_year, trade),
                Step::TradeMileage => trade_in::mileage(text, &ctx.country, trade),
                Step::TradeCondition => trade_in::condition(text, trade),
                _ => match trade_in::vin(text, trade, ctx.lang) {
                    Ok(()) => {
                        answers.trade_vin_done = true;
                        Ok(())
                    }
                    Err(reason) => {
                        let bad = ctx.text(TextKey::BadTradeVin, &[("reason", &reason)]);
                        return (step, vec![bad]);
                    }
                },
            };
            match took {
                Ok(()) => next(answers),
                Err(trade_in::NotUnderstood) => {
                    let key = match step {
                        Step::TradeVehicle => TextKey::BadTradeVehicle,
                        Step::TradeMileage => TextKey::BadTradeMileage,
                        _ => TextKey::BadTradeCondition,
                    };
                    (step, vec![ctx.text(key, &[])])
                }
            }
        }
        Step::Done => (Step::Done, Vec::new()),
    }
}

/// The department an answer names: its number in the list, its label, or the start of one
/// label only (case-insensitive).
fn department(answer: &str, departments: &[(Uuid, String)]) -> Option<Uuid> {
    let a = answer.trim().trim_end_matches('.').to_lowercase();
    if a.is_empty() {
        return None;
    }
    if let Ok(n) = a.parse::<usize>() {
        return departments.get(n.checked_sub(1)?).map(|(id, _)| *id);
    }
    if let Some((id, _)) = departments.iter().find(|(_, l)| l.to_lowercase() == a) {
        return Some(*id);
    }
    let starts: Vec<&(Uuid, String)> = departments
        .iter()
        .filter(|(_, l)| l.to_lowercase().starts_with(&a))
        .collect();
    match starts.as_slice() {
        [(id, _)] => Some(*id),
        _ => None,
    }
}

/// Chats the events may have missed: in state `bot` for a few seconds with no session yet,
/// with a shopper message not answered, or done but not routed (the router was away).
pub async fn stragglers(pool: &PgPool) -> Result<Vec<(Uuid, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.group_id, c.id FROM conversations c \
         LEFT JOIN gate_sessions g ON g.conversation_id = c.id \
         WHERE c.state = 'bot' AND c.created_at < now() - interval '3 seconds' \
           AND (g.conversation_id IS NULL OR g.step = 'done' \
                OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id \
                           AND m.author_kind = 'shopper' AND m.seq > g.handled_seq \
                           AND m.created_at < now() - interval '3 seconds')) \
         ORDER BY c.created_at LIMIT 200",
    )
    .fetch_all(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_department_is_named_by_number_label_or_a_unique_start() {
        let s = Uuid::new_v4();
        let v = Uuid::new_v4();
        let p = Uuid::new_v4();
        let d = vec![
            (s, "Sales".to_string()),
            (v, "Service".to_string()),
            (p, "Parts".to_string()),
        ];
        assert_eq!(department("2", &d), Some(v));
        assert_eq!(department(" sales. ", &d), Some(s));
        assert_eq!(department("Par", &d), Some(p));
        assert_eq!(department("S", &d), None, "Sales or Service?");
        assert_eq!(department("4", &d), None);
        assert_eq!(department("0", &d), None);
        assert_eq!(department("finance", &d), None);
    }
}
