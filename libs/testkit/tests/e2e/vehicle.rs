//! The vehicle the shopper was looking at rides the conversation from the widget's `start` to
//! the agent's offer and Postgres; bad vehicle data is refused field by field.

use serde_json::json;
use showroom_testkit::{Stack, Tenant};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_vehicle_on_the_page_reaches_the_agent() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Vehicles", 1).await?;
    let mut agent = stack.agent(&t.agents[0].1, "available").await?;
    let (mut w, _) = stack.shopper(&t, None, 0).await?;

    // Each kind of bad data is named, and nothing starts.
    for (vehicle, field) in [
        (json!({"vin": "1HGCM82633A00435"}), "vehicle.vin"),
        (json!({"vin": "1HGCM82633AO04352"}), "vehicle.vin"),
        (json!({"year": 1850}), "vehicle.year"),
        (json!({"url": "javascript:alert(1)"}), "vehicle.url"),
        (json!({"colour": "red"}), "colour"),
        (json!("a Civic"), "`vehicle` must be an object"),
    ] {
        let refused = w
            .ask(json!({"type": "start", "department_id": t.sales, "vehicle": vehicle}))
            .await?;
        assert_eq!(refused["type"], "error", "{vehicle}: {refused}");
        assert_eq!(refused["code"], "bad_request", "{refused}");
        let msg = refused["message"].as_str().unwrap_or_default();
        assert!(msg.contains(field), "{vehicle}: {msg}");
    }
    let (n,): (i64,) =
        showroom_store::sqlx::query_as("SELECT count(*) FROM conversations WHERE website_id = $1")
            .bind(t.website)
            .fetch_one(&stack.pool)
            .await?;
    assert_eq!(n, 0);

    let started = w
        .ask(json!({"type": "start", "department_id": t.sales, "vehicle": {
            "vin": " 1hgcm82633a004352 ", "stock_number": "H4412", "year": 2023, "make": "Honda",
            "model": "Civic", "trim": "<b>EX</b>", "price": 24900, "make_extra": null,
        }}))
        .await?;
    // An unknown field is refused even when null: a typo on the dealer's page is told.
    assert_eq!(started["type"], "error", "{started}");
    let started = w
        .ask(json!({"type": "start", "department_id": t.sales, "vehicle": {
            "vin": " 1hgcm82633a004352 ", "stock_number": "H4412", "year": 2023, "make": "Honda",
            "model": "Civic", "trim": "<b>EX</b>", "price": 24900,
            "url": "https://www.vehicles.example/used/2023-honda-civic",
        }}))
        .await?;
    assert_eq!(started["type"], "started", "{started}");
    let want = json!({
        "vin": "1HGCM82633A004352", "stock_number": "H4412", "year": 2023, "make": "Honda",
        "model": "Civic", "trim": "<b>EX</b>", "price": 24900,
        "url": "https://www.vehicles.example/used/2023-honda-civic",
    });
    assert_eq!(started["conversation"]["vehicle"], want);
    let offer = agent.recv_type("offer").await?;
    assert_eq!(offer["conversation"]["vehicle"], want);
    let id: Uuid = started["conversation"]["id"]
        .as_str()
        .unwrap_or_default()
        .parse()?;
    let (stored,): (serde_json::Value,) =
        showroom_store::sqlx::query_as("SELECT vehicle FROM conversations WHERE id = $1")
            .bind(id)
            .fetch_one(&stack.pool)
            .await?;
    assert_eq!(stored, want);
    stack.stop().await
}
