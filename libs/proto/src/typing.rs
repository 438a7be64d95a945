//! The typing signal: ephemeral, best-effort, on core NATS only.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::message::Author;

/// Someone in a conversation started or stopped typing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Typing {
    /// The conversation.
    pub conversation_id: Uuid,
    /// Who is typing.
    pub author: Author,
    /// Started (true) or stopped (false).
    pub typing: bool,
}
