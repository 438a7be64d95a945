//! Where a widget's socket goes: `GET /api/v1/widget/{key}/route` answers the website's socket
//! route (its dealer group's id), which the widget sends as the `route` query parameter of its
//! socket so that a proxy in front of several gateways keeps a dealer group's sockets on one of
//! them (`docs/architecture.md`, "Sockets routed by dealer group"). The widget asks once per
//! website and browser, before its first socket; later it keeps the `route` of each `welcome`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::header::{CACHE_CONTROL, ORIGIN};
use serde::Serialize;
use uuid::Uuid;

use crate::Rest;
use crate::error::{ApiError, ErrorBody};
use crate::extract::website_for;

/// A website's socket route.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SocketRoute {
    /// The website's dealer group's id: the `route` of its widget sockets.
    pub route: Uuid,
}

/// The socket route of the website with this widget key (no session: a browser's `Origin` must
/// be on the website's allowed origins, as for its socket). A route never changes, so the
/// answer may be cached for a day.
#[utoipa::path(get, path = "/api/v1/widget/{key}/route", tag = "bot",
    params(("key" = String, Path, description = "The website's widget key")),
    responses((status = 200, body = SocketRoute), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn socket_route(
    State(state): State<Arc<Rest>>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Result<
    (
        [(axum::http::HeaderName, &'static str); 1],
        Json<SocketRoute>,
    ),
    ApiError,
> {
    let origin = headers.get(ORIGIN).and_then(|v| v.to_str().ok());
    let website = website_for(&state.pool, &key, origin).await?;
    Ok((
        [(CACHE_CONTROL, "public, max-age=86400")],
        Json(SocketRoute {
            route: website.group_id,
        }),
    ))
}
