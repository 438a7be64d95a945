//! Search (issue 19, item 3), written once: what a search may ask (`checked`: the words, the
//! filters, the page), who sees what (`Visibility`), the two statements (matching chats a page
//! at a time, then their matching messages' snippets) and the snippets' marks. The indexes are
//! on each owner's table (`migrations/20261203000034_search.sql`); this module only reads, and
//! every statement repeats an index's expression exactly, or Postgres cannot use it.
//!
//! Words are matched with `websearch_to_tsquery` in the `english` and the `spanish`
//! configurations, OR-ed, against messages and leads' messages and notes; names without
//! stemming (`simple`); a contact's e-mail by the start of the address and a phone by the end
//! of its digits. Chats come newest first, paged by an opaque cursor.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use showroom_proto::conversation::ConversationState;
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::validate::Problems;

/// Longest search text, in characters.
pub const MAX_QUERY: usize = 200;
/// Largest page.
pub const MAX_LIMIT: i64 = 50;
/// A page when none is asked.
pub const DEFAULT_LIMIT: i64 = 20;
/// Most snippets shown for one chat.
const SNIPPETS: i64 = 3;
/// Fewest digits that search phones.
const MIN_PHONE_DIGITS: usize = 7;

/// What the searcher asked, before it is checked (the query string's fields, as text).
#[derive(Debug, Default)]
pub struct Asked {
    /// The words.
    pub q: Option<String>,
    /// Only chats of this rooftop.
    pub rooftop_id: Option<Uuid>,
    /// Only chats of this department.
    pub department_id: Option<Uuid>,
    /// Only chats held by this agent.
    pub agent_id: Option<Uuid>,
    /// Started at or after.
    pub from: Option<DateTime<Utc>>,
    /// Started before.
    pub to: Option<DateTime<Utc>>,
    /// Only chats in this state.
    pub state: Option<String>,
    /// Only chats with a lead so classified.
    pub classification: Option<String>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// The page's size.
    pub limit: Option<i64>,
}

/// A lead classification a search may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Classification {
    /// A lead of the chat is marked qualified.
    Qualified,
    /// A lead of the chat is marked not qualified.
    NotQualified,
    /// A lead of the chat is neither.
    Unclassified,
}

impl Classification {
    /// Reads the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "qualified" => Self::Qualified,
            "not_qualified" => Self::NotQualified,
            "unclassified" => Self::Unclassified,
            _ => return None,
        })
    }

    /// The wire name (also what the statement compares).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Qualified => "qualified",
            Self::NotQualified => "not_qualified",
            Self::Unclassified => "unclassified",
        }
    }
}

/// A checked search.
#[derive(Debug, Clone)]
pub struct Search {
    /// The words, trimmed.
    pub q: String,
    /// Filters.
    pub rooftop_id: Option<Uuid>,
    /// Filters.
    pub department_id: Option<Uuid>,
    /// Filters.
    pub agent_id: Option<Uuid>,
    /// Filters.
    pub from: Option<DateTime<Utc>>,
    /// Filters.
    pub to: Option<DateTime<Utc>>,
    /// Filters.
    pub state: Option<ConversationState>,
    /// Filters.
    pub classification: Option<Classification>,
    /// Where the page starts: after this chat (its start and id).
    pub after: Option<(DateTime<Utc>, Uuid)>,
    /// The page's size.
    pub limit: i64,
}

/// Checks a search; a 400 names every wrong field.
pub fn checked(a: Asked) -> Result<Search, crate::error::ApiError> {
    let mut p = Problems::default();
    let q =
        a.q.as_deref()
            .map(str::trim)
            .unwrap_or_default()
            .to_string();
    if q.is_empty() {
        p.add("q", "say what to search for");
    } else if q.chars().count() > MAX_QUERY {
        p.add("q", format!("at most {MAX_QUERY} characters"));
    } else if q.contains('\0') {
        p.add("q", "must not contain NUL");
    }
    let state = match a.state.as_deref() {
        None | Some("") => None,
        Some(s) => p.check(
            "state",
            ConversationState::parse(s).map(Some).ok_or_else(|| {
                "one of bot, incoming, active, ended, missed, offline, timed_out".to_string()
            }),
        ),
    }
    .flatten();
    let classification = match a.classification.as_deref() {
        None | Some("") => None,
        Some(s) => p.check(
            "classification",
            Classification::parse(s)
                .map(Some)
                .ok_or_else(|| "one of qualified, not_qualified, unclassified".to_string()),
        ),
    }
    .flatten();
    if let (Some(f), Some(t)) = (a.from, a.to)
        && f > t
    {
        p.add("to", "must not be before from");
    }
    let limit = a.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        p.add("limit", format!("1 to {MAX_LIMIT}"));
    }
    let after = match a.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => p.check(
            "cursor",
            parse_cursor(c).ok_or("not a cursor of this search".to_string()),
        ),
    };
    p.finish()?;
    Ok(Search {
        q,
        rooftop_id: a.rooftop_id,
        department_id: a.department_id,
        agent_id: a.agent_id,
        from: a.from,
        to: a.to,
        state,
        classification,
        after,
        limit,
    })
}

