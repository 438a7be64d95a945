//! The conversation commands: start, accept, end, and the closing every exit shares.
//! Every change is one transaction that also writes its events to the outbox and its
//! time-outs to `conversation_timers`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use showroom_bus::Bus;
use showroom_proto::conversation::{
    AcceptConversation, Conversation, ConversationEventKind, ConversationState, EndConversation,
    EndedBy, OfflineReason, RouteConversation, StartConversation,
};
use showroom_proto::presence::Purpose;
use showroom_proto::{CommandError, ErrorCode};
use showroom_store::read;
use showroom_store::sqlx::{self, PgConnection, PgPool};
use showroom_telemetry::metrics::names;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::availability::Availability;
use crate::outbox::Staged;
use crate::plan::{RECHECK_SECS, Trigger, plan};
use crate::settings::{self, Department};
use crate::starts::{NewChat, Starts};
use crate::turns::Turns;
use showroom_proto::routing::{OfferMode, WebsiteRouting};
use showroom_store::fault::db_error;

/// How long a replica trusts the department settings it read (a change made through another
/// replica is seen after at most this long; through this one, at once).
const SETTINGS_TTL: Duration = Duration::from_secs(1);

/// At most this many routing variables per chat.
const MAX_VARIABLES: usize = 20;

/// Runs the commands; shared by every endpoint of a replica.
pub struct Machine {
    pub(crate) bus: Bus,
    pub(crate) pool: PgPool,
    /// Ids of published events, cleared from the outbox in batches.
    pub(crate) published: mpsc::UnboundedSender<Uuid>,
    departments: Mutex<HashMap<Uuid, (Instant, Arc<Department>)>>,
    websites: Mutex<HashMap<Uuid, (Instant, CachedWebsite)>>,
    /// Who can take a chat, as presence last said.
    pub(crate) availability: Availability,
    /// New chats, written in shared commits.
    starts: Starts,
    /// Accepts of one chat, one at a time.
    turns: Turns,
}

/// A website's group, and what a start needs of it.
type CachedWebsite = (Uuid, Arc<settings::Website>);

/// The event that announces a closing state.
fn closing_event(state: ConversationState) -> ConversationEventKind {
    match state {
        ConversationState::Missed => ConversationEventKind::Missed,
        ConversationState::TimedOut => ConversationEventKind::TimedOut,
        ConversationState::Offline => ConversationEventKind::Offline,
        _ => ConversationEventKind::Ended,
    }
}

/// The answer to an accept of a chat another agent holds.
fn taken() -> CommandError {
    CommandError::new(
        ErrorCode::AlreadyTaken,
        "another agent took this chat first",
    )
}

/// The answer to an accept of a chat that ended.
fn closed() -> CommandError {
    CommandError::new(ErrorCode::ConversationClosed, "this chat has ended")
}

/// Records a routing decision (`start` or `route`): its outcome, the state the chat is in
/// after it (`bot`, `incoming`, `offline`, ...) or `refused`, and how long it took from `began`.
fn decided(
    began: Instant,
    result: Result<Conversation, CommandError>,
) -> Result<Conversation, CommandError> {
    let outcome = match &result {
        Ok(c) => c.state.as_str(),
        Err(_) => "refused",
    };
    metrics::counter!(names::ROUTING_DECISIONS, "outcome" => outcome).increment(1);
    metrics::histogram!(names::ROUTING_DECISION_SECONDS).record(began.elapsed().as_secs_f64());
    result
}

/// Whether a chat is offered at start, or where it goes instead.
enum Decision {
    /// The bot's Lead Gate comes first.
    Gate,
    /// Incoming, offered to these agents (none yet when presence was silent: `recheck` looks
    /// again soon instead of sending the chat offline).
    Offer {
        offered_to: Vec<Uuid>,
        team: Option<Uuid>,
        recheck: bool,
    },
    Offline(OfflineReason),
}

/// Routing variables within their limits.
fn check_variables(variables: &BTreeMap<String, String>) -> Result<(), CommandError> {
    if variables.len() > MAX_VARIABLES
        || variables
            .iter()
            .any(|(k, v)| k.is_empty() || k.len() > 64 || v.len() > 256)
    {
        return Err(CommandError::new(
            ErrorCode::BadRequest,
            "variables: at most 20, names of 1 to 64 characters, values of at most 256",
        ));
    }
    Ok(())
}

