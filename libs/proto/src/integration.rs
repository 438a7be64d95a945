//! Integrator credentials: one per integration of a dealer group (a CRM, a data warehouse),
//! letting it read that group's lead and delivery events on NATS, and nothing else. crm-export
//! issues and revokes them; the gateway's REST and the Admin page forward. The permissions are
//! [`crate::access::integrator`]'s; `docs/leads.md` shows how to consume with one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::conversation::Named;

/// Longest integration name, in characters.
pub const MAX_NAME: usize = 100;

/// An integrator credential, as listed (never with its secret).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Integration {
    /// Its id.
    pub id: Uuid,
    /// What it is for, e.g. "DealerSocket".
    pub name: String,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// Who issued it.
    pub created_by: Option<Named>,
    /// When it last connected to NATS (`null`: never).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked (`null`: valid). A revoked credential cannot connect, and its
    /// connections were closed.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Who revoked it.
    pub revoked_by: Option<Named>,
    /// Where its events are: what it may subscribe to and pull.
    pub access: IntegrationAccess,
}

/// What an integrator credential reaches on NATS.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IntegrationAccess {
    /// Live subjects it may subscribe to: the group's `lead.>` and `delivery.>`.
    pub subjects: Vec<String>,
    /// The JetStream stream of its durable consumer (`LEADS`).
    pub stream: String,
    /// Its durable consumer: the group's lead events from when it was issued, kept while the
    /// integrator is away (pull with `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`).
    pub consumer: String,
    /// The inbox prefix its client must use (`_INBOX_<id>`): replies reach only it.
    pub inbox_prefix: String,
}

/// Lists a group's integrator credentials, newest first (revoked ones too).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ListIntegrations {}

/// Issues a new integrator credential.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IssueIntegration {
    /// What it is for: 1 to 100 characters.
    pub name: String,
    /// The admin who issues it (set by the gateway from the session).
    #[serde(default)]
    pub issued_by: Option<Uuid>,
}

/// A credential just issued: its `.creds` file is shown this once and stored nowhere.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IssuedIntegration {
    /// The credential.
    pub integration: Integration,
    /// The `.creds` file's text (a user JWT and its nkey seed): save it as `<name>.creds`.
    pub creds: String,
}

/// Revokes an integrator credential.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RevokeIntegration {
    /// Which.
    pub id: Uuid,
    /// The admin who revokes it.
    #[serde(default)]
    pub revoked_by: Option<Uuid>,
}
