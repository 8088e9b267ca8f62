//! Signing in through akin's default authentication flow: identification, password (Argon2id,
//! and Django hashes migrated from authentik), failed-attempt limit, login.

use akin_testkit::{ADMIN_PASSWORD, Backend};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::flows::Browser;
use crate::{admin_get, admin_json, start};

on_both_backends!(
    identification_links_to_sign_up_and_recovery_flows,
    a_signed_in_user_updates_their_own_profile,
    akadmin_signs_in_through_the_default_flow,
    failed_attempts_cancel_the_flow,
    authentik_password_hashes_still_work,
    the_signed_in_session_calls_the_api_with_csrf_protection,
    remember_me_lengthens_the_session,
    signing_in_can_end_other_sessions,
    root_and_default_flow_links_redirect,
    cancel_drops_the_flow_in_progress,
    deleting_a_user_ends_their_sessions,
    the_user_page_leads_to_profile_and_password_flows_that_work,
    a_burst_of_passwords_waits_in_a_bounded_queue_and_the_rest_are_told_to_retry,
    password_guessing_is_throttled_per_account_and_address,
);

const FLOW: &str = "default-authentication-flow";

async fn akadmin_signs_in_through_the_default_flow(backend: Backend) {
    let env = start(&backend).await;
    let browser = Browser::new(&env.app, FLOW, "next=/if/user/");
    let first = browser.challenge().await;
    assert_eq!(first["component"], "ak-stage-identification");
    assert_eq!(first["user_fields"], json!(["username", "email"]));

    // An unknown name is not told apart (authentik's `pretend_user_exists`): the password
    // step follows and the password is wrong, as for an account.
    let stranger = Browser::new(&env.app, FLOW, "");
    stranger.challenge().await;
    let unknown = stranger
        .answer(json!({"component": "ak-stage-identification", "uid_field": "nobody"}))
        .await;
    assert_eq!(
        (
            unknown["component"].as_str(),
            unknown["pending_user"].as_str()
        ),
        (Some("ak-stage-password"), Some("nobody"))
    );
    let refused = stranger
        .answer(json!({"component": "ak-stage-password", "password": "wrong"}))
        .await;
    assert_eq!(
        refused["response_errors"]["password"][0]["string"],
        "Invalid password"
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
    assert_eq!(actions, ["login", "login_failed", "login_failed"]);
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
    // The whole origin counts: the same host over https, or on another port, is another
    // site; and a client's own X-Forwarded-Proto does not make this one https.
    let port: u16 = browser.base.rsplit(':').next().unwrap().parse().unwrap();
    for origin in [
        browser.base.replace("http://", "https://"),
        format!("http://127.0.0.1:{}", port.wrapping_add(1)),
    ] {
        let (status, _) = crate::json(write(Some(origin.clone()), None, "e").await.unwrap()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{origin}");
    }
    let spoofed = browser
        .client
        .post(api("/api/v3/core/groups/"))
        .json(&json!({"name": "f"}))
        .header("Origin", browser.base.replace("http://", "https://"))
        .header("X-Forwarded-Proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(spoofed.status(), StatusCode::FORBIDDEN);
    let (_, groups) = admin_get(&env, "/api/v3/core/groups/?search=").await;
    let names: Vec<&str> = groups["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["akin Admins", "c", "d"]);
}

/// Sets options on the default flow's login stage, as an administrator would.
async fn configure_login_stage(env: &akin_testkit::TestEnv, options: serde_json::Value) {
    let (_, stages) = admin_get(
        env,
        "/api/v3/stages/user_login/?name=default-authentication-login",
    )
    .await;
    let pk = stages["results"][0]["pk"].as_str().unwrap().to_owned();
    let (status, body) = admin_json(
        env,
        Method::PATCH,
        &format!("/api/v3/stages/user_login/{pk}/"),
        options,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Identification and password for akadmin; returns the challenge that follows.
async fn sign_in_as_akadmin(browser: &Browser) -> serde_json::Value {
    browser.challenge().await;
    browser
        .answer(json!({"component": "ak-stage-identification", "uid_field": "akadmin"}))
        .await;
    browser
        .answer(json!({"component": "ak-stage-password", "password": ADMIN_PASSWORD}))
        .await
}

async fn remember_me_lengthens_the_session(backend: Backend) {
    let env = start(&backend).await;
    configure_login_stage(
        &env,
        json!({"session_duration": "hours=1", "remember_me_offset": "days=30"}),
    )
    .await;
    let cookie_after = |remember: bool| {
        let env = &env;
        async move {
            let browser = Browser::new(&env.app, FLOW, "");
            let asked = sign_in_as_akadmin(&browser).await;
            assert_eq!(
                (asked["component"].as_str(), asked["pending_user"].as_str()),
                (Some("ak-stage-user-login"), Some("akadmin"))
            );
            let response = browser
                .client
                .post(format!("{}{}", browser.base, browser.url))
                .json(&json!({"component": "ak-stage-user-login", "remember_me": remember}))
                .send()
                .await
                .unwrap();
            let cookie = response.headers()["set-cookie"]
                .to_str()
                .unwrap()
                .to_owned();
            let done: serde_json::Value = response.json().await.unwrap();
            assert_eq!(done["component"], "xak-flow-redirect");
            cookie
        }
    };
    let remembered = cookie_after(true).await;
    assert!(
        remembered.contains(&format!("Max-Age={}", 3600 + 30 * 86400)),
        "{remembered}"
    );
    let forgotten = cookie_after(false).await;
    assert!(forgotten.contains("Max-Age=3600"), "{forgotten}");
}

async fn signing_in_can_end_other_sessions(backend: Backend) {
    let env = start(&backend).await;
    configure_login_stage(&env, json!({"terminate_other_sessions": true})).await;
    let me = |browser: &Browser| {
        browser
            .client
            .get(format!("{}/api/v3/core/users/me/", browser.base))
            .send()
    };
    let laptop = Browser::new(&env.app, FLOW, "");
    assert_eq!(
        sign_in_as_akadmin(&laptop).await["component"],
        "xak-flow-redirect"
    );
    assert_eq!(me(&laptop).await.unwrap().status(), StatusCode::OK);

    let phone = Browser::new(&env.app, FLOW, "");
    assert_eq!(
        sign_in_as_akadmin(&phone).await["component"],
        "xak-flow-redirect"
    );
    assert_eq!(me(&phone).await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        me(&laptop).await.unwrap().status(),
        StatusCode::FORBIDDEN,
        "the earlier session was ended"
    );
}

async fn root_and_default_flow_links_redirect(backend: Backend) {
    let env = start(&backend).await;
    let browser = Browser::new(&env.app, FLOW, "");
    let location = |path: &'static str| {
        let browser = &browser;
        async move {
            let response = browser
                .client
                .get(format!("{}{path}", browser.base))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::FOUND, "{path}");
            response.headers()["location"].to_str().unwrap().to_owned()
        }
    };
    assert_eq!(location("/").await, "/flows/-/default/authentication/");
    assert_eq!(
        location("/flows/-/default/authentication/?next=%2Fif%2Fadmin%2F").await,
        "/if/flow/default-authentication-flow/?next=%2Fif%2Fadmin%2F"
    );
    assert_eq!(
        location("/flows/-/default/invalidation/").await,
        "/if/flow/default-invalidation-flow/"
    );
    assert_eq!(
        sign_in_as_akadmin(&browser).await["component"],
        "xak-flow-redirect"
    );
    assert_eq!(location("/").await, "/if/user/");
}

async fn cancel_drops_the_flow_in_progress(backend: Backend) {
    let env = start(&backend).await;
    let browser = Browser::new(&env.app, FLOW, "");
    browser.challenge().await;
    let password = browser
        .answer(json!({"component": "ak-stage-identification", "uid_field": "akadmin"}))
        .await;
    assert_eq!(password["component"], "ak-stage-password");
    assert_eq!(browser.challenge().await["component"], "ak-stage-password");

    let cancel = |query: &'static str| {
        let browser = &browser;
        async move {
            let response = browser
                .client
                .get(format!("{}/flows/-/cancel/{query}", browser.base))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::FOUND);
            response.headers()["location"].to_str().unwrap().to_owned()
        }
    };
    assert_eq!(cancel("").await, "/flows/-/default/invalidation/");
    assert_eq!(
        browser.challenge().await["component"],
        "ak-stage-identification",
        "the flow starts over"
    );
    assert_eq!(cancel("?next=%2Fwelcome").await, "/welcome");
    assert_eq!(
        cancel("?next=https%3A%2F%2Fevil.example").await,
        "/flows/-/default/invalidation/",
        "next must stay on this server"
    );
}

async fn deleting_a_user_ends_their_sessions(backend: Backend) {
    let env = start(&backend).await;
    let (status, created) = admin_json(
        &env,
        Method::POST,
        "/api/v3/core/users/",
        json!({"username": "leaver", "name": "Leaver"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let pk = created["pk"].as_i64().unwrap();
    let (status, _) = admin_json(
        &env,
        Method::POST,
        &format!("/api/v3/core/users/{pk}/set_password/"),
        json!({"password": "Leaving-s00n"}),
    )
    .await;
    assert!(status.is_success(), "{status}");

    let browser = Browser::new(&env.app, FLOW, "");
    browser.challenge().await;
    browser
        .answer(json!({"component": "ak-stage-identification", "uid_field": "leaver"}))
        .await;
    let done = browser
        .answer(json!({"component": "ak-stage-password", "password": "Leaving-s00n"}))
        .await;
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");
    let me = || {
        browser
            .client
            .get(format!("{}/api/v3/core/users/me/", browser.base))
            .send()
    };
    assert_eq!(me().await.unwrap().status(), StatusCode::OK);

    let (status, _) = admin_json(
        &env,
        Method::DELETE,
        &format!("/api/v3/core/users/{pk}/"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        me().await.unwrap().status(),
        StatusCode::FORBIDDEN,
        "the deleted user's browser is signed out"
    );
}

/// An identification stage that names enrollment, recovery and passwordless flows links to
/// them, keeping the page's query, as authentik's `enroll_url`, `recovery_url` and
/// `passwordless_url`; the page shows "Sign up" and "Forgot password?" (issue 13, point 6).
async fn identification_links_to_sign_up_and_recovery_flows(backend: Backend) {
    let env = start(&backend).await;
    crate::flows::import(
        &env,
        "version: 1\nentries:\n\
         \x20 - model: authentik_flows.flow\n    id: signup\n    identifiers: {slug: sign-up}\n    attrs: {name: S, title: S, designation: enrollment}\n\
         \x20 - model: authentik_flows.flow\n    id: forgot\n    identifiers: {slug: forgot}\n    attrs: {name: F, title: F, designation: recovery}\n\
         \x20 - model: authentik_flows.flow\n    id: login\n    identifiers: {slug: with-links}\n    attrs: {name: L, title: L, designation: authentication}\n\
         \x20 - model: authentik_stages_identification.identificationstage\n    id: id\n    identifiers: {name: with-links-id}\n    attrs: {user_fields: [username], enrollment_flow: !KeyOf signup, recovery_flow: !KeyOf forgot}\n\
         \x20 - model: authentik_flows.flowstagebinding\n    identifiers: {target: !KeyOf login, stage: !KeyOf id, order: 0}\n",
    )
    .await;
    let challenge = Browser::new(&env.app, "with-links", "next=/if/user/")
        .challenge()
        .await;
    assert_eq!(
        challenge["enroll_url"],
        "/if/flow/sign-up/?next=%2Fif%2Fuser%2F"
    );
    assert_eq!(
        challenge["recovery_url"],
        "/if/flow/forgot/?next=%2Fif%2Fuser%2F"
    );
    assert!(challenge.get("passwordless_url").is_none(), "{challenge}");
    // A stage without them sends none; the default sign-in links the shipped recovery.
    let plain = Browser::new(&env.app, FLOW, "").challenge().await;
    assert!(plain.get("enroll_url").is_none(), "{plain}");
    assert_eq!(plain["recovery_url"], "/if/flow/default-recovery-flow/");

    let page = crate::flow_pages::PageBrowser::new(&env);
    let (status, _, html) = page.get("/if/flow/with-links/?next=/if/user/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(">Sign up</a>") && html.contains("sign-up"),
        "{html}"
    );
    assert!(
        html.contains(">Forgot password?</a>") && html.contains("forgot"),
        "{html}"
    );
}

/// With no pending user, a user-write stage updates whoever is signed in (authentik's
/// `test_authenticated_no_user`), so self-service profile flows work; an invitation in
/// effect is claimed with that write (issue 13, point 5).
async fn a_signed_in_user_updates_their_own_profile(backend: Backend) {
    let env = start(&backend).await;
    crate::flows::import(
        &env,
        "version: 1\nentries:\n\
         \x20 - model: authentik_flows.flow\n    id: flow\n    identifiers: {slug: profile}\n    attrs: {name: P, title: P, designation: stage_configuration, authentication: require_authenticated}\n\
         \x20 - model: authentik_stages_invitation.invitationstage\n    id: invitation\n    identifiers: {name: profile-invitation}\n\
         \x20 - model: authentik_stages_prompt.prompt\n    id: name\n    identifiers: {name: profile-name}\n    attrs: {field_key: name, label: Name, type: text}\n\
         \x20 - model: authentik_stages_prompt.promptstage\n    id: prompt\n    identifiers: {name: profile-prompt}\n    attrs: {fields: [!KeyOf name]}\n\
         \x20 - model: authentik_stages_user_write.userwritestage\n    id: write\n    identifiers: {name: profile-write}\n\
         \x20 - model: authentik_flows.flowstagebinding\n    identifiers: {target: !KeyOf flow, stage: !KeyOf invitation, order: 0}\n\
         \x20 - model: authentik_flows.flowstagebinding\n    identifiers: {target: !KeyOf flow, stage: !KeyOf prompt, order: 10}\n\
         \x20 - model: authentik_flows.flowstagebinding\n    identifiers: {target: !KeyOf flow, stage: !KeyOf write, order: 20}\n\
         \x20 - model: authentik_stages_invitation.invitation\n    identifiers: {name: profile-once}\n    attrs: {single_use: true, flow: !KeyOf flow}\n",
    )
    .await;
    let (_, invitations) = admin_get(
        &env,
        "/api/v3/stages/invitation/invitations/?name=profile-once",
    )
    .await;
    let token = invitations["results"][0]["pk"].as_str().unwrap().to_owned();
    let (_, before) = admin_get(&env, "/api/v3/core/users/").await;

    // Signed in as akadmin through the default login flow, in one browser.
    let login = Browser::new(&env.app, FLOW, "");
    login.challenge().await;
    login
        .answer(json!({"component": "ak-stage-identification", "uid_field": "akadmin"}))
        .await;
    let done = login
        .answer(json!({"component": "ak-stage-password", "password": ADMIN_PASSWORD}))
        .await;
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");
    let profile = Browser {
        client: login.client.clone(),
        base: login.base.clone(),
        url: format!("/api/v3/flows/executor/profile/?query=itoken%3D{token}"),
    };
    let form = profile.challenge().await;
    assert_eq!(form["component"], "ak-stage-prompt", "{form}");
    let done = profile
        .answer(json!({"component": "ak-stage-prompt", "name": "Ada Admin"}))
        .await;
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");

    let (_, after) = admin_get(&env, "/api/v3/core/users/?username=akadmin").await;
    assert_eq!(after["results"][0]["name"], "Ada Admin");
    let (_, all) = admin_get(&env, "/api/v3/core/users/").await;
    assert_eq!(
        all["pagination"]["count"], before["pagination"]["count"],
        "no account was created"
    );
    let (_, used) = admin_get(
        &env,
        "/api/v3/stages/invitation/invitations/?name=profile-once&status=used",
    )
    .await;
    assert_eq!(used["pagination"]["count"], 1, "{used}");
}

/// Issue 15, point 10: the user page links "Edit profile" and "Change password", shipped
/// flows that change the signed-in person's own account.
async fn the_user_page_leads_to_profile_and_password_flows_that_work(backend: Backend) {
    let env = start(&backend).await;
    crate::mail::user_with_password(&env, "uma", "uma@example.com", "First-passw0rd").await;
    let sign_in = |password: &'static str| {
        let env = &env;
        async move {
            let browser = Browser::new(&env.app, FLOW, "");
            browser.challenge().await;
            browser
                .answer(json!({"component": "ak-stage-identification", "uid_field": "uma"}))
                .await;
            let done = browser
                .answer(json!({"component": "ak-stage-password", "password": password}))
                .await;
            (browser, done["component"] == "xak-flow-redirect")
        }
    };
    let (browser, signed_in) = sign_in("First-passw0rd").await;
    assert!(signed_in);
    let page = browser
        .client
        .get(format!("{}/if/user/", browser.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(r#"id="edit-profile""#) && page.contains("default-user-settings-flow"),
        "{page}"
    );
    assert!(
        page.contains(r#"id="change-password""#) && page.contains("default-password-change"),
        "{page}"
    );

    // Edit profile: the form shows what the account has now.
    let settings = Browser {
        client: browser.client.clone(),
        base: browser.base.clone(),
        url: "/api/v3/flows/executor/default-user-settings-flow/?query=".into(),
    };
    let form = settings.challenge().await;
    let initial = |key: &str| {
        form["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["field_key"] == key)
            .map(|f| f["initial_value"].clone())
    };
    assert_eq!(initial("name"), Some(json!("uma")), "{form}");
    assert_eq!(initial("email"), Some(json!("uma@example.com")));
    let done = settings
        .answer(json!({"component": "ak-stage-prompt", "name": "Uma Thurman", "email": "uma@new.example.com"}))
        .await;
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");
    let (_, users) = admin_get(&env, "/api/v3/core/users/?username=uma").await;
    assert_eq!(users["results"][0]["name"], "Uma Thurman");
    assert_eq!(users["results"][0]["email"], "uma@new.example.com");

    // Change password.
    let change = Browser {
        client: browser.client.clone(),
        base: browser.base.clone(),
        url: "/api/v3/flows/executor/default-password-change/?query=".into(),
    };
    assert_eq!(change.challenge().await["component"], "ak-stage-prompt");
    let done = change
        .answer(json!({"component": "ak-stage-prompt", "password": "Second-passw0rd", "password_repeat": "Second-passw0rd"}))
        .await;
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");
    assert!(sign_in("Second-passw0rd").await.1, "the new password works");
    assert!(!sign_in("First-passw0rd").await.1, "the old one does not");

    // Nobody signed in: these flows are not for them, and they are told to log in.
    let anonymous = Browser::new(&env.app, "default-password-change", "");
    let refused = anonymous.challenge().await;
    assert_eq!(refused["code"], "flow_not_applicable");
    assert_eq!(
        refused["error_message"],
        "Log in first, then open this link again."
    );
    // Signed in, a page for people who are not (a recovery, an invitation's sign-up) says so
    // (issue 15, point 9).
    let signed_in_elsewhere = Browser {
        client: browser.client.clone(),
        base: browser.base.clone(),
        url: "/api/v3/flows/executor/default-recovery-flow/?query=".into(),
    };
    let refused = signed_in_elsewhere.challenge().await;
    assert!(
        refused["error_message"]
            .as_str()
            .unwrap()
            .starts_with("You are signed in"),
        "{refused}"
    );
}

/// Issue 16, point 1: with one hash at a time and two waiting, 24 passwords posted at once
/// are each either checked (the answer "Invalid password") or refused at once with 503 and
/// `Retry-After` — never a 500, never hundreds of hashes at once — while health checks
/// answer; afterwards the right password signs in as usual.
async fn a_burst_of_passwords_waits_in_a_bounded_queue_and_the_rest_are_told_to_retry(
    backend: Backend,
) {
    // Each guess from an address of its own (through a trusted proxy), so the guessing
    // throttle leaves them all to the hashing queue.
    let options = akin_testkit::SpawnOptions {
        env: vec![
            ("AKIN_HASH_CONCURRENCY".into(), "1".into()),
            ("AKIN_HASH_QUEUE".into(), "2".into()),
            ("AKIN_TRUSTED_PROXIES".into(), "127.0.0.1, ::1".into()),
        ],
        ..akin_testkit::SpawnOptions::default()
    };
    let env = akin_testkit::TestEnv::start_with(crate::BIN, &backend, &options).await;
    let mut browsers = Vec::new();
    for _ in 0..24 {
        let browser = Browser::new(&env.app, FLOW, "");
        browser.challenge().await;
        let step = browser
            .answer(json!({"component": "ak-stage-identification", "uid_field": "akadmin"}))
            .await;
        assert_eq!(step["component"], "ak-stage-password");
        browsers.push(browser);
    }
    let guesses = browsers.iter().enumerate().map(|(i, browser)| async move {
        let response = browser
            .client
            .post(format!("{}{}", browser.base, browser.url))
            .header("X-Forwarded-For", format!("10.0.0.{i}"))
            .json(&json!({"component": "ak-stage-password", "password": "wrong"}))
            .send()
            .await
            .unwrap();
        let retry = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        (response.status(), retry)
    });
    // Readiness polled all along, as a load balancer would.
    let health = akin_testkit::HealthWatch::start(&env.app);
    let answers = crate::flows::futures_join_all(guesses).await;
    let seen = health.stop().await;
    assert!(seen.failures.is_empty(), "{seen:?}");
    let checked = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::OK)
        .count();
    let busy = answers
        .iter()
        .filter(|(status, retry)| {
            *status == StatusCode::SERVICE_UNAVAILABLE && retry.as_deref() == Some("1")
        })
        .count();
    assert_eq!(checked + busy, answers.len(), "{answers:?}");
    assert!(
        checked >= 3,
        "one running and two waiting are served: {answers:?}"
    );
    assert!(busy >= 1, "the rest are refused: {answers:?}");

    // A refused guess left its flow where it was: the right password works afterwards.
    let refused = answers
        .iter()
        .position(|(status, _)| *status == StatusCode::SERVICE_UNAVAILABLE)
        .unwrap();
    let done = browsers[refused]
        .answer(json!({"component": "ak-stage-password", "password": ADMIN_PASSWORD}))
        .await;
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");
}

/// A guesser at akadmin from one address: five wrong passwords are checked, then each
/// next guess must wait twice as long as the one before (1 s, 2 s, …) after the latest. A
/// guess that comes too soon is not checked, the right password included, and is recorded
/// as throttled; twenty at once are all refused. The owner, from another address, signs
/// in at once. Once the wait has passed, the right password works from the first address
/// too, and wipes its slate. An unknown account is throttled alike (no enumeration).
async fn password_guessing_is_throttled_per_account_and_address(backend: Backend) {
    let options = akin_testkit::SpawnOptions {
        env: vec![("AKIN_TRUSTED_PROXIES".into(), "127.0.0.1, ::1".into())],
        ..akin_testkit::SpawnOptions::default()
    };
    let env = akin_testkit::TestEnv::start_with(crate::BIN, &backend, &options).await;
    let guess = |account: &'static str, address: &'static str, password: &'static str| {
        let env = &env;
        async move {
            let browser = Browser::new(&env.app, FLOW, "");
            browser.challenge().await;
            let step = browser
                .answer(json!({"component": "ak-stage-identification", "uid_field": account}))
                .await;
            assert_eq!(step["component"], "ak-stage-password", "{step}");
            browser
                .answer_with(
                    &[("X-Forwarded-For", address)],
                    json!({"component": "ak-stage-password", "password": password}),
                )
                .await
        }
    };
    let error = |answer: &Value| {
        answer["response_errors"]["password"][0]["string"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let guesser = "203.0.113.7";
    for n in 0..5 {
        let answer = guess("akadmin", guesser, "wrong").await;
        assert_eq!(error(&answer), "Invalid password", "guess {n}: {answer}");
    }
    let too_soon = guess("akadmin", guesser, ADMIN_PASSWORD).await;
    assert!(
        error(&too_soon).starts_with("Too many failed attempts. Try again in"),
        "{too_soon}"
    );
    // Twenty at once, with a monitor polling readiness alongside.
    let health = akin_testkit::HealthWatch::start(&env.app);
    let at_once = (0..20).map(|_| guess("akadmin", guesser, ADMIN_PASSWORD));
    for answer in crate::flows::futures_join_all(at_once).await {
        assert!(
            error(&answer).starts_with("Too many failed attempts"),
            "{answer}"
        );
    }
    let seen = health.stop().await;
    assert!(seen.failures.is_empty(), "{seen:?}");
    // The owner, elsewhere.
    let owner = guess("akadmin", "198.51.100.20", ADMIN_PASSWORD).await;
    assert_eq!(owner["component"], "xak-flow-redirect", "{owner}");
    // After the wait (1 s after the fifth failure), from the guesser's address too.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let later = guess("akadmin", guesser, ADMIN_PASSWORD).await;
    assert_eq!(later["component"], "xak-flow-redirect", "{later}");
    let wiped = guess("akadmin", guesser, "wrong").await;
    assert_eq!(error(&wiped), "Invalid password", "{wiped}");

    for n in 0..5 {
        let answer = guess("nobody-here", guesser, "wrong").await;
        assert_eq!(
            error(&answer),
            "Invalid password",
            "unknown, guess {n}: {answer}"
        );
    }
    let unknown = guess("nobody-here", guesser, "wrong").await;
    assert!(
        error(&unknown).starts_with("Too many failed attempts"),
        "{unknown}"
    );

    let (_, events) = admin_get(
        &env,
        "/api/v3/events/events/?action=login_failed&page_size=100",
    )
    .await;
    let throttled = events["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["context"]["throttled"] == true)
        .count();
    assert_eq!(throttled, 22, "one event per refused guess");
}
