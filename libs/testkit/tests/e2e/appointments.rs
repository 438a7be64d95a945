//! Appointments (issue 20, item 1) through the real services: slots follow the department's
//! hours and holidays in the rooftop's time zone; the chat's agent books in the console and the
//! shopper in the widget (their own chat only); of N simultaneous bookings of a slot's last seat
//! exactly one wins, the others get 409 `slot_full`; a full slot refuses a reschedule and keeps
//! the appointment where it was; cancel frees the seat. The shopper's confirmation e-mail
//! carries an .ics parsed back here (UID, DTSTART, SEQUENCE, METHOD); a lead made after the
//! booking carries it (and its ADF e-mail, valid against the DTD with xmllint), a lead that
//! exists gets a `lead.updated` when it moves. Another dealer group gets 404.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Datelike, Days, NaiveDate, TimeZone, Utc, Weekday};
use futures::StreamExt;
use icalendar::{Calendar, CalendarComponent, Component};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use showroom_testkit::eventually;
use showroom_testkit::{Http, PASSWORD, Stack, Tenant, accepted_chat};
use uuid::Uuid;

use crate::crm::{Crm, xmllint};

const TZ: chrono_tz::Tz = chrono_tz::America::Chicago;

/// The Monday at least two days ahead in the rooftop's zone.
fn next_monday() -> NaiveDate {
    let mut d = Utc::now().with_timezone(&TZ).date_naive() + Days::new(2);
    while d.weekday() != Weekday::Mon {
        d = d + Days::new(1);
    }
    d
}

