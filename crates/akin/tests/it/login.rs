//! Signing in through akin's default authentication flow: identification, password (Argon2id,
//! and Django hashes migrated from authentik), failed-attempt limit, login.

use akin_testkit::{ADMIN_PASSWORD, Backend};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::flows::Browser;
use crate::{admin_get, admin_json, start};

on_both_backends!(
    akadmin_signs_in_through_the_default_flow,
    failed_attempts_cancel_the_flow,
    authentik_password_hashes_still_work,
    flows_guarded_by_policies_stay_closed,
    the_signed_in_session_calls_the_api_with_csrf_protection,
);

const FLOW: &str = "default-authentication-flow";

async fn akadmin_signs_in_through_the_default_flow(backend: Backend) {
    let env = start(&backend).await;
    let browser = Browser::new(&env.app, FLOW, "next=/if/user/");
    let first = browser.challenge().await;
    assert_eq!(first["component"], "ak-stage-identification");
    assert_eq!(first["user_fields"], json!(["username", "email"]));

    let unknown = browser
        .answer(json!({"component": "ak-stage-identification", "uid_field": "nobody"}))
        .await;
    assert_eq!(
        unknown["response_errors"]["non_field_errors"][0]["string"],
        "Failed to authenticate."
    );

    let password = browser
        .answer(json!({"component": "ak-stage-identification", "uid_field": "AKADMIN"}))
        .await;
    assert_eq!(
        (
            password["component"].as_str(),
            password["pending_user"].as_str()
        ),
        (Some("ak-stage-password"), Some("AKADMIN"))
    );
    let wrong = browser
        .answer(json!({"component": "ak-stage-password", "password": "wrong"}))
        .await;
    assert_eq!(
        wrong["response_errors"]["password"][0]["string"],
        "Invalid password"
    );
    let done = browser
        .answer(json!({"component": "ak-stage-password", "password": ADMIN_PASSWORD}))
        .await;
    assert_eq!(
        (done["component"].as_str(), done["to"].as_str()),
        (Some("xak-flow-redirect"), Some("/if/user/"))
    );

    let (_, me) = admin_get(&env, "/api/v3/core/users/?username=akadmin").await;
    assert!(me["results"][0]["last_login"].is_string());
    let (_, events) = admin_get(
        &env,
        "/api/v3/events/events/?actions=login&actions=login_failed",
    )
    .await;
    let actions: Vec<&str> = events["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["login", "login_failed"]);
}

async fn failed_attempts_cancel_the_flow(backend: Backend) {
    let env = start(&backend).await;
    let browser = Browser::new(&env.app, FLOW, "");
    browser.challenge().await;
    browser
        .answer(json!({"component": "ak-stage-identification", "uid_field": "akadmin"}))
        .await;
    let mut last = json!({});
    for _ in 0..5 {
        last = browser
            .answer(json!({"component": "ak-stage-password", "password": "guess"}))
            .await;
    }
    assert_eq!(
        (last["component"].as_str(), last["code"].as_str()),
        (Some("ak-stage-access-denied"), Some("too_many_attempts"))
    );
    // The next request starts the flow over.
    assert_eq!(
        browser.challenge().await["component"],
        "ak-stage-identification"
    );
}

async fn authentik_password_hashes_still_work(backend: Backend) {
    let env = start(&backend).await;
    let (status, _) = admin_json(
        &env,
        Method::POST,
        "/api/v3/core/users/",
        json!({"username": "legacy", "name": "Legacy"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    // hashlib.pbkdf2_hmac("sha256", b"hunter2", b"saltsalt", 1000), as Django stores it.
    env.db
        .execute("UPDATE users SET password = 'pbkdf2_sha256$1000$saltsalt$SGostCYuh4jIkZF3T30ZOll3DSwORihSR6ozq+eFeiA=' WHERE username = 'legacy'")
        .await;
    let browser = Browser::new(&env.app, FLOW, "");
    browser.challenge().await;
    browser
        .answer(json!({"component": "ak-stage-identification", "uid_field": "legacy"}))
        .await;
    let done = browser
        .answer(json!({"component": "ak-stage-password", "password": "hunter2"}))
        .await;
    assert_eq!(done["component"], "xak-flow-redirect");
    let hash = env
        .db
        .text("SELECT password FROM users WHERE username = 'legacy'")
        .await;
    assert!(
        hash.starts_with("$argon2id$"),
        "rehashed on sign-in: {hash}"
    );
}

/// The initial-setup flow is guarded by a policy; akin cannot evaluate policies yet, so the
/// flow must refuse everyone rather than let anyone create an administrator.
async fn flows_guarded_by_policies_stay_closed(backend: Backend) {
    let env = start(&backend).await;
    let browser = Browser::new(&env.app, "initial-setup", "");
    let challenge = browser.challenge().await;
    assert_eq!(
        (challenge["component"].as_str(), challenge["code"].as_str()),
        (Some("ak-stage-access-denied"), Some("policies_unsupported"))
    );
    assert_eq!(env.db.number("SELECT COUNT(*) FROM users").await, 1);
}

async fn the_signed_in_session_calls_the_api_with_csrf_protection(backend: Backend) {
    let env = start(&backend).await;
    let browser = Browser::new(&env.app, FLOW, "");
    let api = |path: &str| format!("{}{path}", browser.base);
    let (status, _) = crate::json(
        browser
            .client
            .get(api("/api/v3/core/users/me/"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not signed in yet");

    browser.challenge().await;
    browser
        .answer(json!({"component": "ak-stage-identification", "uid_field": "akadmin"}))
        .await;
    let done = browser
        .answer(json!({"component": "ak-stage-password", "password": ADMIN_PASSWORD}))
        .await;
    assert_eq!(done["component"], "xak-flow-redirect");

    let (status, me) = crate::json(
        browser
            .client
            .get(api("/api/v3/core/users/me/"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, me["user"]["username"].as_str()),
        (StatusCode::OK, Some("akadmin"))
    );

    let write = |origin: Option<String>, fetch_site: Option<&'static str>, name: &'static str| {
        let mut request = browser
            .client
            .post(api("/api/v3/core/groups/"))
            .json(&json!({"name": name}));
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        if let Some(site) = fetch_site {
            request = request.header("Sec-Fetch-Site", site);
        }
        request.send()
    };
    let (status, body) = crate::json(write(None, None, "a").await.unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body["detail"].as_str().unwrap().starts_with("CSRF Failed"),
        "{body}"
    );
    let (status, _) = crate::json(
        write(Some("https://evil.example".into()), Some("cross-site"), "b")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) =
        crate::json(write(Some(browser.base.clone()), None, "c").await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = crate::json(write(None, Some("same-origin"), "d").await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, groups) = admin_get(&env, "/api/v3/core/groups/?search=").await;
    let names: Vec<&str> = groups["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["akin Admins", "c", "d"]);
}
