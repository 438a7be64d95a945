//! How a Postgres failure is answered over the bus. Its own module, imported by every module
//! that touches the database and importing none of them back.

use showroom_proto::{CommandError, ErrorCode};
use showroom_store::sqlx;

/// A Postgres failure, logged, answered as "unavailable; retry".
pub(crate) fn db_error(e: sqlx::Error) -> CommandError {
    tracing::error!(error = %e, "postgres failed");
    CommandError::new(ErrorCode::Unavailable, "conversation store unavailable")
}