/// The time-outs of a chat that starts waiting for an agent: incoming, wait, overflow (unless
/// already with its team), ring (when someone is ringing).
fn waiting_timers(
    dept: &Department,
    team: Option<Uuid>,
    offered_to: &[Uuid],
    recheck: bool,
) -> (Vec<&'static str>, Vec<f64>) {
    let s = &dept.settings;
    let mut timers: Vec<(&str, f64)> = vec![("incoming", s.incoming_timeout_secs as f64)];
    if recheck {
        timers.push(("recheck", RECHECK_SECS as f64));
    }
    if let Some(wait) = s.wait_secs {
        timers.push(("wait", wait as f64));
    }
    if let (Some(t), Some(after)) = (s.overflow_team_id, s.overflow_after_secs)
        && team != Some(t)
    {
        timers.push(("overflow", after as f64));
    }
    if s.mode == OfferMode::Ring && !offered_to.is_empty() {
        timers.push(("ring", s.ring_secs as f64));
    }
    timers.into_iter().unzip()
}

impl Machine {
    /// A machine, and the ids of the events it publishes, for [`crate::outbox::clear`] to
    /// remove from the outbox in batches.
    pub(crate) fn new(
        bus: Bus,
        pool: PgPool,
        availability: Availability,
        starts: Starts,
    ) -> (Self, mpsc::UnboundedReceiver<Uuid>) {
        let (published, rx) = mpsc::unbounded_channel();
        let machine = Self {
            bus,
            pool,
            published,
            departments: Mutex::new(HashMap::new()),
            websites: Mutex::new(HashMap::new()),
            availability,
            starts,
            turns: Turns::default(),
        };
        (machine, rx)
    }

    pub(crate) async fn snapshot(
        &self,
        group: Uuid,
        id: Uuid,
    ) -> Result<Conversation, CommandError> {
        read::conversation(&self.pool, group, id)
            .await
            .map_err(db_error)?
            .ok_or_else(|| CommandError::new(ErrorCode::NotFound, "no such conversation"))
    }

    /// A department's settings if the short-lived cache has them.
    fn department_fresh(&self, group: Uuid, id: Uuid) -> Option<Arc<Department>> {
        let cache = self.departments.lock().expect("cache lock");
        let (at, d) = cache.get(&id)?;
        (at.elapsed() < SETTINGS_TTL && d.group_id == group).then(|| d.clone())
    }

    /// A department's settings, from a short-lived cache; a miss reads with a connection of
    /// the pool's, taken only then, for a caller that holds none.
    pub(crate) async fn department_pooled(
        &self,
        group: Uuid,
        id: Uuid,
    ) -> Result<Option<Arc<Department>>, sqlx::Error> {
        if let Some(d) = self.department_fresh(group, id) {
            return Ok(Some(d));
        }
        let mut conn = self.pool.acquire().await?;
        self.department_cached(&mut conn, group, id).await
    }

    /// A department's settings, from a short-lived cache; a miss reads on `db` (the caller's
    /// transaction, if it has one: never a second connection while holding one).
    pub(crate) async fn department_cached(
        &self,
        db: &mut PgConnection,
        group: Uuid,
        id: Uuid,
    ) -> Result<Option<Arc<Department>>, sqlx::Error> {
        if let Some(d) = self.department_fresh(group, id) {
            return Ok(Some(d));
        }
        let Some(d) = settings::department(db, group, id).await? else {
            return Ok(None);
        };
        let d = Arc::new(d);
        self.departments
            .lock()
            .expect("cache lock")
            .insert(id, (Instant::now(), d.clone()));
        Ok(Some(d))
    }

    /// [`Machine::department_cached`] for a department that must exist (a chat's own).
    pub(crate) async fn department_of(
        &self,
        db: &mut PgConnection,
        group: Uuid,
        id: Uuid,
    ) -> Result<Arc<Department>, sqlx::Error> {
        self.department_cached(db, group, id)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }

    /// A website's rooftop, Lead Gate and routing settings, from a short-lived cache.
    pub(crate) async fn website_cached(
        &self,
        group: Uuid,
        id: Uuid,
    ) -> Result<Option<Arc<settings::Website>>, CommandError> {
        if let Some((at, (g, w))) = self.websites.lock().expect("cache lock").get(&id)
            && at.elapsed() < SETTINGS_TTL
            && *g == group
        {
            return Ok(Some(w.clone()));
        }
        let Some(w) = settings::website_with_gate(&self.pool, group, id).await? else {
            return Ok(None);
        };
        let w = Arc::new(w);
        self.websites
            .lock()
            .expect("cache lock")
            .insert(id, (Instant::now(), (group, w.clone())));
        Ok(Some(w))
    }

