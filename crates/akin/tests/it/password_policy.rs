//! Password policies (authentik's `authentik_policies_password`) through the real server:
//! each static rule alone and together (every broken rule told at once), zxcvbn with its
//! feedback, the Have I Been Pwned range API on a real HTTP server on loopback (found, not
//! found, unreachable: closed and open), the messages next to the password field in the
//! executor's JSON and in the HTML page, and authentik's password-change flow imported
//! unchanged.

use std::sync::{Arc, Mutex};

use akin_testkit::{Backend, SpawnOptions, TestEnv};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::flow_pages::PageBrowser;
use crate::flows::{Browser, import, two_stage_flow};
use crate::{admin_get, admin_json, start};

on_both_backends!(
    each_rule_alone_and_together_and_zxcvbn,
    breaches_are_looked_up_by_prefix_and_an_unreachable_api_fails_closed_or_open,
    a_prompt_shows_the_policys_messages_next_to_the_password_field,
    authentiks_password_change_flow_imports_unchanged_and_keeps_weak_passwords_out,
);

async fn create(env: &TestEnv, body: Value) -> String {
    let (status, policy) = admin_json(env, Method::POST, "/api/v3/policies/password/", body).await;
    assert_eq!(status, StatusCode::CREATED, "{policy}");
    assert_eq!(policy["component"], "ak-policy-password-form");
    policy["pk"].as_str().unwrap().to_owned()
}

