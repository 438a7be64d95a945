//! Service discovery through the NATS service API (`$SRV.INFO`).

use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::{Bus, BusError};

/// One running instance of a service, as it answers `$SRV.INFO`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServiceInstance {
    /// Service name (`gateway`, `router`, …).
    pub name: String,
    /// Instance id.
    pub id: String,
    /// Its version.
    pub version: String,
    /// What it does.
    #[serde(default)]
    pub description: Option<String>,
    /// The subjects it serves.
    #[serde(default)]
    pub endpoints: Vec<EndpointInfo>,
}

/// One endpoint of a service instance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EndpointInfo {
    /// Endpoint name.
    pub name: String,
    /// The subject it listens on.
    pub subject: String,
}

/// Asks every service to describe itself and collects the answers that arrive within `wait`.
pub async fn discover(bus: &Bus, wait: Duration) -> Result<Vec<ServiceInstance>, BusError> {
    let inbox = bus.client.new_inbox();
    let mut sub = bus
        .client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| BusError::Nats(e.to_string()))?;
    bus.client
        .publish_with_reply("$SRV.INFO", inbox, "".into())
        .await
        .map_err(|e| BusError::Nats(e.to_string()))?;
    bus.client
        .flush()
        .await
        .map_err(|e| BusError::Nats(e.to_string()))?;
    let mut found = Vec::new();
    let deadline = tokio::time::sleep(wait);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            msg = sub.next() => match msg {
                Some(m) => match serde_json::from_slice::<ServiceInstance>(&m.payload) {
                    Ok(info) => found.push(info),
                    Err(e) => tracing::debug!(error = %e, "ignoring a $SRV.INFO answer"),
                },
                None => break,
            }
        }
    }
    found.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    Ok(found)
}
