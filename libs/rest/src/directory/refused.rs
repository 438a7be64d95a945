//! Why a directory write was refused: a value taken, a department with history, a password
//! that could not be hashed, or the database.

/// Why a directory write was refused (the admin API answers each with a 4xx naming the
/// field), or the database failed.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// A unique value (a department's label in its rooftop, an agent's e-mail) is used already.
    #[error("{field} is already taken")]
    Taken {
        /// The field of the request holding it.
        field: &'static str,
    },
    /// The department is referenced by history that must stay intact (and would cascade).
    #[error("the department is in use: {0}")]
    InUse(String),
    /// The password could not be hashed.
    #[error("hashing the password: {0}")]
    Hash(String),
    /// Every password-hash permit stayed taken (`crate::limits`): retry in this many seconds.
    #[error("too many password hashes at once; retry in {0} s")]
    Busy(u64),
    /// The change's audit row could not be written, so the change was rolled back with it.
    #[error("recording the audit event: {0}")]
    Audit(sqlx::Error),
    /// Postgres failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

pub(super) fn taken_or(e: sqlx::Error, field: &'static str) -> DirectoryError {
    match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => DirectoryError::Taken { field },
        other => DirectoryError::Db(other),
    }
}