/// The policy test endpoint with `password` in the context.
async fn try_password(env: &TestEnv, policy: &str, password: &str) -> Value {
    let (_, me) = admin_get(env, "/api/v3/core/users/me/").await;
    let (status, tested) = admin_json(
        env,
        Method::POST,
        &format!("/api/v3/policies/all/{policy}/test/"),
        json!({"user": me["user"]["pk"], "context": {"password": password}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tested}");
    tested
}

fn messages(tested: &Value) -> Vec<String> {
    tested["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect()
}

async fn each_rule_alone_and_together_and_zxcvbn(backend: Backend) {
    let env = start(&backend).await;
    // Each rule alone: a password it refuses (with its message) and one it accepts.
    let rules = [
        (
            "length_min",
            8,
            "short",
            "long-enough",
            "At least 8 characters.",
        ),
        ("amount_digits", 2, "one1", "two22", "At least 2 digits."),
        (
            "amount_uppercase",
            1,
            "lower",
            "Upper",
            "At least 1 uppercase letter.",
        ),
        (
            "amount_lowercase",
            2,
            "UPPEr",
            "UPper",
            "At least 2 lowercase letters.",
        ),
        ("amount_symbols", 1, "plain", "pl@in", "At least 1 symbol"),
    ];
    for (field, amount, refused, accepted, message) in rules {
        let policy = create(
            &env,
            json!({"name": format!("only-{field}"), field: amount}),
        )
        .await;
        let tested = try_password(&env, &policy, refused).await;
        assert_eq!(tested["passing"], false, "{field}: {tested}");
        let told = messages(&tested);
        assert_eq!(told.len(), 1, "{field}: {told:?}");
        assert!(told[0].starts_with(message), "{field}: {told:?}");
        let tested = try_password(&env, &policy, accepted).await;
        assert_eq!(tested["passing"], true, "{field}: {tested}");
    }
    // Together: every broken rule at once, the policy's own message first.
    let strict = create(
        &env,
        json!({"name": "strict", "length_min": 10, "amount_digits": 1, "amount_uppercase": 1,
               "amount_symbols": 1, "error_message": "Choose a stronger password."}),
    )
    .await;
    let tested = try_password(&env, &strict, "weak").await;
    assert_eq!(
        messages(&tested)[..4],
        [
            "Choose a stronger password.",
            "At least 10 characters.",
            "At least 1 digit.",
            "At least 1 uppercase letter."
        ]
    );
    assert!(messages(&tested)[4].starts_with("At least 1 symbol"));
    assert_eq!(
        try_password(&env, &strict, "Much-Better-2").await["passing"],
        true
    );

    // zxcvbn: a common password fails with zxcvbn's own feedback; a long passphrase passes.
    let guessable = create(
        &env,
        json!({"name": "zxcvbn", "check_static_rules": false, "check_zxcvbn": true,
               "zxcvbn_score_threshold": 2}),
    )
    .await;
    let tested = try_password(&env, &guessable, "password1").await;
    assert_eq!(tested["passing"], false, "{tested}");
    let told = messages(&tested).join(" ");
    assert!(told.contains("common password"), "{told}");
    let tested = try_password(&env, &guessable, "violet tractor swims 47 lanterns").await;
    assert_eq!(tested["passing"], true, "{tested}");
    // Neither in the messages nor in the log lines is the password itself.
    assert!(!tested.to_string().contains("lanterns"), "{tested}");

    // Nothing to check: authentik's words.
    let (_, me) = admin_get(&env, "/api/v3/core/users/me/").await;
    let (_, tested) = admin_json(
        &env,
        Method::POST,
        &format!("/api/v3/policies/all/{strict}/test/"),
        json!({"user": me["user"]["pk"], "context": {}}),
    )
    .await;
    assert_eq!(messages(&tested), ["Password not set in context"]);

    // As an attacker would: twenty huge passwords (600,000 characters each, just under the
    // body limit) at once, with readiness polled alongside. Each is judged (zxcvbn reads
    // its first 100 characters), nothing fails, nobody else waits.
    let health = akin_testkit::HealthWatch::start(&env.app);
    let huge = "Aa1!".repeat(150_000);
    let judged =
        crate::flows::futures_join_all((0..20).map(|_| try_password(&env, &strict, &huge))).await;
    let seen = health.stop().await;
    assert!(
        judged.iter().all(|t| t["passing"] == true),
        "{:?}",
        judged[0]
    );
    assert!(seen.failures.is_empty(), "{seen:?}");

    // Careless settings are refused, not stored.
    for (field, value, error) in [
        (
            "length_min",
            json!(-1),
            "Ensure this value is greater than or equal to 0.",
        ),
        (
            "zxcvbn_score_threshold",
            json!(5),
            "Ensure this value is less than or equal to 4.",
        ),
    ] {
        let (status, body) = admin_json(
            &env,
            Method::POST,
            "/api/v3/policies/password/",
            json!({"name": format!("careless-{field}"), field: value}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body[field][0], error, "{body}");
    }
}

/// A range API on loopback: answers `GET /range/PREFIX` with `lines` for the prefix of
/// SHA-1("password") (5BAA6) and padding otherwise; remembers every path asked.
async fn range_api(lines: &'static str) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let asked = Arc::new(Mutex::new(Vec::new()));
    let seen = asked.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&request).into_owned();
                let path = text
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned();
                seen.lock().unwrap().push(text);
                let body = if path == "/range/5BAA6" {
                    lines
                } else {
                    "0018A45C4D1DEF81644B54AB7F969B88D65:0\r\n"
                };
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                socket.write_all(response.as_bytes()).await.ok();
            });
        }
    });
    (base, asked)
}

async fn start_with_hibp(backend: &Backend, url: &str, unreachable: &str) -> TestEnv {
    let options = SpawnOptions {
        env: vec![
            ("AKIN_HIBP_URL".into(), url.into()),
            ("AKIN_HIBP_UNREACHABLE".into(), unreachable.into()),
        ],
        ..SpawnOptions::default()
    };
    TestEnv::start_with(crate::BIN, backend, &options).await
}