/// The cursor after a chat: its start in microseconds and its id.
pub fn cursor(at: DateTime<Utc>, id: Uuid) -> String {
    format!("{}_{}", at.timestamp_micros(), id.simple())
}

fn parse_cursor(s: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let (micros, id) = s.split_once('_')?;
    let at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
    Some((at, Uuid::try_parse(id).ok()?))
}

/// The text as an e-mail prefix for `LIKE` (lower case, `%` and `_` escaped), when it could be
/// one: a single word with an `@` or a dot.
fn email_prefix(q: &str) -> Option<String> {
    if q.contains(char::is_whitespace) || !(q.contains('@') || q.contains('.')) {
        return None;
    }
    let mut s = String::with_capacity(q.len() + 1);
    for c in q.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('%');
    Some(s)
}

/// The text as the end of a phone number for `LIKE` on reversed digits: when it is only digits
/// and phone punctuation, with at least seven digits.
fn phone_suffix(q: &str) -> Option<String> {
    if !q
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c))
    {
        return None;
    }
    let digits: String = q.chars().filter(char::is_ascii_digit).collect();
    (digits.len() >= MIN_PHONE_DIGITS).then(|| digits.chars().rev().collect::<String>() + "%")
}

/// What of the group a searcher sees.
#[derive(Debug, Clone)]
pub enum Visibility {
    /// Every chat of the group (managers and admins).
    Group,
    /// Their own chats (held now or before) and their departments' chats, and every chat of
    /// these rooftops (a rooftop manager's; an agent's: none).
    Own {
        /// The searcher.
        agent: Uuid,
        /// Rooftops seen whole.
        rooftops: Vec<Uuid>,
    },
}

/// One chat found.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Hit {
    /// The conversation.
    pub id: Uuid,
    /// Its rooftop.
    pub rooftop_id: Uuid,
    /// Its rooftop's name.
    pub rooftop_name: String,
    /// Its department.
    pub department_id: Uuid,
    /// Its department's label.
    pub department_label: String,
    /// The agent who holds or held it.
    pub agent_id: Option<Uuid>,
    /// Their name.
    pub agent_name: Option<String>,
    /// `bot`, `incoming`, `active`, `ended`, `missed`, `offline`, `timed_out`.
    pub state: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// The shopper as known: a lead's contact, the Lead Gate's contact, or the name given.
    pub shopper_name: Option<String>,
    /// Its messages that match, first ones first (at most three); empty when only the contact
    /// or a lead matched.
    pub snippets: Vec<Snippet>,
}

/// A matching message, cut around its matches.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Snippet {
    /// The message.
    pub message_id: Uuid,
    /// Its place in the transcript.
    pub seq: i64,
    /// `shopper`, `agent`, `bot`, `system`.
    pub author_kind: String,
    /// When it was sent.
    pub at: DateTime<Utc>,
    /// The excerpt in order, as plain text: the matching words are the parts with `match`.
    pub parts: Vec<Part>,
}

/// A piece of a snippet's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Part {
    /// Plain text (never markup).
    pub text: String,
    /// Whether it is a matching word.
    #[serde(rename = "match")]
    pub matched: bool,
}

/// Marks `ts_headline` puts around a match: private-use characters, removed from the text
/// before (`translate`), so a message cannot forge one.
const START: char = '\u{E000}';
const STOP: char = '\u{E001}';

