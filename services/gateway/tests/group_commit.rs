//! Group commit of messages (`transcript::commit`, `transcript::Writer`): many conversations'
//! messages share one statement and one commit, and every promise of `docs/protocol.md` still
//! holds: gapless seqs per conversation in submit order, one stored message per client id (a
//! resend, even inside the same batch, gets the stored one), the same refusals as one message
//! alone, and a refused message fails alone.
//!
//! Real servers and services (`showroom-testkit`); the chats are started over the widget socket.

use std::collections::{BTreeMap, HashMap};

use serde_json::json;
use showroom_gateway::transcript::{self, Appended, Pending, Writer};
use showroom_proto::ErrorCode;
use showroom_proto::message::{Author, AuthorKind};
use showroom_store::plan::explain;
use showroom_testkit::{Socket, Stack, Tenant, Tuning};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

/// `n` chats started by shoppers of `t` (offered to `agent`, who is available); the shoppers'
/// sockets stay open so the chats stay open.
async fn chats(stack: &Stack, t: &Tenant, n: usize) -> anyhow::Result<(Vec<Uuid>, Vec<Socket>)> {
    let mut ids = Vec::new();
    let mut sockets = Vec::new();
    for _ in 0..n {
        let (mut w, _) = stack.shopper(t, None, 0).await?;
        let started = w
            .ask(json!({"type": "start", "department_id": t.sales}))
            .await?;
        anyhow::ensure!(started["type"] == "started", "{started}");
        anyhow::ensure!(
            started["conversation"]["state"] == "incoming",
            "the chat is open: {started}"
        );
        ids.push(
            started["conversation"]["id"]
                .as_str()
                .unwrap_or_default()
                .parse()?,
        );
        sockets.push(w);
    }
    Ok((ids, sockets))
}

async fn seed(stack: &Stack, name: &str) -> anyhow::Result<(Tenant, Socket)> {
    let t = Tenant::seed(&stack.pool, name, 1).await?;
    sqlx::query("UPDATE agents SET max_chats = 100000 WHERE group_id = $1")
        .bind(t.group)
        .execute(&stack.pool)
        .await?;
    let agent = stack.agent(&t.agents[0].1, "available").await?;
    Ok((t, agent))
}

fn shopper() -> Author {
    Author {
        kind: AuthorKind::Shopper,
        id: Some(Uuid::new_v4()),
        name: None,
    }
}

/// Every stored seq of the conversation, in order, and its counter.
async fn stored(pool: &PgPool, conv: Uuid) -> anyhow::Result<(Vec<i64>, i64)> {
    let seqs: Vec<i64> =
        sqlx::query_scalar("SELECT seq FROM messages WHERE conversation_id = $1 ORDER BY seq")
            .bind(conv)
            .fetch_all(pool)
            .await?;
    let last: i64 =
        sqlx::query_scalar("SELECT last_seq FROM transcripts WHERE conversation_id = $1")
            .bind(conv)
            .fetch_optional(pool)
            .await?
            .unwrap_or(0);
    Ok((seqs, last))
}

/// Asserts a conversation's seqs are 1..=last_seq with none missing.
async fn gapless(pool: &PgPool, conv: Uuid) -> anyhow::Result<i64> {
    let (seqs, last) = stored(pool, conv).await?;
    assert_eq!(
        seqs,
        (1..=last).collect::<Vec<_>>(),
        "conversation {conv}: stored seqs and counter"
    );
    Ok(last)
}