    /// Forgets a website's cached settings (after a change through this replica).
    pub(crate) fn forget_website(&self, id: Uuid) {
        self.websites.lock().expect("cache lock").remove(&id);
    }

    /// Forgets a department's cached settings (after a change through this replica).
    pub(crate) fn forget_department(&self, id: Uuid) {
        self.departments.lock().expect("cache lock").remove(&id);
    }

    /// Commits a change with its staged events, then publishes them.
    pub(crate) async fn commit(
        &self,
        tx: sqlx::Transaction<'_, sqlx::Postgres>,
        staged: Staged,
    ) -> Result<(), sqlx::Error> {
        staged
            .commit_then_publish(tx, &self.bus, &self.published)
            .await
    }

    /// Sets (or moves) a time-out of a conversation to `secs` from now.
    pub(crate) async fn set_timer(
        &self,
        tx: &mut PgConnection,
        id: Uuid,
        group: Uuid,
        kind: &str,
        secs: u32,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO conversation_timers (conversation_id, kind, group_id, due_at) \
             VALUES ($1, $2, $3, now() + make_interval(secs => $4)) \
             ON CONFLICT (conversation_id, kind) DO UPDATE SET due_at = EXCLUDED.due_at",
        )
        .bind(id)
        .bind(kind)
        .bind(group)
        .bind(secs as f64)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// Removes time-outs of a conversation.
    pub(crate) async fn cancel_timers(
        &self,
        tx: &mut PgConnection,
        id: Uuid,
        kinds: &[&str],
    ) -> Result<(), sqlx::Error> {
        let kinds: Vec<String> = kinds.iter().map(|k| (*k).to_owned()).collect();
        sqlx::query(
            "DELETE FROM conversation_timers WHERE conversation_id = $1 AND kind = ANY($2)",
        )
        .bind(id)
        .bind(&kinds)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// Closes an open conversation for good (ended, missed, timed out, offline): cancels its
    /// time-outs and any open transfer, and stages the events. `guard` limits who may do it.
    /// Answers `None` when it was not open (or the guard did not match).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn close(
        &self,
        tx: &mut PgConnection,
        group: Uuid,
        id: Uuid,
        state: ConversationState,
        ended_by: EndedBy,
        reason: Option<OfflineReason>,
        guard: Option<(EndedBy, Uuid)>,
        staged: &mut Staged,
    ) -> Result<Option<Conversation>, sqlx::Error> {
        let closed: Option<(Vec<Uuid>,)> = sqlx::query_as(
            "UPDATE conversations SET state = $3, ended_at = now(), ended_by = $4, offline_reason = $5 \
             WHERE id = $1 AND group_id = $2 AND state IN ('bot', 'incoming', 'active') \
               AND ($6::text IS NULL OR ($6 = 'shopper' AND visitor_id = $7) OR ($6 = 'agent' AND agent_id = $7)) \
             RETURNING offered_to",
        )
        .bind(id)
        .bind(group)
        .bind(state.as_str())
        .bind(ended_by.as_str())
        .bind(reason.map(|r| r.as_str()))
        .bind(guard.map(|g| g.0.as_str()))
        .bind(guard.map(|g| g.1))
        .fetch_optional(&mut *tx)
        .await?;
        let Some((offered_to,)) = closed else {
            return Ok(None);
        };
        sqlx::query("DELETE FROM conversation_timers WHERE conversation_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE participants SET left_at = now() WHERE conversation_id = $1 AND left_at IS NULL")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let cancelled: Option<(Uuid, Vec<Uuid>)> = sqlx::query_as(
            "UPDATE transfers SET state = 'cancelled', decided_at = now() \
             WHERE conversation_id = $1 AND state = 'requested' RETURNING id, offered_to",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(now) = read::conversation(&mut *tx, group, id).await? else {
            return Ok(None);
        };
        if let Some((transfer_id, targets)) = cancelled {
            let transfer = read::transfer(&mut *tx, group, transfer_id).await?;
            staged.event(
                ConversationEventKind::Transferred,
                &now,
                targets,
                Vec::new(),
                transfer,
            )?;
        }
        staged.event(closing_event(state), &now, offered_to, Vec::new(), None)?;
        Ok(Some(now))
    }

    /// The visitor's open conversation on a website, if any.
    async fn open_for(
        &self,
        group: Uuid,
        website: Uuid,
        visitor: Uuid,
    ) -> Result<Option<Conversation>, CommandError> {
        let open = read::conversations(
            &self.pool,
            group,
            read::Filter::Visitor {
                website_id: website,
                visitor_id: visitor,
            },
            1,
        )
        .await
        .map_err(db_error)?;
        Ok(open.into_iter().find(|c| !c.state.is_closed()))
    }

    /// Creates the conversation (or returns the visitor's open one). `request` is the start
    /// request's envelope id and becomes the conversation's id, so a retried request (the same
    /// envelope, sent again when a router replica died before answering) answers the chat the
    /// first one made, even when that one is closed already (offline at once): it never makes a
    /// second chat, nor a second lead. With the website's Lead Gate on, it starts in state `bot` and waits for the
    /// bot's `route`; otherwise it is routed at once: offered to the eligible agents, or to the
    /// offline flow when the department is closed, the website is full, or nobody who could
    /// take it is online.
    pub async fn start(
        &self,
        group: Uuid,
        request: Uuid,
        cmd: StartConversation,
    ) -> Result<Conversation, CommandError> {
        decided(Instant::now(), self.start_chat(group, request, cmd).await)
    }

    async fn start_chat(
        &self,
        group: Uuid,
        id: Uuid,
        cmd: StartConversation,
    ) -> Result<Conversation, CommandError> {
        check_variables(&cmd.variables)?;
        let vehicle = match cmd.vehicle.clone() {
            None => None,
            Some(v) => v
                .checked(chrono::Datelike::year(&chrono::Utc::now()))
                .map_err(|e| CommandError::new(ErrorCode::BadRequest, e))?,
        };
        let page_url = cmd
            .page_url
            .as_deref()
            .map(str::trim)
            .filter(|u| (u.starts_with("https://") || u.starts_with("http://")) && u.len() <= 2000)
            .map(str::to_string);
        let client_ip = cmd
            .client_ip
            .as_deref()
            .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
            .map(str::to_string);
        let Some(web) = self.website_cached(group, cmd.website_id).await? else {
            return Err(CommandError::new(ErrorCode::NotFound, "no such website"));
        };
        let rooftop = web.rooftop;
        let pending = cmd.department_id.is_none();
        let chosen = match cmd.department_id {
            Some(d) => d,
            None => self.first_department(group, rooftop).await?,
        };
        let gate = web.lead_gate;
        let (dept, mut decision) = if gate {
            // The bot asks first; the department is checked now all the same.
            let dept = self
                .department_pooled(group, chosen)
                .await
                .map_err(db_error)?
                .filter(|d| d.rooftop_id == rooftop)
                .ok_or_else(|| {
                    CommandError::new(ErrorCode::NotFound, "no such department on this website")
                })?;
            (dept, Decision::Gate)
        } else {
            self.decide(group, rooftop, &web.routing, chosen, &cmd.variables)
                .await?
        };

        // The chat as decided, with its time-outs (set in the same statement as the chat).
        let chat = |decision: &Decision| {
            let (state, offline_reason, offered_to, team_id) = match decision {
                Decision::Gate => (ConversationState::Bot, None, Vec::new(), None),
                Decision::Offer {
                    offered_to, team, ..
                } => (ConversationState::Incoming, None, offered_to.clone(), *team),
                Decision::Offline(r) => (ConversationState::Offline, Some(*r), Vec::new(), None),
            };
            let timers = match decision {
                // A shopper who leaves the bot's questions unanswered times out like an idle
                // chat.
                Decision::Gate => (
                    vec!["inactivity"],
                    vec![dept.settings.inactivity_secs as f64],
                ),
                Decision::Offer { recheck, .. } => {
                    waiting_timers(&dept, team_id, &offered_to, *recheck)
                }
                Decision::Offline(_) => (Vec::new(), Vec::new()),
            };
            NewChat {
                id,
                group,
                website_id: cmd.website_id,
                rooftop_id: rooftop,
                department_id: dept.id,
                visitor_id: cmd.visitor_id,
                shopper_name: cmd.shopper_name.clone(),
                state,
                offline_reason,
                team_id,
                offered_to,
                variables: cmd.variables.clone(),
                timers,
                vehicle: vehicle.clone(),
                language: cmd.language,
                department_pending: gate && pending,
                page_url: page_url.clone(),
                client_ip_source: client_ip.as_ref().and(cmd.client_ip_source),
                client_ip: client_ip.clone(),
                form_id: cmd.form_id,
            }
        };
        let written = match (web.routing.max_sessions, &decision) {
            // A capped website's open chats are counted under a lock of its own until the
            // commit, so such a start commits alone.
            (Some(max), Decision::Offer { .. }) => {
                let mut staged = Staged::default();
                let mut tx = crate::starts::begin(&self.pool).await.map_err(db_error)?;
                if self
                    .cap_reached(&mut tx, cmd.website_id, max, None)
                    .await
                    .map_err(db_error)?
                {
                    decision = Decision::Offline(OfflineReason::MaxSessions);
                }
                let written = chat(&decision)
                    .write(&mut tx, &mut staged)
                    .await
                    .map_err(db_error)?;
                if written.is_some() {
                    self.commit(tx, staged).await.map_err(db_error)?;
                }
                written
            }
            // Any other shares a commit with the starts queued with it.
            _ => self.starts.write(chat(&decision)).await?,
        };
        if let Some(now) = written {
            return Ok(now);
        }
        // A retried start (its id is the request's) gets the chat it made; any other
        // conflict is the visitor's open chat (`conversations_one_open`), which it gets.
        if let Some(made) = read::conversation(&self.pool, group, id)
            .await
            .map_err(db_error)?
        {
            return Ok(made);
        }
        self.open_for(group, cmd.website_id, cmd.visitor_id)
            .await?
            .ok_or_else(|| {
                CommandError::new(
                    ErrorCode::Unavailable,
                    "conversation changed meanwhile; retry",
                )
            })
    }

    /// Routes a chat the bot is done with: stores what the Lead Gate collected, then decides
    /// as [`Machine::start`] does (the website's rules, hours, its cap, who is online). A chat
    /// no longer with the bot is answered as it is, so a retried `route` changes nothing.
    pub async fn route(
        &self,
        group: Uuid,
        cmd: RouteConversation,
    ) -> Result<Conversation, CommandError> {
        decided(Instant::now(), self.route_chat(group, cmd).await)
    }

    async fn route_chat(
        &self,
        group: Uuid,
        cmd: RouteConversation,
    ) -> Result<Conversation, CommandError> {
        check_variables(&cmd.variables)?;
        let contact = &cmd.contact;
        if contact.first_name.trim().is_empty()
            || contact.last_name.trim().is_empty()
            || (contact.email.is_none() && contact.phone.is_none())
        {
            return Err(CommandError::new(
                ErrorCode::BadRequest,
                "contact: first and last name and an e-mail or a phone are required",
            ));
        }
        let current = self.snapshot(group, cmd.conversation_id).await?;
        if current.state != ConversationState::Bot {
            return Ok(current);
        }
        let Some(web) = self.website_cached(group, current.website_id).await? else {
            return Err(CommandError::new(ErrorCode::NotFound, "no such website"));
        };
        let (stored,): (sqlx::types::Json<BTreeMap<String, String>>,) =
            sqlx::query_as("SELECT variables FROM conversations WHERE id = $1")
                .bind(cmd.conversation_id)
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)?;
        let mut variables = stored.0;
        variables.extend(cmd.variables.clone());
        check_variables(&variables)?;
        let chosen = cmd.department_id.unwrap_or(current.department.id);
        let (dept, mut decision) = self
            .decide(group, web.rooftop, &web.routing, chosen, &variables)
            .await?;

        let mut staged = Staged::default();
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let still: Option<(String,)> = sqlx::query_as(
            // NO KEY UPDATE: rows of other services referencing the chat (the bot's gate
            // session) hold key-share locks that must not block a route.
            "SELECT state FROM conversations WHERE id = $1 AND group_id = $2 FOR NO KEY UPDATE",
        )
        .bind(cmd.conversation_id)
        .bind(group)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        if still.is_none_or(|(s,)| s != "bot") {
            drop(tx);
            return self.snapshot(group, cmd.conversation_id).await;
        }
        if let (Some(max), Decision::Offer { .. }) = (web.routing.max_sessions, &decision)
            && self
                .cap_reached(&mut tx, current.website_id, max, Some(cmd.conversation_id))
                .await
                .map_err(db_error)?
        {
            decision = Decision::Offline(OfflineReason::MaxSessions);
        }
        let (offered_to, team, recheck) = match &decision {
            Decision::Offer {
                offered_to,
                team,
                recheck,
            } => (offered_to.clone(), *team, *recheck),
            _ => (Vec::new(), None, false),
        };
        let result: Result<Conversation, sqlx::Error> = async {
            sqlx::query(
                "UPDATE conversations SET department_id = $2, department_pending = false, contact = $3, \
                 shopper_name = $4, variables = $5, team_id = $6, offered_to = $7 WHERE id = $1",
            )
            .bind(cmd.conversation_id)
            .bind(dept.id)
            .bind(sqlx::types::Json(contact))
            .bind(contact.full_name())
            .bind(sqlx::types::Json(&variables))
            .bind(team)
            .bind(&offered_to)
            .execute(&mut *tx)
            .await?;
            if let Decision::Offline(reason) = decision {
                let closed = self
                    .close(
                        &mut tx,
                        group,
                        cmd.conversation_id,
                        ConversationState::Offline,
                        EndedBy::System,
                        Some(reason),
                        None,
                        &mut staged,
                    )
                    .await?;
                return closed.ok_or(sqlx::Error::RowNotFound);
            }
            self.cancel_timers(&mut tx, cmd.conversation_id, &["inactivity"])
                .await?;
            let (kinds, secs) = waiting_timers(&dept, team, &offered_to, recheck);
            sqlx::query(
                "WITH u AS (UPDATE conversations SET state = 'incoming' WHERE id = $1) \
                 INSERT INTO conversation_timers (conversation_id, kind, group_id, due_at) \
                 SELECT $1, k.kind, $2, now() + make_interval(secs => k.secs) \
                 FROM unnest($3::text[], $4::float8[]) AS k(kind, secs)",
            )
            .bind(cmd.conversation_id)
            .bind(group)
            .bind(&kinds)
            .bind(&secs)
            .execute(&mut *tx)
            .await?;
            let now = read::conversation(&mut *tx, group, cmd.conversation_id)
                .await?
                .ok_or(sqlx::Error::RowNotFound)?;
            staged.routed(&now, &offered_to)?;
            Ok(now)
        }
        .await;
        let now = result.map_err(db_error)?;
        self.commit(tx, staged).await.map_err(db_error)?;
        Ok(now)
    }

