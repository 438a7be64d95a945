//! Read models shared by several services: the conversation snapshot that events and
//! sockets carry, and internal chats with their members. Only reads live here; each table is written by its owner.

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

use showroom_proto::bot::{BotSettings, TextKey};
use showroom_proto::contact::{Consent, Contact, Language};
use showroom_proto::conversation::{
    Conversation, ConversationState, DepartmentRef, EndedBy, Named, OfflineReason, ShopperRef,
    Transfer, TransferState, Vehicle,
};
use showroom_proto::forms::{Answer, Form, FormKind};
use showroom_proto::frames::DepartmentChoice;
use showroom_proto::internal::{InternalChat, InternalMember};
use showroom_proto::lead::{Classification, Lead, LeadContact, LeadFile, LeadOrigin, LeadSource};
use showroom_proto::message::{Author, AuthorKind, Message, MessageFile};
use showroom_proto::trade_in::TradeIn;
use sqlx::{PgExecutor, Postgres, QueryBuilder};
use uuid::Uuid;

/// A conversation as [`conversation_snapshot!`] reads it; `Conversation::from` it.
#[derive(sqlx::FromRow)]
pub struct ConversationRow {
    id: Uuid,
    group_id: Uuid,
    website_id: Uuid,
    rooftop_id: Uuid,
    rooftop_name: String,
    department_id: Uuid,
    department_label: String,
    visitor_id: Uuid,
    shopper_name: Option<String>,
    agent_id: Option<Uuid>,
    agent_name: Option<String>,
    state: String,
    last_seq: i64,
    created_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    ended_by: Option<String>,
    assigned_at: Option<DateTime<Utc>>,
    team_id: Option<Uuid>,
    team_name: Option<String>,
    offline_reason: Option<String>,
    previous_id: Option<Uuid>,
    vehicle: Option<sqlx::types::Json<Vehicle>>,
    language: String,
    contact: Option<sqlx::types::Json<Contact>>,
    department_pending: bool,
    page_url: Option<String>,
    form: Option<sqlx::types::Json<Vec<Answer>>>,
}

impl From<ConversationRow> for Conversation {
    fn from(r: ConversationRow) -> Self {
        Conversation {
            id: r.id,
            group_id: r.group_id,
            website_id: r.website_id,
            rooftop: Named {
                id: r.rooftop_id,
                name: r.rooftop_name,
            },
            department: DepartmentRef {
                id: r.department_id,
                label: r.department_label,
            },
            shopper: ShopperRef {
                visitor_id: r.visitor_id,
                name: r.shopper_name,
            },
            agent: r
                .agent_id
                .zip(r.agent_name)
                .map(|(id, name)| Named { id, name }),
            // The CHECK constraint allows only known states; Ended is a safe reading otherwise.
            state: ConversationState::parse(&r.state).unwrap_or(ConversationState::Ended),
            last_seq: r.last_seq,
            created_at: r.created_at,
            ended_at: r.ended_at,
            ended_by: r.ended_by.as_deref().and_then(EndedBy::parse),
            assigned_at: r.assigned_at,
            team: r
                .team_id
                .zip(r.team_name)
                .map(|(id, name)| Named { id, name }),
            offline_reason: r.offline_reason.as_deref().and_then(OfflineReason::parse),
            previous_id: r.previous_id,
            vehicle: r.vehicle.map(|v| v.0),
            language: Language::parse(&r.language).unwrap_or_default(),
            contact: r.contact.map(|c| c.0),
            department_pending: r.department_pending,
            page_url: r.page_url,
            form: r.form.map(|f| f.0).unwrap_or_default(),
        }
    }
}

/// The conversation snapshot (a [`ConversationRow`]) of the rows of relation `$from`, named
/// `c`: `"conversations c"` for stored chats, or a statement's `RETURNING` of `conversations`
/// in a CTE named `c` (the router's start reads the chat it writes in the same statement).
#[macro_export]
macro_rules! conversation_snapshot {
    ($from:literal) => {
        concat!(
            "SELECT c.id, c.group_id, c.website_id, c.rooftop_id, r.name AS rooftop_name, \
            c.department_id, d.label AS department_label, c.visitor_id, c.shopper_name, c.agent_id, \
            CASE WHEN a.id IS NULL THEN NULL ELSE a.first_name || ' ' || a.last_name END AS agent_name, \
            c.state, COALESCE(t.last_seq, 0) AS last_seq, c.created_at, c.ended_at, c.ended_by, \
            c.assigned_at, c.team_id, tm.name AS team_name, c.offline_reason, c.previous_id, c.vehicle, \
            c.language, c.contact, \
            (c.department_pending AND c.state = 'bot' AND gs.answers->>'department_id' IS NULL) AS department_pending, \
            c.page_url, fs.answers AS form \
            FROM ",
            $from,
            " JOIN rooftops r ON r.id = c.rooftop_id \
            JOIN departments d ON d.id = c.department_id \
            LEFT JOIN agents a ON a.id = c.agent_id \
            LEFT JOIN transcripts t ON t.conversation_id = c.id \
            LEFT JOIN teams tm ON tm.id = c.team_id \
            LEFT JOIN form_submissions fs ON fs.id = c.form_id \
            LEFT JOIN gate_sessions gs ON gs.conversation_id = c.id "
        )
    };
}

