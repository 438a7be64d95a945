//! Payment estimates (issue 20, item 2): the rooftops' finance and lease settings
//! (`payment_settings`, owned by the gateway) and the estimates computed for a chat
//! (`payment_estimates`). Written once here: what a settings row must be ([`checked`]), the
//! table's reads and writes (each scoped to one group), the rates that apply to a vehicle (its
//! make's row, else the rooftop's default), and computing and storing an estimate for a chat.
//! The formulas are `showroom_proto::payment`'s; the REST handlers are in `payment_api.rs`.

use serde::{Deserialize, Serialize};
use showroom_proto::contact::Language;
use showroom_proto::conversation::Conversation;
use showroom_proto::payment::{self, EstimateAsk, PaymentEstimate, Rates};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::error::ApiError;
use crate::validate::{Problems, invalid};

/// Longest make, in characters.
const MAX_MAKE: usize = 40;
/// Longest disclaimer, in characters.
const MAX_DISCLAIMER: usize = 1000;

/// The disclaimer shown when the dealer wrote none, in English.
pub const DISCLAIMER_EN: &str = "Estimate only, not an offer of credit or a lease. Actual rates, \
    terms and payments depend on credit approval and may vary; title, registration and other \
    fees may apply. See the dealer for details.";
/// The same in Spanish.
pub const DISCLAIMER_ES: &str = "Solo es un estimado, no una oferta de crédito ni de \
    arrendamiento. Las tasas, plazos y pagos reales dependen de la aprobación de crédito y \
    pueden variar; pueden aplicar cargos de título, registro y otros. Consulte al concesionario.";

/// A rooftop's payment settings: its default (no make) or one make's.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PaymentSettings {
    /// Its id.
    pub id: Uuid,
    /// The rooftop.
    pub rooftop_id: Uuid,
    /// The make it is for; `null`: the rooftop's default.
    pub make: Option<String>,
    /// The rates.
    #[serde(flatten)]
    pub rates: Rates,
    /// The dealer's disclaimer; `null`: the built-in one in the chat's language.
    pub disclaimer: Option<String>,
    /// When it was last changed.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// What a manager writes (all rates required).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct SettingsFields {
    /// The make (1 to 40 characters, compared without case); absent or `null`: the default.
    #[serde(default)]
    pub make: Option<String>,
    /// The rates.
    #[serde(flatten)]
    pub rates: Rates,
    /// The dealer's disclaimer (up to 1000 characters); absent or `null`: the built-in one.
    #[serde(default)]
    pub disclaimer: Option<String>,
}

/// Checked fields, as stored (and recorded in the audit trail).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Checked {
    /// Trimmed, or none.
    pub make: Option<String>,
    /// In range.
    #[serde(flatten)]
    pub rates: Rates,
    /// Trimmed, or none.
    pub disclaimer: Option<String>,
}

/// Checks a settings row; 400 naming every wrong field.
pub fn checked(f: &SettingsFields) -> Result<Checked, ApiError> {
    let mut p = Problems::default();
    let make = p
        .check("make", optional(f.make.as_deref(), MAX_MAKE))
        .flatten();
    let disclaimer = p
        .check(
            "disclaimer",
            optional(f.disclaimer.as_deref(), MAX_DISCLAIMER),
        )
        .flatten();
    if let Err(e) = f.rates.check() {
        p.add(e.field(), e.to_string());
    }
    p.finish()?;
    Ok(Checked {
        make,
        rates: f.rates.clone(),
        disclaimer,
    })
}

/// An optional text: trimmed, empty as none, at most `max` characters, no control characters.
fn optional(raw: Option<&str>, max: usize) -> Result<Option<String>, String> {
    let Some(t) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if t.chars().count() > max {
        return Err(format!("at most {max} characters"));
    }
    if t.chars().any(|c| c.is_control() && c != '\n') {
        return Err("must not hold control characters".into());
    }
    Ok(Some(t.to_string()))
}