    /// The first department of a rooftop (by position), for a chat started without one.
    async fn first_department(&self, group: Uuid, rooftop: Uuid) -> Result<Uuid, CommandError> {
        let first: Option<(Uuid,)> = sqlx::query_as(
            "SELECT id FROM departments WHERE rooftop_id = $1 AND group_id = $2 ORDER BY position, label LIMIT 1",
        )
        .bind(rooftop)
        .bind(group)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        first.map(|(id,)| id).ok_or_else(|| {
            CommandError::new(
                ErrorCode::NotFound,
                "this website's dealership has no departments",
            )
        })
    }

    /// Where a chat for `department_id` goes: the website's rules (which may pick another
    /// department or bring in a team), then hours, then who is online.
    async fn decide(
        &self,
        group: Uuid,
        rooftop: Uuid,
        web: &WebsiteRouting,
        department_id: Uuid,
        variables: &BTreeMap<String, String>,
    ) -> Result<(Arc<Department>, Decision), CommandError> {
        let mut department_id = department_id;
        let mut team = None;
        if let Some(rule) = web.rules.iter().find(|r| {
            variables
                .get(&r.variable)
                .is_some_and(|v| v.trim().eq_ignore_ascii_case(r.value.trim()))
        }) {
            department_id = rule.department_id.unwrap_or(department_id);
            team = rule.team_id;
        }
        let dept = self
            .department_pooled(group, department_id)
            .await
            .map_err(db_error)?
            .filter(|d| d.rooftop_id == rooftop)
            .ok_or_else(|| {
                CommandError::new(ErrorCode::NotFound, "no such department on this website")
            })?;
        if !dept.is_open_now() {
            return Ok((dept, Decision::Offline(OfflineReason::AfterHours)));
        }
        let overflow = dept.settings.overflow_team_id;
        if team.is_none() && dept.settings.overflow_after_secs == Some(0) {
            // Overflow at once: the covering team is in the pool from the start.
            team = overflow;
        }
        // No connection is held while presence answers: the members' query takes one from
        // the pool and gives it back (at C decisions in flight, a held connection made the
        // pool the limit), and a department in the cache takes none.
        let mut pool = self
            .pool(&self.pool, group, dept.id, team, None, Purpose::NewChat)
            .await
            .map_err(db_error)?;
        if pool.online.is_empty() && team.is_none() && overflow.is_some() {
            // Nobody of the department is here: the covering team gets it at once.
            team = overflow;
            pool = self
                .pool(&self.pool, group, dept.id, team, None, Purpose::NewChat)
                .await
                .map_err(db_error)?;
        }
        if pool.silent {
            // Presence did not answer: not "nobody". The chat waits and is looked at again.
            return Ok((
                dept,
                Decision::Offer {
                    offered_to: Vec::new(),
                    team,
                    recheck: true,
                },
            ));
        }
        if pool.online.is_empty() {
            return Ok((dept, Decision::Offline(OfflineReason::NobodyAvailable)));
        }
        let eligible = pool.eligible(dept.settings.max_chats_per_agent);
        let p = plan(dept.settings.mode, &eligible, &[], &[], Trigger::Presence);
        Ok((
            dept,
            Decision::Offer {
                offered_to: p.offered_to,
                team,
                recheck: false,
            },
        ))
    }

