//! Satisfaction ratings (`services/gateway/src/rating.rs`): a shopper rates a chat once it has
//! ended with an agent, once; agents read the rating with the chat.

use serde_json::json;
use showroom_testkit::{Http, PASSWORD, Stack, Tenant, accepted_chat};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chat_is_rated_once_after_it_ends() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Csat", 1).await?;
    let mut agent = stack.agent(&t.agents[0].1, "available").await?;
    let (mut shopper, welcome) = stack.shopper(&t, None, 0).await?;
    let conv = accepted_chat(&mut shopper, &mut agent, t.sales).await?;

    // Not while the chat is live.
    let early = shopper
        .ask(json!({"type": "rate", "score": 5, "ref": "r0"}))
        .await?;
    assert_eq!(early["code"], "not_allowed", "{early}");
    agent
        .ask(json!({"type": "end", "conversation_id": conv, "ref": "e"}))
        .await?;
    shopper
        .recv_matching("conversation", |f| f["conversation"]["state"] == "ended")
        .await?;

    let bad = shopper
        .ask(json!({"type": "rate", "score": 6, "ref": "r1"}))
        .await?;
    assert_eq!(bad["code"], "bad_frame", "{bad}");
    let rated = shopper
        .ask(json!({"type": "rate", "score": 4, "comment": "  Quick and kind  ", "ref": "r2"}))
        .await?;
    assert_eq!(rated["type"], "rated", "{rated}");
    assert_eq!(
        (rated["score"].as_i64(), rated["comment"].as_str()),
        (Some(4), Some("Quick and kind"))
    );
    // A retry answers the same; anything else is refused: rated once.
    let again = shopper
        .ask(json!({"type": "rate", "score": 4, "comment": "Quick and kind", "ref": "r3"}))
        .await?;
    assert_eq!(
        (again["type"].as_str(), &again["at"]),
        (Some("rated"), &rated["at"])
    );
    let other = shopper
        .ask(json!({"type": "rate", "score": 1, "ref": "r4"}))
        .await?;
    assert_eq!(other["code"], "not_allowed", "{other}");

    // A reload learns it was rated; agents read it with the chat.
    let (mut reload, _) = stack
        .shopper(&t, welcome["visitor_token"].as_str(), 0)
        .await?;
    let told = reload.recv_type("rated").await?;
    assert_eq!(told["score"], 4, "{told}");
    let history = agent
        .ask(json!({"type": "open", "conversation_id": conv, "ref": "h"}))
        .await?;
    assert_eq!(history["rating"]["score"], 4, "{history}");
    let anon = Http::new(&stack.base_url);
    let http = anon.with_token(&anon.login(&t.agents[0].1, PASSWORD).await?);
    let (status, detail) = http.get(&format!("/api/v1/conversations/{conv}")).await?;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["rating"]["comment"], "Quick and kind", "{detail}");
    stack.stop().await
}
