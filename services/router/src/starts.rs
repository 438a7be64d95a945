//! New chats written in shared commits. A start, once decided, is queued as a [`NewChat`];
//! writer tasks take what is queued (waiting only when nothing is), write the chats with their
//! shoppers and time-outs (one statement for them all), the events of them all into the outbox
//! (one statement), commit once, publish, and answer each start. So concurrent starts share the
//! commit's round trips and its wait for the disk, as messages do in the gateway's transcript
//! writer. A batch that fails is written again chat by chat, each in a commit of its own, so a
//! chat's failure stays its own.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use showroom_bus::Bus;
use showroom_proto::contact::{AddressSource, Language};
use showroom_proto::conversation::{
    Conversation, ConversationEventKind, ConversationState, OfflineReason, Vehicle,
};
use showroom_proto::{CommandError, ErrorCode};
use showroom_runtime::shared_commit::next_batch;
use showroom_store::fault::db_error;
use showroom_store::read;
use showroom_store::sqlx::{self, PgConnection, PgPool};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::outbox::Staged;

/// Most starts written in one commit.
const BATCH_CAP: usize = 64;

/// Starts waiting for a writer, at most.
const QUEUE: usize = 1024;

/// A chat to write, its route decided.
pub(crate) struct NewChat {
    pub id: Uuid,
    pub group: Uuid,
    pub website_id: Uuid,
    pub rooftop_id: Uuid,
    pub department_id: Uuid,
    pub visitor_id: Uuid,
    pub shopper_name: Option<String>,
    pub state: ConversationState,
    pub offline_reason: Option<OfflineReason>,
    pub team_id: Option<Uuid>,
    pub offered_to: Vec<Uuid>,
    pub variables: BTreeMap<String, String>,
    /// Its time-outs: kinds, and seconds from now.
    pub timers: (Vec<&'static str>, Vec<f64>),
    pub vehicle: Option<Vehicle>,
    pub language: Language,
    pub department_pending: bool,
    pub page_url: Option<String>,
    pub client_ip: Option<String>,
    pub client_ip_source: Option<AddressSource>,
    pub form_id: Option<Uuid>,
}

impl NewChat {
    /// Writes the chat, its shopper and its time-outs, and stages its events
    /// ([`NewChat::write_all`] for one chat).
    pub(crate) async fn write(
        &self,
        db: &mut PgConnection,
        staged: &mut Staged,
    ) -> Result<Option<Conversation>, sqlx::Error> {
        let mut written = Self::write_all(&[(self, None)], db, staged).await?;
        Ok(written.pop().flatten())
    }

    /// Writes the chats, each with its shopper and time-outs, in one statement that also reads
    /// them as written, and stages each chat's events in order (within its start's span, so
    /// they belong to its trace): `created`, then `offline`, or `queued` and (when someone was)
    /// `offered`; only `created` for a chat with the bot. A chat is `None` when it conflicts: a
    /// retried start (its id is the request's) or the visitor's open chat.
    ///
    /// Chats of the same id or the same visitor on the same website go in later statements, so
    /// each sees the ones before it as if written one by one (the first of a visitor's two
    /// starts holds the open chat; an offline one is the next one's `previous_id`).
    pub(crate) async fn write_all(
        chats: &[(&NewChat, Option<&tracing::Span>)],
        db: &mut PgConnection,
        staged: &mut Staged,
    ) -> Result<Vec<Option<Conversation>>, sqlx::Error> {
        let rounds = rounds(chats.iter().map(|(c, _)| *c));
        let mut written: Vec<Option<Conversation>> = vec![None; chats.len()];
        for round in 0..=rounds.iter().copied().max().unwrap_or(0) {
            let these: Vec<usize> = (0..chats.len()).filter(|i| rounds[*i] == round).collect();
            let rows = Self::insert(these.iter().map(|i| chats[*i].0), db).await?;
            let mut rows: Vec<Conversation> = rows.into_iter().map(Conversation::from).collect();
            for i in these {
                if let Some(at) = rows.iter().position(|r| r.id == chats[i].0.id) {
                    written[i] = Some(rows.swap_remove(at));
                }
            }
        }
        for ((chat, span), now) in chats.iter().zip(&written) {
            let Some(now) = now else { continue };
            let _trace = span.map(|s| s.enter());
            staged.event(
                ConversationEventKind::Created,
                now,
                Vec::new(),
                Vec::new(),
                None,
            )?;
            if chat.state != ConversationState::Bot {
                staged.routed(now, &chat.offered_to)?;
            }
        }
        Ok(written)
    }

