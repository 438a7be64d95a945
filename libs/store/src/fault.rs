//! What a Postgres failure means to whoever asked, decided once for every service and both
//! paths: a bus reply ([`CommandError`]) and, through it, the gateway's HTTP answer.
//!
//! - A unique violation of a named constraint is `already_taken` (HTTP 409) naming the field;
//!   a foreign-key violation is `not_found` naming the field whose thing is gone. The names
//!   come from `migrations/20261203000022_named_constraints.sql` and the tables before it.
//! - A lost or refused connection, a pool that timed out, a server shutting down, a
//!   serialization failure or a deadlock is `unavailable` (HTTP 503): the same request may be
//!   retried.
//! - A value Postgres cannot store (a NUL character in text, a number out of range) is
//!   `bad_request` (HTTP 400): retrying cannot help.
//! - Anything else is `internal` (HTTP 500), logged with its cause and never shown.

use showroom_proto::{CommandError, ErrorCode};

/// A named constraint a request can break: the request's field it is about, and what to tell.
struct Named {
    constraint: &'static str,
    field: &'static str,
    message: &'static str,
}

/// Every constraint a request can break by what it sends (not by a race of our own).
const NAMED: &[Named] = &[
    Named {
        constraint: "departments_label_unique",
        field: "label",
        message: "another department of this rooftop has this label",
    },
    Named {
        constraint: "agents_email_unique",
        field: "email",
        message: "another agent of this group has this e-mail",
    },
    Named {
        constraint: "websites_widget_key_unique",
        field: "widget_key",
        message: "another website has this key",
    },
    Named {
        constraint: "teams_name_unique",
        field: "name",
        message: "another team of the group has this name",
    },
    Named {
        constraint: "departments_rooftop_fk",
        field: "rooftop_id",
        message: "no such rooftop",
    },
    Named {
        constraint: "websites_rooftop_fk",
        field: "rooftop_id",
        message: "no such rooftop",
    },
    Named {
        constraint: "agent_memberships_agent_fk",
        field: "agent_id",
        message: "no such agent",
    },
    Named {
        constraint: "agent_memberships_department_fk",
        field: "department_ids",
        message: "no such department",
    },
    Named {
        constraint: "team_members_agent_fk",
        field: "agent_ids",
        message: "no such agent",
    },
    Named {
        constraint: "team_members_team_fk",
        field: "team_id",
        message: "no such team",
    },
    Named {
        constraint: "department_routing_overflow_team_fk",
        field: "overflow_team_id",
        message: "no such team",
    },
    Named {
        constraint: "routing_rules_department_fk",
        field: "department_id",
        message: "no such department",
    },
    Named {
        constraint: "routing_rules_team_fk",
        field: "team_id",
        message: "no such team",
    },
    Named {
        constraint: "crm_destinations_rooftop_fk",
        field: "rooftop_id",
        message: "no such rooftop",
    },
    Named {
        constraint: "crm_destinations_department_fk",
        field: "department_id",
        message: "no such department",
    },
    Named {
        constraint: "transfers_to_agent_fk",
        field: "to_agent",
        message: "no such agent",
    },
    Named {
        constraint: "transfers_to_department_fk",
        field: "to_department",
        message: "no such department",
    },
    Named {
        constraint: "canned_responses_shortcut_unique",
        field: "shortcut",
        message: "another canned response of the same owner has this shortcut",
    },
    Named {
        constraint: "canned_responses_rooftop_fk",
        field: "rooftop_id",
        message: "no such rooftop",
    },
    Named {
        constraint: "payment_settings_make_unique",
        field: "make",
        message: "this rooftop has payment settings for this make already",
    },
    Named {
        constraint: "payment_settings_rooftop_fk",
        field: "rooftop_id",
        message: "no such rooftop",
    },
];

/// What a database error means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// A named unique constraint: the value of `field` is used already.
    Taken {
        /// The request's field.
        field: &'static str,
        /// What to tell.
        message: &'static str,
    },
    /// A named foreign key: what `field` refers to is not there.
    Missing {
        /// The request's field.
        field: &'static str,
        /// What to tell.
        message: &'static str,
    },
    /// Postgres cannot be reached or asks to try again.
    Unavailable,
    /// A value Postgres refuses to store.
    BadValue(&'static str),
    /// Anything else: a bug or a broken schema.
    Other,
}

/// Classifies `e`.
pub fn classify(e: &sqlx::Error) -> Fault {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Protocol(_) => Fault::Unavailable,
        sqlx::Error::Database(d) => {
            let code = d.code().unwrap_or_default();
            let named = d
                .constraint()
                .and_then(|c| NAMED.iter().find(|n| n.constraint == c));
            match (code.as_ref(), named) {
                ("23505", Some(n)) => Fault::Taken {
                    field: n.field,
                    message: n.message,
                },
                ("23503", Some(n)) => Fault::Missing {
                    field: n.field,
                    message: n.message,
                },
                _ => by_code(&code),
            }
        }
        _ => Fault::Other,
    }
}

/// What a SQLSTATE says, without a named constraint.
fn by_code(code: &str) -> Fault {
    match code {
        // Connection exceptions, shutting down, too many connections, cannot connect now.
        c if c.starts_with("08") => Fault::Unavailable,
        "57P01" | "57P02" | "57P03" | "53300" | "40001" | "40P01" => Fault::Unavailable,
        // NUL in text (PG: "invalid byte sequence"), \u0000 in jsonb.
        "22021" | "22P05" => Fault::BadValue("text must not contain the NUL character (U+0000)"),
        "22001" => Fault::BadValue("a text is longer than allowed"),
        c if c.starts_with("22") => Fault::BadValue("a value is out of range"),
        _ => Fault::Other,
    }
}

/// The reply for `e` (over the bus, and through the gateway's `ApiError` over HTTP); the
/// cause is logged, never sent.
pub fn db_error(e: sqlx::Error) -> CommandError {
    match classify(&e) {
        Fault::Taken { field, message } => {
            CommandError::about_field(ErrorCode::AlreadyTaken, field, message)
        }
        Fault::Missing { field, message } => {
            CommandError::about_field(ErrorCode::NotFound, field, message)
        }
        Fault::Unavailable => {
            tracing::warn!(error = %e, "the database is unavailable");
            CommandError::new(ErrorCode::Unavailable, "the database is unavailable; retry")
        }
        Fault::BadValue(what) => CommandError::new(ErrorCode::BadRequest, what),
        Fault::Other => {
            tracing::error!(error = %e, "a database call failed");
            CommandError::new(ErrorCode::Internal, "something went wrong on our side")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_without_a_named_constraint_are_read_by_class() {
        assert_eq!(by_code("08006"), Fault::Unavailable);
        assert_eq!(by_code("57P01"), Fault::Unavailable);
        assert_eq!(by_code("40001"), Fault::Unavailable);
        assert!(matches!(by_code("22021"), Fault::BadValue(m) if m.contains("NUL")));
        assert!(matches!(by_code("22003"), Fault::BadValue(_)));
        assert_eq!(
            by_code("23505"),
            Fault::Other,
            "an unnamed unique constraint"
        );
        assert_eq!(by_code("42P01"), Fault::Other);
        assert_eq!(
            classify(&sqlx::Error::PoolTimedOut),
            Fault::Unavailable,
            "no connection to be had"
        );
        assert_eq!(classify(&sqlx::Error::RowNotFound), Fault::Other);
    }

    #[test]
    fn every_named_constraint_is_named_once() {
        let mut names: Vec<_> = NAMED.iter().map(|n| n.constraint).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), NAMED.len());
    }
}