async fn breaches_are_looked_up_by_prefix_and_an_unreachable_api_fails_closed_or_open(
    backend: Backend,
) {
    let (base, asked) = range_api(
        "1D2DA4053E34E76F6576ED1DA63134B5E2A:2\r\n1e4c9b93f3f0682250b6cf8331b7ee68fd8:3861493\r\n",
    )
    .await;
    let env = start_with_hibp(&backend, &base, "fail").await;
    let breached = json!({"name": "breached", "check_static_rules": false,
                          "check_have_i_been_pwned": true});
    let policy = create(&env, breached.clone()).await;
    let found = try_password(&env, &policy, "password").await;
    assert_eq!(found["passing"], false, "{found}");
    assert_eq!(
        messages(&found),
        ["Password exists on 3861493 online lists."]
    );
    let unlisted = try_password(&env, &policy, "an unlisted passphrase").await;
    assert_eq!(unlisted["passing"], true, "{unlisted}");
    // Only five hex digits of each hash left the server; never the password.
    let requests = asked.lock().unwrap().clone();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(
        requests[0].to_lowercase().contains("add-padding: true"),
        "{requests:?}"
    );
    assert!(requests[0].starts_with("GET /range/5BAA6 "), "{requests:?}");
    for request in &requests {
        assert!(
            !request.contains("password") && !request.contains("passphrase"),
            "{request}"
        );
        assert!(
            !request.to_uppercase().contains("1E4C9B93F3F06822"),
            "{request}"
        );
    }
    // Up to `hibp_allowed_count` breaches pass.
    let lenient = create(
        &env,
        json!({"name": "lenient", "check_static_rules": false,
               "check_have_i_been_pwned": true, "hibp_allowed_count": 4_000_000}),
    )
    .await;
    assert_eq!(
        try_password(&env, &lenient, "password").await["passing"],
        true
    );
    drop(env);

    // Nobody listening: closed (the default) refuses and says why; open passes and says so.
    let closed = start_with_hibp(&backend, "http://127.0.0.1:9", "fail").await;
    let policy = create(&closed, breached.clone()).await;
    let refused = try_password(&closed, &policy, "an unlisted passphrase").await;
    assert_eq!(refused["passing"], false, "{refused}");
    assert!(
        messages(&refused)[0].contains("could not be checked"),
        "{refused}"
    );
    let open = start_with_hibp(&backend, "http://127.0.0.1:9", "pass").await;
    let policy = create(&open, breached).await;
    let passed = try_password(&open, &policy, "an unlisted passphrase").await;
    assert_eq!(passed["passing"], true, "{passed}");
    let logged = passed["log_messages"].to_string();
    assert!(logged.contains("lookup failed"), "{logged}");
    assert_eq!(
        passed["log_messages"][0]["logger"],
        "authentik.policies.password"
    );
}

