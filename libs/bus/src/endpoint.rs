//! Serving request subjects as endpoints of the NATS service API.
//!
//! A [`ServiceHost`] registers the service under its name and version (so `$SRV` discovery
//! and `nats micro ls` list it) and runs each endpoint as a tracked task that stops taking
//! requests when the shutdown token is cancelled. Every request is an [`Envelope`] whose tenant
//! must match the group token of the subject it came on; every reply is a [`Reply`].

use std::future::Future;
use std::sync::Arc;

use async_nats::service::{Service, ServiceExt};
use futures::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use showroom_proto::v1::group_of;
use showroom_proto::{CommandError, Envelope, ErrorCode, Reply};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;
use uuid::Uuid;

use crate::{Bus, BusError, trace};

/// A service registered with the NATS service API, serving its endpoints until shutdown.
pub struct ServiceHost {
    service: Service,
    bus: Bus,
    tracker: TaskTracker,
    shutdown: CancellationToken,
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
        })
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
        let endpoint_name = name.to_string();
        self.tracker.spawn(async move {
            loop {
                let request = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    r = endpoint.next() => match r {
                        Some(r) => r,
                        None => break,
                    },
                };
                let handler = handler.clone();
                let span = tracing::info_span!("handle", endpoint = %endpoint_name, subject = %request.message.subject);
                trace::follow(&span, request.message.headers.as_ref());
                tracker.spawn(
                    async move {
                        let reply = handle(&request.message.subject, &request.message.payload, &*handler).await;
                        let body = match serde_json::to_vec(&reply) {
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