/// A headline split at its marks.
pub fn parts(headline: &str) -> Vec<Part> {
    let mut out: Vec<Part> = Vec::new();
    let mut matched = false;
    let mut text = String::new();
    let mut flush = |text: &mut String, matched: bool| {
        if !text.is_empty() {
            out.push(Part {
                text: std::mem::take(text),
                matched,
            });
        }
    };
    for c in headline.chars() {
        match c {
            START => {
                flush(&mut text, matched);
                matched = true;
            }
            STOP => {
                flush(&mut text, matched);
                matched = false;
            }
            c => text.push(c),
        }
    }
    flush(&mut text, matched);
    out
}

#[derive(sqlx::FromRow)]
struct HitRow {
    id: Uuid,
    rooftop_id: Uuid,
    rooftop_name: String,
    department_id: Uuid,
    department_label: String,
    agent_id: Option<Uuid>,
    agent_name: Option<String>,
    state: String,
    created_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    shopper_name: Option<String>,
}

/// The chats that match, a page of them (newest first), and the page's snippets. Returns the
/// hits and the next page's cursor.
const FIND: &str = "\
WITH hits AS ( \
  SELECT m.conversation_id AS id FROM messages m \
   WHERE m.group_id = $1 \
     AND (to_tsvector('english'::regconfig, body) || to_tsvector('spanish'::regconfig, body)) \
         @@ (websearch_to_tsquery('english'::regconfig, $2) || websearch_to_tsquery('spanish'::regconfig, $2)) \
  UNION \
  SELECT c.id FROM conversations c \
   WHERE c.group_id = $1 \
     AND to_tsvector('simple'::regconfig, \
         coalesce(shopper_name, '') || ' ' || coalesce(contact->>'first_name', '') || ' ' \
         || coalesce(contact->>'last_name', '')) @@ websearch_to_tsquery('simple'::regconfig, $2) \
  UNION \
  SELECT x.id FROM contacts ct JOIN leads l ON l.contact_id = ct.id, \
       LATERAL (SELECT l.conversation_id UNION SELECT s.conversation_id FROM lead_sources s WHERE s.lead_id = l.id) x(id) \
   WHERE ct.group_id = $1 AND x.id IS NOT NULL \
     AND to_tsvector('simple'::regconfig, first_name || ' ' || last_name) @@ websearch_to_tsquery('simple'::regconfig, $2) \
  UNION \
  SELECT x.id FROM contacts ct JOIN leads l ON l.contact_id = ct.id, \
       LATERAL (SELECT l.conversation_id UNION SELECT s.conversation_id FROM lead_sources s WHERE s.lead_id = l.id) x(id) \
   WHERE $13::text IS NOT NULL AND ct.group_id = $1 AND x.id IS NOT NULL AND ct.email IS NOT NULL \
     AND lower(ct.email) LIKE $13 \
  UNION \
  SELECT x.id FROM contacts ct JOIN leads l ON l.contact_id = ct.id, \
       LATERAL (SELECT l.conversation_id UNION SELECT s.conversation_id FROM lead_sources s WHERE s.lead_id = l.id) x(id) \
   WHERE $14::text IS NOT NULL AND ct.group_id = $1 AND x.id IS NOT NULL AND ct.phone IS NOT NULL \
     AND reverse(regexp_replace(phone, '[^0-9]', '', 'g')) LIKE $14 \
  UNION \
  SELECT x.id FROM leads l, \
       LATERAL (SELECT l.conversation_id UNION SELECT s.conversation_id FROM lead_sources s WHERE s.lead_id = l.id) x(id) \
   WHERE l.group_id = $1 AND x.id IS NOT NULL \
     AND (to_tsvector('english'::regconfig, coalesce(message, '') || ' ' || coalesce(classification->>'notes', '')) \
          || to_tsvector('spanish'::regconfig, coalesce(message, '') || ' ' || coalesce(classification->>'notes', ''))) \
         @@ (websearch_to_tsquery('english'::regconfig, $2) || websearch_to_tsquery('spanish'::regconfig, $2)) \
) \
SELECT c.id, c.rooftop_id, r.name AS rooftop_name, c.department_id, d.label AS department_label, \
  c.agent_id, CASE WHEN a.id IS NULL THEN NULL ELSE a.first_name || ' ' || a.last_name END AS agent_name, \
  c.state, c.created_at, c.ended_at, \
  coalesce( \
    (SELECT nullif(trim(ct.first_name || ' ' || ct.last_name), '') FROM leads l JOIN contacts ct ON ct.id = l.contact_id \
      WHERE l.group_id = c.group_id AND l.conversation_id = c.id ORDER BY l.created_at DESC LIMIT 1), \
    nullif(trim(coalesce(c.contact->>'first_name', '') || ' ' || coalesce(c.contact->>'last_name', '')), ''), \
    c.shopper_name) AS shopper_name \
FROM hits h \
JOIN conversations c ON c.id = h.id \
JOIN rooftops r ON r.id = c.rooftop_id \
JOIN departments d ON d.id = c.department_id \
LEFT JOIN agents a ON a.id = c.agent_id \
WHERE c.group_id = $1 \
  AND (NOT $3 OR c.rooftop_id = ANY($4) OR c.agent_id = $5 \
       OR EXISTS (SELECT 1 FROM agent_memberships am WHERE am.agent_id = $5 AND am.department_id = c.department_id) \
       OR EXISTS (SELECT 1 FROM participants p WHERE p.conversation_id = c.id AND p.kind = 'agent' AND p.participant_id = $5)) \
  AND ($6::uuid IS NULL OR c.rooftop_id = $6) \
  AND ($7::uuid IS NULL OR c.department_id = $7) \
  AND ($8::uuid IS NULL OR c.agent_id = $8) \
  AND ($9::timestamptz IS NULL OR c.created_at >= $9) \
  AND ($10::timestamptz IS NULL OR c.created_at < $10) \
  AND ($11::text IS NULL OR c.state = $11) \
  AND ($12::text IS NULL OR EXISTS ( \
        SELECT 1 FROM leads l WHERE l.group_id = c.group_id \
          AND (l.conversation_id = c.id OR l.id IN (SELECT s.lead_id FROM lead_sources s WHERE s.conversation_id = c.id)) \
          AND CASE $12 WHEN 'qualified' THEN l.classification->'qualified' = 'true'::jsonb \
                       WHEN 'not_qualified' THEN l.classification->'qualified' = 'false'::jsonb \
                       ELSE coalesce(l.classification->'qualified', 'null'::jsonb) = 'null'::jsonb END)) \
  AND ($15::timestamptz IS NULL OR (c.created_at, c.id) < ($15, $16::uuid)) \
ORDER BY c.created_at DESC, c.id DESC \
LIMIT $17";

