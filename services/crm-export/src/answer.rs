//! What a destination answered to one attempt: the one type the senders (`email`, `webhook`)
//! return and the workers (`worker`) record. It lives apart from both, so neither imports the
//! other back.

use std::time::Duration;

/// What a destination answered to one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Accepted (2xx, or the SMTP server queued the e-mail).
    Delivered {
        /// The HTTP status or SMTP reply code.
        code: Option<i32>,
    },
    /// Not accepted.
    Failed {
        /// The HTTP status or SMTP reply code, if there was an answer.
        code: Option<i32>,
        /// What went wrong (no secrets).
        error: String,
        /// The receiver's `Retry-After`.
        retry_after: Option<Duration>,
        /// Retrying cannot help (a bad address, an SMTP 5xx): dead-letter at once.
        permanent: bool,
    },
    /// 410 Gone: the receiver wants nothing more; the destination is disabled.
    Gone {
        /// The HTTP status.
        code: Option<i32>,
    },
}

impl Answer {
    /// A failure worth retrying.
    pub fn failed(
        code: Option<i32>,
        error: impl Into<String>,
        retry_after: Option<Duration>,
    ) -> Self {
        Self::Failed {
            code,
            error: error.into(),
            retry_after,
            permanent: false,
        }
    }

    /// A failure no retry can fix.
    pub fn permanent(code: Option<i32>, error: impl Into<String>) -> Self {
        Self::Failed {
            code,
            error: error.into(),
            retry_after: None,
            permanent: true,
        }
    }
}