/// A local time of `day` in the rooftop's zone, in UTC.
fn at(day: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
    TZ.from_local_datetime(&day.and_hms_opt(h, m, 0).unwrap_or_default())
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A widget's call with its visitor token and its page's origin.
async fn widget(
    stack: &Stack,
    t: &Tenant,
    method: Method,
    path: &str,
    visitor: &str,
    body: Option<Value>,
) -> anyhow::Result<(StatusCode, Value)> {
    let url = format!("{}/api/v1/widget/{}{path}", stack.base_url, t.key);
    let mut req = reqwest::Client::new()
        .request(method, url)
        .header("origin", &t.origin)
        .header("x-visitor-token", visitor);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await?;
    let status = resp.status();
    let text = resp.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

async fn logged_in(stack: &Stack, email: &str) -> anyhow::Result<Http> {
    let http = Http::new(&stack.base_url);
    Ok(http.with_token(&http.login(email, PASSWORD).await?))
}

/// Hours Monday to Friday 09:00 to 12:00 with the Tuesday after `monday` a holiday, and
/// 60-minute slots of `capacity` seats.
async fn set_up_department(
    manager: &Http,
    t: &Tenant,
    monday: NaiveDate,
    capacity: i64,
) -> anyhow::Result<()> {
    let intervals: Vec<Value> = (1..=5)
        .map(|d| json!({"weekday": d, "opens": "09:00", "closes": "12:00"}))
        .collect();
    let holiday = monday + Days::new(1);
    let (st, r) = manager
        .put(
            &format!("/api/v1/departments/{}/routing", t.sales),
            &json!({"hours": {"intervals": intervals, "closures": [{"date": holiday, "label": "Holiday"}]}})
                .to_string(),
        )
        .await?;
    anyhow::ensure!(st == StatusCode::OK, "{r}");
    let (st, r) = manager
        .put(
            &format!("/api/v1/departments/{}/appointment-settings", t.sales),
            &json!({"kinds": ["test_drive", "sales_visit"], "slot_minutes": 60, "capacity": capacity})
                .to_string(),
        )
        .await?;
    anyhow::ensure!(st == StatusCode::OK, "{r}");
    Ok(())
}

fn starts(slots: &Value) -> Vec<String> {
    slots["slots"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| s["starts_at"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn remaining(slots: &Value, start: DateTime<Utc>) -> Option<i64> {
    slots["slots"].as_array()?.iter().find_map(|s| {
        let t: DateTime<Utc> = s["starts_at"].as_str()?.parse().ok()?;
        (t == start).then(|| s["remaining"].as_i64())?
    })
}

/// The `.ics` attached to the e-mail to `to` with SEQUENCE `sequence`, parsed.
async fn ics_to(stack: &Stack, to: &str, sequence: u32) -> anyhow::Result<(Value, Calendar)> {
    eventually(
        Duration::from_secs(15),
        "the appointment e-mail",
        || async {
            for m in stack.smtp.messages().await? {
                if m["to"][0]["address"] != to {
                    continue;
                }
                let id = m["id"].as_str().unwrap_or_default();
                let Some(file) = m["attachments"].as_array().and_then(|a| {
                    a.iter().find(|f| {
                        f["contentType"]
                            .as_str()
                            .is_some_and(|c| c.starts_with("text/calendar"))
                    })
                }) else {
                    continue;
                };
                let name = file["generatedFileName"].as_str().unwrap_or_default();
                let url = format!("{}/email/{id}/attachment/{name}", stack.smtp.web_url);
                let text = reqwest::get(&url).await?.text().await?;
                let cal: Calendar = text.parse().map_err(|e| anyhow::anyhow!("{e}: {text}"))?;
                let seq = cal.events().next().and_then(|e| e.get_sequence());
                if seq == Some(sequence) {
                    return Ok(Some((m, cal)));
                }
            }
            Ok(None)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slots_booking_cancel_reschedule_mail_lead_and_adf() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Appt", 1).await?;
    let other = Tenant::seed(&stack.pool, "ApptOther", 1).await?;
    let (_, manager_email) = t.add_agent(&stack.pool, "gm", "manager", &[]).await?;
    let manager = logged_in(&stack, &manager_email).await?;
    let agent = logged_in(&stack, &t.agents[0].1).await?;
    let outsider = logged_in(&stack, &other.agents[0].1).await?;

    // A chat taken by the agent, with the contact the Lead Gate would have collected (Spanish).
    let mut console = stack.agent(&t.agents[0].1, "available").await?;
    let (mut shopper, welcome) = stack.shopper(&t, None, 0).await?;
    let visitor = welcome["visitor_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let conv = accepted_chat(&mut shopper, &mut console, t.sales).await?;
    showroom_store::sqlx::query(
        "UPDATE conversations SET contact = $2, language = 'es' WHERE id = $1",
    )
    .bind(Uuid::parse_str(&conv)?)
    .bind(json!({"first_name": "Ana", "last_name": "Ruiz", "email": "ana@appt.example"}))
    .execute(&stack.pool)
    .await?;
    // The CRM takes ADF e-mails.
    let crm = Crm::new(&stack, t.group).await?;
    crm.put_destination(
        Uuid::now_v7(),
        json!({"rooftop_id": t.rooftop, "name": "ADF", "target": {"kind": "adf_email", "to": "adf@crm-appt.example"}}),
    )
    .await?;
    let nats = stack.nats_client().await?;
    let mut leads =
        showroom_testkit::watch::subscribed(&nats, format!("showroom.v1.{}.lead.updated", t.group))
            .await?;

    let monday = next_monday();
    set_up_department(&manager, &t, monday, 1).await?;

    // Slots: Monday 09, 10, 11 in Chicago's time; the Tuesday holiday and the weekend none.
    let slots_url = |from: NaiveDate, to: NaiveDate| {
        format!(
            "/api/v1/departments/{}/appointment-slots?from={from}&to={to}",
            t.sales
        )
    };
    let (st, slots) = agent.get(&slots_url(monday, monday + Days::new(1))).await?;
    assert_eq!(st, StatusCode::OK, "{slots}");
    assert_eq!(slots["time_zone"], "America/Chicago");
    assert_eq!(
        starts(&slots),
        [at(monday, 9, 0), at(monday, 10, 0), at(monday, 11, 0)]
            .map(iso)
            .to_vec(),
        "{slots}"
    );
    let saturday = monday - Days::new(2);
    let (_, weekend) = agent
        .get(&slots_url(saturday, saturday + Days::new(1)))
        .await?;
    assert!(starts(&weekend).is_empty(), "{weekend}");
    let (st, too_long) = agent
        .get(&slots_url(monday, monday + Days::new(40)))
        .await?;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{too_long}");

    // Refused: off the grid, a holiday, the past, a kind not offered.
    let book_url = format!("/api/v1/conversations/{conv}/appointments");
    let book = |kind: &str, start: DateTime<Utc>| {
        json!({"kind": kind, "starts_at": iso(start)}).to_string()
    };
    for (start, code) in [
        (at(monday, 9, 30), "not_a_slot"),
        (at(monday + Days::new(1), 10, 0), "not_a_slot"),
        (at(monday, 13, 0), "not_a_slot"),
        (Utc::now() - chrono::Duration::hours(1), "slot_in_past"),
    ] {
        let (st, e) = agent.post(&book_url, &book("test_drive", start)).await?;
        assert_eq!(e["error"]["code"], code, "{start}: {e}");
        assert!(
            st == StatusCode::BAD_REQUEST || st == StatusCode::CONFLICT,
            "{e}"
        );
    }
    let (st, e) = agent
        .post(&book_url, &book("service", at(monday, 10, 0)))
        .await?;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("kind_not_offered")),
        "{e}"
    );

    // The agent books a test drive at 10:00: the slot is full then.
    let (st, appt) = agent
        .post(
            &book_url,
            &json!({"kind": "test_drive", "starts_at": iso(at(monday, 10, 0)), "note": "2024 Pilot"}).to_string(),
        )
        .await?;
    assert_eq!(st, StatusCode::CREATED, "{appt}");
    assert_eq!(appt["email"], "ana@appt.example");
    assert_eq!(appt["name"], "Ana Ruiz");
    assert_eq!(appt["booked_by"], "agent");
    assert_eq!(appt["sequence"], 0);
    let id = appt["id"].as_str().unwrap_or_default().to_string();
    let (_, slots) = agent.get(&slots_url(monday, monday)).await?;
    assert_eq!(remaining(&slots, at(monday, 10, 0)), Some(0), "{slots}");
    let (st, full) = manager
        .post(&book_url, &book("test_drive", at(monday, 10, 0)))
        .await?;
    assert_eq!(
        (st, full["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("slot_full")),
        "{full}"
    );

    // The confirmation, in Spanish, with its calendar entry.
    let (mail, cal) = ics_to(&stack, "ana@appt.example", 0).await?;
    assert!(
        mail["subject"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Su cita en"),
        "{mail}"
    );
    assert_eq!(cal.property_value("METHOD"), Some("REQUEST"));
    let ev = cal.events().next().context("an event")?;
    assert_eq!(ev.get_uid(), Some(format!("{id}@showroom").as_str()));
    let start = match ev.get_start() {
        Some(icalendar::DatePerhapsTime::DateTime(icalendar::CalendarDateTime::Utc(t))) => t,
        other => anyhow::bail!("DTSTART in UTC expected: {other:?}"),
    };
    assert_eq!(start, at(monday, 10, 0));
    assert!(matches!(
        cal.components.first(),
        Some(CalendarComponent::Event(_))
    ));

    // A lead made after the booking carries it, and so does its ADF e-mail (the CRM gets a
    // lead when it is made), valid against the DTD.
    let (st, lead) = agent
        .post(&format!("/api/v1/conversations/{conv}/leads"), "{}")
        .await?;
    assert_eq!(st, StatusCode::CREATED, "{lead}");
    assert_eq!(lead["appointments"][0]["id"], id.as_str(), "{lead}");
    assert_eq!(lead["appointments"][0]["kind"], "test_drive");
    let xml = eventually(
        Duration::from_secs(20),
        "the ADF with the appointment",
        || async {
            Ok(stack
                .smtp
                .messages()
                .await?
                .into_iter()
                .filter(|m| m["to"][0]["address"] == "adf@crm-appt.example")
                .filter_map(|m| m["text"].as_str().map(str::to_string))
                .find(|x| x.contains("<timeframe>")))
        },
    )
    .await?;
    xmllint(&xml, &["--noout"]).await?;
    let earliest = xmllint(
        &xml,
        &["--xpath", "string(//customer/timeframe/earliestdate)"],
    )
    .await?;
    assert_eq!(
        earliest,
        at(monday, 10, 0)
            .with_timezone(&TZ)
            .format("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
    );
    let interest = xmllint(&xml, &["--xpath", "string(//vehicle/@interest)"]).await?;
    assert_eq!(interest, "test-drive");

    // Reschedule: to 11:00 (free) raises the SEQUENCE; 10:00 is free again.
    let (st, moved) = agent
        .post(
            &format!("/api/v1/appointments/{id}/reschedule"),
            &json!({"starts_at": iso(at(monday, 11, 0))}).to_string(),
        )
        .await?;
    assert_eq!(st, StatusCode::OK, "{moved}");
    assert_eq!(moved["sequence"], 1);
    let (_, slots) = agent.get(&slots_url(monday, monday)).await?;
    assert_eq!(remaining(&slots, at(monday, 10, 0)), Some(1), "{slots}");
    assert_eq!(remaining(&slots, at(monday, 11, 0)), Some(0), "{slots}");
    let (_, cal) = ics_to(&stack, "ana@appt.example", 1).await?;
    assert_eq!(cal.property_value("METHOD"), Some("REQUEST"));
    // The lead that exists now is told: lead.updated with the appointment where it is now.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let ev = loop {
        let m = tokio::time::timeout_at(deadline, leads.next())
            .await
            .context("no lead.updated with the appointment")?
            .context("subscription ended")?;
        let ev: Value = serde_json::from_slice(&m.payload)?;
        if ev["data"]["appointments"][0]["id"] == id.as_str() {
            break ev;
        }
    };
    assert_eq!(ev["data"]["id"], lead["id"], "{ev}");
    assert_eq!(ev["data"]["appointments"][0]["state"], "booked");
    let moved_to: Option<DateTime<Utc>> = ev["data"]["appointments"][0]["starts_at"]
        .as_str()
        .and_then(|s| s.parse().ok());
    assert_eq!(moved_to, Some(at(monday, 11, 0)), "{ev}");

    // The shopper books 09:00 in the widget, for their own chat; another visitor's token
    // does not reach this chat.
    let (st, wslots) = widget(
        &stack,
        &t,
        Method::GET,
        &format!("/conversations/{conv}/appointment-slots?from={monday}&to={monday}"),
        &visitor,
        None,
    )
    .await?;
    assert_eq!(st, StatusCode::OK, "{wslots}");
    assert_eq!(remaining(&wslots, at(monday, 9, 0)), Some(1), "{wslots}");
    let (_, stranger) = stack.shopper(&t, None, 0).await?;
    let stranger = stranger["visitor_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (st, e) = widget(
        &stack,
        &t,
        Method::POST,
        &format!("/conversations/{conv}/appointments"),
        &stranger,
        Some(json!({"kind": "sales_visit", "starts_at": iso(at(monday, 9, 0))})),
    )
    .await?;
    assert_eq!(st, StatusCode::NOT_FOUND, "{e}");
    let (st, mine) = widget(
        &stack,
        &t,
        Method::POST,
        &format!("/conversations/{conv}/appointments"),
        &visitor,
        Some(json!({"kind": "sales_visit", "starts_at": iso(at(monday, 9, 0))})),
    )
    .await?;
    assert_eq!(st, StatusCode::CREATED, "{mine}");
    assert_eq!(mine["booked_by"], "shopper");

    // A full slot refuses a reschedule, and the appointment stays where it was.
    let (st, e) = agent
        .post(
            &format!("/api/v1/appointments/{id}/reschedule"),
            &json!({"starts_at": iso(at(monday, 9, 0))}).to_string(),
        )
        .await?;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("slot_full")),
        "{e}"
    );
    let (_, list) = agent
        .get(&format!("/api/v1/conversations/{conv}/appointments"))
        .await?;
    let kept = list["appointments"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["id"] == id.as_str()))
        .context("the appointment")?;
    assert_eq!(
        kept["starts_at"]
            .as_str()
            .map(|s| s.parse::<DateTime<Utc>>().ok()),
        Some(Some(at(monday, 11, 0)))
    );

    // The rooftop's list, for the group only.
    let list_url = format!(
        "/api/v1/appointments?rooftop_id={}&from={}&to={}",
        t.rooftop,
        iso(at(monday, 0, 0)),
        iso(at(monday + Days::new(1), 0, 0))
    );
    let (st, list) = manager.get(&list_url).await?;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert_eq!(
        list["appointments"].as_array().map(Vec::len),
        Some(2),
        "{list}"
    );
    assert_eq!(list["appointments"][0]["kind"], "sales_visit");
    let (st, _) = outsider.get(&list_url).await?;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // A rooftop manager of another rooftop of the group: 404 for this one's list, and their
    // own rooftop's list answers.
    let elsewhere = showroom_rest::directory::setup::rooftop(
        &stack.pool,
        t.group,
        "Appt Toyota",
        "America/Denver",
    )
    .await?;
    let (rm_id, rm_email) = t
        .add_agent(&stack.pool, "rita", "rooftop_manager", &[])
        .await?;
    showroom_store::sqlx::query(
        "INSERT INTO agent_rooftops (agent_id, rooftop_id, group_id) VALUES ($1, $2, $3)",
    )
    .bind(rm_id)
    .bind(elsewhere)
    .bind(t.group)
    .execute(&stack.pool)
    .await?;
    let rm = logged_in(&stack, &rm_email).await?;
    let (st, _) = rm.get(&list_url).await?;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = rm
        .post(&format!("/api/v1/appointments/{id}/cancel"), "{}")
        .await?;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, theirs) = rm
        .get(&format!("/api/v1/appointments?rooftop_id={elsewhere}"))
        .await?;
    assert_eq!(st, StatusCode::OK, "{theirs}");
    let (st, _) = outsider
        .post(&format!("/api/v1/appointments/{id}/cancel"), "{}")
        .await?;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = outsider
        .post(&book_url, &book("test_drive", at(monday, 10, 0)))
        .await?;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = outsider.get(&slots_url(monday, monday)).await?;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // Every call is in the OpenAPI document.
    let (_, doc) = Http::new(&stack.base_url).get("/api/openapi.json").await?;
    for path in [
        "/api/v1/departments/{id}/appointment-settings",
        "/api/v1/departments/{id}/appointment-slots",
        "/api/v1/conversations/{id}/appointments",
        "/api/v1/appointments",
        "/api/v1/appointments/{id}/cancel",
        "/api/v1/appointments/{id}/reschedule",
        "/api/v1/widget/{key}/conversations/{id}/appointment-slots",
        "/api/v1/widget/{key}/conversations/{id}/appointments",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }

    // Cancel: the seat is free, the shopper gets METHOD:CANCEL, a repeat changes nothing.
    let (st, gone) = agent
        .post(&format!("/api/v1/appointments/{id}/cancel"), "{}")
        .await?;
    assert_eq!(st, StatusCode::OK, "{gone}");
    assert_eq!(
        (gone["state"].as_str(), gone["sequence"].as_i64()),
        (Some("cancelled"), Some(2))
    );
    let (_, again) = agent
        .post(&format!("/api/v1/appointments/{id}/cancel"), "{}")
        .await?;
    assert_eq!(again["sequence"], 2, "{again}");
    let (_, slots) = agent.get(&slots_url(monday, monday)).await?;
    assert_eq!(remaining(&slots, at(monday, 11, 0)), Some(1), "{slots}");
    let (_, cal) = ics_to(&stack, "ana@appt.example", 2).await?;
    assert_eq!(cal.property_value("METHOD"), Some("CANCEL"));
    let (st, e) = agent
        .post(
            &format!("/api/v1/appointments/{id}/reschedule"),
            &json!({"starts_at": iso(at(monday, 10, 0))}).to_string(),
        )
        .await?;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("appointment_cancelled")),
        "{e}"
    );

    // The shopper's erasure takes their appointments, and the booked one's seat is free.
    let (st, erased) = manager
        .post(
            "/api/v1/privacy/erasures",
            &json!({"email": "ana@appt.example"}).to_string(),
        )
        .await?;
    assert_eq!(st, StatusCode::OK, "{erased}");
    assert_eq!(erased["counts"]["appointments"], 2, "{erased}");
    let (_, slots) = agent.get(&slots_url(monday, monday)).await?;
    assert_eq!(remaining(&slots, at(monday, 9, 0)), Some(1), "{slots}");
    drop(nats);
    stack.stop().await
}

/// N bookings of a slot's last seat at once, from the console and the widget: exactly one
/// wins; the others are 409 `slot_full`, and the slot holds its capacity.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_last_seat_goes_to_exactly_one_of_many() -> anyhow::Result<()> {
    const N: usize = 12;
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "ApptRace", 1).await?;
    let (_, manager_email) = t.add_agent(&stack.pool, "gm", "manager", &[]).await?;
    let manager = logged_in(&stack, &manager_email).await?;
    let mut console = stack.agent(&t.agents[0].1, "available").await?;
    let (mut shopper, welcome) = stack.shopper(&t, None, 0).await?;
    let visitor = welcome["visitor_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let conv = accepted_chat(&mut shopper, &mut console, t.sales).await?;
    let monday = next_monday();
    set_up_department(&manager, &t, monday, 2).await?;
    let start = at(monday, 10, 0);
    let body = json!({"kind": "test_drive", "starts_at": iso(start)});
    // One seat of two taken: one is left.
    let (st, first) = manager
        .post(
            &format!("/api/v1/conversations/{conv}/appointments"),
            &body.to_string(),
        )
        .await?;
    assert_eq!(st, StatusCode::CREATED, "{first}");

    let tries = (0..N).map(|i| {
        let (stack, t, manager, visitor, conv, body) = (
            &stack,
            &t,
            manager.clone(),
            visitor.clone(),
            conv.clone(),
            body.clone(),
        );
        async move {
            if i % 2 == 0 {
                manager
                    .post(
                        &format!("/api/v1/conversations/{conv}/appointments"),
                        &body.to_string(),
                    )
                    .await
            } else {
                widget(
                    stack,
                    t,
                    Method::POST,
                    &format!("/conversations/{conv}/appointments"),
                    &visitor,
                    Some(body),
                )
                .await
            }
        }
    });
    let answers = futures::future::join_all(tries).await;
    let mut won = 0;
    for a in answers {
        let (st, v) = a?;
        match st {
            StatusCode::CREATED => won += 1,
            StatusCode::CONFLICT => assert_eq!(v["error"]["code"], "slot_full", "{v}"),
            other => anyhow::bail!("unexpected {other}: {v}"),
        }
    }
    assert_eq!(won, 1, "exactly one of {N} bookings of the last seat wins");
    let booked: i64 = showroom_store::sqlx::query_scalar(
        "SELECT count(*) FROM appointments WHERE department_id = $1 AND starts_at = $2 AND state = 'booked'",
    )
    .bind(t.sales)
    .bind(start)
    .fetch_one(&stack.pool)
    .await?;
    assert_eq!(booked, 2, "the slot's capacity");
    // Past the leads period (730 days by default) the sweep removes them, then the counter.
    let later = Utc::now() + chrono::Duration::days(900);
    let swept = showroom_runtime::retention::run(
        &stack.pool,
        showroom_gateway::retention::SWEEPS,
        later,
        500,
    )
    .await?;
    let count = |t: &str| swept.get(t).copied().unwrap_or(0);
    assert_eq!(
        (count("appointments"), count("appointment_slots")),
        (2, 1),
        "{swept:?}"
    );
    stack.stop().await
}