/// The first matching messages of some chats, with their headlines (the match between the
/// private-use marks; the configuration that matched cuts the headline).
const SNIPPETS_SQL: &str = "\
SELECT m.conversation_id, m.id, m.seq, m.author_kind, m.created_at, \
  CASE WHEN to_tsvector('english'::regconfig, m.doc) @@ websearch_to_tsquery('english'::regconfig, $2) \
    THEN ts_headline('english'::regconfig, m.doc, websearch_to_tsquery('english'::regconfig, $2), \
         U&'StartSel=\\E000, StopSel=\\E001, MaxWords=25, MinWords=12') \
    ELSE ts_headline('spanish'::regconfig, m.doc, websearch_to_tsquery('spanish'::regconfig, $2), \
         U&'StartSel=\\E000, StopSel=\\E001, MaxWords=25, MinWords=12') \
  END AS headline \
FROM (SELECT m.conversation_id, m.id, m.seq, m.author_kind, m.created_at, \
        translate(m.body, U&'\\E000\\E001', '') AS doc, \
        row_number() OVER (PARTITION BY m.conversation_id ORDER BY m.seq) AS n \
      FROM messages m \
      WHERE m.group_id = $1 AND m.conversation_id = ANY($3) \
        AND (to_tsvector('english'::regconfig, body) || to_tsvector('spanish'::regconfig, body)) \
            @@ (websearch_to_tsquery('english'::regconfig, $2) || websearch_to_tsquery('spanish'::regconfig, $2))) m \
WHERE m.n <= $4 \
ORDER BY m.conversation_id, m.seq";

#[derive(sqlx::FromRow)]
struct SnippetRow {
    conversation_id: Uuid,
    id: Uuid,
    seq: i64,
    author_kind: String,
    created_at: DateTime<Utc>,
    headline: String,
}

