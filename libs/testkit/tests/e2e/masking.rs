//! Card numbers and social security numbers a shopper types are masked before anything holds
//! them: the transcript in Postgres, the bus, the agent's console, the shopper's own screen.

use futures::StreamExt;
use serde_json::{Value, json};
use showroom_proto::v1;
use showroom_testkit::{Stack, Tenant, accepted_chat};
use uuid::Uuid;

const TYPED: &str = "my card is 4111 1111 1111 1111 and my SSN is 123-45-6789, call 312-555-0142";
const STORED: &str = "my card is **** **** **** 1111 and my SSN is ***-**-****, call 312-555-0142";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn card_and_social_security_numbers_never_reach_the_store_or_a_screen() -> anyhow::Result<()>
{
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Masking", 1).await?;
    let mut agent = stack.agent(&t.agents[0].1, "available").await?;
    let nats = stack.nats_client().await?;
    let mut bus = nats.subscribe(v1::message_created(t.group)).await?;
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let conv = accepted_chat(&mut w, &mut agent, t.sales).await?;

    let ack = w
        .ask(json!({"type": "send", "client_msg_id": "pay", "text": TYPED}))
        .await?;
    assert_eq!(ack["type"], "ack", "{ack}");
    let seen = agent
        .recv_matching("message", |f| f["message"]["client_msg_id"] == "pay")
        .await?;
    assert_eq!(seen["message"]["text"], STORED);
    let echoed = w
        .recv_matching("message", |f| f["message"]["client_msg_id"] == "pay")
        .await?;
    assert_eq!(echoed["message"]["text"], STORED);
    let published = tokio::time::timeout(std::time::Duration::from_secs(5), bus.next())
        .await?
        .ok_or_else(|| anyhow::anyhow!("no message.created"))?;
    let env: Value = serde_json::from_slice(&published.payload)?;
    assert_eq!(env["data"]["text"], STORED);
    let (body,): (String,) = showroom_store::sqlx::query_as(
        "SELECT body FROM messages WHERE conversation_id = $1 AND client_msg_id = 'pay'",
    )
    .bind(conv.parse::<Uuid>()?)
    .fetch_one(&stack.pool)
    .await?;
    assert_eq!(body, STORED);

    // The agent's messages are masked too (read back to a shopper on the phone, say).
    agent
        .ask(
            json!({"type": "send", "conversation_id": conv, "client_msg_id": "a1",
            "text": "confirming 5500-0000-0000-0004"}),
        )
        .await?;
    let shown = w
        .recv_matching("message", |f| f["message"]["client_msg_id"] == "a1")
        .await?;
    assert_eq!(shown["message"]["text"], "confirming ****-****-****-0004");
    stack.stop().await
}
