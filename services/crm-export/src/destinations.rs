//! Destinations: where a rooftop's leads go (optionally one department's), checked and stored
//! in `crm_destinations`. Webhook secrets are stored (they are needed to sign) but never shown
//! back or logged: the list shows a hint of each.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use showroom_proto::conversation::{DepartmentRef, Named};
use showroom_proto::delivery::{
    AdfEmail, Destination, DestinationDeleted, DestinationKind, DestinationRef,
    DestinationSettings, ListDestinations, MAX_SECRETS, PutDestination, SECRET_PREFIX, Target,
    TargetView, WebhookView,
};
use showroom_proto::{CommandError, ErrorCode};
use showroom_store::sqlx::{self, PgPool, types::Json};
use uuid::Uuid;

use crate::db_error;
use crate::webhook;

/// Longest destination name and dealership name, in characters.
const MAX_NAME: usize = 100;
const MAX_DEALERSHIP: usize = 200;

fn valid_email(s: &str) -> bool {
    s.len() <= 254 && s.parse::<lettre::Address>().is_ok()
}

/// Checks what a manager sends; each wrong field is named (`name`, `target.to`,
/// `target.secrets`, …).
pub fn check(s: &DestinationSettings) -> Result<(), CommandError> {
    let mut wrong = BTreeMap::new();
    let name = s.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        wrong.insert("name".into(), format!("1 to {MAX_NAME} characters"));
    }
    match &s.target {
        Target::AdfEmail(a) => {
            if !valid_email(a.to.trim()) {
                wrong.insert("target.to".into(), "not an e-mail address".into());
            }
            if let Some(v) = &a.vendor_email
                && !valid_email(v.trim())
            {
                wrong.insert("target.vendor_email".into(), "not an e-mail address".into());
            }
            if let Some(d) = &a.dealership_name
                && (d.trim().is_empty() || d.chars().count() > MAX_DEALERSHIP)
            {
                wrong.insert(
                    "target.dealership_name".into(),
                    format!("1 to {MAX_DEALERSHIP} characters"),
                );
            }
        }
        Target::Webhook(w) => {
            if let Err(e) = webhook::check_url(w.url.trim()) {
                wrong.insert("target.url".into(), e.into());
            }
            if w.secrets.is_empty() || w.secrets.len() > MAX_SECRETS {
                wrong.insert(
                    "target.secrets".into(),
                    format!("1 to {MAX_SECRETS} secrets (two while rotating)"),
                );
            } else if let Some(e) = w
                .secrets
                .iter()
                .find_map(|s| webhook::secret_key(s.trim()).err())
            {
                wrong.insert("target.secrets".into(), e.into());
            }
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(CommandError::invalid_fields(wrong))
    }
}

/// The stored form of a target: its kind, its settings (no secrets), its secrets.
fn stored(target: &Target) -> (DestinationKind, Value, Vec<String>) {
    match target {
        Target::AdfEmail(a) => (
            DestinationKind::AdfEmail,
            json!(AdfEmail {
                to: a.to.trim().to_string(),
                dealership_name: a.dealership_name.as_ref().map(|d| d.trim().to_string()),
                vendor_email: a.vendor_email.as_ref().map(|v| v.trim().to_string()),
            }),
            Vec::new(),
        ),
        Target::Webhook(w) => (
            DestinationKind::Webhook,
            json!({ "url": w.url.trim() }),
            w.secrets.iter().map(|s| s.trim().to_string()).collect(),
        ),
    }
}

