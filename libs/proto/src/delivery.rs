//! Deliveries of leads to the outside (crm-export): destinations per rooftop and department
//! (ADF e-mail, signed webhooks), the delivery log, the dead-letter list.
//!
//! A delivery is one lead for one destination: it has one id for life, sent as the webhook's
//! `webhook-id` and in the e-mail's `Message-ID`, so a receiver recognises every retry (and a
//! redelivery) as the same lead. Each try is an attempt in its log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::conversation::{DepartmentRef, Named};

/// crm-export's request subjects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrmCommand {
    /// [`ListDestinations`], replied with the [`Destination`]s.
    ListDestinations,
    /// [`PutDestination`]: creates or replaces a destination, replied with the [`Destination`].
    PutDestination,
    /// [`DestinationRef`]: removes a destination, replied with [`DestinationDeleted`].
    DeleteDestination,
    /// [`DestinationRef`]: sends a test lead to a destination now, replied with the
    /// [`Delivery`] and its one attempt.
    TestSend,
    /// [`DeliveryQuery`]: the delivery log (per lead, per destination), replied with
    /// [`Delivery`]s and their attempts.
    Deliveries,
    /// [`DeadLetterQuery`]: the dead-letter list, replied with [`Delivery`]s.
    DeadLetters,
    /// [`Redeliver`]: delivers a dead letter again (same id), replied with the [`Delivery`].
    Redeliver,
    /// [`ListIntegrations`](crate::integration::ListIntegrations): the group's integrator
    /// credentials, replied with [`Integration`](crate::integration::Integration)s.
    ListIntegrations,
    /// [`IssueIntegration`](crate::integration::IssueIntegration): a new integrator credential,
    /// replied with [`IssuedIntegration`](crate::integration::IssuedIntegration).
    IssueIntegration,
    /// [`RevokeIntegration`](crate::integration::RevokeIntegration): revokes one, replied with
    /// the [`Integration`](crate::integration::Integration).
    RevokeIntegration,
}

impl CrmCommand {
    /// Every command.
    pub const ALL: [Self; 10] = [
        Self::ListDestinations,
        Self::PutDestination,
        Self::DeleteDestination,
        Self::TestSend,
        Self::Deliveries,
        Self::DeadLetters,
        Self::Redeliver,
        Self::ListIntegrations,
        Self::IssueIntegration,
        Self::RevokeIntegration,
    ];

    /// The subject token.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ListDestinations => "list_destinations",
            Self::PutDestination => "put_destination",
            Self::DeleteDestination => "delete_destination",
            Self::TestSend => "test_send",
            Self::Deliveries => "deliveries",
            Self::DeadLetters => "dead_letters",
            Self::Redeliver => "redeliver",
            Self::ListIntegrations => "list_integrations",
            Self::IssueIntegration => "issue_integration",
            Self::RevokeIntegration => "revoke_integration",
        }
    }
}

/// The delivery events on the DELIVERIES stream (`v1::delivery_event(group, kind.as_str())`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryEventKind {
    /// The destination accepted the lead (2xx, or the SMTP server took the e-mail).
    Delivered,
    /// An attempt failed; another follows at `next_attempt_at`.
    Failed,
    /// No further attempt will be made (the last retry failed, the receiver answered 410 Gone,
    /// or the SMTP server refused the e-mail for good); a manager may redeliver it.
    DeadLettered,
}

impl DeliveryEventKind {
    /// Every kind.
    pub const ALL: [Self; 3] = [Self::Delivered, Self::Failed, Self::DeadLettered];

    /// The subject token.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::DeadLettered => "dead_lettered",
        }
    }
}

/// Most deliveries one read of the log or of the dead letters answers.
pub const MAX_LIST: i64 = 500;
/// Most signing secrets a webhook may have at once (a rotation needs two).
pub const MAX_SECRETS: usize = 5;
/// The prefix of a webhook signing secret: `whsec_` then the key in base64.
pub const SECRET_PREFIX: &str = "whsec_";

/// What kind of receiver a destination is.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum DestinationKind {
    /// An ADF 1.0 XML lead by e-mail, to a CRM's lead intake address.
    AdfEmail,
    /// The lead's CloudEvent by HTTP POST, signed per Standard Webhooks.
    Webhook,
}