/// The seed's first enrollment prompt (username, password, password_repeat) with a
/// password policy as its validation policy.
async fn guarded_enrollment(env: &TestEnv) {
    two_stage_flow(env).await;
    let policy = create(
        env,
        json!({"name": "enrollment-passwords", "length_min": 8, "amount_digits": 1,
               "check_zxcvbn": true, "zxcvbn_score_threshold": 1, "execution_logging": true}),
    )
    .await;
    let (_, stages) = admin_get(
        env,
        "/api/v3/stages/prompt/stages/?name=default-enrollment-prompt-first",
    )
    .await;
    let stage = stages["results"][0]["pk"].as_str().unwrap().to_owned();
    let (status, body) = admin_json(
        env,
        Method::PATCH,
        &format!("/api/v3/stages/prompt/stages/{stage}/"),
        json!({"validation_policies": [policy]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn a_prompt_shows_the_policys_messages_next_to_the_password_field(backend: Backend) {
    let env = start(&backend).await;
    guarded_enrollment(&env).await;
    let browser = Browser::new(&env.app, "default-enrollment-flow", "");
    browser.challenge().await;
    let weak = |password: &str| {
        json!({"component": "ak-stage-prompt", "username": "wendy",
               "password": password, "password_repeat": password})
    };
    let refused = browser.answer(weak("xyzzy")).await;
    let errors: Vec<&str> = refused["response_errors"]["password"]
        .as_array()
        .unwrap_or_else(|| panic!("{refused}"))
        .iter()
        .map(|e| e["string"].as_str().unwrap())
        .collect();
    assert!(errors.contains(&"At least 8 characters."), "{errors:?}");
    assert!(errors.contains(&"At least 1 digit."), "{errors:?}");
    assert!(errors.len() > 2, "zxcvbn's feedback too: {errors:?}");
    assert!(
        refused["response_errors"].get("non_field_errors").is_none(),
        "{refused}"
    );
    let next = browser.answer(weak("violet tractor 47 lanterns")).await;
    assert_eq!(
        next["component"], "ak-stage-prompt",
        "the second page: {next}"
    );
    assert!(next["response_errors"].is_null() || next["response_errors"] == json!({}));

    // The HTML page, as a browser without JavaScript sees it.
    let page = PageBrowser::new(&env);
    let path = "/if/flow/default-enrollment-flow/";
    page.get(path).await;
    let (status, _, html) = page
        .post(
            path,
            &[
                ("component", "ak-stage-prompt"),
                ("username", "wendy2"),
                ("password", "abc"),
                ("password_repeat", "abc"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(r#"<p class="field-error" id="error-password">"#),
        "{html}"
    );
    assert!(html.contains("At least 8 characters."), "{html}");
    assert!(
        !html.contains("value=\"abc\""),
        "the password is not sent back"
    );
}

async fn authentiks_password_change_flow_imports_unchanged_and_keeps_weak_passwords_out(
    backend: Backend,
) {
    let env = start(&backend).await;
    let yaml = std::fs::read_to_string(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/blueprints-next/default/flow-password-change.yaml"),
    )
    .unwrap();
    import(&env, &yaml).await;
    let (_, policies) = admin_get(
        &env,
        "/api/v3/policies/password/?name=default-password-change-password-policy",
    )
    .await;
    let policy = &policies["results"][0];
    assert_eq!(policy["length_min"], 8, "{policies}");
    assert_eq!(policy["check_zxcvbn"], true);
    assert_eq!(policy["bound_to"], 1);

    // A user signs in, then changes their password through the imported flow.
    let (_, created) = admin_json(
        &env,
        Method::POST,
        "/api/v3/core/users/",
        json!({"username": "chang", "name": "Chang"}),
    )
    .await;
    let pk = created["pk"].as_i64().unwrap();
    admin_json(
        &env,
        Method::POST,
        &format!("/api/v3/core/users/{pk}/set_password/"),
        json!({"password": "First-passw0rd-here"}),
    )
    .await;
    let sign_in = |password: &'static str| {
        let env = &env;
        async move {
            let browser = Browser::new(&env.app, "default-authentication-flow", "");
            browser.challenge().await;
            browser
                .answer(json!({"component": "ak-stage-identification", "uid_field": "chang"}))
                .await;
            let done = browser
                .answer(json!({"component": "ak-stage-password", "password": password}))
                .await;
            (browser, done["component"] == "xak-flow-redirect")
        }
    };
    let change = |browser: Browser, password: &'static str| async move {
        let browser = Browser {
            url: "/api/v3/flows/executor/default-password-change/?query=".to_owned(),
            ..browser
        };
        let prompt = browser.challenge().await;
        assert_eq!(prompt["component"], "ak-stage-prompt", "{prompt}");
        browser
            .answer(json!({"component": "ak-stage-prompt", "password": password,
                           "password_repeat": password}))
            .await
    };
    // A weak password: akin's shipped flow checks it at the prompt (the same policy, by
    // name) and says why next to the field; nothing is written.
    let (browser, signed_in) = sign_in("First-passw0rd-here").await;
    assert!(signed_in);
    let refused = change(browser, "abc").await;
    assert_eq!(refused["component"], "ak-stage-prompt", "{refused}");
    assert!(
        refused["response_errors"]["password"][0]["string"]
            .as_str()
            .is_some_and(|m| m.starts_with("At least 8 characters")),
        "{refused}"
    );
    assert!(sign_in("First-passw0rd-here").await.1, "unchanged");
    assert!(!sign_in("abc").await.1);
    // Without the prompt's check, authentik's binding alone still keeps it out: the write
    // stage is skipped, the flow ends, the password stays.
    let (_, stages) = admin_get(
        &env,
        "/api/v3/stages/prompt/stages/?name=default-password-change-prompt",
    )
    .await;
    let stage = stages["results"][0]["pk"].as_str().unwrap().to_owned();
    admin_json(
        &env,
        Method::PATCH,
        &format!("/api/v3/stages/prompt/stages/{stage}/"),
        json!({"validation_policies": []}),
    )
    .await;
    let (browser, _) = sign_in("First-passw0rd-here").await;
    let done = change(browser, "abcdefgh").await;
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");
    assert!(sign_in("First-passw0rd-here").await.1, "still unchanged");
    // A strong one is written.
    let (browser, _) = sign_in("First-passw0rd-here").await;
    change(browser, "violet tractor 47 lanterns").await;
    assert!(sign_in("violet tractor 47 lanterns").await.1, "changed");
}