/// The columns a [`Row`] reads.
macro_rules! columns {
    () => {
        "id, rooftop_id, make, finance_apr_bp, finance_term_months, finance_down_cents, \
         finance_fees_cents, tax_rate_bp, lease_money_factor_millionths, lease_residual_bp, \
         lease_term_months, lease_fees_cents, lease_down_cents, disclaimer, updated_at"
    };
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    rooftop_id: Uuid,
    make: Option<String>,
    finance_apr_bp: i32,
    finance_term_months: i32,
    finance_down_cents: i64,
    finance_fees_cents: i64,
    tax_rate_bp: i32,
    lease_money_factor_millionths: i32,
    lease_residual_bp: i32,
    lease_term_months: i32,
    lease_fees_cents: i64,
    lease_down_cents: i64,
    disclaimer: Option<String>,
    updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<Row> for PaymentSettings {
    fn from(r: Row) -> Self {
        PaymentSettings {
            id: r.id,
            rooftop_id: r.rooftop_id,
            make: r.make,
            rates: Rates {
                finance_apr_bp: r.finance_apr_bp,
                finance_term_months: r.finance_term_months,
                finance_down_cents: r.finance_down_cents,
                finance_fees_cents: r.finance_fees_cents,
                tax_rate_bp: r.tax_rate_bp,
                lease_money_factor_millionths: r.lease_money_factor_millionths,
                lease_residual_bp: r.lease_residual_bp,
                lease_term_months: r.lease_term_months,
                lease_fees_cents: r.lease_fees_cents,
                lease_down_cents: r.lease_down_cents,
            },
            disclaimer: r.disclaimer,
            updated_at: r.updated_at,
        }
    }
}

/// The fields of a stored row, to compare and record.
pub fn fields_of(s: &PaymentSettings) -> Checked {
    Checked {
        make: s.make.clone(),
        rates: s.rates.clone(),
        disclaimer: s.disclaimer.clone(),
    }
}

/// The settings of the group's rooftops (of `rooftops` only, for a rooftop manager), by
/// rooftop, the default first, then by make.
pub async fn list<'e>(
    db: impl PgExecutor<'e>,
    group: Uuid,
    rooftops: Option<&[Uuid]>,
) -> sqlx::Result<Vec<PaymentSettings>> {
    let rows: Vec<Row> = sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM payment_settings WHERE group_id = $1 \
          AND ($2::uuid[] IS NULL OR rooftop_id = ANY($2)) \
          ORDER BY rooftop_id, make_key NULLS FIRST"
    ))
    .bind(group)
    .bind(rooftops)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(PaymentSettings::from).collect())
}

/// One row of the group, locked for a change.
pub async fn lock(
    tx: &mut PgConnection,
    group: Uuid,
    id: Uuid,
) -> sqlx::Result<Option<PaymentSettings>> {
    let row: Option<Row> = sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM payment_settings WHERE group_id = $1 AND id = $2 FOR UPDATE"
    ))
    .bind(group)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(row.map(PaymentSettings::from))
}

/// Adds a row for `rooftop` (of `group`: the foreign key refuses another group's).
pub async fn insert(
    tx: &mut PgConnection,
    group: Uuid,
    rooftop: Uuid,
    f: &Checked,
) -> sqlx::Result<PaymentSettings> {
    let r = &f.rates;
    let row: Row = sqlx::query_as(concat!(
        "INSERT INTO payment_settings (id, group_id, rooftop_id, make, finance_apr_bp, \
         finance_term_months, finance_down_cents, finance_fees_cents, tax_rate_bp, \
         lease_money_factor_millionths, lease_residual_bp, lease_term_months, lease_fees_cents, \
         lease_down_cents, disclaimer) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING ",
        columns!()
    ))
    .bind(Uuid::now_v7())
    .bind(group)
    .bind(rooftop)
    .bind(&f.make)
    .bind(r.finance_apr_bp)
    .bind(r.finance_term_months)
    .bind(r.finance_down_cents)
    .bind(r.finance_fees_cents)
    .bind(r.tax_rate_bp)
    .bind(r.lease_money_factor_millionths)
    .bind(r.lease_residual_bp)
    .bind(r.lease_term_months)
    .bind(r.lease_fees_cents)
    .bind(r.lease_down_cents)
    .bind(&f.disclaimer)
    .fetch_one(&mut *tx)
    .await?;
    Ok(row.into())
}

/// Changes a row of `group`.
pub async fn update(
    tx: &mut PgConnection,
    group: Uuid,
    id: Uuid,
    f: &Checked,
) -> sqlx::Result<PaymentSettings> {
    let r = &f.rates;
    let row: Row = sqlx::query_as(concat!(
        "UPDATE payment_settings SET make = $3, finance_apr_bp = $4, finance_term_months = $5, \
         finance_down_cents = $6, finance_fees_cents = $7, tax_rate_bp = $8, \
         lease_money_factor_millionths = $9, lease_residual_bp = $10, lease_term_months = $11, \
         lease_fees_cents = $12, lease_down_cents = $13, disclaimer = $14, updated_at = now() \
         WHERE group_id = $1 AND id = $2 RETURNING ",
        columns!()
    ))
    .bind(group)
    .bind(id)
    .bind(&f.make)
    .bind(r.finance_apr_bp)
    .bind(r.finance_term_months)
    .bind(r.finance_down_cents)
    .bind(r.finance_fees_cents)
    .bind(r.tax_rate_bp)
    .bind(r.lease_money_factor_millionths)
    .bind(r.lease_residual_bp)
    .bind(r.lease_term_months)
    .bind(r.lease_fees_cents)
    .bind(r.lease_down_cents)
    .bind(&f.disclaimer)
    .fetch_one(&mut *tx)
    .await?;
    Ok(row.into())
}

