//! Each console socket is a presence device: heartbeated into Redis on connect, gone the
//! moment it closes; the agent is effectively Offline without one, whatever the chosen status.

use std::time::Duration;

use serde_json::json;
use showroom_proto::Envelope;
use showroom_proto::presence::{AgentPresence, AgentStatus, GetStatus};
use showroom_proto::v1;
use showroom_testkit::{Http, Socket, Stack, Tenant, Tuning};
use uuid::Uuid;

/// Whom the conversation of a `started` frame was offered to.
async fn offered_to(stack: &Stack, started: &serde_json::Value) -> anyhow::Result<Vec<Uuid>> {
    let id: Uuid = started["conversation"]["id"]
        .as_str()
        .unwrap_or_default()
        .parse()?;
    let (offered,): (Vec<Uuid>,) =
        showroom_store::sqlx::query_as("SELECT offered_to FROM conversations WHERE id = $1")
            .bind(id)
            .fetch_one(&stack.pool)
            .await?;
    Ok(offered)
}

async fn presence(
    nats: &async_nats::Client,
    group: Uuid,
    agent: Uuid,
) -> anyhow::Result<AgentPresence> {
    let env = Envelope::new(group, GetStatus { agent_id: agent });
    let reply = nats
        .request(
            v1::presence_get_status(group),
            serde_json::to_vec(&env)?.into(),
        )
        .await?;
    let r: showroom_proto::Reply<AgentPresence> = serde_json::from_slice(&reply.payload)?;
    Result::<AgentPresence, _>::from(r).map_err(|e| anyhow::anyhow!("{e}"))
}