/// Rows stored under one client id.
async fn rows_of(pool: &PgPool, conv: Uuid, client_msg_id: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM messages WHERE conversation_id = $1 AND client_msg_id = $2",
    )
    .bind(conv)
    .bind(client_msg_id)
    .fetch_one(pool)
    .await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_batch_keeps_every_promise() -> anyhow::Result<()> {
    let stack = Stack::start_tuned(Tuning::for_load()).await?;
    let (t, mut agent) = seed(&stack, "Batch").await?;
    let (convs, mut sockets) = chats(&stack, &t, 6).await?;
    let (other, _other_agent) = seed(&stack, "Other Batch").await?;
    let (other_convs, _other_sockets) = chats(&stack, &other, 1).await?;
    // Chat 4 is the agent's; chat 5 is ended by its shopper.
    let accepted = agent
        .ask(json!({"type": "accept", "conversation_id": convs[4]}))
        .await?;
    assert_eq!(accepted["type"], "accepted", "{accepted}");
    let ended = sockets[5].ask(json!({"type": "end"})).await?;
    assert_eq!(ended["conversation"]["state"], "ended", "{ended}");
    let before: Vec<i64> = {
        let mut v = Vec::new();
        for c in &convs {
            v.push(stored(&stack.pool, *c).await?.1);
        }
        v
    };

    let s: Vec<Author> = (0..6).map(|_| shopper()).collect();
    let me = Author {
        kind: AuthorKind::Agent,
        id: Some(t.agents[0].0),
        name: Some("Agent".into()),
    };
    let p = |c: usize, a: &Author, text: &str, id: &str| {
        Pending::new(t.group, convs[c], a, text, id).expect("a valid message")
    };
    let batch = vec![
        p(0, &s[0], "first", "a"),
        p(1, &s[1], "hello", "x"),
        p(0, &s[0], "second", "b"),
        // The same client id twice in one batch: stored once.
        p(0, &s[0], "again", "dup"),
        p(2, &s[2], "hi", "y"),
        p(0, &s[0], "again", "dup"),
        // Into an ended chat: refused, the others still stored.
        p(5, &s[5], "too late", "late"),
        // An agent in a chat still incoming: refused.
        p(3, &me, "not yet", "n"),
        // The agent in their own chat, beside its shopper.
        p(4, &me, "Ann here", "ann-1"),
        p(4, &s[4], "Hi Ann", "s-1"),
        // Another group's chat: not found.
        Pending::new(t.group, other_convs[0], &s[0], "wrong group", "w").expect("valid"),
        p(0, &s[0], "third", "c"),
        p(1, &s[1], "two", "z"),
    ];
    let outcomes = transcript::commit(&stack.pool, &batch).await;
    assert_eq!(outcomes.len(), batch.len());
    let mut settled = Vec::new();
    for (o, p) in outcomes.into_iter().zip(&batch) {
        settled.push(o.settle(&stack.pool, p).await);
    }
    let seq = |i: usize| match &settled[i] {
        Ok(a) => a.message().seq,
        Err(e) => panic!("message {i} refused: {e:?}"),
    };
    // Each chat's new messages take its next seqs in submit order.
    assert_eq!(
        [seq(0), seq(2), seq(3), seq(11)],
        [1, 2, 3, 4].map(|n| before[0] + n)
    );
    assert_eq!([seq(1), seq(12)], [1, 2].map(|n| before[1] + n));
    assert_eq!(seq(4), before[2] + 1);
    assert_eq!([seq(8), seq(9)], [1, 2].map(|n| before[4] + n));
    // The duplicate inside the batch is the stored message.
    assert!(
        matches!(&settled[3], Ok(Appended::New(_))),
        "{:?}",
        settled[3]
    );
    match (&settled[3], &settled[5]) {
        (Ok(first), Ok(Appended::Existing(again))) => assert_eq!(first.message(), again),
        other => panic!("the duplicate: {other:?}"),
    }
    // The same refusals as one message alone.
    let code = |i: usize| settled[i].as_ref().err().map(|e| e.code);
    assert_eq!(code(6), Some(ErrorCode::ConversationClosed));
    assert_eq!(code(7), Some(ErrorCode::NotAllowed));
    assert_eq!(code(10), Some(ErrorCode::NotFound));
    for (i, c) in convs.iter().enumerate() {
        let last = gapless(&stack.pool, *c).await?;
        assert!(last >= before[i]);
    }
    assert_eq!(rows_of(&stack.pool, convs[0], "dup").await?, 1);
    assert_eq!(rows_of(&stack.pool, convs[5], "late").await?, 0);
    assert_eq!(rows_of(&stack.pool, convs[3], "n").await?, 0);
    assert_eq!(rows_of(&stack.pool, other_convs[0], "w").await?, 0);

    // The whole batch sent again (a retry): the same messages, nothing new stored.
    let counters: Vec<i64> = {
        let mut v = Vec::new();
        for c in &convs {
            v.push(stored(&stack.pool, *c).await?.1);
        }
        v
    };
    let resent: Vec<Pending> = batch
        .iter()
        .map(|p| {
            Pending::new(
                p.group,
                p.conversation_id,
                &p.author,
                &p.text,
                &p.client_msg_id,
            )
        })
        .collect::<Result<_, _>>()?;
    let again = transcript::commit(&stack.pool, &resent).await;
    for (i, (o, p)) in again.into_iter().zip(&resent).enumerate() {
        let r = o.settle(&stack.pool, p).await;
        match (&settled[i], r) {
            (Ok(first), Ok(Appended::Existing(m))) => assert_eq!(first.message(), &m, "#{i}"),
            (Err(first), Err(e)) => assert_eq!(first.code, e.code, "#{i}"),
            (first, r) => panic!("#{i}: first {first:?}, resent {r:?}"),
        }
    }
    for (i, c) in convs.iter().enumerate() {
        assert_eq!(stored(&stack.pool, *c).await?.1, counters[i], "nothing new");
    }
    stack.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sends_share_commits() -> anyhow::Result<()> {
    const CHATS: usize = 40;
    const EACH: usize = 10;
    let stack = Stack::start_tuned(Tuning::for_load()).await?;
    let (t, _agent) = seed(&stack, "Group Commit").await?;
    let (convs, mut sockets) = chats(&stack, &t, CHATS + 1).await?;
    let closed = convs[CHATS];
    let ended = sockets[CHATS].ask(json!({"type": "end"})).await?;
    assert_eq!(ended["conversation"]["state"], "ended", "{ended}");
    let tracker = TaskTracker::new();
    let stop = CancellationToken::new();
    let writer = Writer::start(stack.pool.clone(), 2, &tracker, stop.clone());

    // Every chat's shopper sends its messages one after another, as a socket does; two more
    // senders resend one chat's first client id at the same time; one writes to the ended chat.
    let mut tasks = tokio::task::JoinSet::new();
    for (c, conv) in convs.iter().take(CHATS).enumerate() {
        let (w, conv, author, group) = (writer.clone(), *conv, shopper(), t.group);
        tasks.spawn(async move {
            let mut acks = Vec::new();
            for i in 0..EACH {
                let a = w
                    .append(
                        group,
                        conv,
                        &author,
                        &format!("message {i}"),
                        &format!("m{i}"),
                    )
                    .await;
                acks.push(a);
            }
            // The same author resends its first message (a retry), from two tabs at once.
            let (r1, r2) = tokio::join!(
                w.append(group, conv, &author, "message 0", "m0"),
                w.append(group, conv, &author, "message 0", "m0"),
            );
            acks.push(r1);
            acks.push(r2);
            (c, conv, acks)
        });
    }
    let late = {
        let w = writer.clone();
        let group = t.group;
        tokio::spawn(async move { w.append(group, closed, &shopper(), "hello?", "late").await })
    };
    let mut results = BTreeMap::new();
    while let Some(done) = tasks.join_next().await {
        let (c, conv, acks) = done?;
        results.insert(c, (conv, acks));
    }
    let late = late.await?;
    assert_eq!(
        late.as_ref().err().map(|e| e.code),
        Some(ErrorCode::ConversationClosed),
        "{late:?}"
    );

    for (conv, acks) in results.values() {
        let acks: Vec<&Appended> = acks
            .iter()
            .map(|a| a.as_ref().expect("every send is stored"))
            .collect();
        let seqs: Vec<i64> = acks[..EACH].iter().map(|a| a.message().seq).collect();
        let base = seqs[0] - 1;
        assert_eq!(
            seqs,
            (1..=EACH as i64).map(|n| base + n).collect::<Vec<_>>(),
            "one sender's messages take consecutive seqs in its order"
        );
        assert!(acks[..EACH].iter().all(|a| matches!(a, Appended::New(_))));
        // Both resends are the stored first message.
        for resend in &acks[EACH..] {
            assert!(matches!(resend, Appended::Existing(_)), "{resend:?}");
            assert_eq!(resend.message(), acks[0].message());
        }
        assert_eq!(gapless(&stack.pool, *conv).await?, base + EACH as i64);
        let per_id: HashMap<String, i64> = sqlx::query_as(
            "SELECT client_msg_id, count(*) FROM messages WHERE conversation_id = $1 \
             AND author_kind = 'shopper' GROUP BY client_msg_id",
        )
        .bind(conv)
        .fetch_all(&stack.pool)
        .await?
        .into_iter()
        .collect();
        assert_eq!(per_id.len(), EACH);
        assert!(per_id.values().all(|n| *n == 1), "{per_id:?}");
    }
    assert_eq!(rows_of(&stack.pool, closed, "late").await?, 0);

    // The messages really shared commits: fewer statements than messages.
    let stats = writer.stats();
    assert_eq!(stats.messages, (CHATS * (EACH + 2) + 1) as u64, "{stats:?}");
    assert!(stats.largest > 1, "no batch held two messages: {stats:?}");
    assert!(stats.batches < stats.messages, "{stats:?}");

    stop.cancel();
    tracker.close();
    tracker.wait().await;
    // A stopped writer answers, it does not hang.
    let after = writer
        .append(t.group, convs[0], &shopper(), "x", "after")
        .await;
    assert_eq!(after.err().map(|e| e.code), Some(ErrorCode::Unavailable));
    stack.stop().await
}

/// A message to a long chat among many open ones reads only its own rows, by key, as a chat's
/// fourth message does, on a pooled connection whose plan for the statement was made when the
/// install was new: a few chats, tables not yet analysed. Postgres keeps a prepared statement's
/// generic plan until something invalidates it (autovacuum's first `ANALYZE`, a minute or more
/// later; never, here). With the statement before (`state IN …` in `c`), that plan found the
/// batch's chats by reading every open chat (`conversations_one_open`, which matched its state
/// filter): 3 000 open chats, 180 buffers where the fourth message read 49. The resend check
/// reaches the unique index by its whole key in any plan (`=` on the author, or `IS NULL`;
/// `IS NOT DISTINCT FROM` reaches no index).
#[tokio::test]
async fn a_message_in_a_long_chat_among_many_reads_only_its_own_rows() -> anyhow::Result<()> {
    let (_pg, pool) = showroom_testkit::database().await?;
    let t = Tenant::seed(&pool, "plans", 1).await?;
    sqlx::raw_sql(
        "ALTER TABLE conversations SET (autovacuum_enabled = false); \
         ALTER TABLE messages SET (autovacuum_enabled = false); \
         ALTER TABLE transcripts SET (autovacuum_enabled = false)",
    )
    .execute(&pool)
    .await?;
    // `chats` open chats of `messages` shopper messages each; their ids.
    let open = |chats: i32, messages: i32| {
        sqlx::query_scalar::<_, Uuid>(
            "WITH c AS (INSERT INTO conversations (id, group_id, website_id, rooftop_id, \
               department_id, visitor_id, state) \
             SELECT gen_random_uuid(), $1, $2, $3, $4, gen_random_uuid(), 'incoming' \
             FROM generate_series(1, $5) RETURNING id, group_id, visitor_id), \
             t AS (INSERT INTO transcripts (conversation_id, group_id, last_seq) \
               SELECT id, group_id, $6 FROM c), \
             m AS (INSERT INTO messages (id, conversation_id, group_id, seq, author_kind, \
               author_id, body, client_msg_id) \
             SELECT gen_random_uuid(), c.id, c.group_id, i, 'shopper', c.visitor_id, \
               'Is it still there?', 'c' || i FROM c, generate_series(1, $6) AS i) \
             SELECT id FROM c",
        )
        .bind(t.group)
        .bind(t.website)
        .bind(t.rooftop)
        .bind(t.sales)
        .bind(chats)
        .bind(messages)
    };
    // One new message and a resend of the third, from the shopper of `chat`.
    let batch = |chat: Uuid, visitor: Uuid| -> anyhow::Result<String> {
        let author = Author {
            kind: AuthorKind::Shopper,
            id: Some(visitor),
            name: None,
        };
        let ps = [
            Pending::new(t.group, chat, &author, "Can I come at 5?", "new")?,
            Pending::new(t.group, chat, &author, "Is it still there?", "c3")?,
        ];
        // One column of the batch as an array literal of `ty`.
        let array = |ty: &str, f: &dyn Fn(&Pending) -> String| {
            let v: Vec<String> = ps.iter().map(|p| format!("'{}'", f(p))).collect();
            format!("ARRAY[{}]::{ty}[]", v.join(", "))
        };
        Ok(format!(
            "EXECUTE batch({}, {}, {}, {}, {}, ARRAY[NULL, NULL]::text[], {}, {}, \
             ARRAY[NULL, NULL]::uuid[], ARRAY[NULL, NULL]::text[], ARRAY[NULL, NULL]::text[], \
             ARRAY[NULL, NULL]::int8[], ARRAY[NULL, NULL]::text[])",
            array("uuid", &|p| p.conversation_id.to_string()),
            array("uuid", &|p| p.group.to_string()),
            array("uuid", &|p| p.id.to_string()),
            array("text", &|_| "shopper".into()),
            array("uuid", &|_| visitor.to_string()),
            array("text", &|p| p.text.clone()),
            array("text", &|p| p.client_msg_id.clone()),
        ))
    };
    let visitor_of = |chat: Uuid| {
        sqlx::query_scalar::<_, Uuid>("SELECT visitor_id FROM conversations WHERE id = $1")
            .bind(chat)
    };

    // A new install: five chats, never analysed, and the statement's plan made on a connection.
    let morning = open(5, 3).fetch_all(&pool).await?;
    let mut db = pool.acquire().await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SET plan_cache_mode = force_generic_plan; PREPARE batch AS {}",
        transcript::BATCH_SQL
    )))
    .execute(&mut *db)
    .await?;
    let visitor = visitor_of(morning[0]).fetch_one(&mut *db).await?;
    let mut tx = sqlx::Connection::begin(&mut *db).await?;
    let first = explain(&mut tx, &batch(morning[0], visitor)?, |q| q).await?;
    tx.rollback().await?;

    // Later: 3 000 more open chats, and one of 2 000 messages; the same connection.
    open(3000, 2).fetch_all(&pool).await?;
    let long = open(1, 2000).fetch_one(&pool).await?;
    let visitor = visitor_of(long).fetch_one(&mut *db).await?;
    let mut tx = sqlx::Connection::begin(&mut *db).await?;
    let plan = explain(&mut tx, &batch(long, visitor)?, |q| q).await?;
    let stored: Vec<(i64, String)> = sqlx::query_as(
        "SELECT seq, client_msg_id FROM messages WHERE conversation_id = $1 AND seq >= 2000 \
         ORDER BY seq",
    )
    .bind(long)
    .fetch_all(&mut *tx)
    .await?;
    tx.rollback().await?;
    assert_eq!(
        stored,
        [(2000, "c2000".to_string()), (2001, "new".to_string())],
        "the new message got the next seq and the resend stored nothing"
    );
    assert!(
        plan.buffers < first.buffers + 100,
        "the 2 001st message read {} buffers, where a chat's fourth read {} (indexes {:?}, read \
         whole {:?}): {:#}",
        plan.buffers,
        first.buffers,
        plan.indexes,
        plan.read_whole,
        plan.plan
    );
    Ok(())
}