/// Deletes a row of `group`.
pub async fn delete(tx: &mut PgConnection, group: Uuid, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM payment_settings WHERE group_id = $1 AND id = $2")
        .bind(group)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The settings that apply to a vehicle of `make` at `rooftop`: the make's row (compared
/// without case), else the rooftop's default; none when the rooftop has neither.
pub async fn applying<'e>(
    db: impl PgExecutor<'e>,
    group: Uuid,
    rooftop: Uuid,
    make: Option<&str>,
) -> sqlx::Result<Option<PaymentSettings>> {
    let row: Option<Row> = sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM payment_settings WHERE group_id = $1 AND rooftop_id = $2 \
          AND (make_key IS NULL OR make_key = lower(btrim($3))) \
          ORDER BY make_key NULLS LAST LIMIT 1"
    ))
    .bind(group)
    .bind(rooftop)
    .bind(make)
    .fetch_optional(db)
    .await?;
    Ok(row.map(PaymentSettings::from))
}

/// Computes an estimate for chat `c` from its rooftop's settings and its vehicle (price and
/// make; the ask may give another price, down payment, term and kind). 409 `not_configured`
/// when the rooftop has no settings; 400 naming the field the formulas refuse.
pub async fn compute(
    pool: &sqlx::PgPool,
    c: &Conversation,
    ask: &EstimateAsk,
) -> Result<PaymentEstimate, ApiError> {
    let vehicle = c.vehicle.as_ref();
    let make = vehicle.and_then(|v| v.make.as_deref());
    let settings = applying(pool, c.group_id, c.rooftop.id, make)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "not_configured",
                "this rooftop has no payment settings",
            )
        })?;
    let (currency,): (String,) =
        sqlx::query_as("SELECT currency FROM rooftops WHERE id = $1 AND group_id = $2")
            .bind(c.rooftop.id)
            .bind(c.group_id)
            .fetch_one(pool)
            .await?;
    let disclaimer = settings.disclaimer.as_deref().unwrap_or(match c.language {
        Language::Es => DISCLAIMER_ES,
        Language::En => DISCLAIMER_EN,
    });
    let price = vehicle.and_then(|v| v.price).map(|p| i64::from(p) * 100);
    payment::estimate(&settings.rates, ask, price, &currency, disclaimer)
        .map_err(|e| invalid(e.field(), e.to_string()))
}

/// Stores an estimate computed for chat `conversation`: an agent's (`agent`, shown once sent
/// in a message), or the shopper's own (shown now; it replaces their previous one, so a chat
/// keeps one shopper's row however often they ask). Returns its id.
pub async fn store(
    pool: &sqlx::PgPool,
    group: Uuid,
    conversation: Uuid,
    agent: Option<Uuid>,
    e: &PaymentEstimate,
) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query(
        "WITH gone AS (DELETE FROM payment_estimates \
           WHERE $4::uuid IS NULL AND conversation_id = $3 AND agent_id IS NULL) \
         INSERT INTO payment_estimates (id, group_id, conversation_id, agent_id, estimate, shown_at) \
         VALUES ($1, $2, $3, $4, $5, CASE WHEN $4::uuid IS NULL THEN now() END)",
    )
    .bind(id)
    .bind(group)
    .bind(conversation)
    .bind(agent)
    .bind(sqlx::types::Json(e))
    .execute(pool)
    .await?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(make: Option<&str>, apr: i32) -> SettingsFields {
        SettingsFields {
            make: make.map(String::from),
            rates: Rates {
                finance_apr_bp: apr,
                finance_term_months: 60,
                finance_down_cents: 0,
                finance_fees_cents: 0,
                tax_rate_bp: 0,
                lease_money_factor_millionths: 1250,
                lease_residual_bp: 5800,
                lease_term_months: 36,
                lease_fees_cents: 0,
                lease_down_cents: 0,
            },
            disclaimer: Some("  ".into()),
        }
    }

    #[test]
    fn makes_and_disclaimers_are_trimmed_and_every_wrong_field_is_named() {
        let ok = checked(&fields(Some(" Honda "), 690)).unwrap();
        assert_eq!(ok.make.as_deref(), Some("Honda"));
        assert_eq!(ok.disclaimer, None, "blank: the built-in one");
        assert_eq!(checked(&fields(Some(""), 0)).unwrap().make, None);
        let long = "x".repeat(MAX_MAKE + 1);
        let e = checked(&fields(Some(&long), 5000)).unwrap_err();
        let text = format!("{e:?}");
        assert!(
            text.contains("make") && text.contains("finance_apr_bp"),
            "{text}"
        );
        assert!(optional(Some("a\u{7}b"), 10).is_err());
    }
}
