//! W3C trace context in NATS headers, so one trace follows a message across services.

use async_nats::HeaderMap;
use opentelemetry::propagation::{Extractor, Injector};
use tracing_opentelemetry::OpenTelemetrySpanExt;

struct Inject<'a>(&'a mut HeaderMap);

impl Injector for Inject<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value.as_str());
    }
}

struct Extract<'a>(&'a HeaderMap);

impl Extractor for Extract<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_ref()).collect()
    }
}

/// Headers holding the current span's trace context (`traceparent`, `tracestate`).
pub fn current_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    let cx = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&cx, &mut Inject(&mut headers))
    });
    headers
}

/// Makes `span` a child of the trace context found in `headers` (if any).
pub fn follow(span: &tracing::Span, headers: Option<&HeaderMap>) {
    if let Some(h) = headers {
        let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&Extract(h)));
        let _ = span.set_parent(parent);
    }
}
