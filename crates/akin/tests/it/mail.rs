//! Mail through a real SMTP server on loopback (aiosmtpd, see `tests/python/smtp_sink.py`):
//! invitations sent with `send_email/`, delivered, followed to an account; an SMTP server
//! that is down loses nothing; a server killed mid-delivery delivers after its restart.
//! Skipped without aiosmtpd unless `AKIN_TEST_REQUIRE_SMTP` is set (CI installs it into the
//! virtualenv `AKIN_TEST_PYTHON` names).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use akin_testkit::{ADMIN_PASSWORD, Backend, SpawnOptions, TestApp, TestEnv};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::flows::{self, Browser, FOR_ENROLLMENT};
use crate::{BIN, admin_get, admin_json};

on_both_backends!(
    invitations_are_mailed_and_the_link_enrolls,
    send_email_refuses_as_authentik_does,
    mail_waits_while_the_smtp_server_is_down,
    a_server_killed_mid_delivery_delivers_after_restart,
    the_email_verification_blueprint_enrolls_through_its_link,
    a_forgotten_password_is_reset_through_the_mailed_link,
    recovery_answers_the_same_for_unknown_addresses_and_limits_links,
    an_email_stage_with_its_own_settings_sends_through_them,
    expressions_queue_mail_with_ak_send_email,
);