const SELECT: &str = conversation_snapshot!("conversations c");

/// Which conversations to list.
#[derive(Debug, Clone, Copy)]
pub enum Filter {
    /// Waiting chats offered to this agent.
    OfferedTo(Uuid),
    /// Chats this agent has now.
    ActiveFor(Uuid),
    /// Chats this agent had, now closed, and the missed chats of the departments they cover
    /// (nobody took them; anyone who could have can follow up).
    RecentFor(Uuid),
    /// A visitor's conversations on a website.
    Visitor {
        /// The website.
        website_id: Uuid,
        /// The visitor.
        visitor_id: Uuid,
    },
    /// Every conversation of the group.
    All,
    /// The group's conversations in one state.
    State(ConversationState),
}

/// One conversation of `group`, or `None` when it does not exist in that group.
pub async fn conversation<'e>(
    db: impl PgExecutor<'e>,
    group: Uuid,
    id: Uuid,
) -> Result<Option<Conversation>, sqlx::Error> {
    let mut q = QueryBuilder::<Postgres>::new(SELECT);
    q.push("WHERE c.group_id = ")
        .push_bind(group)
        .push(" AND c.id = ")
        .push_bind(id);
    Ok(q.build_query_as::<ConversationRow>()
        .fetch_optional(db)
        .await?
        .map(Into::into))
}

/// The few facts of a chat that a consumer of every message decides on, read from its own row
/// without the snapshot's joins ([`conversation`] has them all).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Glance {
    /// The conversation.
    pub id: Uuid,
    /// Its dealer group.
    pub group_id: Uuid,
    /// Where it is in its life (as stored: `bot`, `incoming`, `active`, ...).
    pub state: String,
    /// The agent who has it.
    pub agent_id: Option<Uuid>,
    /// When that agent took it.
    pub assigned_at: Option<DateTime<Utc>>,
    /// The shopper's name, when given.
    pub shopper_name: Option<String>,
    /// Whether the shopper's contact has an e-mail address.
    pub has_email: bool,
}

impl Glance {
    /// The state, parsed as [`conversation`] parses it.
    pub fn state(&self) -> ConversationState {
        ConversationState::parse(&self.state).unwrap_or(ConversationState::Ended)
    }
}

/// SQL: a [`Glance`]'s columns of conversation `c`.
macro_rules! glance_columns {
    () => {
        "SELECT c.id, c.group_id, c.state, c.agent_id, c.assigned_at, c.shopper_name, \
           (c.contact->>'email') IS NOT NULL AS has_email FROM conversations c "
    };
}

/// A [`Glance`] at each of these conversations (`(group, id)`: one found only in its own
/// group), in one query however many a consumer took at once; missing ones are left out.
///
/// One chat, the usual batch when the consumers keep up, has a statement of its own: Postgres
/// planned the array join afresh at most calls (a plan that knows the arrays' length always
/// looked cheaper than the generic one; 62–86 % of its calls in the soak, `loadtest/README.md`).
pub async fn glances<'e>(
    db: impl PgExecutor<'e>,
    chats: &[(Uuid, Uuid)],
) -> Result<Vec<Glance>, sqlx::Error> {
    if let [(group, id)] = chats {
        return sqlx::query_as(concat!(
            glance_columns!(),
            "WHERE c.id = $1 AND c.group_id = $2"
        ))
        .bind(id)
        .bind(group)
        .fetch_all(db)
        .await;
    }
    let (groups, ids): (Vec<Uuid>, Vec<Uuid>) = chats.iter().copied().unzip();
    sqlx::query_as(concat!(
        glance_columns!(),
        "JOIN (SELECT DISTINCT * FROM unnest($1::uuid[], $2::uuid[])) AS k(grp, id) \
           ON c.id = k.id AND c.group_id = k.grp"
    ))
    .bind(groups)
    .bind(ids)
    .fetch_all(db)
    .await
}

