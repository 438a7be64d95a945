//! Agent presence: statuses, device heartbeats and availability.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The status an agent chooses (see the brief's status table).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    /// Takes new chats, transfers and internal chats.
    Available,
    /// Takes transfers and internal chats, no new chats.
    Away,
    /// Takes nothing.
    Dnd,
    /// Takes nothing; shown as Offline.
    #[default]
    Offline,
}

impl AgentStatus {
    /// The wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Available => "available",
            Self::Away => "away",
            Self::Dnd => "dnd",
            Self::Offline => "offline",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "available" => Self::Available,
            "away" => Self::Away,
            "dnd" => Self::Dnd,
            "offline" => Self::Offline,
            _ => return None,
        })
    }

    /// What others see: Offline without a connected console; Away instead of Available while
    /// every connected console is idle (auto-away); the chosen status otherwise.
    pub fn effective(self, devices: u32, idle_devices: u32) -> AgentStatus {
        match self {
            _ if devices == 0 => AgentStatus::Offline,
            AgentStatus::Available if idle_devices >= devices => AgentStatus::Away,
            chosen => chosen,
        }
    }

    /// Whether this status receives the given kind of offer.
    pub fn receives(self, purpose: Purpose) -> bool {
        matches!(
            (self, purpose),
            (Self::Available, _) | (Self::Away, Purpose::Transfer | Purpose::Internal)
        )
    }
}

/// What an agent would be asked to take.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// A new customer chat.
    NewChat,
    /// A transfer from a colleague.
    Transfer,
    /// A chat between colleagues.
    Internal,
}

/// A console device is alive; sent at connect and every refresh interval.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Heartbeat {
    /// The agent.
    pub agent_id: Uuid,
    /// One console socket (a tab or a device).
    pub device_id: Uuid,
}

/// A console device closed its socket.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeviceClosed {
    /// The agent.
    pub agent_id: Uuid,
    /// The socket that closed.
    pub device_id: Uuid,
}

/// A console device went idle (no activity for the agent's auto-away time) or active again.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeviceIdle {
    /// The agent.
    pub agent_id: Uuid,
    /// The console socket.
    pub device_id: Uuid,
    /// Idle (true) or active again (false).
    pub idle: bool,
}

/// Sets an agent's chosen status. Replied with the agent's [`AgentPresence`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SetStatus {
    /// Whose status.
    pub agent_id: Uuid,
    /// The new status.
    pub status: AgentStatus,
    /// Who changed it (the agent, or a manager).
    pub changed_by: Uuid,
}

/// Asks for an agent's presence. Replied with [`AgentPresence`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GetStatus {
    /// Whose presence.
    pub agent_id: Uuid,
}

/// Asks which of these agents can take something now. Replied with `Vec<Uuid>`, the subset
/// that is connected and whose status receives `purpose`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FindAvailable {
    /// Candidates (e.g. the department's members).
    pub agent_ids: Vec<Uuid>,
    /// What they would be asked to take.
    pub purpose: Purpose,
}

/// An agent's presence as presence knows it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AgentPresence {
    /// The agent.
    pub agent_id: Uuid,
    /// The status the agent (or a manager) chose; kept durably.
    pub status: AgentStatus,
    /// What others see and routing uses: the chosen status while a device is connected
    /// (Away instead of Available while every connected console is idle), otherwise Offline.
    pub effective: AgentStatus,
    /// How many console devices are connected now.
    pub devices: u32,
    /// How many of them are idle (auto-away).
    #[serde(default)]
    pub idle_devices: u32,
    /// Chats the agent has now (recounted from the conversations, so it never drifts).
    #[serde(default)]
    pub active_chats: u32,
    /// The last heartbeat of any device (none since presence last lost Redis, or ever).
    #[serde(default)]
    pub last_seen: Option<DateTime<Utc>>,
    /// Departments the agent covers.
    #[serde(default)]
    pub departments: Vec<Uuid>,
    /// Rooftops of those departments.
    #[serde(default)]
    pub rooftops: Vec<Uuid>,
}

/// Published on `presence.changed` whenever an agent's chosen or effective status, devices or
/// active chats change.
pub type PresenceChanged = AgentPresence;

/// Asks for the Live Agent Status board of the group. Replied with [`Board`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct GetBoard {
    /// Only agents whose effective status is this.
    #[serde(default)]
    pub status: Option<AgentStatus>,
    /// Only agents covering a department of this rooftop.
    #[serde(default)]
    pub rooftop_id: Option<Uuid>,
    /// Only agents covering this department.
    #[serde(default)]
    pub department_id: Option<Uuid>,
}

/// A department as the board shows it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BoardDepartment {
    /// Its id.
    pub id: Uuid,
    /// Its label ("Sales").
    pub label: String,
    /// The board section it belongs to ("Front End"); its label when none is set.
    pub section: String,
    /// Its rooftop.
    pub rooftop_id: Uuid,
}

/// One agent on the board.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BoardAgent {
    /// Name as colleagues see it.
    pub name: String,
    /// Presence.
    #[serde(flatten)]
    pub presence: AgentPresence,
}

/// The Live Agent Status board: every agent of the group with their presence, and the rooftops
/// and departments to group and filter them by.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Board {
    /// When this was read; the board is never older than this.
    pub generated_at: DateTime<Utc>,
    /// The group's rooftops.
    pub rooftops: Vec<crate::conversation::Named>,
    /// The group's departments, in board order.
    pub departments: Vec<BoardDepartment>,
    /// The agents that pass the filter, by name.
    pub agents: Vec<BoardAgent>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_status() {
        use AgentStatus::*;
        assert_eq!(Available.effective(0, 0), Offline);
        assert_eq!(
            Available.effective(2, 1),
            Available,
            "one active console is enough"
        );
        assert_eq!(
            Available.effective(2, 2),
            Away,
            "auto-away when every console is idle"
        );
        assert_eq!(
            Dnd.effective(1, 1),
            Dnd,
            "auto-away never overrides a stricter choice"
        );
        assert_eq!(Offline.effective(3, 0), Offline);
    }

    #[test]
    fn status_table_of_the_brief() {
        use AgentStatus::*;
        use Purpose::*;
        let table = [
            (Available, [true, true, true]),
            (Away, [false, true, true]),
            (Dnd, [false, false, false]),
            (Offline, [false, false, false]),
        ];
        for (status, expect) in table {
            let got = [
                status.receives(NewChat),
                status.receives(Transfer),
                status.receives(Internal),
            ];
            assert_eq!(got, expect, "{status:?}");
        }
    }
}
