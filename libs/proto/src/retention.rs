//! Retention, erasure and export of a shopper's data (issue 17, item 5): each dealer group's
//! retention periods, and the requests the gateway sends every service that owns shopper data
//! to erase or export one shopper (`privacy.<command>_<owner>`, [`crate::v1::privacy_command`]).
//!
//! The gateway works out which rows are the shopper's ([`ShopperRefs`]: found by the e-mail or
//! phone, as contacts store them) by reading; each owner then deletes or reads only its own
//! tables, within the group, and answers its counts ([`Erased`]) or rows ([`Exported`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The law's default period: the FTC Safeguards Rule's two years after the last use.
pub const DEFAULT_DAYS: i32 = 730;
/// The longest period a group may choose (ten years).
pub const MAX_DAYS: i32 = 3650;

/// How long a dealer group keeps each kind of shopper data after its last use, in days
/// (1 to 3650; 730 unless the group chose otherwise).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RetentionPeriods {
    /// Conversations with their messages, Lead Gate answers and pre-chat form answers: after the
    /// conversation's last message or its end, whichever is later.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3650))]
    pub transcripts_days: i32,
    /// Files shoppers attached to forms: after their upload.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3650))]
    pub attachments_days: i32,
    /// Contacts (names, e-mail, phone, consent): after their last lead was made or merged into
    /// them, once none of their leads is left.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3650))]
    pub contacts_days: i32,
    /// Leads with their history, messages left, and CRM deliveries: after their last change.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3650))]
    pub leads_days: i32,
}

impl Default for RetentionPeriods {
    fn default() -> Self {
        Self {
            transcripts_days: DEFAULT_DAYS,
            attachments_days: DEFAULT_DAYS,
            contacts_days: DEFAULT_DAYS,
            leads_days: DEFAULT_DAYS,
        }
    }
}

/// Which of a shopper's identifiers found them (recorded in the audit trail instead of the
/// identifier itself).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Identifier {
    /// The e-mail address.
    Email,
    /// The phone number (E.164).
    Phone,
}

impl Identifier {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Phone => "phone",
        }
    }
}

/// The rows of one shopper of one dealer group the gateway found (never the e-mail or phone
/// itself), for each owner to erase or export its own part. Every id is of the request's group;
/// owners check it again.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ShopperRefs {
    /// Their conversations.
    #[serde(default)]
    pub conversation_ids: Vec<Uuid>,
    /// Their contacts (one per group, or more if they were merged by phone and by e-mail).
    #[serde(default)]
    pub contact_ids: Vec<Uuid>,
    /// Their leads.
    #[serde(default)]
    pub lead_ids: Vec<Uuid>,
    /// Their form submissions.
    #[serde(default)]
    pub form_submission_ids: Vec<Uuid>,
    /// Their messages left.
    #[serde(default)]
    pub left_message_ids: Vec<Uuid>,
}

/// What an owner erased: rows deleted per table (tables that follow by `ON DELETE CASCADE`
/// inside the owner's own tables are counted under their parent).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Erased {
    /// Rows deleted, by table.
    pub counts: BTreeMap<String, u64>,
}

/// What an owner holds of the shopper: its rows as JSON objects, per table.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Exported {
    /// Rows, by table.
    pub tables: BTreeMap<String, Vec<serde_json::Value>>,
}

/// The services that own shopper data apart from the gateway (which erases and exports its own
/// tables itself), in the order an erasure asks them: the rows each later owner's tables let
/// the gateway find stay until every earlier owner is done, so a retry after a failure finds
/// everything again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivacyOwner {
    /// crm-export: deliveries and their attempts, handled lead events, its outbox.
    CrmExport,
    /// notification: transcript e-mails, sent-mail records, desktop notice marks.
    Notification,
    /// bot: Lead Gate sessions, form submissions, messages left.
    Bot,
    /// lead-capture: leads with their sources and history, contacts, its outbox.
    LeadCapture,
    /// router: conversations with their participants, transfers and timers, its outbox.
    Router,
}

impl PrivacyOwner {
    /// Every owner, in the order an erasure asks them.
    pub const ALL: [Self; 5] = [
        Self::CrmExport,
        Self::Notification,
        Self::Bot,
        Self::LeadCapture,
        Self::Router,
    ];

    /// The subject token.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CrmExport => "crm_export",
            Self::Notification => "notification",
            Self::Bot => "bot",
            Self::LeadCapture => "lead_capture",
            Self::Router => "router",
        }
    }
}

/// What the gateway asks an owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivacyCommand {
    /// Delete the shopper's rows ([`ShopperRefs`]), answered with [`Erased`]. Idempotent.
    Erase,
    /// Read the shopper's rows ([`ShopperRefs`]), answered with [`Exported`].
    Export,
}

impl PrivacyCommand {
    /// Both commands.
    pub const ALL: [Self; 2] = [Self::Erase, Self::Export];

    /// The first half of the subject token.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Erase => "erase",
            Self::Export => "export",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1;

    #[test]
    fn subjects_name_command_and_owner_and_no_stream_captures_them() {
        let g = Uuid::new_v4();
        let s = v1::privacy_command(g, PrivacyOwner::LeadCapture, PrivacyCommand::Erase);
        assert_eq!(s, format!("showroom.v1.{g}.privacy.erase_lead_capture"));
        assert_eq!(v1::group_of(&s), Some(g));
        for owner in PrivacyOwner::ALL {
            for cmd in PrivacyCommand::ALL {
                let s = v1::privacy_command(g, owner, cmd);
                for stream in v1::all_streams() {
                    for p in &stream.subjects {
                        assert!(!v1::matches(p, &s), "{} captures {s}", stream.name);
                    }
                }
            }
        }
    }

    #[test]
    fn periods_default_to_two_years() {
        let p = RetentionPeriods::default();
        assert_eq!(p.transcripts_days, 730);
        assert_eq!(p.leads_days, 730);
    }
}
