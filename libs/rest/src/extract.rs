//! What every REST handler extracts, written once: a JSON body whose faults are a 400
//! (`bad_json`) naming what is wrong ([`ApiJson`]), a query string likewise ([`ApiQuery`]), and an id in the path that is a 400
//! (`bad_id`) naming the kind of thing when it is not a UUID ([`Id`]); and the address a
//! request came from ([`client_ip`]); the website a widget key names, for an origin it
//! allows ([`website_for`]).

use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::directory;
use crate::error::ApiError;

/// A JSON request body; a body that is not JSON, or not of this shape, is a 400 `bad_json`
/// whose message says what is wrong.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Json::<T>::from_request(req, state)
            .await
            .map(|Json(v)| ApiJson(v))
            .map_err(|e| ApiError::bad_request("bad_json", e.body_text()))
    }
}

/// A query string; one that does not parse is a 400 `bad_query` with the JSON error body (axum's
/// own answer is plain text).
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(|e| ApiError::bad_request("bad_query", e.body_text()))
    }
}

/// A kind of thing an id in a path names, for the 400 of an id that is not a UUID.
pub trait Kind {
    /// "rooftop", "agent", …
    const NAME: &'static str;
}

/// The one id of a path (`/api/v1/rooftops/{id}`), of a thing of kind `K`.
pub struct Id<K>(pub Uuid, pub PhantomData<K>);

impl<K> Id<K> {
    /// The id.
    pub fn get(&self) -> Uuid {
        self.0
    }
}

/// Parses an id of kind `what` (for the ids that come in pairs, or in a body).
pub fn parse_id(id: &str, what: &str) -> Result<Uuid, ApiError> {
    id.parse()
        .map_err(|_| ApiError::bad_request("bad_id", format!("the {what} id must be a UUID")))
}

impl<K, S> FromRequestParts<S> for Id<K>
where
    K: Kind,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request("bad_id", e.body_text()))?;
        Ok(Id(parse_id(&raw, K::NAME)?, PhantomData))
    }
}

macro_rules! kinds {
    ($($(#[$doc:meta])* $name:ident = $text:literal;)*) => {
        $($(#[$doc])* pub enum $name {}
        impl Kind for $name {
            const NAME: &'static str = $text;
        })*
    };
}

kinds! {
    /// A rooftop (dealership).
    Rooftop = "rooftop";
    /// A department.
    Department = "department";
    /// An agent.
    Agent = "agent";
    /// A website.
    Website = "website";
    /// A team.
    Team = "team";
    /// A conversation.
    Conversation = "conversation";
    /// A lead.
    Lead = "lead";
    /// A CRM destination.
    Destination = "destination";
    /// A CRM delivery.
    Delivery = "delivery";
    /// An integrator credential.
    Integration = "integration";
    /// A transfer.
    Transfer = "transfer";
}

/// The address a request came from: the first `X-Forwarded-For` hop (the ingress in front of
/// the gateway sets it), else the TCP peer. Kept only for consent records.
pub fn client_ip(headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<String> {
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|ip| ip.parse::<IpAddr>().is_ok())
        .map(str::to_string)
        .or_else(|| peer.map(|p| p.ip().to_string()))
}

/// The website a widget key names, asked for from a page of `origin`: 404 `unknown_website`
/// for an unknown key, 403 `origin_not_allowed` for an origin the website does not list.
/// `None` (a request without `Origin`: a dealer's own server) passes on REST; the widget's
/// socket passes `Some("")` for a missing one, which no website allows.
pub async fn website_for(
    pool: &sqlx::PgPool,
    key: &str,
    origin: Option<&str>,
) -> Result<directory::Website, ApiError> {
    let website = directory::website_by_key(pool, key).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_website",
            "no website has this key",
        )
    })?;
    if let Some(origin) = origin
        && !website.allows(origin)
    {
        tracing::info!(website = %website.id, origin, "origin refused");
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "this page's origin is not on the website's allowed origins",
        ));
    }
    Ok(website)
}
