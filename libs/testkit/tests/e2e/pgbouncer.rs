//! The whole chat through PgBouncer in transaction mode: every service connects to PgBouncer,
//! whose pool towards Postgres is smaller than what the services ask for. A chat is accepted and
//! answered, twelve shoppers write at once, a message left while nobody is available becomes a
//! lead and an ADF e-mail, and Postgres never sees more connections than PgBouncer's pool.
//!
//! Fails without prepared-statement tracking (`max_prepared_statements = 0`, or PgBouncer
//! 1.18): sqlx's named statements land on server connections that never prepared them.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use serde_json::json;
use showroom_store::sqlx::PgPool;
use showroom_testkit::{Http, PASSWORD, Stack, Tenant, accepted_chat, eventually};
use uuid::Uuid;

/// PgBouncer's server connections towards Postgres.
const POOL: u32 = 3;

/// Postgres's connections from TCP clients: only PgBouncer's (the test's own pool uses the Unix
/// socket).
async fn tcp_backends(pool: &PgPool) -> anyhow::Result<i64> {
    let (n,): (i64,) = showroom_store::sqlx::query_as(
        "SELECT count(*) FROM pg_stat_activity WHERE client_addr IS NOT NULL AND datname = 'showroom'",
    )
    .fetch_one(pool)
    .await?;
    Ok(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_whole_chat_runs_through_pgbouncer_in_transaction_mode() -> anyhow::Result<()> {
    let stack = Stack::start_pooled(POOL).await?;
    let bouncer = stack.pgbouncer.as_ref().expect("a pooled stack");
    assert!(stack.database_url().contains(&bouncer.port.to_string()));
    let t = Tenant::seed(&stack.pool, "Pooled", 1).await?;

    // Postgres's TCP connections, sampled all along.
    let most = Arc::new(AtomicI64::new(0));
    let sampler = {
        let pool = stack.pool.clone();
        let most = most.clone();
        tokio::spawn(async move {
            loop {
                if let Ok(n) = tcp_backends(&pool).await {
                    most.fetch_max(n, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    // A manager sends the rooftop's leads to an ADF e-mail address (crm-export, over REST).
    let (_, manager_email) = t
        .add_agent(&stack.pool, "mgr", "manager", &[t.sales])
        .await?;
    let http = Http::new(&stack.base_url);
    let manager = http.with_token(&http.login(&manager_email, PASSWORD).await?);
    let (status, v) = manager
        .put(
            &format!("/api/v1/crm/destinations/{}", Uuid::now_v7()),
            &json!({"rooftop_id": t.rooftop, "name": "Store CRM",
                "target": {"kind": "adf_email", "to": "leads@crm.example"}})
            .to_string(),
        )
        .await?;
    assert_eq!(status, 200, "{v}");

    // A chat, accepted and answered.
    let mut agent = stack.agent(&t.agents[0].1, "available").await?;
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let conv = accepted_chat(&mut w, &mut agent, t.sales).await?;
    let ack = w
        .ask(json!({"type": "send", "client_msg_id": "s1", "text": "Is the Tacoma still there?"}))
        .await?;
    assert_eq!(ack["seq"], 1, "{ack}");
    assert_eq!(
        agent.recv_type("message").await?["message"]["text"],
        "Is the Tacoma still there?"
    );
    let ack = agent
        .ask(json!({"type": "send", "conversation_id": conv, "client_msg_id": "a1", "text": "It is."}))
        .await?;
    assert_eq!(ack["seq"], 2, "{ack}");
    let got = w
        .recv_matching("message", |m| m["message"]["seq"] == 2)
        .await?;
    assert_eq!(got["message"]["text"], "It is.");

    // Twelve shoppers write at once: far more than three server connections can hold at a time.
    let mut writers = Vec::new();
    for i in 0..12 {
        let (mut s, _) = stack.shopper(&t, None, 0).await?;
        let started = s
            .ask(json!({"type": "start", "department_id": t.sales}))
            .await?;
        assert_eq!(started["type"], "started", "{started}");
        writers.push(tokio::spawn(async move {
            for n in 0..5 {
                let ack = s
                    .ask(json!({"type": "send", "client_msg_id": format!("w{i}-{n}"),
                        "text": format!("Question {n} from shopper {i}")}))
                    .await?;
                anyhow::ensure!(ack["type"] == "ack", "{ack}");
            }
            anyhow::Ok(())
        }));
    }
    for w in writers {
        w.await??;
    }

    // Nobody available: a message left becomes a lead, and an ADF e-mail for the store.
    let st = agent
        .ask(json!({"type": "set_status", "status": "away"}))
        .await?;
    assert_eq!(st["status"], "away", "{st}");
    let (mut w2, _) = stack.shopper(&t, None, 0).await?;
    let left = w2
        .ask(json!({"type": "leave_message", "form_id": "f1", "first_name": "Ana", "last_name": "Ruiz",
            "email": "ana@example.com", "message": "Call me about the Tacoma"}))
        .await?;
    assert_eq!(left["type"], "message_left", "{left}");
    eventually(Duration::from_secs(20), "the ADF e-mail", || async {
        let mails = stack.smtp.messages().await?;
        Ok(mails
            .iter()
            .any(|m| m.to_string().contains("leads@crm.example"))
            .then_some(()))
    })
    .await?;
    eventually(Duration::from_secs(10), "the lead delivered", || async {
        let (n,): (i64,) = showroom_store::sqlx::query_as(
            "SELECT count(*) FROM crm_deliveries WHERE status = 'delivered'",
        )
        .fetch_one(&stack.pool)
        .await?;
        Ok((n == 1).then_some(()))
    })
    .await?;

    sampler.abort();
    let seen = most
        .load(Ordering::Relaxed)
        .max(tcp_backends(&stack.pool).await?);
    assert!(seen >= 1, "PgBouncer's connections were seen");
    assert!(
        seen <= i64::from(POOL),
        "Postgres saw {seen} TCP connections, PgBouncer's pool is {POOL}"
    );
    stack.stop().await
}