    /// Whether a capped website already has `max` open chats (not counting `except`). Takes a
    /// per-website advisory lock first, so one start or route at a time counts and the cap
    /// holds under concurrency.
    async fn cap_reached(
        &self,
        tx: &mut PgConnection,
        website: Uuid,
        max: u32,
        except: Option<Uuid>,
    ) -> Result<bool, sqlx::Error> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 7))")
            .bind(website)
            .execute(&mut *tx)
            .await?;
        let (open,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM conversations WHERE website_id = $1 \
             AND state IN ('bot', 'incoming', 'active') AND id IS DISTINCT FROM $2",
        )
        .bind(website)
        .bind(except)
        .fetch_one(&mut *tx)
        .await?;
        Ok(open >= i64::from(max))
    }

    /// Gives the chat to the agent if nobody took it first.
    pub async fn accept(
        &self,
        group: Uuid,
        cmd: AcceptConversation,
    ) -> Result<Conversation, CommandError> {
        // A chat offered to many agents is accepted by one; the others' accepts mostly come
        // after that one committed. One plain read answers them, without a transaction that
        // locks the agent and waits on the chat's row (in the soak, ~5 lost accepts per chat
        // made the router the limit: `loadtest/README.md`). The ones that come while it is
        // under way wait for it here, in this replica, then read ([`crate::turns`]). A chat
        // still waiting, or taken meanwhile on another replica, goes the whole way below.
        let _turn = self.turns.take(cmd.conversation_id).await;
        let now: Option<(String, Option<Uuid>)> = sqlx::query_as(
            "SELECT state, agent_id FROM conversations WHERE id = $1 AND group_id = $2",
        )
        .bind(cmd.conversation_id)
        .bind(group)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        match now {
            None => {
                return Err(CommandError::new(
                    ErrorCode::NotFound,
                    "no such conversation",
                ));
            }
            Some((state, agent)) if state == ConversationState::Active.as_str() => {
                if agent != Some(cmd.agent_id) {
                    return Err(taken());
                }
                // A retried accept of one's own chat: answered as it is.
                return self.snapshot(group, cmd.conversation_id).await;
            }
            Some((state, _)) if ConversationState::parse(&state).is_some_and(|s| s.is_closed()) => {
                return Err(closed());
            }
            Some(_) => {}
        }
        let mut staged = Staged::default();
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        // An agent holds at most their maximum of chats (capped by the department's), however
        // they ask: the agent's row is locked, so two accepts of theirs at once count in turn.
        // A chat no longer waiting is left to the answers below (a retried accept of one's own
        // chat is not a new one).
        let room: Option<(i32, i64, Option<i32>, bool)> = sqlx::query_as(
            "SELECT a.max_chats, \
               (SELECT count(*) FROM conversations x WHERE x.agent_id = a.id AND x.state = 'active'), \
               (SELECT dr.max_chats_per_agent FROM conversations c \
                  JOIN department_routing dr ON dr.department_id = c.department_id WHERE c.id = $3), \
               EXISTS (SELECT 1 FROM conversations c WHERE c.id = $3 AND c.state = 'incoming') \
             FROM agents a WHERE a.id = $1 AND a.group_id = $2 FOR UPDATE OF a",
        )
        .bind(cmd.agent_id)
        .bind(group)
        .bind(cmd.conversation_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        if let Some((own, active, cap, true)) = room {
            let limit = cap.map_or(own, |c| c.min(own));
            if active >= i64::from(limit) {
                return Err(CommandError::new(
                    ErrorCode::NotAllowed,
                    format!(
                        "you hold your maximum of {limit} chats: end one before you take another"
                    ),
                ));
            }
        }
        let won: Option<(Vec<Uuid>, Uuid)> = sqlx::query_as(
            "UPDATE conversations SET state = 'active', agent_id = $2, assigned_at = now() \
             WHERE id = $1 AND group_id = $3 AND state = 'incoming' \
               AND ($2 = ANY(offered_to) \
                    OR EXISTS (SELECT 1 FROM agent_memberships m WHERE m.agent_id = $2 AND m.department_id = conversations.department_id) \
                    OR EXISTS (SELECT 1 FROM team_members t WHERE t.agent_id = $2 AND t.team_id = conversations.team_id)) \
             RETURNING offered_to, department_id",
        )
        .bind(cmd.conversation_id)
        .bind(cmd.agent_id)
        .bind(group)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some((offered_to, department_id)) = won else {
            drop(tx);
            let current = self.snapshot(group, cmd.conversation_id).await?;
            return match current.state {
                ConversationState::Active
                    if current.agent.as_ref().is_some_and(|a| a.id == cmd.agent_id) =>
                {
                    Ok(current)
                }
                ConversationState::Active => Err(taken()),
                s if s.is_closed() => Err(closed()),
                _ => Err(CommandError::new(
                    ErrorCode::NotAllowed,
                    "you do not cover this chat's department",
                )),
            };
        };
        let result: Result<Conversation, sqlx::Error> = async {
            let inactivity = self
                .department_of(&mut tx, group, department_id)
                .await?
                .settings
                .inactivity_secs;
            sqlx::query(
                "INSERT INTO participants (conversation_id, kind, participant_id) VALUES ($1, 'agent', $2) \
                 ON CONFLICT (conversation_id, kind, participant_id) DO UPDATE SET left_at = NULL",
            )
            .bind(cmd.conversation_id)
            .bind(cmd.agent_id)
            .execute(&mut *tx)
            .await?;
            self.cancel_timers(&mut tx, cmd.conversation_id, &["ring", "overflow", "wait", "incoming", "recheck"])
                .await?;
            self.set_timer(&mut tx, cmd.conversation_id, group, "inactivity", inactivity)
                .await?;
            let now = read::conversation(&mut *tx, group, cmd.conversation_id)
                .await?
                .ok_or(sqlx::Error::RowNotFound)?;
            staged
                .event(ConversationEventKind::Assigned, &now, offered_to, Vec::new(), None)?;
            Ok(now)
        }
        .await;
        let assigned = result.map_err(db_error)?;
        self.commit(tx, staged).await.map_err(db_error)?;
        metrics::counter!(names::OFFER_ACCEPTS).increment(1);
        Ok(assigned)
    }

    /// Closes the chat for good. Ending an already closed chat answers with it unchanged.
    pub async fn end(
        &self,
        group: Uuid,
        cmd: EndConversation,
    ) -> Result<Conversation, CommandError> {
        let guard = match cmd.by {
            EndedBy::System => None,
            by => Some((by, cmd.actor_id)),
        };
        let mut staged = Staged::default();
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let closed = self
            .close(
                &mut tx,
                group,
                cmd.conversation_id,
                ConversationState::Ended,
                cmd.by,
                None,
                guard,
                &mut staged,
            )
            .await
            .map_err(db_error)?;
        self.commit(tx, staged).await.map_err(db_error)?;
        if let Some(c) = closed {
            return Ok(c);
        }
        let current = self.snapshot(group, cmd.conversation_id).await?;
        if current.state.is_closed() {
            return Ok(current);
        }
        Err(CommandError::new(
            ErrorCode::NotAllowed,
            match cmd.by {
                EndedBy::Agent => "only the agent who has this chat can end it",
                _ => "this is not your conversation",
            },
        ))
    }
}
