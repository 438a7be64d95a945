//! Serving request subjects as endpoints of the NATS service API.
//!
//! A [`ServiceHost`] registers the service under its name and version (so `$SRV` discovery
//! and `nats micro ls` list it) and runs each endpoint as a tracked task that stops taking
//! requests when the shutdown token is cancelled. Every request is an [`Envelope`] whose tenant
//! must match the group token of the subject it came on; every reply is a [`Reply`].
//!
//! Each endpoint admits at most [`Admission::in_flight`] requests at once and lets at most
//! [`Admission::waiting`] more wait, each for at most [`Admission::wait`]. A request beyond that,
//! or one that waited too long, is answered `unavailable` ("busy") at once without running, so a
//! replica that falls behind sheds load instead of piling up work its callers stopped waiting
//! for (the gateway waits 5 s), and its memory stays bounded. Requests shed are counted in
//! `showroom_requests_shed_total` by `endpoint` and `reason` (`queue_full`, `waited_too_long`).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_nats::service::{Service, ServiceExt};
use futures::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use showroom_proto::v1::group_of;
use showroom_proto::{CommandError, Envelope, ErrorCode, Reply};
use showroom_telemetry::metrics::names;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;
use uuid::Uuid;

use crate::{Bus, BusError, trace};

/// How many requests one endpoint of one replica runs and queues (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// Requests running at once.
    pub in_flight: usize,
    /// Requests waiting for a turn beyond those; more are shed at once.
    pub waiting: usize,
    /// The longest a request waits for its turn before it is shed.
    pub wait: Duration,
}

impl Default for Admission {
    /// 64 running, 256 waiting, for at most 2 s: well inside the gateway's 5 s deadline, so a
    /// request that runs still has time to be answered.
    fn default() -> Self {
        Self {
            in_flight: 64,
            waiting: 256,
            wait: Duration::from_secs(2),
        }
    }
}

/// The text of the `unavailable` answer to a request that was shed.
pub const BUSY: &str = "busy: too many requests at once, try again";

/// A service registered with the NATS service API, serving its endpoints until shutdown.
pub struct ServiceHost {
    service: Service,
    bus: Bus,
    tracker: TaskTracker,
    shutdown: CancellationToken,
    admission: Admission,
}

impl ServiceHost {
    /// Registers `name` at `version` with the service API.
    pub async fn start(
        bus: &Bus,
        name: &str,
        version: &str,
        description: &str,
        tracker: TaskTracker,
        shutdown: CancellationToken,
    ) -> Result<Self, BusError> {
        let service = bus
            .client
            .service_builder()
            .description(description)
            .start(name, version)
            .await
            .map_err(|e| BusError::Nats(format!("service registration: {e}")))?;
        Ok(Self {
            service,
            bus: bus.clone(),
            tracker,
            shutdown,
            admission: Admission::default(),
        })
    }

    /// Sets the admission of the endpoints served after this call.
    pub fn set_admission(&mut self, admission: Admission) {
        self.admission = admission;
    }

    /// Serves `subject` (usually with a `*` group token, for all tenants) as endpoint `name`,
    /// calling `handler(group, envelope)` for each request. Replicas share the load through the
    /// service's queue group.
    pub async fn serve<Req, Resp, F, Fut>(
        &self,
        name: &str,
        subject: String,
        handler: F,
    ) -> Result<(), BusError>
    where
        Req: DeserializeOwned + Send + 'static,
        Resp: Serialize + Send + 'static,
        F: Fn(Uuid, Envelope<Req>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Resp, CommandError>> + Send + 'static,
    {
        let mut endpoint = self
            .service
            .endpoint_builder()
            .name(name)
            .add(subject)
            .await
            .map_err(|e| BusError::Nats(format!("endpoint {name}: {e}")))?;
        let handler = Arc::new(handler);
        let tracker = self.tracker.clone();
        let shutdown = self.shutdown.clone();
        let endpoint_name: Arc<str> = name.into();
        let admission = self.admission;
        let permits = Arc::new(Semaphore::new(admission.in_flight.max(1)));
        let waiting = Arc::new(AtomicUsize::new(0));
        self.tracker.spawn(async move {
            loop {
                let request = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    r = endpoint.next() => match r {
                        Some(r) => r,
                        None => break,
                    },
                };
                // A turn now, or a place in the queue, or "busy" at once.
                let turn = match permits.clone().try_acquire_owned() {
                    Ok(permit) => Turn::Now(permit),
                    Err(_) if waiting.fetch_add(1, Ordering::AcqRel) < admission.waiting => {
                        Turn::Queued(Queued(waiting.clone()))
                    }
                    Err(_) => {
                        waiting.fetch_sub(1, Ordering::AcqRel);
                        tracker.spawn(shed(request, endpoint_name.clone(), "queue_full"));
                        continue;
                    }
                };
                let (handler, permits, name) =
                    (handler.clone(), permits.clone(), endpoint_name.clone());
                let span = tracing::info_span!("handle", endpoint = %endpoint_name, subject = %request.message.subject);
                trace::follow(&span, request.message.headers.as_ref());
                tracker.spawn(
                    async move {
                        let _permit = match turn {
                            Turn::Now(permit) => permit,
                            Turn::Queued(place) => {
                                let permit =
                                    tokio::time::timeout(admission.wait, permits.acquire_owned())
                                        .await;
                                drop(place);
                                match permit {
                                    Ok(Ok(permit)) => permit,
                                    _ => return shed(request, name, "waited_too_long").await,
                                }
                            }
                        };
                        let reply = handle(&request.message.subject, &request.message.payload, &*handler).await;
                        respond(request, reply).await;
                    }
                    .instrument(span),
                );
            }
        });
        Ok(())
    }

