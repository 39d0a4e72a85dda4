//! What the inbox does with an error met while storing one message: refuse
//! that message for good (its content is at fault: validation, a rule, a
//! constraint, a value the database will not take), or give up on the whole
//! request because the store itself is failing (connection lost, pool
//! exhausted, disk full, serialization conflict), so that the sender backs
//! off and retries (503).
//!
//! Permanent refusal codes (per message, HTTP 200 for the batch; the sender
//! parks the message): the verification codes of the protocol, the rule
//! codes of the handlers (`not_origin`, `unknown_offer`, …), and
//! - `invalid_payload`: a field failed the same validation as local input;
//! - `conflict`: the message contradicts the stored state;
//! - `store_error`: the database refused this message's data;
//! - `internal_error`: anything else that went wrong with this message.
//!
//! Transient (the whole request, HTTP 503 `store_unavailable`; nothing of
//! the batch is kept and the sender retries it).

use axum::http::StatusCode;

use crate::error::{Error, FieldError};

/// The problem code of a request refused because the store is unavailable.
pub const STORE_UNAVAILABLE: &str = "store_unavailable";
/// The problem code of a batch refused while the search index is too far
/// behind the journal (`[federation] inbox_max_index_backlog`).
pub const INDEX_BEHIND: &str = "index_behind";

/// The verdict on an error raised while storing one message.
#[derive(Debug)]
pub enum Disposition {
    /// Refuse this message (permanent); keep the rest of the batch.
    Refuse {
        /// Stable machine code.
        code: &'static str,
        /// Human explanation (sent to the peer).
        message: String,
    },
    /// The store is failing: give up on the request (503).
    Transient(Error),
}

/// Whether a database error is about the store rather than the data.
pub fn transient_db(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => match db.code() {
            // PostgreSQL SQLSTATE (5 characters): connection exception,
            // transaction rollback (serialization, deadlock), insufficient
            // resources, operator intervention, system error.
            Some(code) if code.len() == 5 => {
                matches!(&code[..2], "08" | "40" | "53" | "57" | "58")
            }
            Some(code) => code.parse::<i32>().is_ok_and(transient_sqlite),
            None => false,
        },
        _ => false,
    }
}

/// Whether a SQLite (extended) result code is about the store rather than
/// the data (the primary code is the low byte): BUSY, LOCKED, NOMEM,
/// READONLY, IOERR, CORRUPT, FULL, CANTOPEN, PROTOCOL, NOTADB. For sqlx's
/// errors and the direct writer's alike.
pub fn transient_sqlite(code: i32) -> bool {
    matches!(code & 0xff, 5 | 6 | 7 | 8 | 10 | 11 | 13 | 14 | 15 | 26)
}

/// The 503 answer for a failing store.
pub fn unavailable(e: &Error) -> Error {
    Error::Federation {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code: STORE_UNAVAILABLE,
        message: format!("the store is unavailable, try again later ({e})"),
    }
}

/// A batch refused, whole and transiently, while the search index catches
/// up with what was received before (503: the sender retries it later).
pub fn index_behind(backlog: i64) -> Error {
    Error::Federation {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code: INDEX_BEHIND,
        message: format!(
            "the node is indexing what it received ({backlog} entries behind), try again later"
        ),
    }
}

/// Map a transient database error to 503, leave the others unchanged.
pub fn unavailable_if_transient(e: Error) -> Error {
    match &e {
        Error::Database(db) if transient_db(db) => unavailable(&e),
        _ => e,
    }
}

fn bounded(s: String) -> String {
    const MAX: usize = 2000;
    if s.chars().count() <= MAX {
        s
    } else {
        let mut t: String = s.chars().take(MAX).collect();
        t.push('…');
        t
    }
}

/// The per-message refusal for a payload that failed validation.
pub fn invalid_payload(errs: Vec<FieldError>) -> Error {
    let text = errs
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ");
    Error::Federation {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        code: "invalid_payload",
        message: bounded(text),
    }
}

/// Decide what an error met while storing one message means.
pub fn classify(e: Error) -> Disposition {
    let (code, message) = match e {
        Error::Database(db) if transient_db(&db) => {
            return Disposition::Transient(Error::Database(db))
        }
        Error::Database(db) => {
            let text = match &db {
                sqlx::Error::Database(d) => format!(
                    "the store refused this message's data ({}: {})",
                    d.code().unwrap_or_default(),
                    d.message()
                ),
                other => format!("the store refused this message's data ({other})"),
            };
            ("store_error", text)
        }
        Error::Federation { code, message, .. } => (code, message),
        Error::Validation(errs) => match invalid_payload(errs) {
            Error::Federation { code, message, .. } => (code, message),
            other => ("invalid_payload", other.to_string()),
        },
        Error::Conflict(m) => ("conflict", m),
        Error::NotFound(what) => ("not_found", format!("{what} not found")),
        Error::Internal(err) => (
            "internal_error",
            format!("this message could not be processed: {err}"),
        ),
        other => ("refused", other.to_string()),
    };
    Disposition::Refuse {
        code,
        message: bounded(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_failures_are_transient_and_data_errors_permanent() {
        assert!(transient_db(&sqlx::Error::PoolTimedOut));
        assert!(transient_db(&sqlx::Error::PoolClosed));
        assert!(!transient_db(&sqlx::Error::RowNotFound));
        assert!(matches!(
            classify(Error::Database(sqlx::Error::PoolTimedOut)),
            Disposition::Transient(_)
        ));
        match classify(Error::field("title", "must not be empty")) {
            Disposition::Refuse { code, message } => {
                assert_eq!(code, "invalid_payload");
                assert_eq!(message, "title: must not be empty");
            }
            other => panic!("{other:?}"),
        }
        match classify(Error::Internal(anyhow::anyhow!("boom"))) {
            Disposition::Refuse { code, .. } => assert_eq!(code, "internal_error"),
            other => panic!("{other:?}"),
        }
        match classify(Error::Conflict("x".into())) {
            Disposition::Refuse { code, .. } => assert_eq!(code, "conflict"),
            other => panic!("{other:?}"),
        }
        let e = unavailable_if_transient(Error::Database(sqlx::Error::PoolClosed));
        assert_eq!(e.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.code(), STORE_UNAVAILABLE);
        let long = invalid_payload(vec![FieldError::new("d", "x".repeat(5000))]);
        assert!(long.to_string().chars().count() < 2100);
    }
}