/// Conversations of `group` matching `filter`, newest first, at most `limit`.
pub async fn conversations<'e>(
    db: impl PgExecutor<'e>,
    group: Uuid,
    filter: Filter,
    limit: i64,
) -> Result<Vec<Conversation>, sqlx::Error> {
    let mut q = QueryBuilder::<Postgres>::new(SELECT);
    q.push("WHERE c.group_id = ").push_bind(group);
    match filter {
        Filter::OfferedTo(agent) => {
            q.push(" AND c.state = 'incoming' AND ")
                .push_bind(agent)
                .push(" = ANY(c.offered_to)");
        }
        Filter::ActiveFor(agent) => {
            q.push(" AND c.state = 'active' AND c.agent_id = ")
                .push_bind(agent);
        }
        Filter::RecentFor(agent) => {
            q.push(" AND c.state IN ('ended','missed','offline','timed_out') AND (c.agent_id = ")
                .push_bind(agent)
                .push(
                    " OR (c.state = 'missed' AND c.agent_id IS NULL AND c.department_id IN \
                     (SELECT m.department_id FROM agent_memberships m WHERE m.agent_id = ",
                )
                .push_bind(agent)
                .push(")))");
        }
        Filter::Visitor {
            website_id,
            visitor_id,
        } => {
            q.push(" AND c.website_id = ")
                .push_bind(website_id)
                .push(" AND c.visitor_id = ")
                .push_bind(visitor_id);
        }
        Filter::All => {}
        Filter::State(s) => {
            q.push(" AND c.state = ").push_bind(s.as_str());
        }
    }
    q.push(" ORDER BY c.created_at DESC LIMIT ")
        .push_bind(limit);
    Ok(q.build_query_as::<ConversationRow>()
        .fetch_all(db)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

#[derive(sqlx::FromRow)]
struct TransferRow {
    id: Uuid,
    conversation_id: Uuid,
    from_agent: Uuid,
    from_name: String,
    to_agent: Option<Uuid>,
    to_name: Option<String>,
    to_department: Option<Uuid>,
    to_label: Option<String>,
    note: String,
    state: String,
    expires_at: Option<DateTime<Utc>>,
}

impl From<TransferRow> for Transfer {
    fn from(r: TransferRow) -> Self {
        Transfer {
            id: r.id,
            conversation_id: r.conversation_id,
            from_agent: Named {
                id: r.from_agent,
                name: r.from_name,
            },
            to_agent: r
                .to_agent
                .zip(r.to_name)
                .map(|(id, name)| Named { id, name }),
            to_department: r
                .to_department
                .zip(r.to_label)
                .map(|(id, label)| DepartmentRef { id, label }),
            note: r.note,
            state: TransferState::parse(&r.state).unwrap_or(TransferState::Cancelled),
            expires_at: r.expires_at,
        }
    }
}

const SELECT_TRANSFER: &str = "SELECT x.id, x.conversation_id, x.from_agent, \
    fa.first_name || ' ' || fa.last_name AS from_name, x.to_agent, \
    CASE WHEN ta.id IS NULL THEN NULL ELSE ta.first_name || ' ' || ta.last_name END AS to_name, \
    x.to_department, d.label AS to_label, x.note, x.state, \
    (SELECT due_at FROM conversation_timers tt WHERE tt.conversation_id = x.conversation_id \
       AND tt.kind = 'transfer' AND x.state = 'requested') AS expires_at \
    FROM transfers x \
    JOIN agents fa ON fa.id = x.from_agent \
    LEFT JOIN agents ta ON ta.id = x.to_agent \
    LEFT JOIN departments d ON d.id = x.to_department ";

/// One transfer of `group`.
pub async fn transfer<'e>(
    db: impl PgExecutor<'e>,
    group: Uuid,
    id: Uuid,
) -> Result<Option<Transfer>, sqlx::Error> {
    let mut q = QueryBuilder::<Postgres>::new(SELECT_TRANSFER);
    q.push("WHERE x.group_id = ")
        .push_bind(group)
        .push(" AND x.id = ")
        .push_bind(id);
    Ok(q.build_query_as::<TransferRow>()
        .fetch_optional(db)
        .await?
        .map(Into::into))
}

/// Transfers waiting for an answer from `agent` (the reload of a console lists them again).
pub async fn transfers_offered_to<'e>(
    db: impl PgExecutor<'e>,
    group: Uuid,
    agent: Uuid,
) -> Result<Vec<Transfer>, sqlx::Error> {
    let mut q = QueryBuilder::<Postgres>::new(SELECT_TRANSFER);
    q.push("WHERE x.group_id = ")
        .push_bind(group)
        .push(" AND x.state = 'requested' AND ")
        .push_bind(agent)
        .push(" = ANY(x.offered_to) ORDER BY x.created_at");
    Ok(q.build_query_as::<TransferRow>()
        .fetch_all(db)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

#[derive(sqlx::FromRow)]
struct InternalRow {
    id: Uuid,
    group_id: Uuid,
    topic: String,
    created_by: Uuid,
    created_at: DateTime<Utc>,
    last_seq: i64,
    members: sqlx::types::Json<Vec<InternalMember>>,
}

impl From<InternalRow> for InternalChat {
    fn from(r: InternalRow) -> Self {
        InternalChat {
            id: r.id,
            group_id: r.group_id,
            topic: r.topic,
            created_by: r.created_by,
            created_at: r.created_at,
            members: r.members.0,
            last_seq: r.last_seq,
        }
    }
}

macro_rules! select_internal {
    () => {
        "SELECT c.id, c.group_id, c.topic, c.created_by, c.created_at, \
     COALESCE(t.last_seq, 0) AS last_seq, \
     (SELECT COALESCE(jsonb_agg(jsonb_build_object('agent_id', m.agent_id, \
          'name', a.first_name || ' ' || a.last_name, 'joined_at', m.joined_at, 'left_at', m.left_at) \
          ORDER BY m.joined_at, m.agent_id), '[]'::jsonb) \
        FROM internal_members m JOIN agents a ON a.id = m.agent_id WHERE m.chat_id = c.id) AS members \
     FROM internal_chats c LEFT JOIN internal_transcripts t ON t.chat_id = c.id "
    };
}

/// One internal chat of the group, with everyone ever in it.
pub async fn internal_chat<'e>(
    db: impl PgExecutor<'e>,
    group: Uuid,
    id: Uuid,
) -> Result<Option<InternalChat>, sqlx::Error> {
    let row: Option<InternalRow> = sqlx::query_as(concat!(
        select_internal!(),
        "WHERE c.group_id = $1 AND c.id = $2"
    ))
    .bind(group)
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(Into::into))
}