    /// Subscribes to a fire-and-forget subject (heartbeats, signals) in queue group `queue`,
    /// calling `handler(group, envelope)` for each message; malformed ones are logged and
    /// dropped.
    pub async fn on_signal<T, F, Fut>(
        &self,
        subject: String,
        queue: &str,
        handler: F,
    ) -> Result<(), BusError>
    where
        T: DeserializeOwned + Send + 'static,
        F: Fn(Uuid, Envelope<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut sub = self
            .bus
            .client
            .queue_subscribe(subject, queue.to_string())
            .await
            .map_err(|e| BusError::Nats(e.to_string()))?;
        let shutdown = self.shutdown.clone();
        self.tracker.spawn(async move {
            loop {
                let msg = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    m = sub.next() => match m {
                        Some(m) => m,
                        None => break,
                    },
                };
                if let Some((group, env)) = decode_signal::<T>(&msg) {
                    handler(group, env).await;
                }
            }
        });
        Ok(())
    }

    /// Like [`ServiceHost::on_signal`], handing over batches: whatever messages are already
    /// waiting, up to `max`, in arrival order. For high-rate signals (heartbeats) whose
    /// handling is cheaper per batch than per message.
    pub async fn on_signal_batch<T, F, Fut>(
        &self,
        subject: String,
        queue: &str,
        max: usize,
        handler: F,
    ) -> Result<(), BusError>
    where
        T: DeserializeOwned + Send + 'static,
        F: Fn(Vec<(Uuid, Envelope<T>)>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let sub = self
            .bus
            .client
            .queue_subscribe(subject, queue.to_string())
            .await
            .map_err(|e| BusError::Nats(e.to_string()))?;
        let mut batches = sub.ready_chunks(max.max(1));
        let shutdown = self.shutdown.clone();
        self.tracker.spawn(async move {
            loop {
                let batch = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    b = batches.next() => match b {
                        Some(b) => b,
                        None => break,
                    },
                };
                let decoded: Vec<(Uuid, Envelope<T>)> = batch
                    .into_iter()
                    .filter_map(|msg| decode_signal::<T>(&msg))
                    .collect();
                if !decoded.is_empty() {
                    handler(decoded).await;
                }
            }
        });
        Ok(())
    }

    /// Unregisters the service (its endpoints stop answering).
    pub async fn stop(self) {
        if let Err(e) = self.service.stop().await {
            tracing::warn!(error = %e, "service stop failed");
        }
    }
}

/// A request's admission: running now, or waiting in the queue.
enum Turn {
    Now(tokio::sync::OwnedSemaphorePermit),
    Queued(Queued),
}

/// A place in an endpoint's queue, given back when dropped.
struct Queued(Arc<AtomicUsize>);

impl Drop for Queued {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Answers a request that will not run with `unavailable` ([`BUSY`]) and counts it.
async fn shed(request: async_nats::service::Request, endpoint: Arc<str>, reason: &'static str) {
    metrics::counter!(names::REQUESTS_SHED, "endpoint" => endpoint.to_string(), "reason" => reason)
        .increment(1);
    let reply: Reply<()> = Reply::Error(CommandError::new(ErrorCode::Unavailable, BUSY));
    respond(request, reply).await;
}

async fn respond<T: Serialize>(request: async_nats::service::Request, reply: Reply<T>) {
    let encoded = serde_json::to_vec(&reply);
    drop(reply);
    let body = match encoded {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "cannot encode reply");
            return;
        }
    };
    if let Err(e) = request.respond(Ok(body.into())).await {
        tracing::warn!(error = %e, "cannot send reply");
    }
}

/// A signal's group and envelope; `None` (logged) when it is malformed or its tenant is not
/// the group of its subject.
fn decode_signal<T: DeserializeOwned>(msg: &async_nats::Message) -> Option<(Uuid, Envelope<T>)> {
    let group = group_of(&msg.subject)?;
    match crate::decode::<T>(&msg.payload) {
        Ok(env) if env.tenant == group => Some((group, env)),
        Ok(_) => {
            tracing::warn!(subject = %msg.subject, "signal tenant does not match its subject; dropped");
            None
        }
        Err(e) => {
            tracing::warn!(subject = %msg.subject, error = %e, "malformed signal; dropped");
            None
        }
    }
}

async fn handle<Req, Resp, F, Fut>(subject: &str, payload: &[u8], handler: &F) -> Reply<Resp>
where
    Req: DeserializeOwned,
    F: Fn(Uuid, Envelope<Req>) -> Fut,
    Fut: Future<Output = Result<Resp, CommandError>>,
{
    let Some(group) = group_of(subject) else {
        return Reply::Error(CommandError::new(
            ErrorCode::BadRequest,
            "subject has no dealer group",
        ));
    };
    let env: Envelope<Req> = match serde_json::from_slice(payload) {
        Ok(e) => e,
        Err(e) => {
            return Reply::Error(CommandError::new(
                ErrorCode::BadRequest,
                format!("bad request: {e}"),
            ));
        }
    };
    if env.tenant != group {
        return Reply::Error(CommandError::new(
            ErrorCode::NotAllowed,
            "envelope tenant does not match the subject",
        ));
    }
    handler(group, env).await.into()
}
