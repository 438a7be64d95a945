//! Erasing and exporting one shopper's rows (issue 17, item 5): the one way every owner of
//! shopper data runs its own statements. The statements live in the owner (each service's
//! `retention` module; the gateway's in `libs/rest/src/privacy_api.rs`); this runs them.
//!
//! Every statement takes `$1`, the dealer group, and `$2`, the shopper's
//! [`ShopperRefs`] as jsonb (`ARRAY(SELECT jsonb_array_elements_text($2->'lead_ids')::uuid)` is
//! the shopper's leads), and names the group in its `WHERE`, so an id of another group matches
//! nothing.

use showroom_proto::retention::{Erased, Exported, ShopperRefs};
use sqlx::PgPool;
use sqlx::types::{Json, JsonValue as Value};
use uuid::Uuid;

/// One table's part: its name (the key of the answer) and the statement (a `DELETE` for
/// [`erase`], a `SELECT` of one jsonb column for [`export`]).
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// The table.
    pub table: &'static str,
    /// The statement, with `$1` the group and `$2` the [`ShopperRefs`].
    pub sql: &'static str,
}

/// Runs the `DELETE`s in order in one transaction: all of the owner's part goes, or none.
/// Deleting what is already gone deletes nothing, so a repeat answers zeros.
pub async fn erase(
    pool: &PgPool,
    group: Uuid,
    refs: &ShopperRefs,
    steps: &[Step],
) -> Result<Erased, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut out = Erased::default();
    for s in steps {
        let n = sqlx::query(s.sql)
            .bind(group)
            .bind(Json(refs))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        *out.counts.entry(s.table.to_string()).or_default() += n;
    }
    tx.commit().await?;
    Ok(out)
}

/// Runs the `SELECT`s (one jsonb column each) and gathers the rows by table; tables with no
/// row are left out.
pub async fn export(
    pool: &PgPool,
    group: Uuid,
    refs: &ShopperRefs,
    steps: &[Step],
) -> Result<Exported, sqlx::Error> {
    let mut out = Exported::default();
    for s in steps {
        let rows: Vec<(Value,)> = sqlx::query_as(s.sql)
            .bind(group)
            .bind(Json(refs))
            .fetch_all(pool)
            .await?;
        if !rows.is_empty() {
            out.tables
                .entry(s.table.to_string())
                .or_default()
                .extend(rows.into_iter().map(|(v,)| v));
        }
    }
    Ok(out)
}
