//! NATS clients whose connection events a test reads: permission violations, disconnections.

use std::time::Duration;

use async_nats::{ConnectOptions, Event, ServerError};
use tokio::sync::mpsc;

/// Connects with a `.creds` text and the inbox prefix the credential allows (one reconnect at
/// most); its events (server errors, disconnections) come on the channel.
pub async fn connect_watched(
    url: &str,
    creds: &str,
    inbox: &str,
) -> anyhow::Result<(async_nats::Client, mpsc::UnboundedReceiver<Event>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let client = ConnectOptions::new()
        .credentials(creds)?
        .custom_inbox_prefix(inbox)
        .max_reconnects(Some(1))
        .event_callback(move |e| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(e);
            }
        })
        .connect(url)
        .await?;
    Ok((client, rx))
}

/// The next permission violation the server reports on the connection, within 3 s.
pub async fn next_violation(events: &mut mpsc::UnboundedReceiver<Event>) -> Option<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(Event::ServerError(ServerError::Other(m))))
                if m.to_lowercase().contains("permissions violation") =>
            {
                return Some(m);
            }
            Ok(Some(_)) => continue,
            _ => return None,
        }
    }
}

/// Whether the connection was closed on it (disconnected, or refused), within `within`.
pub async fn closed_within(events: &mut mpsc::UnboundedReceiver<Event>, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while let Ok(Some(e)) = tokio::time::timeout_at(deadline, events.recv()).await {
        if matches!(
            e,
            Event::Disconnected | Event::ServerError(ServerError::AuthorizationViolation)
        ) {
            return true;
        }
    }
    false
}
