//! Schema fuzzing: schemathesis (`deploy/install.sh` puts it in `deploy/.venv-schemathesis`)
//! sends generated requests, valid and invalid, to every operation of the running stack's
//! `/api/openapi.json`, as an admin of a dealer group of its own, and checks each answer
//! against the document: no 5xx, only documented status codes and content types, and bodies
//! that match their documented schemas. A fixed seed and a bounded number of examples per
//! operation make the run repeatable and keep it well under three minutes.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use showroom_testkit::{Http, PASSWORD, Socket, Stack, Tenant};

/// The seed: the same requests every run (a failure is reproduced by running the test again).
const SEED: &str = "16";

/// Test cases per operation and phase (about 70 operations).
const MAX_EXAMPLES: &str = "20";

/// The whole run is ended after this long (it takes well under it).
const RUN_WITHIN: Duration = Duration::from_secs(240);

/// The `st` program: `SHOWROOM_SCHEMATHESIS`, else the one `deploy/install.sh` installs.
fn schemathesis() -> PathBuf {
    std::env::var_os("SHOWROOM_SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/.venv-schemathesis/bin/st")
        })
}

/// schemathesis's configuration: for the path parameters that name a thing, the group's real
/// ones half of the time (random ids only ever reach a 404), each as a dictionary bound to the
/// operations under its path.
fn config(things: &[(&str, &str, Vec<String>)]) -> String {
    let mut dictionaries = String::from("[dictionaries]\n");
    let mut operations = String::new();
    for (name, path, values) in things {
        let values = values
            .iter()
            .map(|v| format!("{v:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        dictionaries.push_str(&format!("{name} = {{ values = [{values}] }}\n"));
        let param = path
            .rsplit('{')
            .next()
            .unwrap_or("id")
            .trim_end_matches('}');
        operations.push_str(&format!(
            "\n[[operations]]\ninclude-path-regex = '^{}(/|$)'\n\
             parameters = {{ \"path.{param}\" = {{ dictionary = \"{name}\", probability = 0.5 }} }}\n",
            path.replace('{', r"\{").replace('}', r"\}")
        ));
    }
    format!("{dictionaries}{operations}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_operation_answers_as_the_openapi_document_says_to_fuzzed_requests()
-> anyhow::Result<()> {
    let st = schemathesis();
    anyhow::ensure!(
        st.exists(),
        "{} is missing: run deploy/install.sh",
        st.display()
    );
    let stack = Stack::start().await?;
    let t = Tenant::seed(&stack.pool, "Fuzz", 1).await?;
    // An admin: every operation is reachable past its role guard.
    t.set_role(&stack.pool, t.agents[0].0, "admin").await?;
    let token = Http::new(&stack.base_url)
        .login(&t.agents[0].1, PASSWORD)
        .await?;
    // A canned response of the group and one of the admin's own, which it changes and deletes.
    let admin = Http::new(&stack.base_url).with_token(&token);
    let mut canned = Vec::new();
    for path in ["/api/v1/canned-responses", "/api/v1/me/canned-responses"] {
        let body = json!({"shortcut": "hours", "title": "Hours",
            "text_en": "We open at 9, {shopper.first_name}."});
        let (st, made) = admin.post(path, &body.to_string()).await?;
        anyhow::ensure!(st == 201, "{path}: {st} {made}");
        canned.push(made["id"].as_str().unwrap_or_default().to_string());
    }
    // A colleague, online, whom the fuzzer edits, deactivates and hands chats to (never the
    // admin whose session it runs with), and a chat offered to them.
    let (colleague, colleague_email) = t
        .add_agent(&stack.pool, "colleague", "agent", &[t.sales, t.service])
        .await?;
    let _console = stack.agent(&colleague_email, "available").await?;
    let mut widget = Socket::widget(&stack.ws_url(""), &t.key, &t.origin).await?;
    widget.ask(json!({"type": "hello", "v": 1})).await?;
    let started = widget
        .ask(json!({"type": "start", "department_id": t.sales}))
        .await?;
    let conversation = started["conversation"]["id"]
        .as_str()
        .with_context(|| format!("no conversation in {started}"))?
        .to_string();

    // Its configuration, reports and example database go to a directory of its own.
    let work = tempfile::Builder::new()
        .prefix("showroom-fuzz-")
        .tempdir()?;
    let config_file = work.path().join("schemathesis.toml");
    std::fs::write(
        &config_file,
        config(&[
            (
                "website",
                "/api/v1/websites/{id}",
                vec![t.website.to_string()],
            ),
            (
                "department",
                "/api/v1/departments/{id}",
                vec![t.sales.to_string(), t.service.to_string()],
            ),
            (
                "rooftop",
                "/api/v1/rooftops/{id}",
                vec![t.rooftop.to_string()],
            ),
            ("agent", "/api/v1/agents/{id}", vec![colleague.to_string()]),
            (
                "conversation",
                "/api/v1/conversations/{id}",
                vec![conversation],
            ),
            ("key", "/api/v1/widget/{key}", vec![t.key.clone()]),
            (
                "canned",
                "/api/v1/canned-responses/{id}",
                vec![canned[0].clone()],
            ),
            (
                "my_canned",
                "/api/v1/me/canned-responses/{id}",
                vec![canned[1].clone()],
            ),
        ]),
    )?;
    let started = Instant::now();
    let child = tokio::process::Command::new(&st)
        .current_dir(work.path())
        .env("NO_COLOR", "1")
        .arg("--config-file")
        .arg(&config_file)
        .args([
            "run",
            &format!("{}/api/openapi.json", stack.base_url),
            "--seed",
            SEED,
            "--max-examples",
            MAX_EXAMPLES,
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_schema_conformance",
            "--header",
            &format!("Authorization: Bearer {token}"),
            // The widget's routes refuse another origin before anything else.
            "--header",
            &format!("Origin: {}", t.origin),
            // Logging out would end the session every other request runs with. The password
            // change needs the current password, and the agent routes get the colleague's id
            // or random ones, never the admin's: neither can end it.
            "--exclude-path",
            "/api/v1/auth/logout",
            "--generation-database",
            "none",
            "--no-color",
            "--request-timeout",
            "20",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", st.display()))?;
    let out = tokio::time::timeout(RUN_WITHIN, child.wait_with_output())
        .await
        .with_context(|| format!("schemathesis still running after {RUN_WITHIN:?}"))??;
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    anyhow::ensure!(
        out.status.success(),
        "schemathesis found answers that break the OpenAPI document ({}):\n{report}",
        out.status
    );
    println!("{report}\nschemathesis took {:?}", started.elapsed());
    // The session every request ran with lasted the whole run: had a fuzzed call ended it
    // (an admin's reset of their own second factors did, until it was refused), every later
    // operation would have met only 401 and tested nothing behind it.
    let (status, me) = admin.get("/api/v1/me").await?;
    anyhow::ensure!(
        status == 200,
        "the fuzzer's session ended during the run ({status} {me}):\n{report}"
    );
    stack.stop().await
}
