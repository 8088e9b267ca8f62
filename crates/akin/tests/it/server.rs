//! The server as an operator meets it: start-up, configuration, bootstrap, health, signals,
//! the CLI, and several nodes on one PostgreSQL database.

use std::process::Stdio;

use akin_testkit::{
    ADMIN_TOKEN, Backend, HealthWatch, SpawnOptions, TestApp, TestDatabase, TestEnv,
};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{BIN, admin_get, json, start};

on_both_backends!(
    health_checks_answer,
    bootstrap_is_idempotent_and_never_resets,
    without_bootstrap_the_log_says_how_to_create_an_admin,
    sigterm_stops_the_server_cleanly,
    slow_clients_are_cut_off_and_cannot_crowd_out_others,
    forwarded_headers_count_only_from_trusted_proxies,
    metrics_count_what_an_operator_watches,
    a_running_server_is_backed_up_and_restored,
);

async fn health_checks_answer(backend: Backend) {
    let env = start(&backend).await;
    for path in ["/-/health/live/", "/-/health/ready/"] {
        let response = env.app.anonymous(Method::GET, path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
}

const ADMIN_HASH: &str = "SELECT password FROM users WHERE username = 'akadmin'";

fn env_with(pairs: &[(&str, &str)]) -> SpawnOptions {
    SpawnOptions {
        bootstrap: false,
        env: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

async fn bootstrap_is_idempotent_and_never_resets(backend: Backend) {
    let db = TestDatabase::create(&backend).await;
    let first = env_with(&[
        ("AKIN_BOOTSTRAP_PASSWORD", "first-password"),
        ("AKIN_BOOTSTRAP_TOKEN", ADMIN_TOKEN),
        ("AKIN_BOOTSTRAP_EMAIL", "admin@example.com"),
    ]);
    let app = TestApp::start(BIN, &db.url, &first).await;
    let env = TestEnv { app, db };
    let (_, me) = admin_get(&env, "/api/v3/core/users/me/").await;
    assert_eq!(me["user"]["email"], "admin@example.com");
    let (_, tokens) = admin_get(&env, "/api/v3/core/tokens/").await;
    assert_eq!(tokens["results"][0]["identifier"], "akin-bootstrap-token");
    assert_eq!(tokens["results"][0]["intent"], "api");
    assert_eq!(tokens["results"][0]["expiring"], false);
    let TestEnv { app, db } = env;
    assert!(app.terminate().await);
    let hash_before = db.text(ADMIN_HASH).await;
    assert!(hash_before.starts_with("$argon2id$"), "{hash_before}");

    // Same values again, then changed ones: nothing is duplicated or reset.
    for options in [
        first.clone(),
        env_with(&[
            ("AKIN_BOOTSTRAP_PASSWORD", "second-password"),
            ("AKIN_BOOTSTRAP_TOKEN", "another-token-value"),
        ]),
    ] {
        let app = TestApp::start(BIN, &db.url, &options).await;
        let response = app
            .anonymous(Method::GET, "/api/v3/core/users/")
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        let (status, users) = json(response).await;
        assert_eq!(status, StatusCode::OK, "the first token still works");
        assert_eq!(users["pagination"]["count"], 1);
        let logs = app.logs().join("\n");
        assert!(!logs.contains("created superuser"), "{logs}");
        assert!(app.terminate().await);
    }
    assert_eq!(db.text(ADMIN_HASH).await, hash_before, "password not reset");
    let key = db
        .text("SELECT key FROM tokens WHERE identifier = 'akin-bootstrap-token'")
        .await;
    assert_eq!(key, ADMIN_TOKEN, "token not replaced");
}

async fn without_bootstrap_the_log_says_how_to_create_an_admin(backend: Backend) {
    let db = TestDatabase::create(&backend).await;
    let app = TestApp::start(BIN, &db.url, &env_with(&[])).await;
    let logs = app.logs().join("\n");
    assert_eq!(
        logs.matches("akin user create --superuser").count(),
        1,
        "{logs}"
    );
    assert!(app.terminate().await);

    // The CLI creates the first administrator from a password on stdin.
    let mut child = tokio::process::Command::new(BIN)
        .args([
            "user",
            "create",
            "root",
            "--superuser",
            "--email",
            "root@example.com",
            "--password-stdin",
        ])
        .env("AKIN_DATABASE_URL", &db.url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"s3cret-pass\n")
        .await
        .unwrap();
    let output = child.wait_with_output().await.unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("created superuser root"));
    assert!(
        db.text("SELECT password FROM users WHERE username = 'root'")
            .await
            .starts_with("$argon2id$")
    );

    // A later start with AKIN_BOOTSTRAP_PASSWORD gives akadmin (created without one by the
    // first plain start) that password; one more start with another changes nothing.
    assert!(
        db.text("SELECT COALESCE(password, 'none') FROM users WHERE username = 'akadmin'")
            .await
            == "none"
    );
    let app = TestApp::start(
        BIN,
        &db.url,
        &env_with(&[("AKIN_BOOTSTRAP_PASSWORD", "later-password")]),
    )
    .await;
    assert!(
        app.logs().join("\n").contains("set akadmin's password"),
        "{}",
        app.logs().join("\n")
    );
    assert!(app.terminate().await);
    let set = db.text(ADMIN_HASH).await;
    assert!(set.starts_with("$argon2id$"), "{set}");
    let app = TestApp::start(
        BIN,
        &db.url,
        &env_with(&[("AKIN_BOOTSTRAP_PASSWORD", "yet-another")]),
    )
    .await;
    assert!(app.logs().join("\n").contains("was not applied"));
    assert!(app.terminate().await);
    assert_eq!(
        db.text(ADMIN_HASH).await,
        set,
        "never over a password it has"
    );

    // Now an administrator exists: no more advice.
    let app = TestApp::start(BIN, &db.url, &env_with(&[])).await;
    assert!(!app.logs().join("\n").contains("akin user create"));
    assert!(app.terminate().await);

    // A second `user create` of the same name is refused with a message.
    let output = tokio::process::Command::new(BIN)
        .args(["user", "create", "root", "--no-password"])
        .env("AKIN_DATABASE_URL", &db.url)
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("already exists")
            || String::from_utf8_lossy(&output.stderr).contains("already exists")
    );
}

async fn sigterm_stops_the_server_cleanly(backend: Backend) {
    let env = start(&backend).await;
    let (status, _) = admin_get(&env, "/api/v3/core/users/me/").await;
    assert_eq!(status, StatusCode::OK);
    let TestEnv { app, db: _db } = env;
    assert!(app.terminate().await, "exit status 0 after SIGTERM");
}

#[tokio::test]
async fn bad_configuration_is_refused_naming_the_variable() {
    for (variable, value) in [
        ("AKIN_LISTEN", "no-port-here"),
        ("AKIN_LOG_FORMAT", "xml"),
        ("AKIN_LOG_LEVEL", "loud=="),
        ("AKIN_DATABASE_URL", "mysql://db/akin"),
        ("AKIN_SECRET_KEY", "too-short"),
        ("AKIN_BOOTSTRAP_EMAIL", "not-an-email"),
    ] {
        let output = tokio::process::Command::new(BIN)
            .arg("serve")
            .env(variable, value)
            .output()
            .await
            .unwrap();
        assert!(!output.status.success(), "{variable}={value} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(variable), "{variable}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[tokio::test]
async fn help_documents_every_variable() {
    for args in [vec!["--help"], vec!["serve", "--help"]] {
        let output = tokio::process::Command::new(BIN)
            .args(&args)
            .output()
            .await
            .unwrap();
        assert!(output.status.success());
        let help = String::from_utf8_lossy(&output.stdout);
        for variable in [
            "AKIN_LISTEN",
            "AKIN_DATABASE_URL",
            "AKIN_SECRET_KEY",
            "AKIN_LOG_FORMAT",
            "AKIN_LOG_LEVEL",
            "AKIN_BOOTSTRAP_PASSWORD",
            "AKIN_BOOTSTRAP_TOKEN",
            "AKIN_BOOTSTRAP_EMAIL",
        ] {
            assert!(
                help.contains(variable),
                "{args:?} does not mention {variable}"
            );
        }
    }
}

#[tokio::test]
async fn default_database_is_created_under_data() {
    let dir = std::env::temp_dir().join(format!("akin-default-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let output = tokio::process::Command::new(BIN)
        .arg("migrate")
        .current_dir(&dir)
        .env_remove("AKIN_DATABASE_URL")
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dir.join("data/akin.db").is_file());
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn postgres_ready_turns_503_when_the_database_goes_away() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let env = start(&backend).await;
    let ready = || env.app.anonymous(Method::GET, "/-/health/ready/").send();
    assert_eq!(ready().await.unwrap().status(), StatusCode::OK);
    env.db.drop_now().await;
    assert_eq!(
        ready().await.unwrap().status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    let live = env
        .app
        .anonymous(Method::GET, "/-/health/live/")
        .send()
        .await
        .unwrap();
    assert_eq!(
        live.status(),
        StatusCode::OK,
        "the process itself is still up"
    );
}

/// Two nodes on one new PostgreSQL database, started at the same moment (migrations and
/// bootstrap must not trip each other); `None` without PostgreSQL. The database lives as
/// long as the first value.
async fn two_postgres_nodes() -> Option<(TestDatabase, TestApp, TestApp)> {
    let backend = Backend::postgres()?;
    let db = TestDatabase::create(&backend).await;
    let options = SpawnOptions::default();
    let (a, b) = tokio::join!(
        TestApp::start(BIN, &db.url, &options),
        TestApp::start(BIN, &db.url, &options)
    );
    Some((db, a, b))
}

#[tokio::test]
async fn postgres_nodes_share_one_database() {
    let Some((_db, a, b)) = two_postgres_nodes().await else {
        return;
    };
    let created = a
        .admin(Method::POST, "/api/v3/core/users/")
        .json(&json!({"username": "shared", "name": "Shared"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let (status, seen) = json(
        b.admin(Method::GET, "/api/v3/core/users/?username=shared")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seen["pagination"]["count"], 1);
    let (_, users) = json(
        b.admin(Method::GET, "/api/v3/core/users/")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(users["pagination"]["count"], 2, "one akadmin, not two");
    assert!(a.terminate().await);
    assert!(b.terminate().await);
}

/// A slowloris: six times as many connections as the server allows, each trickling a
/// request's head a line every 200 ms and never finishing it. Each is closed once the
/// header timeout (1 s here) has passed, or sooner when a newcomer takes its place; the
/// readiness check, polled alongside by a monitor already watching, is answered
/// throughout; a kept-alive connection left idle is closed after the timeout too.
async fn slow_clients_are_cut_off_and_cannot_crowd_out_others(backend: Backend) {
    use std::time::{Duration, Instant};
    let options = SpawnOptions {
        env: vec![
            ("AKIN_HEADER_TIMEOUT".into(), "1".into()),
            ("AKIN_MAX_CONNECTIONS".into(), "50".into()),
        ],
        ..Default::default()
    };
    let env = TestEnv::start_with(BIN, &backend, &options).await;
    let addr = env.app.base_url.trim_start_matches("http://").to_owned();
    // The monitor was there before the attack (its connection has been answered).
    let health = HealthWatch::start(&env.app);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let slow = (0..300).map(|i| {
        let addr = addr.clone();
        tokio::spawn(async move {
            let opened = Instant::now();
            // Refused outright counts as cut off too.
            let Ok(mut stream) = tokio::net::TcpStream::connect(&addr).await else {
                return Some(opened.elapsed());
            };
            let mut line = b"GET /-/health/live/ HTTP/1.1\r\nHost: x\r\n".to_vec();
            let mut buf = [0u8; 256];
            while opened.elapsed() < Duration::from_secs(10) {
                if stream.write_all(&line).await.is_err() {
                    return Some(opened.elapsed());
                }
                line = format!("X-Slow-{i}: y\r\n").into_bytes();
                match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await
                {
                    Ok(_) => return Some(opened.elapsed()),
                    Err(_) => continue,
                }
            }
            None
        })
    });
    let held: Vec<Option<Duration>> = crate::flows::futures_join_all(slow)
        .await
        .into_iter()
        .map(|joined| joined.unwrap())
        .collect();
    let longest = held
        .iter()
        .map(|h| h.expect("a slow client held on for 10 s"))
        .max();
    assert!(longest.unwrap() < Duration::from_secs(4), "{longest:?}");
    let seen = health.stop().await;
    assert!(seen.checks >= 10 && seen.failures.is_empty(), "{seen:?}");

    // A kept-alive connection, answered, then left idle: closed after the timeout.
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /-/health/live/ HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = vec![0u8; 4096];
    let n = idle.read(&mut answer).await.unwrap();
    assert!(
        answer[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&answer[..n])
    );
    let waited = Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match idle.read(&mut answer).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "an idle connection stayed open");
    assert!(
        waited.elapsed() >= Duration::from_millis(800),
        "{:?}",
        waited.elapsed()
    );
}

/// `X-Forwarded-For` and `-Proto` are what a proxy says about the client; from anyone
/// else they are lies. The same requests to a server that trusts nobody and to one that
/// trusts the loopback proxy: only the second records the forwarded address in events
/// and answers with HSTS. API answers are never cached either way.
async fn forwarded_headers_count_only_from_trusted_proxies(backend: Backend) {
    for (trusts, client_ip, hsts) in [(false, "127.0.0.1", false), (true, "203.0.113.9", true)] {
        let options = SpawnOptions {
            env: if trusts {
                vec![("AKIN_TRUSTED_PROXIES".into(), "127.0.0.1, ::1".into())]
            } else {
                Vec::new()
            },
            ..Default::default()
        };
        let env = TestEnv::start_with(BIN, &backend, &options).await;
        // A wrong password: its login_failed event records the client's address. (The
        // first address is the client's own claim, which a proxy passes on.)
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let url = env
            .app
            .url("/api/v3/flows/executor/default-authentication-flow/?query=");
        let forwarded = |request: reqwest::RequestBuilder| {
            request.header("X-Forwarded-For", "198.51.100.1, 203.0.113.9")
        };
        forwarded(client.get(&url)).send().await.unwrap();
        for answer in [
            json!({"component": "ak-stage-identification", "uid_field": "akadmin"}),
            json!({"component": "ak-stage-password", "password": "wrong"}),
        ] {
            let response = forwarded(client.post(&url))
                .json(&answer)
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success(), "{answer}");
        }
        let (_, events) = admin_get(&env, "/api/v3/events/events/?action=login_failed").await;
        assert_eq!(
            events["results"][0]["client_ip"], client_ip,
            "trusted: {trusts}"
        );

        let over_https = env
            .app
            .anonymous(Method::GET, "/-/health/live/")
            .header("X-Forwarded-Proto", "https")
            .send()
            .await
            .unwrap();
        assert_eq!(
            over_https
                .headers()
                .contains_key("strict-transport-security"),
            hsts,
            "trusted: {trusts}"
        );
        let me = env
            .app
            .admin(Method::GET, "/api/v3/core/users/me/")
            .send()
            .await
            .unwrap();
        assert_eq!(me.headers()["cache-control"], "no-store");
    }
}

/// `AKIN_METRICS_LISTEN`: Prometheus' text on a port of its own. After an enrollment with
/// an invitation, it counts the enrollment, the claim, the flow's execution and the
/// executor's requests by route; a made-up path and method stay one `unmatched`/`other`
/// label; the hashing and outbox gauges are there. The main port has no /metrics.
async fn metrics_count_what_an_operator_watches(backend: Backend) {
    use crate::flows::{Browser, FOR_ENROLLMENT, credentials, invitation, two_stage_flow};
    let options = SpawnOptions {
        env: vec![("AKIN_METRICS_LISTEN".into(), "127.0.0.1:0".into())],
        ..Default::default()
    };
    let env = TestEnv::start_with(BIN, &backend, &options).await;
    two_stage_flow(&env).await;
    let token = invitation(&env, "measured", &format!("{{{FOR_ENROLLMENT}}}")).await;
    let invited = Browser::new(
        &env.app,
        "default-enrollment-flow",
        &format!("itoken={token}"),
    );
    invited.challenge().await;
    invited.answer(credentials("measured-user")).await;
    let done = invited
        .answer(json!({"component": "ak-stage-prompt", "name": "M", "email": "m@example.com"}))
        .await;
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");
    for path in ["/made-up-1", "/made-up-2"] {
        let response = reqwest::Client::new()
            .request(Method::from_bytes(b"BREW").unwrap(), env.app.url(path))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_client_error());
    }
    let main = env
        .app
        .anonymous(Method::GET, "/metrics")
        .send()
        .await
        .unwrap();
    assert_eq!(main.status(), StatusCode::NOT_FOUND);

    let logs = env.app.logs();
    let line = logs
        .iter()
        .find(|l| l.contains("metrics on /metrics"))
        .expect("the metrics address is logged");
    let logged: serde_json::Value = serde_json::from_str(line).unwrap();
    let addr = logged["addr"].as_str().unwrap();
    let response = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    for expected in [
        "akin_enrollments_total 1\n",
        "akin_invitation_claims_total{outcome=\"claimed\"} 1\n",
        "akin_flow_executions_total{flow=\"default-enrollment-flow\"} 1\n",
        "akin_http_requests_total{route=\"/api/v3/flows/executor/{slug}/\",method=\"POST\",status=\"302\"}",
        "akin_http_requests_total{route=\"unmatched\",method=\"other\",status=\"404\"} 2\n",
        "akin_password_hashes_running 0\n",
        "akin_password_hashes_waiting 0\n",
        "akin_outbox_messages{status=\"queued\"} 0\n",
    ] {
        assert!(text.contains(expected), "{expected} not in:\n{text}");
    }
}

/// `akin backup FILE` while the server serves and writes: the copy is one consistent,
/// checked snapshot, an existing file is never overwritten, and a server started on the
/// copy has what was there. On PostgreSQL it says to use pg_dump.
async fn a_running_server_is_backed_up_and_restored(backend: Backend) {
    let env = start(&backend).await;
    let create = |name: String| {
        let env = &env;
        async move {
            let (status, _) = crate::admin_json(
                env,
                Method::POST,
                "/api/v3/stages/invitation/invitations/",
                json!({"name": name, "single_use": true}),
            )
            .await;
            assert_eq!(status, StatusCode::CREATED);
        }
    };
    create("kept".into()).await;
    let copy = env.db.dir().join("backup.db");
    let backup = || {
        tokio::process::Command::new(BIN)
            .arg("backup")
            .arg(&copy)
            .env("AKIN_DATABASE_URL", &env.db.url)
            .output()
    };
    if env.db.url.starts_with("postgres") {
        let output = backup().await.unwrap();
        assert!(!output.status.success());
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("pg_dump"),
            "{output:?}"
        );
        return;
    }
    // Writes go on while the copy is made.
    let writes = async {
        for n in 0..20 {
            create(format!("during-{n}")).await;
        }
    };
    let (output, ()) = tokio::join!(backup(), writes);
    let output = output.unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("integrity ok"),
        "{output:?}"
    );
    let again = backup().await.unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let restored = TestApp::start(
        BIN,
        &format!("sqlite://{}", copy.display()),
        &SpawnOptions::default(),
    )
    .await;
    let listed = restored
        .admin(
            Method::GET,
            "/api/v3/stages/invitation/invitations/?name=kept",
        )
        .send()
        .await
        .unwrap();
    let (status, body) = json(listed).await;
    assert_eq!(
        (status, body["pagination"]["count"].clone()),
        (StatusCode::OK, json!(1))
    );
}

/// Nodes on one PostgreSQL keep the sessions they read in memory, yet a browser whose
/// requests alternate between them always reads its latest step (its cookie names that
/// write), and a revocation on one node reaches the other's copy at once (the database
/// tells every node). Prints how long the revocation took to reach the other node.
#[tokio::test]
async fn postgres_nodes_share_sessions_and_revocations_reach_every_node() {
    let Some((_db, a, b)) = two_postgres_nodes().await else {
        return;
    };
    let created = a
        .admin(Method::POST, "/api/v3/core/users/")
        .json(&json!({"username": "roamer", "name": "Roamer"}))
        .send()
        .await
        .unwrap();
    let (_, created) = json(created).await;
    let pk = created["pk"].as_i64().unwrap();
    let set = a
        .admin(
            Method::POST,
            &format!("/api/v3/core/users/{pk}/set_password/"),
        )
        .json(&json!({"password": "Roaming-ar0und"}))
        .send()
        .await
        .unwrap();
    assert!(set.status().is_success());

    let on_a = crate::flows::Browser::new(&a, "default-authentication-flow", "");
    let on_b = crate::flows::Browser {
        client: on_a.client.clone(),
        base: b.base_url.clone(),
        url: on_a.url.clone(),
    };
    let post = |browser: &crate::flows::Browser, body: serde_json::Value| {
        browser
            .client
            .post(format!("{}{}", browser.base, browser.url))
            .json(&body)
            .send()
    };
    // Both nodes hold a copy of the session at its first step.
    assert_eq!(
        on_a.challenge().await["component"],
        "ak-stage-identification"
    );
    assert_eq!(
        on_b.challenge().await["component"],
        "ak-stage-identification"
    );
    let step = post(
        &on_b,
        json!({"component": "ak-stage-identification", "uid_field": "roamer"}),
    )
    .await
    .unwrap();
    assert_eq!(step.status(), StatusCode::FOUND);
    // At once, on the other node: the step just taken, not its copy from before.
    assert_eq!(on_a.challenge().await["component"], "ak-stage-password");
    assert_eq!(on_b.challenge().await["component"], "ak-stage-password");
    let step = post(
        &on_a,
        json!({"component": "ak-stage-password", "password": "Roaming-ar0und"}),
    )
    .await
    .unwrap();
    assert_eq!(step.status(), StatusCode::FOUND);
    // The login stage runs on the other node and signs in with a new session id: the
    // cookie it sets is the signed-in session's.
    let signed_in = on_b
        .client
        .get(format!("{}{}", on_b.base, on_b.url))
        .send()
        .await
        .unwrap();
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let (_, done) = json(signed_in).await;
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");
    let plain = reqwest::Client::new();
    let me = |base: &str| {
        plain
            .get(format!("{base}/api/v3/core/users/me/"))
            .header("cookie", &cookie)
            .send()
    };
    for _ in 0..3 {
        assert_eq!(me(&b.base_url).await.unwrap().status(), StatusCode::OK);
    }

    // Signing out through one node ends the session on the other, although the other
    // holds a copy that matches the cookie.
    let sign_out = crate::flows::Browser {
        client: on_a.client.clone(),
        base: a.base_url.clone(),
        url: "/api/v3/flows/executor/default-invalidation-flow/?query=".to_owned(),
    };
    assert_eq!(sign_out.challenge().await["component"], "xak-flow-redirect");
    let revoked = std::time::Instant::now();
    loop {
        if me(&b.base_url).await.unwrap().status() == StatusCode::FORBIDDEN {
            break;
        }
        assert!(
            revoked.elapsed() < std::time::Duration::from_secs(2),
            "the other node still serves the signed-out session"
        );
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    eprintln!(
        "a revocation reached the other node within {:?}",
        revoked.elapsed()
    );
}