    /// One statement for chats of distinct ids and visitors: the rows it wrote, in no order.
    async fn insert(
        chats: impl Iterator<Item = &NewChat>,
        db: &mut PgConnection,
    ) -> Result<Vec<read::ConversationRow>, sqlx::Error> {
        let mut k = Columns::default();
        for c in chats {
            k.push(c);
        }
        sqlx::query_as(concat!(
            "WITH k AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], \
                $5::uuid[], $6::uuid[], $7::text[], $8::text[], $9::text[], $10::uuid[], $11::text[], \
                $12::jsonb[], $13::bool[], $14::jsonb[], $15::text[], $16::bool[], $17::text[], \
                $18::text[], $19::uuid[], $20::text[]) WITH ORDINALITY \
                AS k(id, group_id, website_id, rooftop_id, department_id, visitor_id, shopper_name, \
                    state, offline_reason, team_id, offered_to, variables, closed, vehicle, language, \
                    department_pending, page_url, client_ip, form_id, client_ip_source, n)), \
             c AS ( \
                INSERT INTO conversations (id, group_id, website_id, rooftop_id, department_id, visitor_id, \
                    shopper_name, state, offline_reason, team_id, offered_to, variables, vehicle, previous_id, ended_at, ended_by, \
                    language, department_pending, page_url, client_ip, form_id, client_ip_source) \
                SELECT k.id, k.group_id, k.website_id, k.rooftop_id, k.department_id, k.visitor_id, \
                    k.shopper_name, k.state, k.offline_reason, k.team_id, k.offered_to::uuid[], k.variables, k.vehicle, \
                    (SELECT p.id FROM conversations p WHERE p.website_id = k.website_id AND p.visitor_id = k.visitor_id ORDER BY p.created_at DESC LIMIT 1), \
                    CASE WHEN k.closed THEN now() END, CASE WHEN k.closed THEN 'system' END, k.language, \
                    k.department_pending, k.page_url, k.client_ip, k.form_id, k.client_ip_source \
                FROM k ORDER BY k.n \
                ON CONFLICT DO NOTHING RETURNING *), \
             p AS (INSERT INTO participants (conversation_id, kind, participant_id, left_at) \
                SELECT id, 'shopper', visitor_id, ended_at FROM c), \
             t AS (INSERT INTO conversation_timers (conversation_id, kind, group_id, due_at) \
                SELECT c.id, x.kind, c.group_id, now() + make_interval(secs => x.secs) \
                FROM c JOIN unnest($21::uuid[], $22::text[], $23::float8[]) AS x(conversation_id, kind, secs) \
                  ON x.conversation_id = c.id) ",
            showroom_store::conversation_snapshot!("c")
        ))
        .bind(k.id)
        .bind(k.group)
        .bind(k.website_id)
        .bind(k.rooftop_id)
        .bind(k.department_id)
        .bind(k.visitor_id)
        .bind(k.shopper_name)
        .bind(k.state)
        .bind(k.offline_reason)
        .bind(k.team_id)
        .bind(k.offered_to)
        .bind(k.variables)
        .bind(k.closed)
        .bind(k.vehicle)
        .bind(k.language)
        .bind(k.department_pending)
        .bind(k.page_url)
        .bind(k.client_ip)
        .bind(k.form_id)
        .bind(k.client_ip_source)
        .bind(k.timer_chat)
        .bind(k.timer_kind)
        .bind(k.timer_secs)
        .fetch_all(&mut *db)
        .await
    }
}

/// Which statement each chat goes in: the first, unless an earlier chat has its id or its
/// visitor on its website, then the one after that chat's.
fn rounds<'a>(chats: impl Iterator<Item = &'a NewChat>) -> Vec<usize> {
    let mut last: HashMap<Key, usize> = HashMap::new();
    chats
        .map(|c| {
            let keys = [Key::Id(c.id), Key::Visitor(c.website_id, c.visitor_id)];
            let round = keys
                .iter()
                .filter_map(|k| last.get(k).map(|r| r + 1))
                .max()
                .unwrap_or(0);
            for k in keys {
                last.insert(k, round);
            }
            round
        })
        .collect()
}