/// The internal chats `agent` is in now, the most recently active first.
pub async fn internal_chats_of<'e>(
    db: impl PgExecutor<'e>,
    group: Uuid,
    agent: Uuid,
    limit: i64,
) -> Result<Vec<InternalChat>, sqlx::Error> {
    let rows: Vec<InternalRow> = sqlx::query_as(concat!(
        select_internal!(),
        "WHERE c.group_id = $1 AND EXISTS (SELECT 1 FROM internal_members me \
           WHERE me.chat_id = c.id AND me.agent_id = $2 AND me.left_at IS NULL) \
         ORDER BY COALESCE((SELECT x.created_at FROM internal_messages x WHERE x.chat_id = c.id \
           ORDER BY x.seq DESC LIMIT 1), c.created_at) DESC LIMIT $3"
    ))
    .bind(group)
    .bind(agent)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// A website's bot settings (owned by the bot); the defaults when it has none.
pub async fn bot_settings<'e>(
    db: impl PgExecutor<'e>,
    website: Uuid,
) -> Result<BotSettings, sqlx::Error> {
    let row: Option<BotRow> = sqlx::query_as(
        "SELECT lead_gate, leave_message_form, bot_name, avatar_url, texts, consent_version \
         FROM bot_settings WHERE website_id = $1",
    )
    .bind(website)
    .fetch_optional(db)
    .await?;
    Ok(row.map(BotRow::settings).unwrap_or_default())
}

/// A `bot_settings` row: `lead_gate, leave_message_form, bot_name, avatar_url, texts,
/// consent_version`.
#[derive(sqlx::FromRow)]
struct BotRow {
    lead_gate: bool,
    leave_message_form: bool,
    bot_name: Option<String>,
    avatar_url: Option<String>,
    texts: sqlx::types::Json<BTreeMap<Language, BTreeMap<TextKey, String>>>,
    consent_version: i32,
}

impl BotRow {
    fn settings(self) -> BotSettings {
        BotSettings {
            lead_gate: self.lead_gate,
            leave_message_form: self.leave_message_form,
            bot_name: self.bot_name,
            avatar_url: self.avatar_url,
            texts: self.texts.0,
            consent_version: self.consent_version,
        }
    }
}

/// What a widget's `welcome` shows of its website, besides the website's own row: the
/// dealership's departments, the bot's settings and the website's two forms.
#[derive(Debug, Clone)]
pub struct WidgetSite {
    /// The departments a shopper can choose, in their configured order.
    pub departments: Vec<DepartmentChoice>,
    /// The bot's settings (the defaults when the website has none).
    pub bot: BotSettings,
    /// The pre-chat form, if the website has one.
    pub pre_chat: Option<Form>,
    /// The offline form, if the website has one.
    pub offline: Option<Form>,
}