impl DestinationKind {
    /// The wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AdfEmail => "adf_email",
            Self::Webhook => "webhook",
        }
    }

    /// Parses the database name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "adf_email" => Some(Self::AdfEmail),
            "webhook" => Some(Self::Webhook),
            _ => None,
        }
    }
}

/// An ADF e-mail destination.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AdfEmail {
    /// The CRM's lead intake address.
    pub to: String,
    /// The dealership's name as the CRM knows it: the ADF `vendorname` and the subject line.
    /// Defaults to the rooftop's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dealership_name: Option<String>,
    /// The dealership's contact address in the ADF `vendor` block (defaults to `to`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_email: Option<String>,
}

/// A webhook destination, as a manager sends it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// Where the lead is POSTed (http or https).
    pub url: String,
    /// Signing secrets, `whsec_<base64>`, 1 to 5: during a rotation the old and the new one;
    /// every delivery is signed with each.
    pub secrets: Vec<String>,
}

impl std::fmt::Debug for Webhook {
    /// Never prints the secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.url)
            .field(
                "secrets",
                &format_args!("<{} redacted>", self.secrets.len()),
            )
            .finish()
    }
}

/// Where a destination sends leads, as a manager sets it (its OpenAPI schema: below).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// ADF by e-mail.
    AdfEmail(AdfEmail),
    /// A signed webhook.
    Webhook(Webhook),
}

/// A webhook destination as it is shown: the secrets only as hints.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WebhookView {
    /// Where the lead is POSTed.
    pub url: String,
    /// Each secret as `whsec_…` and its last four characters, in the order given.
    pub secret_hints: Vec<String>,
}

/// Where a destination sends leads, as it is shown (no secrets; its OpenAPI schema: below).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TargetView {
    /// ADF by e-mail.
    AdfEmail(AdfEmail),
    /// A signed webhook.
    Webhook(WebhookView),
}

/// The OpenAPI schemas of [`Target`] and [`TargetView`], written out: utoipa's derive puts an
/// internally tagged variant's struct and its tag side by side in an `allOf`, and the struct's
/// `additionalProperties: false` (`deny_unknown_fields`) then refuses the tag, so no document
/// matched (schemathesis could not make a request body, and a client that validates would
/// refuse every destination). Here each variant is its struct's own object with `kind` added.
#[cfg(feature = "openapi")]
mod target_schemas {
    use std::borrow::Cow;

    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{Object, OneOf, Schema, Type};
    use utoipa::{PartialSchema, ToSchema};

    use super::{AdfEmail, Target, TargetView, Webhook, WebhookView};

    /// `variant`'s object schema with the required property `kind` = `tag`.
    fn tagged(tag: &str, description: &str, variant: RefOr<Schema>) -> RefOr<Schema> {
        let RefOr::T(Schema::Object(mut object)) = variant else {
            return variant;
        };
        let kind = Object::builder()
            .schema_type(Type::String)
            .enum_values(Some([tag]))
            .build();
        object.properties.insert("kind".into(), kind.into());
        object.required.insert(0, "kind".into());
        object.description = Some(description.into());
        RefOr::T(Schema::Object(object))
    }

    /// Both variants, tagged, as one `oneOf` described `description`: `webhook` is the
    /// webhook variant's own schema (with or without its secret).
    fn targets(description: &str, webhook: RefOr<Schema>) -> RefOr<Schema> {
        let mut one_of = OneOf::new();
        one_of.items = vec![
            tagged("adf_email", "ADF by e-mail.", AdfEmail::schema()),
            tagged("webhook", "A signed webhook.", webhook),
        ];
        one_of.description = Some(description.into());
        RefOr::T(Schema::OneOf(one_of))
    }