/// What two chats written in one statement must not share.
#[derive(PartialEq, Eq, Hash)]
enum Key {
    Id(Uuid),
    Visitor(Uuid, Uuid),
}

/// The chats of one statement, column by column.
#[derive(Default)]
struct Columns<'a> {
    id: Vec<Uuid>,
    group: Vec<Uuid>,
    website_id: Vec<Uuid>,
    rooftop_id: Vec<Uuid>,
    department_id: Vec<Uuid>,
    visitor_id: Vec<Uuid>,
    shopper_name: Vec<Option<&'a str>>,
    state: Vec<&'static str>,
    offline_reason: Vec<Option<&'static str>>,
    team_id: Vec<Option<Uuid>>,
    /// Each chat's agents as an array literal (`{a,b}`): arrays of arrays must be rectangular.
    offered_to: Vec<String>,
    variables: Vec<sqlx::types::Json<&'a BTreeMap<String, String>>>,
    closed: Vec<bool>,
    vehicle: Vec<Option<sqlx::types::Json<&'a Vehicle>>>,
    language: Vec<&'static str>,
    department_pending: Vec<bool>,
    page_url: Vec<Option<&'a str>>,
    client_ip: Vec<Option<&'a str>>,
    form_id: Vec<Option<Uuid>>,
    client_ip_source: Vec<Option<&'static str>>,
    timer_chat: Vec<Uuid>,
    timer_kind: Vec<&'static str>,
    timer_secs: Vec<f64>,
}

impl<'a> Columns<'a> {
    fn push(&mut self, c: &'a NewChat) {
        self.id.push(c.id);
        self.group.push(c.group);
        self.website_id.push(c.website_id);
        self.rooftop_id.push(c.rooftop_id);
        self.department_id.push(c.department_id);
        self.visitor_id.push(c.visitor_id);
        self.shopper_name.push(c.shopper_name.as_deref());
        self.state.push(c.state.as_str());
        self.offline_reason
            .push(c.offline_reason.map(|r| r.as_str()));
        self.team_id.push(c.team_id);
        let agents: Vec<String> = c.offered_to.iter().map(Uuid::to_string).collect();
        self.offered_to.push(format!("{{{}}}", agents.join(",")));
        self.variables.push(sqlx::types::Json(&c.variables));
        self.closed.push(c.state.is_closed());
        self.vehicle.push(c.vehicle.as_ref().map(sqlx::types::Json));
        self.language.push(c.language.as_str());
        self.department_pending.push(c.department_pending);
        self.page_url.push(c.page_url.as_deref());
        self.client_ip.push(c.client_ip.as_deref());
        self.form_id.push(c.form_id);
        self.client_ip_source
            .push(c.client_ip_source.map(|s| s.as_str()));
        for (kind, secs) in c.timers.0.iter().zip(&c.timers.1) {
            self.timer_chat.push(c.id);
            self.timer_kind.push(kind);
            self.timer_secs.push(*secs);
        }
    }
}

/// What a writer answers a start: the chat as written, or `None` when it conflicted.
type Written = Result<Option<Conversation>, CommandError>;

struct Job {
    chat: NewChat,
    /// The start's span: its chat's events belong to its trace.
    span: tracing::Span,
    reply: oneshot::Sender<Written>,
}

/// What a writer commits with: the router's pool, and where its events go once committed.
#[derive(Clone)]
pub(crate) struct Committer {
    pub pool: PgPool,
    pub bus: Bus,
    /// Ids of published events, for `outbox::clear`.
    pub published: mpsc::UnboundedSender<Uuid>,
}

/// The queue of starts to write.
pub(crate) struct Starts {
    queue: mpsc::Sender<Job>,
}

/// The writers' end of the queue.
#[derive(Clone)]
pub(crate) struct Queued(Arc<Mutex<mpsc::Receiver<Job>>>);

impl Starts {
    /// A queue, and its end for [`write`].
    pub(crate) fn new() -> (Self, Queued) {
        let (queue, rx) = mpsc::channel(QUEUE);
        (Self { queue }, Queued(Arc::new(Mutex::new(rx))))
    }