/// A [`WidgetSite`] in one statement (the `welcome` of every page view reads it, so one round
/// trip instead of one per part): the departments of `rooftop`, and the bot settings and forms
/// of `website`.
pub async fn widget_site<'e>(
    db: impl PgExecutor<'e>,
    website: Uuid,
    rooftop: Uuid,
) -> Result<WidgetSite, sqlx::Error> {
    let row = sqlx::query(
        "SELECT \
           (SELECT coalesce(json_agg(json_build_object('id', d.id, 'label', d.label, \
                      'rooftop', r.name) ORDER BY d.position, d.label), '[]'::json) \
              FROM departments d JOIN rooftops r ON r.id = d.rooftop_id \
              WHERE d.rooftop_id = $2) AS departments, \
           (SELECT fields FROM forms WHERE website_id = $1 AND kind = 'pre_chat') AS pre_chat, \
           (SELECT fields FROM forms WHERE website_id = $1 AND kind = 'offline') AS offline, \
           b.website_id IS NOT NULL AS has_bot, \
           coalesce(b.lead_gate, false) AS lead_gate, \
           coalesce(b.leave_message_form, false) AS leave_message_form, \
           b.bot_name, b.avatar_url, coalesce(b.texts, '{}'::jsonb) AS texts, \
           coalesce(b.consent_version, 0) AS consent_version \
         FROM (SELECT 1) one LEFT JOIN bot_settings b ON b.website_id = $1",
    )
    .bind(website)
    .bind(rooftop)
    .fetch_one(db)
    .await?;
    use sqlx::Row as _;
    let departments: sqlx::types::Json<Vec<DepartmentChoice>> = row.try_get("departments")?;
    let form = |column: &str| -> Result<Option<Form>, sqlx::Error> {
        Ok(row
            .try_get::<Option<sqlx::types::Json<Form>>, _>(column)?
            .map(|f| f.0))
    };
    let bot = if row.try_get("has_bot")? {
        <BotRow as sqlx::FromRow<_>>::from_row(&row)?.settings()
    } else {
        BotSettings::default()
    };
    Ok(WidgetSite {
        departments: departments.0,
        bot,
        pre_chat: form("pre_chat")?,
        offline: form("offline")?,
    })
}

/// A website's form of one kind (owned by the bot), if it has one.
pub async fn form<'e>(
    db: impl PgExecutor<'e>,
    website: Uuid,
    kind: FormKind,
) -> Result<Option<Form>, sqlx::Error> {
    let row: Option<(sqlx::types::Json<Form>,)> =
        sqlx::query_as("SELECT fields FROM forms WHERE website_id = $1 AND kind = $2")
            .bind(website)
            .bind(kind.as_str())
            .fetch_optional(db)
            .await?;
    Ok(row.map(|r| r.0.0))
}

#[derive(sqlx::FromRow)]
struct LeadRow {
    id: Uuid,
    group_id: Uuid,
    rooftop_id: Uuid,
    rooftop_name: String,
    department_id: Option<Uuid>,
    department_label: Option<String>,
    origin: String,
    contact_id: Uuid,
    first_name: String,
    last_name: String,
    email: Option<String>,
    phone: Option<String>,
    consent: Option<sqlx::types::Json<Consent>>,
    contact_language: String,
    vehicle: Option<sqlx::types::Json<Vehicle>>,
    message: Option<String>,
    conversation_id: Option<Uuid>,
    form: sqlx::types::Json<Vec<Answer>>,
    classification: sqlx::types::Json<Classification>,
    sources: sqlx::types::Json<Vec<LeadSource>>,
    files: sqlx::types::Json<Vec<MessageFile>>,
    payment: Option<sqlx::types::Json<showroom_proto::payment::PaymentEstimate>>,
    trade_in: Option<sqlx::types::Json<TradeIn>>,
    appointments: sqlx::types::Json<Vec<showroom_proto::appointment::LeadAppointment>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i32,
}

const LEAD_SELECT: &str = "SELECT l.id, l.group_id, l.rooftop_id, r.name AS rooftop_name, \
    l.department_id, d.label AS department_label, l.origin, l.contact_id, ct.first_name, ct.last_name, \
    ct.email, ct.phone, ct.consent, ct.language AS contact_language, l.vehicle, l.message, \
    l.conversation_id, l.form, l.classification, \
    COALESCE((SELECT jsonb_agg(jsonb_build_object('origin', s.origin, 'conversation_id', s.conversation_id, \
        'message_id', s.message_id, 'at', s.at) ORDER BY s.at) FROM lead_sources s WHERE s.lead_id = l.id), '[]') AS sources, \
    COALESCE((SELECT jsonb_agg(jsonb_build_object('id', m.file_id, 'name', m.file_name, 'type', m.file_type, \
        'size', m.file_size) ORDER BY m.seq) FROM messages m \
        WHERE m.conversation_id = l.conversation_id AND m.file_id IS NOT NULL), '[]') AS files, \
    (SELECT e.estimate FROM payment_estimates e WHERE e.conversation_id = l.conversation_id \
        AND e.shown_at IS NOT NULL ORDER BY e.shown_at DESC LIMIT 1) AS payment, \
    (SELECT t.trade_in FROM trade_ins t WHERE t.conversation_id = l.conversation_id) AS trade_in, \
    COALESCE((SELECT jsonb_agg(jsonb_build_object('id', a.id, 'kind', a.kind, 'state', a.state, \
        'starts_at', a.starts_at, 'ends_at', a.ends_at, 'time_zone', ar.time_zone, \
        'department', ad.label, 'note', a.note) ORDER BY a.starts_at, a.id) FROM appointments a \
        JOIN rooftops ar ON ar.id = a.rooftop_id JOIN departments ad ON ad.id = a.department_id \
        WHERE a.conversation_id = l.conversation_id), '[]') AS appointments, \
    l.created_at, l.updated_at, l.version \
    FROM leads l JOIN contacts ct ON ct.id = l.contact_id JOIN rooftops r ON r.id = l.rooftop_id \
    LEFT JOIN departments d ON d.id = l.department_id ";