fn python() -> String {
    std::env::var("AKIN_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

pub(crate) fn aiosmtpd_available() -> bool {
    let available = std::process::Command::new(python())
        .args(["-c", "import aiosmtpd"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        assert!(
            std::env::var_os("AKIN_TEST_REQUIRE_SMTP").is_none(),
            "AKIN_TEST_REQUIRE_SMTP is set but {} cannot import aiosmtpd",
            python()
        );
        eprintln!("skipped: pip install aiosmtpd==1.4.6 (or apt-get install python3-aiosmtpd)");
    }
    available
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running SMTP server that files what it receives.
pub(crate) struct SmtpSink {
    child: tokio::process::Child,
    dir: PathBuf,
}

impl SmtpSink {
    pub(crate) async fn start(dir: &Path, port: u16) -> SmtpSink {
        std::fs::create_dir_all(dir).unwrap();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/smtp_sink.py");
        let mut child = tokio::process::Command::new(python())
            .arg(script)
            .arg(dir)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the SMTP sink");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await;
        assert!(
            matches!(ready, Ok(Ok(Some(ref line))) if line == "ready"),
            "the SMTP sink did not start: {ready:?}"
        );
        SmtpSink {
            child,
            dir: dir.to_owned(),
        }
    }

    fn messages(&self) -> Vec<Value> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
            .collect()
    }

    /// Waits up to 30 seconds for `n` messages.
    async fn wait_for(&self, n: usize) -> Vec<Value> {
        for _ in 0..300 {
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.messages()
    }

    pub(crate) async fn stop(mut self) {
        drop(self.child.stdin.take());
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

pub(crate) fn mail_options(port: u16, extra: &[(&str, &str)]) -> SpawnOptions {
    let mut env = vec![
        ("AKIN_EMAIL__HOST".to_owned(), "127.0.0.1".to_owned()),
        ("AKIN_EMAIL__PORT".to_owned(), port.to_string()),
        (
            "AKIN_EMAIL__FROM".to_owned(),
            "akin <akin@example.test>".to_owned(),
        ),
        ("AKIN_EMAIL__TIMEOUT".to_owned(), "2".to_owned()),
        ("AKIN_EMAIL__RETRY".to_owned(), "1".to_owned()),
    ];
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    SpawnOptions {
        env,
        ..SpawnOptions::default()
    }
}

/// The message's text with quoted-printable soft breaks and `=3D` undone.
fn decoded(data: &str) -> String {
    data.replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=")
}

/// The invitation link in a delivered message.
fn link_in(message: &Value) -> String {
    let text = decoded(message["data"].as_str().unwrap());
    let start = text
        .find("http://")
        .or_else(|| text.find("https://"))
        .expect("a link");
    text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"' && *c != '<')
        .collect()
}

async fn enrollment_invitation(env: &TestEnv, name: &str) -> String {
    flows::two_stage_flow(env).await;
    flows::invitation(
        env,
        name,
        &format!(
            "{{{FOR_ENROLLMENT}, single_use: true, fixed_data: {{email: {name}@example.com}}}}"
        ),
    )
    .await
}

async fn send(env: &TestEnv, invitation: &str, body: Value) -> (StatusCode, Value) {
    admin_json(
        env,
        Method::POST,
        &format!("/api/v3/stages/invitation/invitations/{invitation}/send_email/"),
        body,
    )
    .await
}

async fn outbox(env: &TestEnv) -> Vec<Value> {
    let (status, body) = admin_get(env, "/api/v3/akin/outbox/").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["results"].as_array().unwrap().clone()
}

async fn invitations_are_mailed_and_the_link_enrolls(backend: Backend) {
    if !aiosmtpd_available() {
        return;
    }
    let db = akin_testkit::TestDatabase::create(&backend).await;
    let port = free_port();
    let sink = SmtpSink::start(&db.dir().join("mail"), port).await;
    let app = TestApp::start(BIN, &db.url, &mail_options(port, &[])).await;
    let env = TestEnv { app, db };
    let invitation = enrollment_invitation(&env, "jane").await;

    let (status, body) = send(
        &env,
        &invitation,
        json!({"email_addresses": ["jane@example.com", "joe@example.com"], "cc_addresses": ["team@example.com"], "bcc_addresses": ["audit@example.com"]}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let messages = sink.wait_for(2).await;
    assert_eq!(messages.len(), 2, "one message per address: {messages:?}");
    let host = env.app.base_url.trim_start_matches("http://").to_owned();
    // Delivered several at a time: in either order.
    for to in ["jane@example.com", "joe@example.com"] {
        let message = messages
            .iter()
            .find(|m| m["data"].as_str().unwrap().contains(&format!("To: {to}")))
            .unwrap_or_else(|| panic!("a message to {to}: {messages:?}"));
        let mut rcpt: Vec<&str> = message["rcpt_tos"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        rcpt.sort_unstable();
        let mut expected = vec![to, "team@example.com", "audit@example.com"];
        expected.sort_unstable();
        assert_eq!(rcpt, expected);
        assert_eq!(message["mail_from"], "akin@example.test");
        let data = decoded(message["data"].as_str().unwrap());
        assert!(
            data.contains(&format!("Subject: You have been invited to {host}")),
            "{data}"
        );
        assert!(data.contains("Message-ID: <"), "{data}");
        assert!(!data.contains("audit@example.com"), "no Bcc header: {data}");
        assert!(
            data.contains("text/plain") && data.contains("text/html"),
            "{data}"
        );
        assert!(
            data.contains("Accept Invitation")
                && data.contains("akin administrator has invited you"),
            "{data}"
        );
        assert_eq!(
            link_in(message),
            format!(
                "{}/if/flow/default-enrollment-flow/?itoken={invitation}",
                env.app.base_url
            )
        );
    }

    // The outbox says what happened, with the server's answer; so do the events.
    let sent = outbox(&env).await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    for message in &sent {
        assert_eq!(message["status"], "sent", "{message}");
        assert_eq!(message["attempts"], 1);
        assert!(
            message["last_response"]
                .as_str()
                .unwrap()
                .starts_with("250"),
            "{message}"
        );
        assert_eq!(message["related"]["invitation"], invitation.as_str());
    }
    // The event follows the outbox's record by a moment.
    let mut events = Value::Null;
    for _ in 0..50 {
        events = admin_get(&env, "/api/v3/events/events/?action=email_sent")
            .await
            .1;
        if events["pagination"]["count"] == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(events["pagination"]["count"], 2, "{events}");
    // Where it was sent is kept with the invitation.
    let (_, listed) = admin_get(
        &env,
        &format!("/api/v3/stages/invitation/invitations/{invitation}/"),
    )
    .await;
    assert_eq!(
        listed["sent_to"],
        json!(["jane@example.com", "joe@example.com"])
    );

    // The invitee follows the link and enrolls.
    let link = link_in(&messages[0]);
    let query = link.split_once('?').unwrap().1;
    let browser = Browser::new(&env.app, "default-enrollment-flow", query);
    assert_eq!(browser.challenge().await["component"], "ak-stage-prompt");
    browser.answer(flows::credentials("jane")).await;
    let done = browser
        .answer(json!({"component": "ak-stage-prompt", "name": "Jane"}))
        .await;
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");
    let (_, users) = admin_get(&env, "/api/v3/core/users/?username=jane").await;
    assert_eq!(users["results"][0]["email"], "jane@example.com");

    // In the admin UI: "Send by email" on the invitation's row, then Events → Outbox.
    let admin = crate::admin_pages::log_in(&env, "akadmin", ADMIN_PASSWORD).await;
    let (_, _, html) = admin.get("/if/admin/invitations/?status=all").await;
    let (status, location, _) = admin
        .post(
            &format!("/if/admin/invitations/{invitation}/send/"),
            &[
                ("csrf_token", &crate::admin_pages::csrf_token(&html)),
                ("to", "row@example.com, other@example.com"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, page) = admin.get(&location).await;
    assert!(
        page.contains("Queued for row@example.com, other@example.com"),
        "{page}"
    );
    assert_eq!(sink.wait_for(4).await.len(), 4);
    let (status, _, page) = admin.get("/if/admin/outbox/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("row@example.com") && page.contains("250 2.0.0 Ok"),
        "{page}"
    );
    let (_, location, _) = admin
        .post(
            &format!("/if/admin/invitations/{invitation}/send/"),
            &[
                ("csrf_token", &crate::admin_pages::csrf_token(&html)),
                ("to", "nonsense"),
            ],
        )
        .await;
    let (_, _, page) = admin.get(&location).await;
    assert!(page.contains("Enter a valid email address."), "{page}");
    // Create's optional "Send to".
    let (_, flow) = admin_get(&env, "/api/v3/flows/instances/default-enrollment-flow/").await;
    let (status, location, _) = admin
        .post(
            "/if/admin/invitations/",
            &[
                ("csrf_token", &crate::admin_pages::csrf_token(&html)),
                ("name", "mailed-on-create"),
                ("flow", flow["pk"].as_str().unwrap()),
                ("send_to", "new@example.com"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, page) = admin.get(&location).await;
    assert!(page.contains("Queued for new@example.com"), "{page}");
    let messages = sink.wait_for(5).await;
    assert_eq!(messages[4]["rcpt_tos"], json!(["new@example.com"]));

    // From the command line: queued by the CLI, delivered by the running server.
    let output = tokio::process::Command::new(BIN)
        .args(["invitation", "send", &invitation, "--to", "cli@example.com"])
        .env("AKIN_DATABASE_URL", &env.db.url)
        .env("AKIN_EXTERNAL_URL", "https://id.example.test")
        .env("AKIN_EMAIL__FROM", "akin@example.test")
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let messages = sink.wait_for(6).await;
    assert_eq!(messages.len(), 6);
    assert_eq!(messages[5]["rcpt_tos"], json!(["cli@example.com"]));
    assert_eq!(
        link_in(&messages[5]).replace("http://", "https://"),
        format!("https://id.example.test/if/flow/default-enrollment-flow/?itoken={invitation}")
    );
    sink.stop().await;
}

async fn send_email_refuses_as_authentik_does(backend: Backend) {
    let env = crate::start(&backend).await;
    let invitation = enrollment_invitation(&env, "ann").await;
    let (status, body) = send(&env, &invitation, json!({"email_addresses": []})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"error": "No email addresses provided"}));
    let (status, body) = send(&env, &invitation, json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["email_addresses"], json!(["This field is required."]));
    let many: Vec<String> = (0..1001).map(|i| format!("a{i}@example.com")).collect();
    let (status, body) = send(&env, &invitation, json!({"email_addresses": many})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["email_addresses"],
        json!(["Ensure this field has no more than 1000 elements."])
    );
    let (status, body) = send(
        &env,
        &invitation,
        json!({"email_addresses": ["not an address"]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["email_addresses"],
        json!(["Enter a valid email address."])
    );
    let (status, body) = send(
        &env,
        &invitation,
        json!({"email_addresses": ["a@example.com"], "template": "../../etc/passwd"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["template"].is_array(), "{body}");
    let flowless = flows::invitation(&env, "flowless", "{single_use: true}").await;
    let (status, body) = send(
        &env,
        &flowless,
        json!({"email_addresses": ["a@example.com"]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"error": "Invitation has no associated flow"}));
    let (status, _) = send(
        &env,
        "00000000-0000-4000-8000-000000000000",
        json!({"email_addresses": ["a@example.com"]}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // authentik's old default template name works as its new one.
    let (status, body) = send(
        &env,
        &invitation,
        json!({"email_addresses": ["a@example.com"], "template": "invitation"}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(outbox(&env).await.iter().all(|m| {
        m["subject"]
            .as_str()
            .unwrap()
            .starts_with("You have been invited to")
    }));
}

async fn mail_waits_while_the_smtp_server_is_down(backend: Backend) {
    if !aiosmtpd_available() {
        return;
    }
    let db = akin_testkit::TestDatabase::create(&backend).await;
    let port = free_port();
    let app = TestApp::start(BIN, &db.url, &mail_options(port, &[])).await;
    let env = TestEnv { app, db };
    let invitation = enrollment_invitation(&env, "kim").await;
    let (status, _) = send(
        &env,
        &invitation,
        json!({"email_addresses": ["kim@example.com"]}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Nobody listens: the message waits, saying why.
    let mut waiting = Value::Null;
    for _ in 0..100 {
        waiting = outbox(&env).await[0].clone();
        if waiting["attempts"].as_u64() >= Some(1) && waiting["status"] == "queued" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(waiting["status"], "queued", "{waiting}");
    assert!(
        !waiting["last_response"].as_str().unwrap().is_empty(),
        "{waiting}"
    );

    // The server comes back: delivered at the next attempt.
    let sink = SmtpSink::start(&env.db.dir().join("mail"), port).await;
    let messages = sink.wait_for(1).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["rcpt_tos"], json!(["kim@example.com"]));
    let mut sent = Value::Null;
    for _ in 0..50 {
        sent = outbox(&env).await[0].clone();
        if sent["status"] == "sent" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sent["status"], "sent", "{sent}");
    assert!(sent["attempts"].as_u64().unwrap() >= 2, "{sent}");
    // A sent message is not sent again.
    let pk = sent["pk"].as_str().unwrap();
    let (status, _) = admin_json(
        &env,
        Method::POST,
        &format!("/api/v3/akin/outbox/{pk}/retry/"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    sink.stop().await;
}

/// A node killed while the SMTP server holds its message (an SMTP server that accepts the
/// connection and never answers) leaves the message claimed; once the claim runs out, a
/// restarted node delivers it. Delivery is at least once: the same `Message-ID` every time.
async fn a_server_killed_mid_delivery_delivers_after_restart(backend: Backend) {
    if !aiosmtpd_available() {
        return;
    }
    let db = akin_testkit::TestDatabase::create(&backend).await;
    let port = free_port();
    // Accepts and stays silent.
    let silent = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let options = mail_options(port, &[("AKIN_EMAIL__TIMEOUT", "1")]);
    let app = TestApp::start(BIN, &db.url, &options).await;
    let env = TestEnv { app, db };
    let invitation = enrollment_invitation(&env, "lee").await;
    let (status, _) = send(
        &env,
        &invitation,
        json!({"email_addresses": ["lee@example.com"]}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let message_id = loop {
        let message = outbox(&env).await[0].clone();
        if message["status"] == "sending" {
            break message["message_id"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let TestEnv { app, db } = env;
    app.kill().await;
    held.abort();
    let _ = held.await;

    let sink = SmtpSink::start(&db.dir().join("mail"), port).await;
    let app = TestApp::start(BIN, &db.url, &options).await;
    let env = TestEnv { app, db };
    let messages = sink.wait_for(1).await;
    assert_eq!(messages.len(), 1, "delivered after the restart");
    assert!(
        messages[0]["data"]
            .as_str()
            .unwrap()
            .contains(&format!("Message-ID: <{message_id}>")),
        "the same Message-ID"
    );
    let sent = outbox(&env).await;
    assert_eq!(sent[0]["status"], "sent", "{sent:?}");
    sink.stop().await;
}

/// authentik's `flows-enrollment-email-verification.yaml`, unchanged: the account is
/// written inactive, the email stage mails a link, and opening it in another browser
/// continues the flow there, activates the account and signs it in. The link works once.
async fn the_email_verification_blueprint_enrolls_through_its_link(backend: Backend) {
    if !aiosmtpd_available() {
        return;
    }
    let db = akin_testkit::TestDatabase::create(&backend).await;
    let port = free_port();
    let sink = SmtpSink::start(&db.dir().join("mail"), port).await;
    let app = TestApp::start(BIN, &db.url, &mail_options(port, &[])).await;
    let env = TestEnv { app, db };
    let yaml = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/blueprints/example/flows-enrollment-email-verification.yaml"),
    )
    .unwrap();
    flows::import(&env, &yaml).await;

    let first = Browser::new(&env.app, "default-enrollment-flow", "next=/welcome");
    assert_eq!(first.challenge().await["component"], "ak-stage-prompt");
    first.answer(flows::credentials("vera")).await;
    let sent = first
        .answer(
            json!({"component": "ak-stage-prompt", "name": "Vera", "email": "vera@example.com"}),
        )
        .await;
    assert_eq!(sent["component"], "ak-stage-email", "{sent}");
    let (_, users) = admin_get(&env, "/api/v3/core/users/?username=vera").await;
    assert_eq!(users["results"][0]["is_active"], false, "written inactive");

    let messages = sink.wait_for(1).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["rcpt_tos"], json!(["vera@example.com"]));
    let link = link_in(&messages[0]);
    assert!(link.contains("flow_token="), "{link}");
    assert!(
        link.contains("next=%2Fwelcome") || link.contains("next=/welcome"),
        "{link}"
    );

    // Another browser (no cookies of the first) opens the link and goes on.
    let query = link.split_once('?').unwrap().1.to_owned();
    let second = Browser::new(&env.app, "default-enrollment-flow", &query);
    let done = second.challenge().await;
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");
    assert_eq!(done["to"], "/welcome");
    let (_, users) = admin_get(&env, "/api/v3/core/users/?username=vera").await;
    assert_eq!(
        users["results"][0]["is_active"], true,
        "activated by the link"
    );
    assert!(users["results"][0]["last_login"].is_string(), "signed in");

    // The link is spent: a third browser gets a fresh enrollment, not Vera's.
    let third = Browser::new(&env.app, "default-enrollment-flow", &query);
    let again = third.challenge().await;
    assert_eq!(again["component"], "ak-stage-prompt", "{again}");

    // Answering the email stage sends the mail again.
    let fourth = Browser::new(&env.app, "default-enrollment-flow", "");
    fourth.challenge().await;
    fourth.answer(flows::credentials("wim")).await;
    fourth
        .answer(json!({"component": "ak-stage-prompt", "name": "Wim", "email": "wim@example.com"}))
        .await;
    let resent = fourth.answer(json!({"component": "ak-stage-email"})).await;
    assert_eq!(resent["component"], "ak-stage-email");
    assert_eq!(
        resent["response_errors"]["non_field_errors"][0]["code"],
        "email-sent"
    );
    assert_eq!(sink.wait_for(3).await.len(), 3);
    // Not at will: anyone can enroll with someone else's address.
    let mut last = Value::Null;
    for _ in 0..10 {
        last = fourth.answer(json!({"component": "ak-stage-email"})).await;
    }
    assert_eq!(
        last["response_errors"]["non_field_errors"][0]["code"], "email-limit",
        "{last}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        sink.wait_for(6).await.len(),
        6,
        "five sends for Wim, one for Vera"
    );
    sink.stop().await;
}

const RECOVERY: &str = "default-recovery-flow";

/// A user with an address and a password, made by the administrator.
pub(crate) async fn user_with_password(env: &TestEnv, username: &str, email: &str, password: &str) {
    let (status, created) = admin_json(
        env,
        Method::POST,
        "/api/v3/core/users/",
        json!({"username": username, "name": username, "email": email}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let pk = created["pk"].as_i64().unwrap();
    let (status, _) = admin_json(
        env,
        Method::POST,
        &format!("/api/v3/core/users/{pk}/set_password/"),
        json!({"password": password}),
    )
    .await;
    assert!(status.is_success(), "{status}");
}

/// Signs in through the default flow; whether it worked.
async fn signs_in(env: &TestEnv, username: &str, password: &str) -> bool {
    let browser = Browser::new(&env.app, "default-authentication-flow", "");
    browser.challenge().await;
    browser
        .answer(json!({"component": "ak-stage-identification", "uid_field": username}))
        .await;
    let done = browser
        .answer(json!({"component": "ak-stage-password", "password": password}))
        .await;
    done["component"] == "xak-flow-redirect"
}

/// A recovery flow started for `identifier`: its answer to the identifier.
async fn ask_for_link(env: &TestEnv, identifier: &str) -> (Browser, Value) {
    let browser = Browser::new(&env.app, RECOVERY, "");
    assert_eq!(
        browser.challenge().await["component"],
        "ak-stage-identification"
    );
    let answer = browser
        .answer(json!({"component": "ak-stage-identification", "uid_field": identifier}))
        .await;
    (browser, answer)
}

/// Issue 14, point 5: the shipped recovery flow, linked from the sign-in page, mails a
/// one-time link; opening it in any browser asks for a new password and signs in with it.
async fn a_forgotten_password_is_reset_through_the_mailed_link(backend: Backend) {
    if !aiosmtpd_available() {
        return;
    }
    let db = akin_testkit::TestDatabase::create(&backend).await;
    let port = free_port();
    let sink = SmtpSink::start(&db.dir().join("mail"), port).await;
    let app = TestApp::start(
        BIN,
        &db.url,
        &mail_options(port, &[("AKIN_EXTERNAL_URL", "https://id.example.test")]),
    )
    .await;
    let env = TestEnv { app, db };
    user_with_password(&env, "rita", "rita@example.com", "Old-passw0rd").await;

    let login = Browser::new(&env.app, "default-authentication-flow", "")
        .challenge()
        .await;
    assert_eq!(login["recovery_url"], "/if/flow/default-recovery-flow/");

    let (_, sent) = ask_for_link(&env, "Rita@Example.com").await;
    assert_eq!(sent["component"], "ak-stage-email", "{sent}");
    let messages = sink.wait_for(1).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["rcpt_tos"], json!(["rita@example.com"]));
    let body = decoded(messages[0]["data"].as_str().unwrap());
    assert!(body.contains("Subject: Reset your password"), "{body}");
    let link = link_in(&messages[0]);
    assert!(
        link.starts_with("https://id.example.test/if/flow/default-recovery-flow/?flow_token="),
        "{link}"
    );

    // Another browser opens the link: a new password, then signed in.
    let query = link.split_once('?').unwrap().1.to_owned();
    let phone = Browser::new(&env.app, RECOVERY, &query);
    let prompt = phone.challenge().await;
    assert_eq!(prompt["component"], "ak-stage-prompt", "{prompt}");
    let mismatch = phone
        .answer(json!({"component": "ak-stage-prompt", "password": "New-passw0rd", "password_repeat": "other"}))
        .await;
    assert_eq!(mismatch["component"], "ak-stage-prompt", "{mismatch}");
    let done = phone
        .answer(json!({"component": "ak-stage-prompt", "password": "New-passw0rd", "password_repeat": "New-passw0rd"}))
        .await;
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");
    let me: Value = phone
        .client
        .get(format!("{}/api/v3/core/users/me/", phone.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["username"], "rita", "{me}");

    assert!(signs_in(&env, "rita", "New-passw0rd").await);
    assert!(!signs_in(&env, "rita", "Old-passw0rd").await);

    // The link worked once: opened again, it starts a new recovery.
    let again = Browser::new(&env.app, RECOVERY, &query).challenge().await;
    assert_eq!(again["component"], "ak-stage-identification", "{again}");
    sink.stop().await;
}

/// Issue 14, point 5: whether an account exists is not told by the answers, and links to
/// one address are limited (`recovery_max_attempts`) across flows, for a known address and
/// an unknown one alike.
async fn recovery_answers_the_same_for_unknown_addresses_and_limits_links(backend: Backend) {
    if !aiosmtpd_available() {
        return;
    }
    let db = akin_testkit::TestDatabase::create(&backend).await;
    let port = free_port();
    let sink = SmtpSink::start(&db.dir().join("mail"), port).await;
    let app = TestApp::start(BIN, &db.url, &mail_options(port, &[])).await;
    let env = TestEnv { app, db };
    user_with_password(&env, "sam", "sam@example.com", "Sams-passw0rd").await;

    let (known, for_known) = ask_for_link(&env, "sam@example.com").await;
    let (unknown, for_unknown) = ask_for_link(&env, "ghost@example.com").await;
    assert_eq!(for_known, for_unknown, "the same answer");
    let resent_known = known.answer(json!({"component": "ak-stage-email"})).await;
    let resent_unknown = unknown.answer(json!({"component": "ak-stage-email"})).await;
    assert_eq!(resent_known, resent_unknown, "the same answer to a resend");
    assert_eq!(
        resent_known["response_errors"]["non_field_errors"][0]["code"],
        "email-sent"
    );

    // Three more flows each (five links in five minutes), then the limit: the same for
    // both, and nothing more is mailed.
    for _ in 0..3 {
        let (_, known) = ask_for_link(&env, "sam@example.com").await;
        let (_, unknown) = ask_for_link(&env, "ghost@example.com").await;
        assert_eq!(known, unknown);
        assert!(known.get("response_errors").is_none(), "{known}");
    }
    let (_, limited_known) = ask_for_link(&env, "sam@example.com").await;
    let (_, limited_unknown) = ask_for_link(&env, "ghost@example.com").await;
    assert_eq!(limited_known, limited_unknown);
    let error = &limited_known["response_errors"]["non_field_errors"][0];
    assert_eq!(error["code"], "email-rate-limited", "{limited_known}");
    assert!(
        error["string"]
            .as_str()
            .unwrap()
            .contains("Please try again after 5 minutes"),
        "{error}"
    );

    tokio::time::sleep(Duration::from_secs(1)).await;
    let messages = sink.wait_for(5).await;
    assert_eq!(messages.len(), 5, "five links, all to Sam");
    assert!(
        messages
            .iter()
            .all(|m| m["rcpt_tos"] == json!(["sam@example.com"])),
        "nothing to the unknown address"
    );
    let (_, events) = admin_get(&env, "/api/v3/events/events/?action=email_sent").await;
    assert!(
        !events.to_string().contains("ghost"),
        "no trace of the unknown address in mail events"
    );
    sink.stop().await;
}

/// Issue 14, point 4: an email stage with `use_global_settings` off sends through its own
/// SMTP server and `from_address`; its password is accepted but never answered.
async fn an_email_stage_with_its_own_settings_sends_through_them(backend: Backend) {
    if !aiosmtpd_available() {
        return;
    }
    let db = akin_testkit::TestDatabase::create(&backend).await;
    let (global_port, own_port) = (free_port(), free_port());
    let global = SmtpSink::start(&db.dir().join("global"), global_port).await;
    let own = SmtpSink::start(&db.dir().join("own"), own_port).await;
    let app = TestApp::start(BIN, &db.url, &mail_options(global_port, &[])).await;
    let env = TestEnv { app, db };
    let yaml = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/blueprints/example/flows-enrollment-email-verification.yaml"),
    )
    .unwrap();
    flows::import(&env, &yaml).await;
    let (_, stages) = admin_get(&env, "/api/v3/stages/email/").await;
    let stage = stages["results"][0]["pk"].as_str().unwrap().to_owned();
    let (status, changed) = admin_json(
        &env,
        Method::PATCH,
        &format!("/api/v3/stages/email/{stage}/"),
        json!({
            "use_global_settings": false, "host": "127.0.0.1", "port": own_port,
            "username": "", "password": "smtp-secret", "timeout": 5,
            "from_address": "verify@stage.example.test",
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert!(changed.get("password").is_none(), "{changed}");
    let (_, read) = admin_get(&env, &format!("/api/v3/stages/email/{stage}/")).await;
    assert!(!read.to_string().contains("smtp-secret"), "{read}");
    let export = env
        .app
        .admin(
            Method::GET,
            "/api/v3/flows/instances/default-enrollment-flow/export/",
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(export.contains("from_address"), "{export}");
    assert!(!export.contains("smtp-secret"), "{export}");

    let browser = Browser::new(&env.app, "default-enrollment-flow", "");
    browser.challenge().await;
    browser.answer(flows::credentials("otto")).await;
    let sent = browser
        .answer(
            json!({"component": "ak-stage-prompt", "name": "Otto", "email": "otto@example.com"}),
        )
        .await;
    assert_eq!(sent["component"], "ak-stage-email", "{sent}");
    let messages = own.wait_for(1).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["mail_from"], "verify@stage.example.test");
    assert_eq!(messages[0]["rcpt_tos"], json!(["otto@example.com"]));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        global.messages().is_empty(),
        "nothing through the global server"
    );

    // Its link works as with the global settings.
    let query = link_in(&messages[0]).split_once('?').unwrap().1.to_owned();
    let done = Browser::new(&env.app, "default-enrollment-flow", &query)
        .challenge()
        .await;
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");
    own.stop().await;
    global.stop().await;
}

/// Issue 14, point 6: `ak_send_email` in an expression queues through the outbox, with a
/// text body (escaped in the HTML part) or a template (`email/setup.html`), and fails the
/// expression, sending nothing, when it is called wrong.
async fn expressions_queue_mail_with_ak_send_email(backend: Backend) {
    if !aiosmtpd_available() {
        return;
    }
    let db = akin_testkit::TestDatabase::create(&backend).await;
    let port = free_port();
    let sink = SmtpSink::start(&db.dir().join("mail"), port).await;
    let app = TestApp::start(BIN, &db.url, &mail_options(port, &[])).await;
    let env = TestEnv { app, db };
    let (_, me) = admin_get(&env, "/api/v3/core/users/?username=akadmin").await;
    let akadmin = me["results"][0]["pk"].as_i64().unwrap();
    let test = |pk: String| {
        let env = &env;
        async move {
            let (status, body) = admin_json(
                env,
                Method::POST,
                &format!("/api/v3/policies/all/{pk}/test/"),
                json!({"user": akadmin, "context": {}}),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body
        }
    };

    let text = crate::policies::create_policy(
        &env,
        "notify-text",
        "return ak_send_email(['ops@example.com', 'sec@example.com'], 'New sign-in', \
         body='User ' + request.user.username + ' <signed in> & left', cc='audit@example.com')",
    )
    .await;
    let answer = test(text).await;
    assert_eq!(answer["passing"], true, "{answer}");
    let template = crate::policies::create_policy(
        &env,
        "notify-template",
        "return ak_send_email('ops@example.com', 'Setup', template='email/setup.html', \
         context={'host': 'smtp.example.test', 'port': 2525})",
    )
    .await;
    assert_eq!(test(template).await["passing"], true);

    let messages = sink.wait_for(2).await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    let by_subject = |subject: &str| {
        messages
            .iter()
            .find(|m| decoded(m["data"].as_str().unwrap()).contains(&format!("Subject: {subject}")))
            .unwrap_or_else(|| panic!("no message {subject}"))
            .clone()
    };
    let notified = by_subject("New sign-in");
    assert_eq!(
        notified["rcpt_tos"],
        json!(["ops@example.com", "sec@example.com", "audit@example.com"])
    );
    let data = decoded(notified["data"].as_str().unwrap());
    assert!(
        data.contains("User akadmin <signed in> & left"),
        "the text part: {data}"
    );
    assert!(
        data.contains("User akadmin &lt;signed in&gt; &amp; left"),
        "the HTML part, escaped: {data}"
    );
    let setup = decoded(by_subject("Setup")["data"].as_str().unwrap());
    assert!(setup.contains("smtp.example.test:2525"), "{setup}");

    for (name, expression) in [
        (
            "both",
            "return ak_send_email('a@example.com', 'x', body='b', template='email/setup.html')",
        ),
        ("neither", "return ak_send_email('a@example.com', 'x')"),
        (
            "no-template",
            "return ak_send_email('a@example.com', 'x', template='email/nope.html')",
        ),
        (
            "no-stage",
            "return ak_send_email('a@example.com', 'x', body='b', stage='nope')",
        ),
        (
            "flood",
            "for i in range(20):\n    ak_send_email('a@example.com', 'x', body='b')\nreturn True",
        ),
    ] {
        let pk = crate::policies::create_policy(&env, name, expression).await;
        let answer = test(pk).await;
        assert_eq!(answer["passing"], false, "{name}: {answer}");
    }
    sink.wait_for(12).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = sink.messages();
    assert_eq!(
        after.len(),
        12,
        "the flood stopped at ten messages; the others sent nothing"
    );
    sink.stop().await;
}
