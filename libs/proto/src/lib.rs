//! Showroom's message types and NATS subject builders. No I/O lives here.
//!
//! Every service and every integrator speaks through these types: an [`Envelope`] around each
//! event or command (id for dedupe, tenant, time), the event and command payloads of each
//! domain, and the subjects they travel on, built only by the functions of [`v1`].
//!
//! # Layout
//! - [`access`]: who may publish and subscribe to what: each service's, an integrator's and the
//!   operator's NATS permissions, built from the `v1` subjects.
//! - [`envelope`]: the [`Envelope`] every bus message is wrapped in, and the [`Reply`] of a request.
//! - [`frames`]: every frame the gateway sends on a socket ([`frames::ServerFrame`]), and the
//!   shopper's view of a conversation.
//! - [`appearance`]: the widget's look per website, with its checks.
//! - [`appointment`]: appointments booked in a chat, and the requests that tell notification
//!   and lead-capture about them.
//! - [`v1`]: subject builders (`showroom.v1.<group>.<domain>.<event>`) and stream definitions.
//! - [`conversation`]: conversation states, events and the router's commands.
//! - [`contact`]: the shopper's language and contact details, with the consent they saw.
//! - [`forms`]: the form builder: pre-chat and offline forms, answers, attachments.
//! - [`lead`]: leads, their classification, the CloudEvents integrators receive.
//! - [`trade_in`]: a chat's trade-in vehicle (year, make, model, mileage, condition, VIN), checked.
//! - [`vin`]: VINs decoded offline: check digit, model year, make of well-known manufacturers.
//! - [`delivery`]: crm-export's destinations, delivery log and dead letters.
//! - [`integration`]: integrator credentials: a dealer group's lead events on NATS.
//! - [`notification`]: desktop notices to consoles, agents' choices, websites' e-mail settings.
//! - [`bot`]: bot settings and texts (English, Spanish), the leave-a-message form and its event.
//! - [`internal`]: internal chats between agents: members, events, commands.
//! - [`message`]: transcript messages and the post-message command.
//! - [`payment`]: payment estimates: a rooftop's finance and lease rates, the formulas
//!   (amortization; depreciation, rent charge and tax) in integer cents, the estimate shown.
//! - [`retention`]: retention periods, and erasing or exporting one shopper's data (requests
//!   to each owner).
//! - [`privacy`]: masking card numbers and social security numbers before anything stores them.
//! - [`presence`]: agent statuses, heartbeats and the availability query.
//! - [`routing`]: departments' offer modes, hours and time-outs; website caps; teams.
//! - [`typing`]: the ephemeral typing signal.
//! - [`text`]: what text anyone sends may hold (no control characters), checked at the edge.

pub mod access;
pub mod appearance;
pub mod appointment;
pub mod bot;
pub mod contact;
pub mod conversation;
pub mod delivery;
pub mod envelope;
pub mod forms;
pub mod frames;
pub mod integration;
pub mod internal;
pub mod lead;
pub mod message;
pub mod notification;
pub mod payment;
pub mod presence;
pub mod privacy;
pub mod retention;
pub mod routing;
pub mod text;
pub mod trade_in;
pub mod typing;
pub mod v1;
pub mod vin;

pub use envelope::{CommandError, Envelope, ErrorCode, Reply};
