//! What every REST handler extracts, written once: a JSON body whose faults are a 400
//! (`bad_json`) naming what is wrong, and whose text holds no control character (a 400 naming
//! the field; [`ApiJson`]; [`refuse_control_in_uri`] does the same for paths and queries), a query string likewise ([`ApiQuery`]), and an id in the path that is a 400
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

use showroom_proto::contact::{AddressSource, ClientAddress};
use showroom_proto::text;

use crate::directory;
use crate::error::ApiError;
use crate::validate;

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
        let Json(value) = Json::<serde_json::Value>::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad_request("bad_json", e.body_text()))?;
        checked(value).map(ApiJson)
    }
}

/// A JSON body as `T`, once every string in it is known to hold no control character (a NUL
/// would reach Postgres): a 400 naming the field, or `bad_json` when it is not of this shape.
pub fn checked<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    if let Some(field) = text::refused_field(&value) {
        return Err(validate::invalid(&field, text::CONTROL_REFUSED));
    }
    // The error names where the body is wrong (`hours.intervals[0].opens: …`).
    serde_path_to_error::deserialize(value).map_err(|e| {
        ApiError::bad_request(
            "bad_json",
            format!(
                "the body is not of the expected shape: {}: {}",
                e.path(),
                e.inner()
            ),
        )
    })
}

/// Middleware: a request whose path or query string decodes to a control character (`%00`) is
/// a 400 naming the query parameter (or `path`), before any route sees it. Bodies are checked
/// by [`ApiJson`]; socket frames by the gateway's frame parser.
pub async fn refuse_control_in_uri(
    req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let uri = req.uri();
    let path = percent_encoding::percent_decode_str(uri.path()).decode_utf8_lossy();
    if text::has_refused_control(&path) {
        return validate::invalid("path", text::CONTROL_REFUSED).into_response();
    }
    if uri.query().is_some() {
        match Query::<Vec<(String, String)>>::try_from_uri(uri) {
            Ok(Query(pairs)) => {
                if let Some((k, _)) = pairs
                    .iter()
                    .find(|(k, v)| text::has_refused_control(k) || text::has_refused_control(v))
                {
                    return validate::invalid(
                        &k.escape_default().to_string(),
                        text::CONTROL_REFUSED,
                    )
                    .into_response();
                }
            }
            Err(e) => return ApiError::bad_request("bad_query", e.body_text()).into_response(),
        }
    }
    next.run(req).await
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
    /// A canned response.
    CannedResponse = "canned response";
    /// A rooftop's payment settings.
    PaymentSettings = "payment settings";
}

/// The proxies whose forwarding headers are believed (`SHOWROOM_TRUSTED_PROXIES`: CIDRs such as
/// `10.0.0.0/8, 192.168.1.10/32`, separated by commas or spaces; empty, the default: none, so a
/// client cannot forge its address). Set it to the ingress's addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TrustedProxies(Vec<ipnet::IpNet>);

impl TrustedProxies {
    /// Whether `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }
}

impl TryFrom<String> for TrustedProxies {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, String> {
        raw.split([',', ' '])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<ipnet::IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| format!("\"{s}\" is not an address or a CIDR such as 10.0.0.0/8"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }
}

impl From<TrustedProxies> for String {
    fn from(t: TrustedProxies) -> String {
        t.0.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A state that knows which proxies to believe (the REST state: `Settings::trusted_proxies`).
pub trait BehindProxies {
    /// The proxies whose forwarding headers are believed.
    fn trusted_proxies(&self) -> &TrustedProxies;
}

/// Where a request came from, as [`client_ip`] works it out with the state's trusted proxies:
/// an extractor, so that a handler takes this instead of the headers and the peer.
#[derive(Debug, Clone, Default)]
pub struct Client(pub Option<ClientAddress>);

impl Client {
    /// The address as text, the key of the per-address limits.
    pub fn ip(&self) -> Option<String> {
        self.0.as_ref().map(|a| a.ip.to_string())
    }
}

impl<S> FromRequestParts<std::sync::Arc<S>> for Client
where
    S: BehindProxies + Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &std::sync::Arc<S>,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        Ok(Client(client_ip(
            &parts.headers,
            peer,
            state.trusted_proxies(),
        )))
    }
}

/// The address a request came from, and how it was worked out. The TCP peer, unless the peer
/// is a trusted proxy: then the forwarding header it passed on (`Forwarded`, else
/// `X-Forwarded-For`) is read from the right, past every trusted hop, and the first address
/// that is not a trusted proxy is the client's (one a client wrote itself stays to the left,
/// unread). `None` without a peer (never when serving).
pub fn client_ip(
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    trusted: &TrustedProxies,
) -> Option<ClientAddress> {
    let peer = peer?.ip().to_canonical();
    let direct = ClientAddress {
        ip: peer,
        source: AddressSource::Peer,
    };
    if !trusted.contains(peer) {
        return Some(direct);
    }
    let forwarded = hops(headers, "forwarded", forwarded_for);
    let (hops, source) = if forwarded.is_empty() {
        (
            hops(headers, "x-forwarded-for", |v| {
                v.split(',').map(str::to_string).collect()
            }),
            AddressSource::XForwardedFor,
        )
    } else {
        (forwarded, AddressSource::Forwarded)
    };
    let mut client = None;
    for hop in hops.iter().rev() {
        // A hop that is not an address ends what can be believed.
        let Some(ip) = parse_hop(hop) else { break };
        client = Some(ip);
        if !trusted.contains(ip) {
            break;
        }
    }
    Some(client.map_or(direct, |ip| ClientAddress { ip, source }))
}

/// Every value of a header, each split into hops by `split`.
fn hops(headers: &HeaderMap, name: &str, split: fn(&str) -> Vec<String>) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(split)
        .collect()
}

