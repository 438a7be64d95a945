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

/// Subscribes and waits until the server holds the subscription. `Client::flush` only empties
/// the client's write buffer, so a message another connection publishes right after it can
/// reach the server first and miss the subscription; a request on the same connection is
/// answered (here "no responders") only after the server read everything sent before it.
pub async fn subscribed(
    client: &async_nats::Client,
    subject: impl Into<String>,
) -> anyhow::Result<async_nats::Subscriber> {
    let sub = client.subscribe(subject.into()).await?;
    round_trip(client).await?;
    Ok(sub)
}

/// One request to a subject nobody serves, answered by the server itself: everything the
/// client sent before it has been read.
pub async fn round_trip(client: &async_nats::Client) -> anyhow::Result<()> {
    use async_nats::RequestErrorKind;
    match client
        .request(
            format!("_showroom.roundtrip.{}", uuid::Uuid::now_v7()),
            "".into(),
        )
        .await
    {
        Err(e) if e.kind() == RequestErrorKind::NoResponders => Ok(()),
        Err(e) => Err(anyhow::anyhow!("round trip to NATS: {e}")),
        Ok(_) => Ok(()),
    }
}