    /// `PartialSchema` and `ToSchema` of a target type, named `name`.
    macro_rules! target_schema {
        ($ty:ty, $name:literal, $description:literal, $webhook:ty) => {
            impl PartialSchema for $ty {
                fn schema() -> RefOr<Schema> {
                    targets($description, <$webhook>::schema())
                }
            }

            impl ToSchema for $ty {
                fn name() -> Cow<'static, str> {
                    Cow::Borrowed($name)
                }
            }
        };
    }

    target_schema!(
        Target,
        "Target",
        "Where a destination sends leads, as a manager sets it.",
        Webhook
    );
    target_schema!(
        TargetView,
        "TargetView",
        "Where a destination sends leads, as it is shown (no secrets).",
        WebhookView
    );

    #[cfg(test)]
    mod tests {
        use super::*;

        /// Each variant is one closed object that has `kind`, never an `allOf`.
        #[test]
        fn every_variant_is_one_object_with_its_kind() {
            for schema in [Target::schema(), TargetView::schema()] {
                let RefOr::T(Schema::OneOf(one_of)) = schema else {
                    panic!("not a oneOf");
                };
                assert_eq!(one_of.items.len(), 2);
                for item in one_of.items {
                    let json = serde_json::to_string(&item).expect("a schema serializes");
                    let RefOr::T(Schema::Object(o)) = item else {
                        panic!("not an object: {json}");
                    };
                    assert!(o.properties.contains_key("kind"), "{json}");
                    assert!(o.required.iter().any(|r| r == "kind"), "{json}");
                }
            }
        }
    }
}

fn yes() -> bool {
    true
}

/// A destination's settings, as a manager sends them (whole: a put replaces them).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DestinationSettings {
    /// The dealership whose leads it receives.
    pub rooftop_id: Uuid,
    /// Only this department's leads; none: every lead of the rooftop.
    #[serde(default)]
    pub department_id: Option<Uuid>,
    /// A name for people ("DealerSocket Sales"), 1 to 100 characters.
    pub name: String,
    /// Whether it receives leads. Putting `true` again re-enables a destination that a 410
    /// Gone disabled.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Where it sends them.
    pub target: Target,
}

/// Creates or replaces a destination of the group.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PutDestination {
    /// Its id (chosen by the client, so a retried put is harmless).
    pub destination_id: Uuid,
    /// Its settings.
    pub settings: DestinationSettings,
}

/// Names one destination of the group.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DestinationRef {
    /// The destination.
    pub destination_id: Uuid,
}

/// Lists the group's destinations.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ListDestinations {
    /// Only this rooftop's.
    #[serde(default)]
    pub rooftop_id: Option<Uuid>,
}

/// A destination as it is shown.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Destination {
    /// Its id.
    pub id: Uuid,
    /// The dealership whose leads it receives.
    pub rooftop: Named,
    /// The department, when it takes only one department's leads.
    pub department: Option<DepartmentRef>,
    /// Its name.
    pub name: String,
    /// Whether it receives leads.
    pub enabled: bool,
    /// Why it was turned off when the system did it (a 410 Gone).
    pub disabled_reason: Option<String>,
    /// Where it sends leads.
    pub target: TargetView,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A destination was removed: its pending deliveries are cancelled; its log stays readable.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DestinationDeleted {
    /// The destination.
    pub destination_id: Uuid,
    /// How many deliveries were still pending and are now cancelled.
    pub cancelled: i64,
}

/// Where a delivery stands.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt (or being attempted now).
    Pending,
    /// The destination accepted it.
    Delivered,
    /// No more attempts: in the dead-letter list until redelivered.
    DeadLettered,
    /// A test send that failed (tests are never retried).
    Failed,
    /// Its destination was removed before it was delivered.
    Cancelled,
}

impl DeliveryStatus {
    /// The wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::DeadLettered => "dead_lettered",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses the database name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "delivered" => Self::Delivered,
            "dead_lettered" => Self::DeadLettered,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }
}

/// How one attempt ended.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// Under way now.
    Sending,
    /// Accepted.
    Delivered,
    /// Failed; another attempt follows at `retry_at`.
    Failed,
    /// Failed and was the last: the delivery went to the dead letters.
    DeadLettered,
    /// The receiver answered 410 Gone: the destination was disabled.
    Gone,
    /// crm-export stopped (or died) before the answer; the delivery is tried again with the
    /// same id, and this attempt does not count against the retry schedule.
    Interrupted,
}

impl AttemptOutcome {
    /// The wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sending => "sending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::DeadLettered => "dead_lettered",
            Self::Gone => "gone",
            Self::Interrupted => "interrupted",
        }
    }

    /// Parses the database name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "sending" => Self::Sending,
            "delivered" => Self::Delivered,
            "failed" => Self::Failed,
            "dead_lettered" => Self::DeadLettered,
            "gone" => Self::Gone,
            "interrupted" => Self::Interrupted,
            _ => return None,
        })
    }
}

