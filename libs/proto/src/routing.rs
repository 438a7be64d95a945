//! Routing settings: how each department offers its chats, its hours and time-outs; the
//! website's cap on sessions and routing rules; group teams (a BDC). The router owns them and
//! answers these commands; the gateway's REST API forwards to it.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How a department offers a waiting chat.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum OfferMode {
    /// Every eligible agent sees it; the first to respond takes it.
    #[default]
    Broadcast,
    /// One eligible agent at a time (fewest active chats, then longest idle), moving on after
    /// `ring_secs` without an answer.
    Ring,
}

impl OfferMode {
    /// The wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Broadcast => "broadcast",
            Self::Ring => "ring",
        }
    }

    /// Parses the database name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "broadcast" => Some(Self::Broadcast),
            "ring" => Some(Self::Ring),
            _ => None,
        }
    }
}

/// One opening interval of a weekday, in the rooftop's local time.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OpenInterval {
    /// ISO weekday: 1 = Monday … 7 = Sunday.
    pub weekday: u8,
    /// Local opening time, `HH:MM`.
    pub opens: String,
    /// Local closing time, `HH:MM` (`24:00` for midnight at the end of the day).
    pub closes: String,
}

/// A whole local day the department is closed.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Closure {
    /// The day, in the rooftop's calendar.
    pub date: NaiveDate,
    /// What it is ("Thanksgiving").
    #[serde(default)]
    pub label: String,
}

/// A department's business hours.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Hours {
    /// Weekly intervals; a weekday without any is closed all day.
    pub intervals: Vec<OpenInterval>,
    /// Holidays.
    #[serde(default)]
    pub closures: Vec<Closure>,
}

/// A department's routing settings, as read and written through the REST API. A field left
/// out of a write takes its default.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct DepartmentRouting {
    /// Broadcast or ring.
    #[serde(default)]
    pub mode: OfferMode,
    /// Ring mode: seconds before the chat rings the next agent.
    pub ring_secs: u32,
    /// Caps each member's own maximum of concurrent chats for this department's chats.
    #[serde(default)]
    pub max_chats_per_agent: Option<u32>,
    /// A chat nobody took by then is missed (default 300).
    pub incoming_timeout_secs: u32,
    /// When set, after this long waiting the shopper gets the offline message and flow.
    #[serde(default)]
    pub wait_secs: Option<u32>,
    /// An active chat where nobody writes for this long is closed as timed out.
    pub inactivity_secs: u32,
    /// A transfer not answered by then comes back.
    pub transfer_secs: u32,
    /// The group team (BDC) the department overflows to.
    #[serde(default)]
    pub overflow_team_id: Option<Uuid>,
    /// Seconds a chat waits before the team is offered it too (0: at once).
    #[serde(default)]
    pub overflow_after_secs: Option<u32>,
    /// Business hours; `None` means always open.
    #[serde(default)]
    pub hours: Option<Hours>,
}

impl Default for DepartmentRouting {
    fn default() -> Self {
        Self {
            mode: OfferMode::Broadcast,
            ring_secs: 20,
            max_chats_per_agent: None,
            incoming_timeout_secs: 300,
            wait_secs: None,
            inactivity_secs: 1800,
            transfer_secs: 60,
            overflow_team_id: None,
            overflow_after_secs: None,
            hours: None,
        }
    }
}

/// The settings with what they mean right now.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DepartmentRoutingView {
    /// The department.
    pub department_id: Uuid,
    /// Its rooftop's IANA time zone, in which the hours are read.
    pub time_zone: String,
    /// The settings.
    pub settings: DepartmentRouting,
    /// Whether it takes chats now.
    pub open_now: bool,
    /// When it next opens, if closed (within two weeks).
    pub next_open: Option<DateTime<Utc>>,
}

/// Reads a department's settings. Replied with [`DepartmentRoutingView`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GetDepartmentRouting {
    /// The department.
    pub department_id: Uuid,
}

/// Replaces a department's settings. Replied with [`DepartmentRoutingView`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PutDepartmentRouting {
    /// The department.
    pub department_id: Uuid,
    /// Its new settings.
    pub settings: DepartmentRouting,
}

/// "When the variable equals the value, route to this department or team."
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RoutingRule {
    /// The variable the bot collected (e.g. `interest`).
    pub variable: String,
    /// The value that matches (compared without regard to case).
    pub value: String,
    /// Route to this department of the website's rooftop…
    #[serde(default)]
    pub department_id: Option<Uuid>,
    /// …or to this group team.
    #[serde(default)]
    pub team_id: Option<Uuid>,
}

/// A website's routing settings.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct WebsiteRouting {
    /// Past this many open chats on the website, new chats go offline.
    #[serde(default)]
    pub max_sessions: Option<u32>,
    /// Rules on the bot's variables, first match wins.
    #[serde(default)]
    pub rules: Vec<RoutingRule>,
}

/// Reads a website's routing settings. Replied with [`WebsiteRouting`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GetWebsiteRouting {
    /// The website.
    pub website_id: Uuid,
}

/// Replaces a website's routing settings. Replied with [`WebsiteRouting`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PutWebsiteRouting {
    /// The website.
    pub website_id: Uuid,
    /// Its new settings.
    pub settings: WebsiteRouting,
}

/// A group team (a BDC) and its members.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Team {
    /// The team's id.
    pub id: Uuid,
    /// Its name ("BDC").
    pub name: String,
    /// Its agents.
    pub members: Vec<Uuid>,
}

/// Creates or replaces a team (by id). Replied with the [`Team`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PutTeam {
    /// The team's id (new or existing).
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Its agents (of the same group).
    pub members: Vec<Uuid>,
}

/// Lists the group's teams. Replied with `Vec<Team>`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct ListTeams {}

/// The router's settings requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutingCommand {
    /// [`GetDepartmentRouting`].
    GetDepartment,
    /// [`PutDepartmentRouting`].
    PutDepartment,
    /// [`GetWebsiteRouting`].
    GetWebsite,
    /// [`PutWebsiteRouting`].
    PutWebsite,
    /// [`ListTeams`].
    ListTeams,
    /// [`PutTeam`].
    PutTeam,
}

impl RoutingCommand {
    /// Every command.
    pub const ALL: [Self; 6] = [
        Self::GetDepartment,
        Self::PutDepartment,
        Self::GetWebsite,
        Self::PutWebsite,
        Self::ListTeams,
        Self::PutTeam,
    ];

    /// The subject token.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GetDepartment => "get_department",
            Self::PutDepartment => "put_department",
            Self::GetWebsite => "get_website",
            Self::PutWebsite => "put_website",
            Self::ListTeams => "list_teams",
            Self::PutTeam => "put_team",
        }
    }
}

/// Field-level problems of a settings change, by field name.
pub type FieldErrors = BTreeMap<String, String>;