/// `whsec_…` and the last four characters: enough to tell secrets apart.
fn hint(secret: &str) -> String {
    let tail: String = {
        let chars: Vec<char> = secret.chars().collect();
        chars[chars.len().saturating_sub(4)..].iter().collect()
    };
    format!("{SECRET_PREFIX}…{tail}")
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    rooftop_id: Uuid,
    rooftop_name: String,
    department_id: Option<Uuid>,
    department_label: Option<String>,
    name: String,
    kind: String,
    settings: Json<Value>,
    secrets: Vec<String>,
    enabled: bool,
    disabled_reason: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl Row {
    fn view(self) -> Destination {
        let target = match DestinationKind::parse(&self.kind) {
            Some(DestinationKind::AdfEmail) => {
                match serde_json::from_value::<AdfEmail>(self.settings.0) {
                    Ok(a) => TargetView::AdfEmail(a),
                    Err(_) => TargetView::AdfEmail(AdfEmail {
                        to: String::new(),
                        dealership_name: None,
                        vendor_email: None,
                    }),
                }
            }
            _ => TargetView::Webhook(WebhookView {
                url: self
                    .settings
                    .0
                    .get("url")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                secret_hints: self.secrets.iter().map(|s| hint(s)).collect(),
            }),
        };
        Destination {
            id: self.id,
            rooftop: Named {
                id: self.rooftop_id,
                name: self.rooftop_name,
            },
            department: self.department_id.map(|id| DepartmentRef {
                id,
                label: self.department_label.unwrap_or_default(),
            }),
            name: self.name,
            enabled: self.enabled,
            disabled_reason: self.disabled_reason,
            target,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// The group's destinations (not removed), by rooftop and name.
pub async fn list(
    pool: &PgPool,
    group: Uuid,
    q: ListDestinations,
) -> Result<Vec<Destination>, CommandError> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT d.id, d.rooftop_id, r.name AS rooftop_name, d.department_id, \
         p.label AS department_label, d.name, d.kind, d.settings, d.secrets, d.enabled, \
         d.disabled_reason, d.created_at, d.updated_at \
         FROM crm_destinations d JOIN rooftops r ON r.id = d.rooftop_id \
         LEFT JOIN departments p ON p.id = d.department_id \
         WHERE d.group_id = $1 AND d.deleted_at IS NULL \
         AND ($2::uuid IS NULL OR d.rooftop_id = $2) \
         ORDER BY r.name, d.name, d.id",
    )
    .bind(group)
    .bind(q.rooftop_id)
    .fetch_all(pool)
    .await
    .map_err(db_error)?;
    Ok(rows.into_iter().map(Row::view).collect())
}

/// One destination of the group (not removed).
pub async fn get(pool: &PgPool, group: Uuid, id: Uuid) -> Result<Destination, CommandError> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT d.id, d.rooftop_id, r.name AS rooftop_name, d.department_id, \
         p.label AS department_label, d.name, d.kind, d.settings, d.secrets, d.enabled, \
         d.disabled_reason, d.created_at, d.updated_at \
         FROM crm_destinations d JOIN rooftops r ON r.id = d.rooftop_id \
         LEFT JOIN departments p ON p.id = d.department_id \
         WHERE d.id = $1 AND d.group_id = $2 AND d.deleted_at IS NULL",
    )
    .bind(id)
    .bind(group)
    .fetch_optional(pool)
    .await
    .map_err(db_error)?;
    row.map(Row::view)
        .ok_or_else(|| CommandError::new(ErrorCode::NotFound, "no such destination"))
}

/// Creates or replaces a destination. Putting it with `enabled: true` clears a 410's
/// disabling. Another group's id, or a removed destination's, reads as not found.
pub async fn put(
    pool: &PgPool,
    group: Uuid,
    cmd: PutDestination,
) -> Result<Destination, CommandError> {
    let s = &cmd.settings;
    check(s)?;
    let rooftop: Option<(Uuid,)> =
        sqlx::query_as("SELECT id FROM rooftops WHERE id = $1 AND group_id = $2")
            .bind(s.rooftop_id)
            .bind(group)
            .fetch_optional(pool)
            .await
            .map_err(db_error)?;
    if rooftop.is_none() {
        return Err(CommandError::invalid_fields(
            [("rooftop_id".into(), "no such rooftop in this group".into())].into(),
        ));
    }
    if let Some(dep) = s.department_id {
        let found: Option<(Uuid,)> = sqlx::query_as(
            "SELECT id FROM departments WHERE id = $1 AND rooftop_id = $2 AND group_id = $3",
        )
        .bind(dep)
        .bind(s.rooftop_id)
        .bind(group)
        .fetch_optional(pool)
        .await
        .map_err(db_error)?;
        if found.is_none() {
            return Err(CommandError::invalid_fields(
                [(
                    "department_id".into(),
                    "no such department at this rooftop".into(),
                )]
                .into(),
            ));
        }
    }
    let (kind, settings, secrets) = stored(&s.target);
    let written: Option<(Uuid,)> = sqlx::query_as(
        "INSERT INTO crm_destinations \
         (id, group_id, rooftop_id, department_id, name, kind, settings, secrets, enabled) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (id) DO UPDATE SET rooftop_id = EXCLUDED.rooftop_id, \
         department_id = EXCLUDED.department_id, name = EXCLUDED.name, kind = EXCLUDED.kind, \
         settings = EXCLUDED.settings, secrets = EXCLUDED.secrets, enabled = EXCLUDED.enabled, \
         disabled_reason = CASE WHEN EXCLUDED.enabled THEN NULL ELSE crm_destinations.disabled_reason END, \
         disabled_at = CASE WHEN EXCLUDED.enabled THEN NULL ELSE crm_destinations.disabled_at END, \
         updated_at = now() \
         WHERE crm_destinations.group_id = EXCLUDED.group_id AND crm_destinations.deleted_at IS NULL \
         RETURNING id",
    )
    .bind(cmd.destination_id)
    .bind(group)
    .bind(s.rooftop_id)
    .bind(s.department_id)
    .bind(s.name.trim())
    .bind(kind.as_str())
    .bind(Json(settings))
    .bind(&secrets)
    .bind(s.enabled)
    .fetch_optional(pool)
    .await
    .map_err(db_error)?;
    if written.is_none() {
        return Err(CommandError::new(
            ErrorCode::NotFound,
            "no such destination",
        ));
    }
    tracing::info!(destination = %cmd.destination_id, kind = kind.as_str(), "destination stored");
    get(pool, group, cmd.destination_id).await
}

