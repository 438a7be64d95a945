//! The directory: dealer groups, rooftops, departments, websites and agents (tables owned by
//! the gateway), and agents' headshots (`agent_photos`). Reads for the sockets and the API, the
//! writes used to set a group up (tests, the demo), and the admin API's writes
//! (`crate::admin_api`, `crate::profile_api`), each scoped to one dealer group. One module per
//! entity; this one only gathers them (none imports it back).

mod access;
mod agents;
mod departments;
mod owned;
mod profiles;
mod refused;
mod rooftops;
mod scope;
pub mod setup;
mod websites;

pub use access::*;
pub use agents::*;
pub use departments::*;
pub use owned::*;
pub use profiles::*;
pub use refused::DirectoryError;
pub use rooftops::*;
pub use scope::*;
pub use websites::*;