async fn until(
    nats: &async_nats::Client,
    group: Uuid,
    agent: Uuid,
    want: impl Fn(&AgentPresence) -> bool,
) -> anyhow::Result<AgentPresence> {
    for _ in 0..100 {
        let p = presence(nats, group, agent).await?;
        if want(&p) {
            return Ok(p);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    presence(nats, group, agent).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn console_sockets_are_presence_devices() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Presence", 1).await?;
    let (agent, email) = t.agents[0].clone();
    let nats = stack.nats_client().await?;
    let token = Http::new(&stack.base_url)
        .login(&email, "correct horse battery staple")
        .await?;

    let before = presence(&nats, t.group, agent).await?;
    assert_eq!(
        (before.status, before.effective, before.devices),
        (AgentStatus::Offline, AgentStatus::Offline, 0)
    );

    let mut tab1 = Socket::console(&stack.ws_url(""), &token).await?;
    tab1.ask(json!({"type": "hello", "v": 1})).await?;
    tab1.ask(json!({"type": "set_status", "status": "available"}))
        .await?;
    let mut tab2 = Socket::console(&stack.ws_url(""), &token).await?;
    let welcome = tab2.ask(json!({"type": "hello", "v": 1})).await?;
    assert_eq!(
        welcome["agent"]["status"], "available",
        "the chosen status is durable: {welcome}"
    );
    let p = until(&nats, t.group, agent, |p| p.devices == 2).await?;
    assert_eq!(
        (p.status, p.effective, p.devices),
        (AgentStatus::Available, AgentStatus::Available, 2)
    );

    // A status chosen in one tab reaches the other.
    tab1.ask(json!({"type": "set_status", "status": "away"}))
        .await?;
    tab2.recv_matching("status", |s| s["status"] == "away")
        .await?;
    tab1.ask(json!({"type": "set_status", "status": "available"}))
        .await?;

    // One tab closes: still connected. Both close: Offline at once, the status kept.
    tab1.close().await;
    let p = until(&nats, t.group, agent, |p| p.devices == 1).await?;
    assert_eq!(p.effective, AgentStatus::Available);
    tab2.close().await;
    let p = until(&nats, t.group, agent, |p| p.devices == 0).await?;
    assert_eq!(
        (p.status, p.effective),
        (AgentStatus::Available, AgentStatus::Offline)
    );

    // An agent without a connected console is not offered chats: with nobody else, the
    // chat goes to the offline flow.
    let mut w = Socket::widget(&stack.ws_url(""), &t.key, &t.origin).await?;
    w.ask(json!({"type": "hello", "v": 1})).await?;
    let started = w
        .ask(json!({"type": "start", "department_id": t.sales}))
        .await?;
    let offered = offered_to(&stack, &started).await?;
    assert!(offered.is_empty(), "{offered:?}");
    assert_eq!(
        started["conversation"]["offline_reason"],
        "nobody_available"
    );
    // When the agent comes back (still Available), the next chat is offered to them.
    let mut back = Socket::console(&stack.ws_url(""), &token).await?;
    back.ask(json!({"type": "hello", "v": 1})).await?;
    until(&nats, t.group, agent, |p| p.devices == 1).await?;
    let mut w = Socket::widget(&stack.ws_url(""), &t.key, &t.origin).await?;
    w.ask(json!({"type": "hello", "v": 1})).await?;
    let started = w
        .ask(json!({"type": "start", "department_id": t.sales}))
        .await?;
    let offer = back.recv_type("offer").await?;
    assert_eq!(offer["conversation"]["id"], started["conversation"]["id"]);
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn away_and_do_not_disturb_get_no_new_chats() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Statuses", 3).await?;
    let mut available = stack.agent(&t.agents[0].1, "available").await?;
    let mut away = stack.agent(&t.agents[1].1, "away").await?;
    let mut dnd = stack.agent(&t.agents[2].1, "dnd").await?;
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let started = w
        .ask(json!({"type": "start", "department_id": t.sales}))
        .await?;
    available.recv_type("offer").await?;
    away.expect_silence("offer", Duration::from_millis(500))
        .await?;
    dnd.expect_silence("offer", Duration::from_millis(100))
        .await?;
    let offered = offered_to(&stack, &started).await?;
    assert_eq!(offered, vec![t.agents[0].0]);
    // Becoming Available later brings the waiting chat (Away and DND never did).
    dnd.ask(json!({"type": "set_status", "status": "available"}))
        .await?;
    assert_eq!(
        dnd.recv_type("offer").await?["conversation"]["id"],
        started["conversation"]["id"]
    );
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn presence_is_rebuilt_from_heartbeats_after_redis_restarts() -> anyhow::Result<()> {
    let mut stack = Stack::start_tuned(Tuning {
        heartbeat_secs: 1,
        device_ttl_secs: 3,
        ..Tuning::default()
    })
    .await?;
    let t = Tenant::seed(&stack.pool, "Flush", 2).await?;
    let nats = stack.nats_client().await?;
    let mut connected = stack.agent(&t.agents[0].1, "available").await?;
    // The other agent chose Available but closed the console: not connected.
    let gone = stack.agent(&t.agents[1].1, "available").await?;
    gone.close().await;
    until(&nats, t.group, t.agents[1].0, |p| p.devices == 0).await?;

    stack.redis.stop().await;
    stack.redis.restart().await?;
    // Redis came back empty; the next heartbeat (1 s here, 60 s in production) rebuilds it.
    let p = until(&nats, t.group, t.agents[0].0, |p| p.devices == 1).await?;
    assert_eq!(
        (p.effective, p.devices),
        (AgentStatus::Available, 1),
        "rebuilt from heartbeats"
    );
    let p = presence(&nats, t.group, t.agents[1].0).await?;
    assert_eq!(
        (p.status, p.effective),
        (AgentStatus::Available, AgentStatus::Offline),
        "the chosen status survived in Postgres"
    );

    // A chat now goes to the connected agent only.
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let started = w
        .ask(json!({"type": "start", "department_id": t.sales}))
        .await?;
    assert_eq!(
        connected.recv_type("offer").await?["conversation"]["id"],
        started["conversation"]["id"]
    );
    let offered = offered_to(&stack, &started).await?;
    assert_eq!(
        offered,
        vec![t.agents[0].0],
        "nobody disconnected is offered a chat"
    );
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_silent_device_expires_by_the_sweep() -> anyhow::Result<()> {
    let stack = Stack::start_tuned(Tuning {
        heartbeat_secs: 60,
        device_ttl_secs: 2,
        ..Tuning::default()
    })
    .await?;
    let t = Tenant::seed(&stack.pool, "Silent", 1).await?;
    let nats = stack.nats_client().await?;
    // Connected, but the next heartbeat is 60 s away: after the 2 s window it is gone, found by
    // the sweep, without any socket closing.
    let _console = stack.agent(&t.agents[0].1, "available").await?;
    assert_eq!(presence(&nats, t.group, t.agents[0].0).await?.devices, 1);
    let p = until(&nats, t.group, t.agents[0].0, |p| p.devices == 0).await?;
    assert_eq!((p.devices, p.effective), (0, AgentStatus::Offline));
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_board_follows_statuses_and_active_chats_live() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Board", 2).await?;
    t.set_role(&stack.pool, t.agents[1].0, "manager").await?;
    let (agent_id, agent_email) = t.agents[0].clone();
    let mut manager = stack.agent(&t.agents[1].1, "available").await?;
    let board = manager.ask(json!({"type": "board"})).await?;
    assert_eq!(board["type"], "board", "{board}");
    let rows = board["board"]["agents"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "every agent of the group: {board}");
    let sections: Vec<&str> = board["board"]["departments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["section"].as_str().unwrap())
        .collect();
    assert_eq!(sections, ["Front End", "Back End"]);

    // A status change reaches the board within a second.
    let mut agent = stack.agent(&agent_email, "available").await?;
    let seen = |f: &serde_json::Value, status: &str| {
        f["agent"]["agent_id"] == agent_id.to_string() && f["agent"]["status"] == status
    };
    manager
        .recv_matching("agent_presence", |f| seen(f, "available"))
        .await?;
    let t0 = std::time::Instant::now();
    agent
        .ask(json!({"type": "set_status", "status": "away"}))
        .await?;
    manager
        .recv_matching("agent_presence", |f| seen(f, "away"))
        .await?;
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "board updated after {:?}",
        t0.elapsed()
    );
    agent
        .ask(json!({"type": "set_status", "status": "available"}))
        .await?;

    // Active chats follow assignments and endings.
    let mut shoppers = Vec::new();
    for _ in 0..2 {
        let (mut w, _) = stack.shopper(&t, None, 0).await?;
        let started = w
            .ask(json!({"type": "start", "department_id": t.sales}))
            .await?;
        let accepted = agent
            .ask(json!({"type": "accept", "conversation_id": started["conversation"]["id"]}))
            .await?;
        assert_eq!(accepted["type"], "accepted", "{accepted}");
        shoppers.push(w);
    }
    manager
        .recv_matching("agent_presence", |f| {
            f["agent"]["agent_id"] == agent_id.to_string() && f["agent"]["active_chats"] == 2
        })
        .await?;
    let api = Http::new(&stack.base_url).with_token(
        &Http::new(&stack.base_url)
            .login(&t.agents[1].1, showroom_testkit::PASSWORD)
            .await?,
    );
    let (status, rest) = api.get("/api/v1/presence/board").await?;
    assert_eq!(status, 200);
    let row = rest["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent_id"] == agent_id.to_string())
        .unwrap()
        .clone();
    let in_db: (i64,) = showroom_store::sqlx::query_as(
        "SELECT count(*) FROM conversations WHERE agent_id = $1 AND state = 'active'",
    )
    .bind(agent_id)
    .fetch_one(&stack.pool)
    .await?;
    assert_eq!(
        (
            row["active_chats"].as_i64(),
            row["effective"].as_str(),
            row["devices"].as_i64()
        ),
        (Some(in_db.0), Some("available"), Some(1))
    );
    shoppers[0].ask(json!({"type": "end"})).await?;
    manager
        .recv_matching("agent_presence", |f| {
            f["agent"]["agent_id"] == agent_id.to_string() && f["agent"]["active_chats"] == 1
        })
        .await?;

    // Filters: by status and by department.
    let (_, only_away) = api.get("/api/v1/presence/board?status=away").await?;
    assert_eq!(only_away["agents"].as_array().map(Vec::len), Some(0));
    let (_, service) = api
        .get(&format!(
            "/api/v1/presence/board?department_id={}",
            t.service
        ))
        .await?;
    let names: Vec<&str> = service["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Agent2 Board"]);
    let (status, bad) = api.get("/api/v1/presence/board?status=asleep").await?;
    assert_eq!(
        (status.as_u16(), bad["error"]["code"].as_str()),
        (400, Some("bad_status"))
    );
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_manager_sets_an_agents_status_and_it_is_recorded() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Managed", 2).await?;
    let other = Tenant::seed(&stack.pool, "Elsewhere", 1).await?;
    t.set_role(&stack.pool, t.agents[1].0, "manager").await?;
    let http = Http::new(&stack.base_url);
    let manager = http.with_token(
        &http
            .login(&t.agents[1].1, showroom_testkit::PASSWORD)
            .await?,
    );
    let agent_token = http
        .login(&t.agents[0].1, showroom_testkit::PASSWORD)
        .await?;
    let agent_api = http.with_token(&agent_token);
    let mut console = stack.agent(&t.agents[0].1, "available").await?;

    // The agent left without logging off; the manager sets them to Do Not Disturb.
    let (status, p) = manager
        .put(
            &format!("/api/v1/agents/{}/status", t.agents[0].0),
            r#"{"status":"dnd"}"#,
        )
        .await?;
    assert_eq!(
        (status.as_u16(), p["status"].as_str()),
        (200, Some("dnd")),
        "{p}"
    );
    console
        .recv_matching("status", |f| f["status"] == "dnd")
        .await?;
    let (_, history) = agent_api
        .get(&format!("/api/v1/agents/{}/status-history", t.agents[0].0))
        .await?;
    let latest = &history.as_array().unwrap()[0];
    assert_eq!(
        (latest["status"].as_str(), latest["changed_by"].as_str()),
        (Some("dnd"), Some(t.agents[1].0.to_string().as_str())),
        "{history}"
    );
    assert_eq!(latest["changed_by_name"], "Agent1 Managed");
    assert_eq!(
        history[1]["changed_by"],
        t.agents[0].0.to_string(),
        "the agent's own earlier change: {history}"
    );

    // An agent may set only their own status; nobody reaches another group's agent.
    let body = r#"{"status":"away"}"#;
    let (status, e) = agent_api
        .put(&format!("/api/v1/agents/{}/status", t.agents[1].0), body)
        .await?;
    assert_eq!(
        (status.as_u16(), e["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let (status, _) = agent_api
        .put(&format!("/api/v1/agents/{}/status", t.agents[0].0), body)
        .await?;
    assert_eq!(status, 200);
    let (status, e) = manager
        .put(
            &format!("/api/v1/agents/{}/status", other.agents[0].0),
            body,
        )
        .await?;
    assert_eq!(
        (status.as_u16(), e["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{e}"
    );
    let (status, _) = manager
        .get(&format!(
            "/api/v1/agents/{}/status-history",
            other.agents[0].0
        ))
        .await?;
    assert_eq!(status, 404);
    for (body, code) in [(r#"{"status":"asleep"}"#, "bad_status"), ("{", "bad_json")] {
        let (status, e) = manager
            .put(&format!("/api/v1/agents/{}/status", t.agents[0].0), body)
            .await?;
        assert_eq!(
            (status.as_u16(), e["error"]["code"].as_str()),
            (400, Some(code)),
            "{body}"
        );
    }
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_consoles_make_an_available_agent_away_until_active() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Idle", 1).await?;
    let (agent, email) = t.agents[0].clone();
    let nats = stack.nats_client().await?;
    let http = Http::new(&stack.base_url);
    let api = http.with_token(&http.login(&email, showroom_testkit::PASSWORD).await?);

    // The agent turns auto-away on (10 minutes); bad values are refused.
    let (status, me) = api
        .put("/api/v1/me/auto-away", r#"{"seconds":600}"#)
        .await?;
    assert_eq!(
        (status.as_u16(), me["auto_away_secs"].as_i64()),
        (200, Some(600)),
        "{me}"
    );
    let (status, e) = api.put("/api/v1/me/auto-away", r#"{"seconds":5}"#).await?;
    assert_eq!(
        (status.as_u16(), e["error"]["code"].as_str()),
        (400, Some("bad_seconds"))
    );

    let mut tab1 = stack.agent(&email, "available").await?;
    let mut tab2 = stack.agent(&email, "available").await?;
    until(&nats, t.group, agent, |p| p.devices == 2).await?;

    // One console idle: still Available (the other is in use). Both idle: Away, chosen kept.
    tab1.send(json!({"type": "idle", "idle": true})).await?;
    let p = until(&nats, t.group, agent, |p| p.idle_devices == 1).await?;
    assert_eq!(p.effective, AgentStatus::Available);
    tab2.send(json!({"type": "idle", "idle": true})).await?;
    let p = until(&nats, t.group, agent, |p| p.effective == AgentStatus::Away).await?;
    assert_eq!(
        (p.status, p.effective, p.idle_devices),
        (AgentStatus::Available, AgentStatus::Away, 2)
    );

    // Away by idleness takes no new chat (nobody else can: the offline flow)...
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let started = w
        .ask(json!({"type": "start", "department_id": t.sales}))
        .await?;
    assert_eq!(
        started["conversation"]["offline_reason"], "nobody_available",
        "{started}"
    );
    tab1.expect_silence("offer", Duration::from_millis(300))
        .await?;
    // ...and activity in one console brings the agent back, offered the next chat.
    tab1.send(json!({"type": "idle", "idle": false})).await?;
    until(&nats, t.group, agent, |p| {
        p.effective == AgentStatus::Available
    })
    .await?;
    let (mut w, _) = stack.shopper(&t, None, 0).await?;
    let started = w
        .ask(json!({"type": "start", "department_id": t.sales}))
        .await?;
    let offer = tab1.recv_type("offer").await?;
    assert_eq!(offer["conversation"]["id"], started["conversation"]["id"]);
    let p = presence(&nats, t.group, agent).await?;
    assert_eq!((p.effective, p.idle_devices), (AgentStatus::Available, 1));
    // The setting reaches the console at hello.
    let token = http.login(&email, showroom_testkit::PASSWORD).await?;
    let mut tab3 = Socket::console(&stack.ws_url(""), &token).await?;
    let welcome = tab3.ask(json!({"type": "hello", "v": 1})).await?;
    assert_eq!(welcome["agent"]["auto_away_secs"], 600);
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn availability_follows_the_status_table_for_each_kind_of_offer() -> anyhow::Result<()> {
    use showroom_proto::presence::{FindAvailable, Purpose};
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Table", 4).await?;
    let statuses = ["available", "away", "dnd", "offline"];
    let mut consoles = Vec::new();
    for (i, status) in statuses.iter().enumerate() {
        consoles.push(stack.agent(&t.agents[i].1, status).await?);
    }
    let nats = stack.nats_client().await?;
    let ids: Vec<Uuid> = t.agents[..4].iter().map(|(id, _)| *id).collect();
    let ask = |purpose: Purpose| {
        let env = Envelope::new(
            t.group,
            FindAvailable {
                agent_ids: ids.clone(),
                purpose,
            },
        );
        let nats = nats.clone();
        async move {
            let reply = nats
                .request(
                    v1::presence_find_available(t.group),
                    serde_json::to_vec(&env)?.into(),
                )
                .await?;
            let r: showroom_proto::Reply<Vec<Uuid>> = serde_json::from_slice(&reply.payload)?;
            Result::<Vec<Uuid>, _>::from(r).map_err(|e| anyhow::anyhow!("{e}"))
        }
    };
    // The brief's table: Available takes everything; Away transfers and internal chats; DND and
    // Offline nothing.
    assert_eq!(ask(Purpose::NewChat).await?, vec![ids[0]]);
    assert_eq!(ask(Purpose::Transfer).await?, vec![ids[0], ids[1]]);
    assert_eq!(ask(Purpose::Internal).await?, vec![ids[0], ids[1]]);
    // A candidate of another group is never answered, whatever its status.
    let other = Tenant::seed(&stack.pool, "Other", 1).await?;
    let _theirs = stack.agent(&other.agents[0].1, "available").await?;
    let env = Envelope::new(
        t.group,
        FindAvailable {
            agent_ids: vec![other.agents[0].0],
            purpose: Purpose::NewChat,
        },
    );
    let reply = nats
        .request(
            v1::presence_find_available(t.group),
            serde_json::to_vec(&env)?.into(),
        )
        .await?;
    let r: showroom_proto::Reply<Vec<Uuid>> = serde_json::from_slice(&reply.payload)?;
    assert_eq!(r, showroom_proto::Reply::Ok(vec![]));
    stack.stop().await
}
