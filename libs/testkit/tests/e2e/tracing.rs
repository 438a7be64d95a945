//! One trace follows a chat across services: the trace context rides the NATS headers.

use futures::StreamExt;
use serde_json::json;
use showroom_proto::conversation::{ConversationCommand, ConversationEventKind};
use showroom_proto::v1;
use showroom_testkit::{Stack, Tenant};

fn trace_id(headers: Option<&async_nats::HeaderMap>) -> Option<String> {
    let tp = headers?.get("traceparent")?.as_str().to_string();
    // version-traceid-spanid-flags
    let parts: Vec<&str> = tp.split('-').collect();
    (parts.len() == 4 && parts[1].len() == 32 && parts[1] != "0".repeat(32))
        .then(|| parts[1].to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_trace_of_a_shoppers_frame_reaches_the_routers_events() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Traces", 1).await?;
    let nats = stack.nats_client().await?;
    // A plain subscriber gets a copy of each request the router's queue group serves.
    let mut requests = nats
        .subscribe(v1::conversation_command(
            t.group,
            ConversationCommand::Start,
        ))
        .await?;
    let mut created = nats
        .subscribe(v1::conversation_event(
            t.group,
            ConversationEventKind::Created,
        ))
        .await?;
    let mut messages =
        showroom_testkit::watch::subscribed(&nats, v1::message_created(t.group)).await?;

    let mut agent = stack.agent(&t.agents[0].1, "available").await?;
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let started = w
        .ask(json!({"type": "start", "department_id": t.sales}))
        .await?;
    assert_eq!(started["type"], "started");

    let wait = std::time::Duration::from_secs(5);
    let request = tokio::time::timeout(wait, requests.next())
        .await?
        .expect("request copy");
    let event = tokio::time::timeout(wait, created.next())
        .await?
        .expect("created event");
    let from_gateway =
        trace_id(request.headers.as_ref()).expect("the gateway's request carries a trace");
    let from_router = trace_id(event.headers.as_ref()).expect("the router's event carries a trace");
    assert_eq!(
        from_gateway, from_router,
        "the router's event continues the gateway's trace"
    );

    let conv = started["conversation"]["id"].as_str().unwrap().to_string();
    agent.recv_type("offer").await?;
    agent
        .ask(json!({"type": "accept", "conversation_id": conv}))
        .await?;
    w.ask(json!({"type": "send", "client_msg_id": "t1", "text": "hello"}))
        .await?;
    let msg = tokio::time::timeout(wait, messages.next())
        .await?
        .expect("message event");
    let message_trace = trace_id(msg.headers.as_ref()).expect("message events carry a trace");
    assert_ne!(message_trace, from_gateway, "each frame is its own trace");
    stack.stop().await
}