fn lead_of(r: LeadRow, console_url: &str) -> Lead {
    Lead {
        id: r.id,
        group_id: r.group_id,
        rooftop: Named {
            id: r.rooftop_id,
            name: r.rooftop_name,
        },
        department: r
            .department_id
            .zip(r.department_label)
            .map(|(id, label)| DepartmentRef { id, label }),
        origin: LeadOrigin::parse(&r.origin).unwrap_or(LeadOrigin::Agent),
        contact: LeadContact {
            id: r.contact_id,
            first_name: r.first_name,
            last_name: r.last_name,
            email: r.email,
            phone: r.phone,
            consent: r.consent.map(|c| c.0),
            language: Language::parse(&r.contact_language).unwrap_or_default(),
        },
        vehicle: r.vehicle.map(|v| v.0),
        message: r.message,
        conversation_id: r.conversation_id,
        transcript_url: r
            .conversation_id
            .map(|c| format!("{console_url}#conversation={c}")),
        form: r.form.0,
        files: r
            .files
            .0
            .into_iter()
            .map(|f| LeadFile {
                url: file_url(console_url, f.id),
                name: f.name,
                content_type: f.content_type,
                size: f.size,
            })
            .collect(),
        payment: r.payment.map(|p| p.0),
        trade_in: r.trade_in.map(|t| t.0),
        appointments: r.appointments.0,
        classification: r.classification.0,
        sources: r.sources.0,
        created_at: r.created_at,
        updated_at: r.updated_at,
        version: r.version,
    }
}

/// Where an agent downloads a chat's file, signed in to the console at `console_url` (the
/// console is served at `/console` of the gateway, the download at `/api/v1/attachments/{id}`).
pub fn file_url(console_url: &str, id: Uuid) -> String {
    let base = console_url.trim_end_matches('/');
    let base = base.strip_suffix("/console").unwrap_or(base);
    format!("{base}/api/v1/attachments/{id}")
}

/// One lead of `group` (owned by lead-capture); `console_url` makes its transcript link.
pub async fn lead<'e>(
    db: impl PgExecutor<'e>,
    group: Uuid,
    id: Uuid,
    console_url: &str,
) -> Result<Option<Lead>, sqlx::Error> {
    let mut q = QueryBuilder::<Postgres>::new(LEAD_SELECT);
    q.push("WHERE l.group_id = ")
        .push_bind(group)
        .push(" AND l.id = ")
        .push_bind(id);
    Ok(q.build_query_as::<LeadRow>()
        .fetch_optional(db)
        .await?
        .map(|r| lead_of(r, console_url)))
}

/// The trade-in of a chat of `group` (owned by lead-capture), if one was given.
pub async fn trade_in_of<'e>(
    db: impl PgExecutor<'e>,
    group: Uuid,
    conversation: Uuid,
) -> Result<Option<TradeIn>, sqlx::Error> {
    let row: Option<(sqlx::types::Json<TradeIn>,)> = sqlx::query_as(
        "SELECT trade_in FROM trade_ins WHERE group_id = $1 AND conversation_id = $2",
    )
    .bind(group)
    .bind(conversation)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(t,)| t.0))
}

/// Which leads to list.
#[derive(Debug, Clone, Copy)]
pub enum LeadFilter {
    /// Every lead of the group.
    All,
    /// The leads a chat made or was merged into.
    Conversation(Uuid),
}

/// Leads of `group`, newest first, at most `limit`.
pub async fn leads<'e>(
    db: impl PgExecutor<'e>,
    group: Uuid,
    filter: LeadFilter,
    limit: i64,
    console_url: &str,
) -> Result<Vec<Lead>, sqlx::Error> {
    let mut q = QueryBuilder::<Postgres>::new(LEAD_SELECT);
    q.push("WHERE l.group_id = ").push_bind(group);
    if let LeadFilter::Conversation(c) = filter {
        q.push(" AND (l.conversation_id = ")
            .push_bind(c)
            .push(" OR EXISTS (SELECT 1 FROM lead_sources s WHERE s.lead_id = l.id AND s.conversation_id = ")
            .push_bind(c)
            .push("))");
    }
    q.push(" ORDER BY l.created_at DESC LIMIT ")
        .push_bind(limit);
    Ok(q.build_query_as::<LeadRow>()
        .fetch_all(db)
        .await?
        .into_iter()
        .map(|r| lead_of(r, console_url))
        .collect())
}

