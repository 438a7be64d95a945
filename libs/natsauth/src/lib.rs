//! NATS credentials for Showroom: operator mode (decentralised JWT auth), so nats-server itself
//! enforces who may publish and subscribe to what.
//!
//! Each service connects with a user of its own whose JWT carries the permissions of
//! `showroom_proto::access`; integrators get users limited to their dealer group's lead events;
//! anonymous connections are refused. See `docs/security.md`.
//!
//! # Layout
//! - [`jwt`]: operator, account and user claims, signed and checked with nkeys.
//! - [`creds`]: `.creds` files (a user's JWT and seed).
//! - [`trust`]: one installation's keys ([`Trust`]): the JWTs and credentials it signs, and
//!   nats-server's configuration; [`IssuerKeys`], what crm-export holds to issue and revoke
//!   integrators' credentials.
//! - [`Error`]: what went wrong.

pub mod creds;
pub mod jwt;
pub mod trust;

pub use trust::{Issued, IssuerKeys, Trust};

/// A credential could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An nkey could not be read or used.
    #[error("nkey: {0}")]
    Key(String),
    /// A JWT is malformed or its signature does not match.
    #[error("jwt: {0}")]
    Jwt(String),
    /// A `.creds` file is malformed.
    #[error("creds file: {0}")]
    Creds(String),
    /// JSON could not be written or read.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// A file could not be written.
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    /// No permissions are defined for this service name.
    #[error("no NATS permissions for a service named {0:?}")]
    UnknownService(String),
}

impl Error {
    fn key(e: nkeys::error::Error) -> Self {
        Error::Key(e.to_string())
    }
}