/// One try at delivering: a row of the delivery log.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeliveryAttempt {
    /// 1 for the first try, counting on through redeliveries.
    pub attempt: i32,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended (none while sending).
    pub finished_at: Option<DateTime<Utc>>,
    /// How it ended.
    pub outcome: AttemptOutcome,
    /// The HTTP status, or the SMTP reply code, when there was an answer.
    pub status_code: Option<i32>,
    /// What went wrong, when something did (never holds a secret).
    pub error: Option<String>,
    /// When the next attempt is due, after a failure.
    pub retry_at: Option<DateTime<Utc>>,
}

/// One lead for one destination.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Delivery {
    /// Its id: the webhook's `webhook-id`, and the e-mail's `Message-ID` is built from it.
    pub id: Uuid,
    /// The lead (for a test send, a made-up id).
    pub lead_id: Uuid,
    /// The destination.
    pub destination_id: Uuid,
    /// The destination's name.
    pub destination_name: String,
    /// The destination's kind.
    pub kind: DestinationKind,
    /// A test send (a synthetic lead), not a real one.
    pub test: bool,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: i32,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The last status code seen.
    pub last_status_code: Option<i32>,
    /// The last error seen.
    pub last_error: Option<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// Its attempts, oldest first (empty in events and lists that do not ask for them).
    #[serde(default)]
    pub log: Vec<DeliveryAttempt>,
}

/// Reads the delivery log: a lead's deliveries, a destination's, or both; newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeliveryQuery {
    /// Only this lead's.
    #[serde(default)]
    pub lead_id: Option<Uuid>,
    /// Only this destination's.
    #[serde(default)]
    pub destination_id: Option<Uuid>,
    /// At most this many deliveries (1 to 500, default 100).
    #[serde(default)]
    pub limit: Option<i64>,
}

/// Reads the dead letters, newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeadLetterQuery {
    /// Only this destination's.
    #[serde(default)]
    pub destination_id: Option<Uuid>,
    /// At most this many (1 to 500, default 100).
    #[serde(default)]
    pub limit: Option<i64>,
}

/// Delivers a dead letter again, with the same id, through the whole retry schedule.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Redeliver {
    /// The delivery.
    pub delivery_id: Uuid,
}

/// A delivery changed: the payload of `delivery.{delivered,failed,dead_lettered}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeliveryEvent {
    /// The delivery after the attempt (without its log).
    pub delivery: Delivery,
    /// The attempt that changed it (none when it was dead-lettered because its destination
    /// answered 410 Gone to another delivery).
    pub attempt: Option<DeliveryAttempt>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_tagged_by_kind() {
        let t: Target = serde_json::from_str(
            r#"{"kind":"webhook","url":"https://crm.example/hook","secrets":["whsec_AAAA"]}"#,
        )
        .unwrap();
        assert!(matches!(t, Target::Webhook(ref w) if w.secrets.len() == 1));
        let t: Target =
            serde_json::from_str(r#"{"kind":"adf_email","to":"leads@crm.example"}"#).unwrap();
        assert!(matches!(t, Target::AdfEmail(ref a) if a.dealership_name.is_none()));
    }

    #[test]
    fn webhook_secrets_are_never_printed() {
        let w = Webhook {
            url: "https://crm.example/hook".into(),
            secrets: vec!["whsec_c2VjcmV0LXNlY3JldA==".into()],
        };
        let shown = format!("{w:?} {:?}", Target::Webhook(w.clone()));
        assert!(!shown.contains("whsec_"), "{shown}");
    }

    #[test]
    fn names_round_trip() {
        for s in [
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::DeadLettered,
            DeliveryStatus::Failed,
            DeliveryStatus::Cancelled,
        ] {
            assert_eq!(DeliveryStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for o in [
            AttemptOutcome::Sending,
            AttemptOutcome::Delivered,
            AttemptOutcome::Failed,
            AttemptOutcome::DeadLettered,
            AttemptOutcome::Gone,
            AttemptOutcome::Interrupted,
        ] {
            assert_eq!(AttemptOutcome::parse(o.as_str()), Some(o));
        }
    }
}