/// A row of `messages` as every reader and the gateway's writer select it
/// ([`message_columns!`](crate::message_columns)).
#[derive(sqlx::FromRow)]
pub struct MessageRow {
    /// The message id.
    pub id: Uuid,
    /// Its conversation.
    pub conversation_id: Uuid,
    /// Its gapless position.
    pub seq: i64,
    /// `shopper`, `agent`, `bot` or `system`.
    pub author_kind: String,
    /// The agent, for an agent.
    pub author_id: Option<Uuid>,
    /// The name shown.
    pub author_name: Option<String>,
    /// The text.
    pub body: String,
    /// The sender's own id.
    pub client_msg_id: Option<String>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// A file message's attachment (the four file columns are all set or all null).
    pub file_id: Option<Uuid>,
    /// Its name.
    pub file_name: Option<String>,
    /// Its real type.
    pub file_type: Option<String>,
    /// Its size in bytes.
    pub file_size: Option<i64>,
    /// A payment estimate card.
    pub estimate: Option<sqlx::types::Json<showroom_proto::payment::PaymentEstimate>>,
}

impl From<MessageRow> for Message {
    fn from(r: MessageRow) -> Self {
        Message {
            conversation_id: r.conversation_id,
            seq: r.seq,
            id: r.id,
            author: Author {
                kind: AuthorKind::parse(&r.author_kind).unwrap_or(AuthorKind::System),
                id: r.author_id,
                name: r.author_name,
            },
            text: r.body,
            file: match (r.file_id, r.file_name, r.file_type, r.file_size) {
                (Some(id), Some(name), Some(content_type), Some(size)) => Some(MessageFile {
                    id,
                    name,
                    content_type,
                    size,
                }),
                _ => None,
            },
            client_msg_id: r.client_msg_id,
            estimate: r.estimate.map(|e| Box::new(e.0)),
            at: r.created_at,
        }
    }
}

/// The columns of `messages` a [`MessageRow`] reads, for `concat!` in a query.
#[macro_export]
macro_rules! message_columns {
    () => {
        "id, conversation_id, seq, author_kind, author_id, author_name, body, client_msg_id, created_at, \
         file_id, file_name, file_type, file_size, estimate"
    };
}

/// A `whispers` row as read: `id, conversation_id, author_id, author_name, body,
/// client_msg_id, created_at` (the gateway's insert returns the same).
pub type WhisperRow = (Uuid, Uuid, Uuid, String, String, String, DateTime<Utc>);

/// The whisper a [`WhisperRow`] holds.
pub fn whisper(
    (id, conversation_id, author_id, name, text, client_msg_id, at): WhisperRow,
) -> showroom_proto::message::Whisper {
    use showroom_proto::message::{Author, AuthorKind, Whisper};
    Whisper {
        id,
        conversation_id,
        author: Author {
            kind: AuthorKind::Agent,
            id: Some(author_id),
            name: Some(name),
        },
        text,
        client_msg_id,
        at,
    }
}

/// The whispers of a conversation of `group` (managers' notes to the agent, table `whispers`,
/// owned by the gateway), oldest first, at most 1 000.
pub async fn whispers_of(
    db: impl PgExecutor<'_>,
    group: Uuid,
    conversation_id: Uuid,
) -> sqlx::Result<Vec<showroom_proto::message::Whisper>> {
    let rows: Vec<WhisperRow> = sqlx::query_as(
        "SELECT id, conversation_id, author_id, author_name, body, client_msg_id, created_at \
         FROM whispers WHERE conversation_id = $1 AND group_id = $2 ORDER BY created_at, id LIMIT 1000",
    )
    .bind(conversation_id)
    .bind(group)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(whisper).collect())
}

/// The shopper's rating of a conversation of `group` (table `chat_ratings`, owned by the
/// gateway), if they gave one.
pub async fn rating_of(
    db: impl PgExecutor<'_>,
    group: Uuid,
    conversation_id: Uuid,
) -> sqlx::Result<Option<showroom_proto::message::Rating>> {
    let row: Option<(i16, Option<String>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT score, comment, created_at FROM chat_ratings \
         WHERE conversation_id = $1 AND group_id = $2",
    )
    .bind(conversation_id)
    .bind(group)
    .fetch_optional(db)
    .await?;
    Ok(
        row.map(|(score, comment, at)| showroom_proto::message::Rating {
            conversation_id,
            score,
            comment,
            at,
        }),
    )
}