/// A page of the chats of `group` that match, seen by `who`, newest first, each with its
/// snippets; and the cursor of the next page (`None`: this is the last).
pub async fn find(
    db: &sqlx::PgPool,
    group: Uuid,
    who: &Visibility,
    s: &Search,
) -> sqlx::Result<(Vec<Hit>, Option<String>)> {
    let (restricted, rooftops, me) = match who {
        Visibility::Group => (false, Vec::new(), Uuid::nil()),
        Visibility::Own { agent, rooftops } => (true, rooftops.clone(), *agent),
    };
    let mut rows: Vec<HitRow> = sqlx::query_as(FIND)
        .bind(group)
        .bind(&s.q)
        .bind(restricted)
        .bind(&rooftops)
        .bind(me)
        .bind(s.rooftop_id)
        .bind(s.department_id)
        .bind(s.agent_id)
        .bind(s.from)
        .bind(s.to)
        .bind(s.state.map(ConversationState::as_str))
        .bind(s.classification.map(Classification::as_str))
        .bind(email_prefix(&s.q))
        .bind(phone_suffix(&s.q))
        .bind(s.after.map(|(at, _)| at))
        .bind(s.after.map(|(_, id)| id))
        .bind(s.limit + 1)
        .fetch_all(db)
        .await?;
    let next = if rows.len() as i64 > s.limit {
        rows.truncate(s.limit as usize);
        rows.last().map(|r| cursor(r.created_at, r.id))
    } else {
        None
    };
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut snippets = snippets(db, group, &s.q, &ids).await?;
    let hits = rows
        .into_iter()
        .map(|r| Hit {
            snippets: snippets.remove(&r.id).unwrap_or_default(),
            id: r.id,
            rooftop_id: r.rooftop_id,
            rooftop_name: r.rooftop_name,
            department_id: r.department_id,
            department_label: r.department_label,
            agent_id: r.agent_id,
            agent_name: r.agent_name,
            state: r.state,
            started_at: r.created_at,
            ended_at: r.ended_at,
            shopper_name: r.shopper_name,
        })
        .collect();
    Ok((hits, next))
}

/// The first matching messages of each of `ids` (chats of `group`), by chat.
async fn snippets<'e>(
    db: impl PgExecutor<'e>,
    group: Uuid,
    q: &str,
    ids: &[Uuid],
) -> sqlx::Result<HashMap<Uuid, Vec<Snippet>>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<SnippetRow> = sqlx::query_as(SNIPPETS_SQL)
        .bind(group)
        .bind(q)
        .bind(ids)
        .bind(SNIPPETS)
        .fetch_all(db)
        .await?;
    let mut out: HashMap<Uuid, Vec<Snippet>> = HashMap::new();
    for r in rows {
        out.entry(r.conversation_id).or_default().push(Snippet {
            message_id: r.id,
            seq: r.seq,
            author_kind: r.author_kind,
            at: r.created_at,
            parts: parts(&r.headline),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(q: &str) -> Asked {
        Asked {
            q: Some(q.into()),
            ..Default::default()
        }
    }

    #[test]
    fn headlines_split_at_their_marks() {
        let p = parts("Is the \u{E000}Tacoma\u{E001} still <b>here</b>?");
        assert_eq!(p.len(), 3);
        assert_eq!(p[1].text, "Tacoma");
        assert!(p[1].matched);
        assert_eq!(p[2].text, " still <b>here</b>?");
        assert!(!p[2].matched);
    }

    #[test]
    fn bad_searches_name_their_fields() {
        assert!(checked(asked("  ")).is_err());
        assert!(checked(asked(&"x".repeat(MAX_QUERY + 1))).is_err());
        let bad = |f: fn(&mut Asked)| {
            let mut a = asked("tacoma");
            f(&mut a);
            checked(a).is_err()
        };
        assert!(bad(|a| a.state = Some("open".into())));
        assert!(bad(|a| a.classification = Some("hot".into())));
        assert!(bad(|a| a.limit = Some(0)));
        assert!(bad(|a| a.limit = Some(MAX_LIMIT + 1)));
        assert!(bad(|a| a.cursor = Some("nope".into())));
        assert!(!bad(|a| a.state = Some("ended".into())));
    }

    #[test]
    fn cursors_read_back() {
        let at = DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap();
        let id = Uuid::new_v4();
        assert_eq!(parse_cursor(&cursor(at, id)), Some((at, id)));
    }

    #[test]
    fn emails_and_phones_are_recognised() {
        assert_eq!(
            email_prefix("Ana_M@Example.com").as_deref(),
            Some("ana\\_m@example.com%")
        );
        assert_eq!(email_prefix("tacoma"), None);
        assert_eq!(
            phone_suffix("(312) 555-0134").as_deref(),
            Some("4310555213%")
        );
        assert_eq!(phone_suffix("2024"), None);
        assert_eq!(phone_suffix("tacoma 2024"), None);
    }
}
