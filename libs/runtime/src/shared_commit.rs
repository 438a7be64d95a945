//! The queue of work that shares commits: writer tasks take turns at one queue, each taking
//! what is queued now, waiting only when nothing is, and writing it in one commit. Used by the
//! gateway's transcript writer and the router's starts.

use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

/// The next batch for a writer: what is queued now (at most `cap`), waiting for the first only
/// while nothing is. After `shutdown`, what is still queued, then `None`: the writer stops.
/// While one writer waits or takes, the others wait for the queue.
pub async fn next_batch<T>(
    queue: &Mutex<mpsc::Receiver<T>>,
    cap: usize,
    shutdown: &CancellationToken,
) -> Option<Vec<T>> {
    let mut rx = queue.lock().await;
    let first = tokio::select! {
        biased;
        job = rx.recv() => job,
        () = shutdown.cancelled() => rx.try_recv().ok(),
    }?;
    let mut batch = vec![first];
    while batch.len() < cap {
        match rx.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    Some(batch)
}