/// Messages of a conversation after `after_seq`, in order, at most `limit`.
pub async fn messages_after(
    db: impl PgExecutor<'_>,
    group: Uuid,
    conversation_id: Uuid,
    after_seq: i64,
    limit: i64,
) -> sqlx::Result<Vec<Message>> {
    let rows: Vec<MessageRow> = sqlx::query_as(concat!(
        "SELECT ",
        crate::message_columns!(),
        " FROM messages WHERE conversation_id = $1 AND group_id = $2 AND seq > $3 ORDER BY seq LIMIT $4"
    ))
    .bind(conversation_id)
    .bind(group)
    .bind(after_seq)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

#[cfg(test)]
mod file_url_tests {
    use super::*;

    #[test]
    fn a_file_link_is_on_the_console_s_origin() {
        let id = Uuid::nil();
        let want = format!("https://chat.example/api/v1/attachments/{id}");
        assert_eq!(file_url("https://chat.example/console", id), want);
        assert_eq!(file_url("https://chat.example/console/", id), want);
        assert_eq!(file_url("https://chat.example", id), want);
    }
}

#[cfg(test)]
mod glance_tests {
    use super::*;

    /// Glances find each chat in its own group only, once; a glance at one chat is not
    /// planned at every call. With the array join for one chat too (before), on a table of
    /// 5 000 chats with its statistics, all 14 calls of the statement were planned.
    #[tokio::test]
    async fn glances_find_each_chat_once_and_one_chat_is_not_planned_each_time()
    -> anyhow::Result<()> {
        let pg = showroom_localinfra::Postgres::start(Default::default()).await?;
        // One connection: the plan counts below are its session's.
        let pool = crate::connect(&pg.url, 1).await?;
        crate::migrate(&pool).await?;
        let [group, rooftop, department, website, a, b] = [(); 6].map(|_| Uuid::now_v7());
        for statement in [
            "INSERT INTO dealer_groups (id, name) VALUES ($1, 'Glances')",
            "INSERT INTO rooftops (id, group_id, name, time_zone) \
             VALUES ($2, $1, 'Glances Honda', 'America/Chicago')",
            "INSERT INTO departments (id, group_id, rooftop_id, label) VALUES ($3, $1, $2, 'Sales')",
            "INSERT INTO websites (id, group_id, rooftop_id, name, widget_key) \
             VALUES ($4, $1, $2, 'Glances', 'glances')",
            "INSERT INTO conversations (id, group_id, website_id, rooftop_id, department_id, visitor_id, \
               state, shopper_name) SELECT x, $1, $4, $2, $3, gen_random_uuid(), 'bot', 'Ana' \
             FROM unnest(ARRAY[$5, $6]::uuid[]) x",
            // A day's chats around them, and statistics of it (the plans follow the data).
            "INSERT INTO conversations (id, group_id, website_id, rooftop_id, department_id, visitor_id, \
               state, ended_at) SELECT gen_random_uuid(), $1, $4, $2, $3, gen_random_uuid(), 'ended', now() \
             FROM generate_series(1, 5000)",
            "ANALYZE conversations",
        ] {
            sqlx::query(statement)
                .bind(group)
                .bind(rooftop)
                .bind(department)
                .bind(website)
                .bind(a)
                .bind(b)
                .execute(&pool)
                .await?;
        }
        let ids = |found: Vec<Glance>| {
            let mut ids: Vec<Uuid> = found.into_iter().map(|g| g.id).collect();
            ids.sort();
            ids
        };
        for _ in 0..10 {
            let found = glances(&pool, &[(group, a)]).await?;
            assert_eq!(ids(found), [a]);
        }
        let mut both = vec![a, b];
        both.sort();
        let found = glances(&pool, &[(group, a), (group, b), (group, a)]).await?;
        assert_eq!(ids(found), both, "each chat once");
        let other = Uuid::now_v7();
        assert!(glances(&pool, &[(other, a)]).await?.is_empty());
        assert_eq!(ids(glances(&pool, &[(other, a), (group, b)]).await?), [b]);
        assert!(glances(&pool, &[]).await?.is_empty());

        let (generic, custom) = crate::plan::plans_of(
            &mut *pool.acquire().await?,
            "SELECT c.id, c.group_id, c.state, c.agent_id, c.assigned_at, c.shopper_name, \
             (c.contact->>'email') IS NOT NULL AS has_email FROM conversations c WHERE",
        )
        .await?;
        assert_eq!(generic + custom, 11, "calls for one chat");
        assert!(
            custom <= 5,
            "planned afresh at {custom} of 11 calls (Postgres plans the first five)"
        );
        Ok(())
    }
}
