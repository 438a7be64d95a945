//! `showroom-natsauth`'s credentials against a real nats-server 2.9 in operator mode, on their
//! own (no services): anonymous connections are refused, each user keeps to its permissions, and
//! a revocation published at run time closes the revoked user's connection and keeps it out.

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::ConnectOptions;
use futures::StreamExt;
use showroom_localinfra::Nats;
use showroom_natsauth::{Trust, creds, jwt};
use showroom_proto::access;
use showroom_testkit::watch::{
    closed_within, connect_watched as connect, next_violation as violation,
};

struct Server {
    nats: Nats,
    trust: Trust,
    _dir: tempfile::TempDir,
}

async fn server() -> anyhow::Result<Server> {
    let trust = Trust::generate();
    let dir = tempfile::tempdir()?;
    let config = trust.server_config(&dir.path().join("accounts"))?;
    let nats = Nats::start_with(None, Some(&config)).await?;
    Ok(Server {
        nats,
        trust,
        _dir: dir,
    })
}

#[tokio::test]
async fn anonymous_is_refused_and_services_keep_to_their_permissions() -> anyhow::Result<()> {
    let s = server().await?;
    let url = &s.nats.url;
    let anonymous = ConnectOptions::new().connect(url).await;
    assert!(anonymous.is_err(), "an anonymous connection was accepted");

    let group = uuid::Uuid::new_v4();
    // notification may not send the router's commands.
    let (n, mut n_events) = connect(
        url,
        &s.trust.service_creds("notification")?,
        "_INBOX_notification",
    )
    .await?;
    let accept = showroom_proto::v1::conversation_command(
        group,
        showroom_proto::conversation::ConversationCommand::Accept,
    );
    n.publish(accept.clone(), "{}".into()).await?;
    n.flush().await?;
    let v = violation(&mut n_events).await;
    assert!(v.as_deref().is_some_and(|m| m.contains(&accept)), "{v:?}");
    // What it does send is fine.
    n.publish(showroom_proto::v1::notification_desktop(group), "{}".into())
        .await?;
    n.flush().await?;
    assert_eq!(violation(&mut n_events).await, None);

    // The router answers the gateway's requests with a publish right on the gateway's inbox
    // (no user has NATS's response permission: `showroom_proto::access`), and cannot write
    // into the inbox of a user that never asks it anything.
    let (r, mut r_events) =
        connect(url, &s.trust.service_creds("router")?, "_INBOX_router").await?;
    let (gw, _) = connect(url, &s.trust.service_creds("gateway")?, "_INBOX_gateway").await?;
    let mut served = r.subscribe(accept.clone()).await?;
    r.flush().await?;
    let answering = tokio::spawn(async move {
        let m = served.next().await?;
        r.publish(m.reply?, "taken".into()).await.ok()?;
        r.flush().await.ok()?;
        Some(r)
    });
    // async-nats's flush does not wait for the server, so the router's subscription may land a
    // moment after: "no responders" until it has.
    let mut tries = 0;
    let reply = loop {
        let asked = tokio::time::timeout(
            Duration::from_secs(5),
            gw.request(accept.clone(), "{}".into()),
        )
        .await?;
        match asked {
            Err(e)
                if e.kind() == async_nats::client::RequestErrorKind::NoResponders && tries < 50 =>
            {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => break other?,
        }
    };
    assert_eq!(&reply.payload[..], b"taken");
    let r = answering.await?.expect("the router answered");
    assert_eq!(violation(&mut r_events).await, None);
    r.publish("_INBOX_crm-export.x", "{}".into()).await?;
    r.flush().await?;
    let v = violation(&mut r_events).await;
    assert!(
        v.as_deref()
            .is_some_and(|m| m.contains("_INBOX_crm-export")),
        "{v:?}"
    );

    // lead-capture may not read the messages.
    let (l, mut l_events) = connect(
        url,
        &s.trust.service_creds("lead-capture")?,
        "_INBOX_lead-capture",
    )
    .await?;
    let _sub = l
        .subscribe(showroom_proto::v1::message_created(group))
        .await?;
    l.flush().await?;
    let v = violation(&mut l_events).await;
    assert!(
        v.as_deref().is_some_and(|m| m.contains("message.created")),
        "{v:?}"
    );

    // A service's own stream works through JetStream, its inbox and its permissions.
    let (p, mut p_events) =
        connect(url, &s.trust.service_creds("presence")?, "_INBOX_presence").await?;
    let js = async_nats::jetstream::new(p.clone());
    let spec = showroom_proto::v1::presence_stream();
    js.create_stream(async_nats::jetstream::stream::Config {
        name: spec.name.into(),
        subjects: spec.subjects.clone(),
        ..Default::default()
    })
    .await?;
    js.publish(showroom_proto::v1::presence_changed(group), "{}".into())
        .await?
        .await?;
    // Another service's stream is not its to change.
    let other = js
        .create_stream(async_nats::jetstream::stream::Config {
            name: "LEADS".into(),
            subjects: vec!["x.y".into()],
            ..Default::default()
        })
        .await;
    assert!(other.is_err(), "presence created LEADS");
    assert!(violation(&mut p_events).await.is_some());

    // A user the operator never signed for this account is refused.
    let stranger = Trust::generate().service_creds("presence")?;
    assert!(connect(url, &stranger, "_INBOX_presence").await.is_err());
    Ok(())
}

#[tokio::test]
async fn a_revoked_integrator_is_disconnected_and_kept_out() -> anyhow::Result<()> {
    let s = server().await?;
    let url = &s.nats.url;
    let group = uuid::Uuid::new_v4();
    let credential = uuid::Uuid::new_v4();
    let issuer = s.trust.issuer()?;
    let issued = issuer.integrator_creds(group, credential, "Acme CRM")?;
    let inbox = access::integrator(group, credential).inbox;
    let (integrator, mut events) = connect(url, &issued.creds, &inbox).await?;
    let mut leads = integrator
        .subscribe(showroom_proto::v1::lead_created(group))
        .await?;
    // Held by the server once a request sent after it is answered (the integrator may ask
    // only about its own consumer, which JetStream answers with "not found").
    integrator
        .request(
            format!(
                "$JS.API.CONSUMER.INFO.LEADS.{}",
                access::integrator_durable(credential)
            ),
            "".into(),
        )
        .await?;

    let (ops, _) = connect(url, &s.trust.operator_user_creds()?, "_INBOX").await?;
    ops.publish(showroom_proto::v1::lead_created(group), "lead-1".into())
        .await?;
    ops.flush().await?;
    let got = tokio::time::timeout(Duration::from_secs(3), leads.next()).await?;
    assert_eq!(got.map(|m| m.payload), Some("lead-1".into()));

    // crm-export's way: look the account up, add the revocation, publish it signed.
    let (sys, _) = connect(url, &s.trust.system_user_creds()?, "_INBOX").await?;
    let current = sys
        .request(
            format!("$SYS.REQ.ACCOUNT.{}.CLAIMS.LOOKUP", s.trust.app_account()),
            "".into(),
        )
        .await?;
    let current = String::from_utf8(current.payload.to_vec())?;
    let (jwt_text, _) = creds::parse(&issued.creds)?;
    let user = jwt::decode::<jwt::User>(&jwt_text)?.sub;
    assert_eq!(user, issued.user);
    let revoked = BTreeMap::from([(user, showroom_natsauth::trust::now() + 1)]);
    let updated = issuer
        .with_revocations(&current, &revoked)?
        .expect("a new revocation");
    assert_eq!(
        issuer.with_revocations(&updated, &revoked)?,
        None,
        "nothing new to publish"
    );
    let answer = sys
        .request("$SYS.REQ.CLAIMS.UPDATE", updated.into())
        .await?;
    let answer: serde_json::Value = serde_json::from_slice(&answer.payload)?;
    assert_eq!(answer["data"]["code"], 200, "{answer}");

    // The live connection is closed...
    assert!(
        closed_within(&mut events, Duration::from_secs(5)).await,
        "the revoked integrator stayed connected"
    );
    // ...and it cannot come back.
    assert!(connect(url, &issued.creds, &inbox).await.is_err());
    Ok(())
}