/// The `for=` of each element of a `Forwarded` header (RFC 7239).
fn forwarded_for(v: &str) -> Vec<String> {
    v.split(',')
        .map(|element| {
            element
                .split(';')
                .filter_map(|pair| pair.trim().split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("for"))
                .map(|(_, v)| v.trim().trim_matches('"').to_string())
                .unwrap_or_default()
        })
        .collect()
}

/// One hop: `203.0.113.7`, `203.0.113.7:4711`, `[2001:db8::1]:4711` or `2001:db8::1`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(sa) = hop.parse::<SocketAddr>() {
        return Some(sa.ip().to_canonical());
    }
    hop.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .and_then(|h| h.parse::<IpAddr>().ok())
}

/// The widget's caller on `key`'s website: the website (its origin checked, as
/// [`website_for`]) and the visitor its `X-Visitor-Token` header names; 401 `bad_visitor`
/// without a valid token for that website.
pub async fn widget_visitor(
    pool: &sqlx::PgPool,
    keys: &crate::visitor::VisitorKeys,
    key: &str,
    headers: &HeaderMap,
) -> Result<(directory::Website, Uuid), ApiError> {
    let origin = headers
        .get(axum::http::header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    let website = website_for(pool, key, origin).await?;
    let visitor = headers
        .get("x-visitor-token")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| keys.verify(website.id, t))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "bad_visitor",
                "X-Visitor-Token must be the widget's visitor token for this website",
            )
        })?;
    Ok((website, visitor))
}

/// A chat of the widget's caller ([`widget_visitor`]) on that website; 404 for any other.
pub async fn widget_chat(
    pool: &sqlx::PgPool,
    keys: &crate::visitor::VisitorKeys,
    key: &str,
    headers: &HeaderMap,
    id: Uuid,
) -> Result<showroom_proto::conversation::Conversation, ApiError> {
    let (website, visitor) = widget_visitor(pool, keys, key, headers).await?;
    showroom_store::read::conversation(pool, website.group_id, id)
        .await?
        .filter(|c| c.website_id == website.id && c.shopper.visitor_id == visitor)
        .ok_or_else(|| ApiError::not_found("conversation"))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(headers: &[(&str, &str)], peer: &str, trusted: &str) -> (String, AddressSource) {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let trusted = TrustedProxies::try_from(trusted.to_string()).unwrap();
        let a = client_ip(&map, Some(peer.parse().unwrap()), &trusted).unwrap();
        (a.ip.to_string(), a.source)
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        use AddressSource::*;
        let xff = [("x-forwarded-for", "203.0.113.77")];
        // Nobody trusted: what the client wrote is ignored.
        assert_eq!(
            addr(&xff, "198.51.100.9:5000", ""),
            ("198.51.100.9".into(), Peer)
        );
        // A peer that is not the trusted proxy: ignored too.
        assert_eq!(
            addr(&xff, "198.51.100.9:5000", "10.0.0.0/8"),
            ("198.51.100.9".into(), Peer)
        );
        // From the trusted ingress: believed.
        assert_eq!(
            addr(&xff, "10.1.2.3:5000", "10.0.0.0/8"),
            ("203.0.113.77".into(), XForwardedFor)
        );
        // A forged hop to the left of the real one is never read; trusted hops are skipped.
        assert_eq!(
            addr(
                &[
                    ("x-forwarded-for", "1.2.3.4, 203.0.113.77"),
                    ("x-forwarded-for", "10.9.9.9")
                ],
                "10.1.2.3:5000",
                "10.0.0.0/8, 192.168.0.1"
            ),
            ("203.0.113.77".into(), XForwardedFor)
        );
        // Forwarded (RFC 7239) wins, with ports and IPv6 brackets.
        assert_eq!(
            addr(
                &[
                    (
                        "forwarded",
                        r#"for=1.2.3.4, for="[2001:db8::7]:4711";proto=https"#
                    ),
                    ("x-forwarded-for", "203.0.113.77")
                ],
                "[::ffff:10.1.2.3]:5000",
                "10.0.0.0/8"
            ),
            ("2001:db8::7".into(), Forwarded)
        );
        // Garbage in the header: the trusted proxy itself is the last address believed.
        assert_eq!(
            addr(
                &[("x-forwarded-for", "unknown")],
                "10.1.2.3:5000",
                "10.0.0.0/8"
            ),
            ("10.1.2.3".into(), Peer)
        );
        assert!(TrustedProxies::try_from("10.0.0.0/33".to_string()).is_err());
        assert!(TrustedProxies::try_from("nonsense".to_string()).is_err());
    }
}