/// Removes a destination: it receives nothing more and its pending deliveries are cancelled
/// (an attempt under way cannot record over that); its log stays readable.
pub async fn delete(
    pool: &PgPool,
    group: Uuid,
    r: DestinationRef,
) -> Result<DestinationDeleted, CommandError> {
    let mut tx = pool.begin().await.map_err(db_error)?;
    let gone = sqlx::query(
        "UPDATE crm_destinations SET deleted_at = now(), enabled = false, updated_at = now() \
         WHERE id = $1 AND group_id = $2 AND deleted_at IS NULL",
    )
    .bind(r.destination_id)
    .bind(group)
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    if gone.rows_affected() == 0 {
        return Err(CommandError::new(
            ErrorCode::NotFound,
            "no such destination",
        ));
    }
    let cancelled = sqlx::query(
        "UPDATE crm_deliveries SET status = 'cancelled', next_attempt_at = NULL, claim_id = NULL, \
         last_error = 'the destination was removed', updated_at = now() \
         WHERE destination_id = $1 AND status = 'pending'",
    )
    .bind(r.destination_id)
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
    tracing::info!(destination = %r.destination_id, "destination removed");
    Ok(DestinationDeleted {
        destination_id: r.destination_id,
        cancelled: cancelled.rows_affected() as i64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use showroom_proto::delivery::Webhook;

    fn settings(target: Target) -> DestinationSettings {
        DestinationSettings {
            rooftop_id: Uuid::nil(),
            department_id: None,
            name: "CRM".into(),
            enabled: true,
            target,
        }
    }

    #[test]
    fn names_each_wrong_field() {
        let bad = settings(Target::Webhook(Webhook {
            url: "ftp://x".into(),
            secrets: vec!["nope".into()],
        }));
        let e = check(&bad).unwrap_err();
        assert!(e.fields.contains_key("target.url"), "{e:?}");
        assert!(e.fields.contains_key("target.secrets"), "{e:?}");
        assert!(!e.message.contains("nope"));
        let bad = settings(Target::AdfEmail(AdfEmail {
            to: "not-an-address".into(),
            dealership_name: Some(" ".into()),
            vendor_email: None,
        }));
        let e = check(&bad).unwrap_err();
        assert!(e.fields.contains_key("target.to"), "{e:?}");
        assert!(e.fields.contains_key("target.dealership_name"), "{e:?}");
        let good = settings(Target::AdfEmail(AdfEmail {
            to: "leads@crm.example".into(),
            dealership_name: None,
            vendor_email: None,
        }));
        assert!(check(&good).is_ok());
    }

    #[test]
    fn hints_show_only_the_end() {
        assert_eq!(
            hint("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            "whsec_…LaSw"
        );
        assert_eq!(hint("ab"), "whsec_…ab");
    }
}