    /// Writes `chat` in a commit shared with the starts queued with it.
    pub(crate) async fn write(&self, chat: NewChat) -> Written {
        let gone = || CommandError::new(ErrorCode::Unavailable, "the router is stopping; retry");
        let (reply, answer) = oneshot::channel();
        let span = tracing::Span::current();
        self.queue
            .send(Job { chat, span, reply })
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// How many writers for a pool of `connections`: half of it, from one to four (the rest is
/// for the decisions' reads and every other command).
pub(crate) fn writers_for(connections: u32) -> usize {
    (connections as usize / 2).clamp(1, 4)
}

/// One writer: takes what is queued now (waiting only when nothing is), writes it in one
/// commit, answers each start. While it commits, the queue is another writer's. After
/// `shutdown` it writes what is queued and stops.
pub(crate) async fn write(committer: Committer, queued: Queued, shutdown: CancellationToken) {
    loop {
        let Some(batch) = next_batch(&queued.0, BATCH_CAP, &shutdown).await else {
            return;
        };
        let (chats, replies): (Vec<(NewChat, tracing::Span)>, Vec<_>) = batch
            .into_iter()
            .map(|j| ((j.chat, j.span), j.reply))
            .unzip();
        let written = match together(&committer, &chats).await {
            Ok(written) => written.into_iter().map(Ok).collect(),
            Err(e) => {
                if chats.len() > 1 {
                    tracing::warn!(error = %e, chats = chats.len(), "a shared commit failed; writing each chat alone");
                }
                let mut each = Vec::with_capacity(chats.len());
                for (chat, span) in &chats {
                    each.push(alone(&committer, chat).instrument(span.clone()).await);
                }
                each
            }
        };
        for (reply, written) in replies.into_iter().zip(written) {
            // A start that went away (its request timed out) is not waiting.
            let _ = reply.send(written);
        }
    }
}

/// The transaction chats are written in ([`NewChat::write`], [`NewChat::write_all`]): their
/// statement runs its generic plan, not one planned for each batch
/// ([`showroom_store::begin_generic`]).
pub(crate) async fn begin(
    pool: &PgPool,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    showroom_store::begin_generic(pool).await
}

/// Every chat of the batch in one commit.
async fn together(
    committer: &Committer,
    chats: &[(NewChat, tracing::Span)],
) -> Result<Vec<Option<Conversation>>, sqlx::Error> {
    let mut staged = Staged::default();
    let mut tx = begin(&committer.pool).await?;
    let each: Vec<_> = chats
        .iter()
        .map(|(chat, span)| (chat, Some(span)))
        .collect();
    let written = NewChat::write_all(&each, &mut tx, &mut staged).await?;
    staged
        .commit_then_publish(tx, &committer.bus, &committer.published)
        .await?;
    Ok(written)
}

/// One chat in a commit of its own.
async fn alone(committer: &Committer, chat: &NewChat) -> Written {
    let mut staged = Staged::default();
    let mut tx = begin(&committer.pool).await.map_err(db_error)?;
    let written = chat.write(&mut tx, &mut staged).await.map_err(db_error)?;
    staged
        .commit_then_publish(tx, &committer.bus, &committer.published)
        .await
        .map_err(db_error)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(id: Uuid, website_id: Uuid, visitor_id: Uuid) -> NewChat {
        NewChat {
            id,
            group: Uuid::nil(),
            website_id,
            rooftop_id: Uuid::nil(),
            department_id: Uuid::nil(),
            visitor_id,
            shopper_name: None,
            state: ConversationState::Incoming,
            offline_reason: None,
            team_id: None,
            offered_to: Vec::new(),
            variables: BTreeMap::new(),
            timers: (Vec::new(), Vec::new()),
            vehicle: None,
            language: Language::default(),
            department_pending: false,
            page_url: None,
            client_ip: None,
            client_ip_source: None,
            form_id: None,
        }
    }

    /// A batch written as starts one at a time would be, against a real Postgres: a start sent
    /// twice (the same id) and a visitor's second start while the first chat is open write
    /// nothing and stage nothing; a visitor's start after an offline chat in the same batch
    /// links to it (`previous_id`). Without the rounds of [`rounds`], the start sent twice is
    /// answered as written and its events staged twice.
    #[tokio::test]
    async fn a_batch_writes_as_one_start_after_another() -> anyhow::Result<()> {
        let d = crate::fixture::dealer("Batch").await?;
        let (pool, group, rooftop, department, web) =
            (&d.pool, d.group, d.rooftop, d.department, d.website);
        let [a, shopper, other] = [(); 3].map(|_| Uuid::now_v7());
        let new = |id, visitor| NewChat {
            group,
            rooftop_id: rooftop,
            department_id: department,
            offered_to: vec![Uuid::now_v7()],
            timers: (vec!["incoming"], vec![60.0]),
            ..chat(id, web, visitor)
        };
        let offline = NewChat {
            state: ConversationState::Offline,
            offline_reason: Some(OfflineReason::NobodyAvailable),
            offered_to: Vec::new(),
            timers: (Vec::new(), Vec::new()),
            ..new(Uuid::now_v7(), other)
        };
        let chats = [
            new(a, shopper),
            new(a, Uuid::now_v7()),       // the same start again
            new(Uuid::now_v7(), shopper), // the shopper's open chat is `a`
            offline,
            new(Uuid::now_v7(), other), // after the offline chat
        ];
        let each: Vec<_> = chats.iter().map(|c| (c, None)).collect();
        let mut staged = Staged::default();
        let mut tx = begin(pool).await?;
        let written = NewChat::write_all(&each, &mut tx, &mut staged).await?;
        tx.commit().await?;
        let made: Vec<bool> = written.iter().map(Option::is_some).collect();
        assert_eq!(made, [true, false, false, true, true]);
        let (first, gone, last) = (&chats[0], &chats[3], written[4].as_ref());
        assert_eq!(written[0].as_ref().map(|c| c.id), Some(first.id));
        assert_eq!(last.and_then(|c| c.previous_id), Some(gone.id));
        let kinds: Vec<&str> = staged
            .subjects()
            .into_iter()
            .map(|s| s.rsplit('.').next().unwrap_or_default())
            .collect();
        assert_eq!(
            kinds,
            [
                "created", "queued", "offered", "created", "offline", "created", "queued",
                "offered"
            ]
        );
        let (timers, shoppers): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM conversation_timers), \
               (SELECT count(*) FROM participants WHERE kind = 'shopper')",
        )
        .fetch_one(pool)
        .await?;
        assert_eq!((timers, shoppers), (2, 3));

        // More batches on the writer's transaction: the statement is never planned for one
        // (with a plain `BEGIN` Postgres plans each batch of this statement afresh).
        for _ in 0..8 {
            let batch = [
                new(Uuid::now_v7(), Uuid::now_v7()),
                new(Uuid::now_v7(), Uuid::now_v7()),
            ];
            let each: Vec<_> = batch.iter().map(|c| (c, None)).collect();
            let mut tx = begin(pool).await?;
            NewChat::write_all(&each, &mut tx, &mut Staged::default()).await?;
            tx.commit().await?;
        }
        let (generic, custom) = showroom_store::plan::plans_of(
            &mut *pool.acquire().await?,
            "WITH k AS (SELECT * FROM unnest(",
        )
        .await?;
        // The first batch took two statements (its two rounds), each later one one.
        assert_eq!(
            (generic, custom),
            (2 + 8, 0),
            "plans of the batch statement"
        );
        Ok(())
    }

    /// Chats of distinct ids and visitors share the first statement; a chat that repeats an
    /// earlier one's id or visitor on the same website goes in the statement after that one's.
    #[test]
    fn a_repeated_id_or_visitor_waits_for_the_statement_after() {
        let [a, b, c, web, other] = [(); 5].map(|_| Uuid::new_v4());
        let chats = [
            chat(a, web, a),
            chat(b, web, b),
            chat(Uuid::new_v4(), web, a),   // a's visitor again
            chat(a, web, Uuid::new_v4()),   // a's id again (a retried start)
            chat(Uuid::new_v4(), other, a), // the same visitor id on another website
            chat(c, web, a),                // a's visitor a third time
            chat(Uuid::new_v4(), web, b),   // b's visitor again
        ];
        assert_eq!(rounds(chats.iter()), vec![0, 0, 1, 1, 0, 2, 1]);
    }
}
