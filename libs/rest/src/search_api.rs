//! REST for search (`search.rs` owns the checks, the statements and the marks): one call,
//! scoped to what the searcher sees.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Rest;
use crate::auth::{Scope, Session};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::search::{self, Hit, Visibility};

/// What to search for, and where.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// The words (1 to 200 characters; `"an exact phrase"`, `or`, `-word` as in a web search;
    /// English and Spanish words match their other forms). Also a contact's e-mail (from its
    /// start) or phone (its last 7 or more digits).
    q: Option<String>,
    /// Only chats of this rooftop.
    rooftop_id: Option<Uuid>,
    /// Only chats of this department.
    department_id: Option<Uuid>,
    /// Only chats held by this agent.
    agent_id: Option<Uuid>,
    /// Started at or after this time (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Started before this time (RFC 3339).
    to: Option<DateTime<Utc>>,
    /// Only chats in this state (`bot`, `incoming`, `active`, `ended`, `missed`, `offline`,
    /// `timed_out`).
    state: Option<String>,
    /// Only chats with a lead so classified: `qualified`, `not_qualified`, `unclassified`.
    classification: Option<String>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
    /// At most this many chats (1 to 50, default 20).
    #[param(minimum = 1, maximum = 50)]
    limit: Option<i64>,
}

/// A page of chats found.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchPage {
    /// Newest first.
    pub results: Vec<Hit>,
    /// Pass as `cursor` for the next (older) page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Searches the chats the agent may see: transcripts (English and Spanish), shoppers' and
/// contacts' names, contacts' e-mails and phones, leads' messages and notes. An agent sees
/// their own chats (held now or before) and their departments'; a rooftop manager also their
/// rooftops'; managers and admins the whole group; never another group's. Each chat comes with
/// its first matching messages cut around the matches, the matching words as parts marked
/// `match` (plain text, never markup). 400 naming each wrong field (`q` empty or too long, an
/// unknown `state` or `classification`, `limit` out of range, a bad `cursor`, `to` before
/// `from`), `bad_query` for a date or id that does not parse.
#[utoipa::path(get, path = "/api/v1/search", tag = "conversations", params(SearchQuery),
    responses((status = 200, body = SearchPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn search(
    State(state): State<Arc<Rest>>,
    session: Session,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> Result<Json<SearchPage>, ApiError> {
    let s = search::checked(search::Asked {
        q: q.q,
        rooftop_id: q.rooftop_id,
        department_id: q.department_id,
        agent_id: q.agent_id,
        from: q.from,
        to: q.to,
        state: q.state,
        classification: q.classification,
        cursor: q.cursor,
        limit: q.limit,
    })?;
    let (results, next_cursor) =
        search::find(&state.pool, session.group(), &visibility(&session), &s).await?;
    Ok(Json(SearchPage {
        results,
        next_cursor,
    }))
}

/// What of the group the session's searches see.
fn visibility(session: &Session) -> Visibility {
    match (&session.scope, session.can_manage()) {
        (Scope::Group, true) => Visibility::Group,
        (Scope::Group, false) => Visibility::Own {
            agent: session.agent.id,
            rooftops: Vec::new(),
        },
        (Scope::Rooftops(r), _) => Visibility::Own {
            agent: session.agent.id,
            rooftops: r.clone(),
        },
    }
}
