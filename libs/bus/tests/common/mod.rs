//! What the bus's consumer tests share.

use std::time::Duration;

use showroom_bus::async_nats::{self, jetstream};
use showroom_proto::v1::Durable;

/// Waits (at most 5 s) until the consumer `durable` has every event acknowledged: nothing
/// pending, nothing awaiting an ack.
pub async fn all_acknowledged(url: &str, durable: Durable) -> anyhow::Result<()> {
    let js = jetstream::new(async_nats::connect(url).await?);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut consumer: jetstream::consumer::PullConsumer = js
            .get_stream(durable.stream)
            .await?
            .get_consumer(durable.name)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let info = consumer.info().await?;
        if info.num_ack_pending == 0 && info.num_pending == 0 {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "not acknowledged: {} pending, {} awaiting ack",
            info.num_pending,
            info.num_ack_pending
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
