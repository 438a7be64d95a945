//! What the floors share with each other and with the gateway's transcript writer: writer
//! tasks that share one queue, each taking what is queued (up to the gateway's
//! [`BATCH_CAP`], waiting only when nothing is) into one commit ([`writers`]); and publishes
//! to JetStream whose acks are awaited together ([`publish_acked`]). Used by
//! [`crate::socket_floor`], [`crate::decision_floor`] and `messages`' raw floor.

use std::future::{Future, IntoFuture};
use std::sync::Arc;

use bytes::Bytes;
use showroom_bus::async_nats::jetstream;
use showroom_gateway::transcript::{BATCH_CAP, Writer};
use showroom_store::sqlx::PgPool;
use tokio::sync::{Mutex, mpsc};

/// Starts as many writers as the gateway starts for `pool`, each handing `work` whatever is
/// queued; answers the queue. The writers stop when it is dropped.
pub(crate) fn writers<T, F, Fut>(pool: &PgPool, work: F) -> mpsc::UnboundedSender<T>
where
    T: Send + 'static,
    F: Fn(Vec<T>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let (queue, rx) = mpsc::unbounded_channel();
    let rx = Arc::new(Mutex::new(rx));
    for _ in 0..Writer::writers_for(pool) {
        let (rx, work) = (rx.clone(), work.clone());
        tokio::spawn(async move {
            loop {
                let mut batch = Vec::with_capacity(BATCH_CAP);
                if rx.lock().await.recv_many(&mut batch, BATCH_CAP).await == 0 {
                    return;
                }
                work(batch).await;
            }
        });
    }
    queue
}

/// Publishes every message, then awaits all their acks.
pub(crate) async fn publish_acked(
    js: &jetstream::Context,
    messages: Vec<(String, Bytes)>,
) -> anyhow::Result<()> {
    let mut acks = Vec::new();
    for (subject, payload) in messages {
        acks.push(js.publish(subject, payload).await?);
    }
    for ack in futures::future::join_all(acks.into_iter().map(IntoFuture::into_future)).await {
        ack?;
    }
    Ok(())
}
