//! The flow executor end to end: the seed's invitation walkthrough, every refusal reason,
//! link scanners, stale plans, and a single-use invitation raced by 50 browsers.

use akin_testkit::{Backend, TestApp, TestEnv};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{BIN, admin_get, start};

on_both_backends!(
    the_seeds_invitation_enrollment_works_end_to_end,
    every_refusal_has_its_reason,
    link_scanners_consume_nothing_and_new_links_replace_stale_plans,
    a_single_use_invitation_yields_exactly_one_account_under_a_race,
    invalid_responses_can_restart_the_flow,
    every_stage_kind_honours_invalid_response_action,
    flows_only_an_application_or_outpost_may_open_are_refused,
    an_edited_flow_is_planned_anew_on_every_node,
    a_flood_of_made_up_flow_slugs_neither_grows_nor_stalls_the_server,
);

/// A browser: its own cookie jar, walking one flow link.
pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
    pub url: String,
}

impl Browser {
    pub fn new(app: &TestApp, slug: &str, page_query: &str) -> Browser {
        Self::with_headers(app, slug, page_query, reqwest::header::HeaderMap::new())
    }

    /// A browser whose every request comes from `address` through a trusted proxy
    /// (`X-Forwarded-For`; the server must trust 127.0.0.1).
    pub fn at(app: &TestApp, slug: &str, address: &str) -> Browser {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-forwarded-for", address.parse().unwrap());
        Self::with_headers(app, slug, "", headers)
    }

    fn with_headers(
        app: &TestApp,
        slug: &str,
        page_query: &str,
        headers: reqwest::header::HeaderMap,
    ) -> Browser {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("query", page_query)
            .finish();
        Browser {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .default_headers(headers)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.base_url.clone(),
            url: format!("/api/v3/flows/executor/{slug}/?{query}"),
        }
    }

    /// GET, following the executor's 302s, to the next challenge.
    pub async fn challenge(&self) -> Value {
        let mut url = self.url.clone();
        for _ in 0..20 {
            let response = self
                .client
                .get(format!("{}{url}", self.base))
                .send()
                .await
                .unwrap();
            if response.status() == StatusCode::FOUND {
                url = response.headers()["location"].to_str().unwrap().to_owned();
                continue;
            }
            assert_eq!(response.status(), StatusCode::OK);
            return response.json().await.unwrap();
        }
        panic!("redirect loop");
    }

    /// POSTs a response; returns the challenge that follows (after any 302s).
    pub async fn answer(&self, body: Value) -> Value {
        self.answer_with(&[], body).await
    }

    /// [`Browser::answer`] with request headers (`X-Forwarded-For` from a trusted proxy).
    pub async fn answer_with(&self, headers: &[(&str, &str)], body: Value) -> Value {
        let mut request = self
            .client
            .post(format!("{}{}", self.base, self.url))
            .json(&body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        if response.status() == StatusCode::FOUND {
            return self.challenge().await;
        }
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// POSTs a response and stops at the 302 (the stage is done, the next not yet run).
    async fn answer_only(&self, body: Value) -> StatusCode {
        self.client
            .post(format!("{}{}", self.base, self.url))
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
    }
}

pub async fn import(env: &TestEnv, yaml: &str) {
    let body = import_report(env, yaml).await;
    assert_eq!(body["success"], true, "{body}");
    // The report names what it made, in words (issue 15, point 9).
    for log in body["logs"].as_array().unwrap() {
        let event = log["event"].as_str().unwrap();
        assert!(!event.contains("authentik_"), "a model name in {event}");
    }
}

/// Uploads a blueprint through the Import API; returns `{"success", "logs"}`.
pub async fn import_report(env: &TestEnv, yaml: &str) -> Value {
    let form = Form::new().part(
        "file",
        Part::bytes(yaml.as_bytes().to_vec()).file_name("b.yaml"),
    );
    let response = env
        .app
        .admin(Method::POST, "/api/v3/managed/blueprints/import/")
        .multipart(form)
        .send()
        .await
        .unwrap();
    response.json().await.unwrap()
}

pub async fn two_stage_flow(env: &TestEnv) {
    let yaml = std::fs::read_to_string(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/blueprints/example/flows-enrollment-2-stage.yaml"),
    )
    .unwrap();
    import(env, &yaml).await;
}

/// Creates an invitation through a blueprint; returns its uuid.
pub async fn invitation(env: &TestEnv, name: &str, attrs: &str) -> String {
    import(env, &format!("version: 1\nentries:\n  - model: authentik_stages_invitation.invitation\n    identifiers: {{name: {name}}}\n    attrs: {attrs}\n")).await;
    // Names are not unique in general, but these tests give each its own.
    let sql: &'static str = Box::leak(
        format!("SELECT CAST(invite_uuid AS TEXT) FROM invitations WHERE name = '{name}'")
            .into_boxed_str(),
    );
    env.db.text(sql).await
}

pub const FOR_ENROLLMENT: &str =
    "flow: !Find [authentik_flows.flow, [slug, default-enrollment-flow]]";

pub fn credentials(username: &str) -> Value {
    json!({"component": "ak-stage-prompt", "username": username, "password": "Corr3ct-horse", "password_repeat": "Corr3ct-horse"})
}

async fn the_seeds_invitation_enrollment_works_end_to_end(backend: Backend) {
    let env = start(&backend).await;
    two_stage_flow(&env).await;
    let token = invitation(
        &env,
        "jane",
        &format!("{{{FOR_ENROLLMENT}, single_use: true, fixed_data: {{email: jane@example.com, attributes: {{department: Engineering}}}}}}"),
    )
    .await;

    let browser = Browser::new(
        &env.app,
        "default-enrollment-flow",
        &format!("itoken={token}&next=/welcome"),
    );
    let first = browser.challenge().await;
    assert_eq!(first["component"], "ak-stage-prompt");
    assert_eq!(first["flow_info"]["title"], "Welcome to authentik!");
    let keys: Vec<&str> = first["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["username", "password", "password_repeat"]);

    // Invalid input comes back as the same challenge with response_errors.
    let retry = browser.answer(json!({"component": "ak-stage-prompt", "username": "akadmin", "password": "a", "password_repeat": "b"})).await;
    assert_eq!(retry["component"], "ak-stage-prompt");
    assert_eq!(
        retry["response_errors"]["username"][0]["string"],
        "Username is already taken."
    );
    assert_eq!(
        retry["response_errors"]["non_field_errors"][0]["string"],
        "Passwords don't match."
    );

    let second = browser.answer(credentials("jane")).await;
    assert_eq!(second["component"], "ak-stage-prompt");
    let email = second["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field_key"] == "email")
        .unwrap();
    assert_eq!(
        (email["type"].as_str(), email["initial_value"].as_str()),
        (Some("text_read_only"), Some("jane@example.com")),
        "fixed data is shown and locked"
    );

    let done = browser.answer(json!({"component": "ak-stage-prompt", "name": "Jane Doe", "email": "someone-else@example.com"})).await;
    assert_eq!(
        done,
        json!({"component": "xak-flow-redirect", "to": "/welcome", "final_redirect": true, "flow_info": done["flow_info"]})
    );

    let (status, users) = crate::admin_get(&env, "/api/v3/core/users/?username=jane").await;
    assert_eq!(status, StatusCode::OK);
    let jane = &users["results"][0];
    assert_eq!(jane["name"], "Jane Doe");
    assert_eq!(
        jane["email"], "jane@example.com",
        "the fixed value is what was written"
    );
    assert_eq!(jane["attributes"], json!({"department": "Engineering"}));
    assert_eq!(jane["is_active"], true);
    assert!(
        jane["last_login"].is_string(),
        "the login stage signed her in"
    );
    assert!(
        env.db
            .text("SELECT password FROM users WHERE username = 'jane'")
            .await
            .starts_with("$argon2id$")
    );
    assert_eq!(
        env.db
            .number("SELECT uses FROM invitations WHERE name = 'jane'")
            .await,
        1
    );
    let (_, events) = crate::admin_get(&env, "/api/v3/events/events/?action=invitation_used").await;
    assert_eq!(events["results"][0]["user"]["username"], "jane");

    // The signed-in browser's session is stored server-side; the cookie is HttpOnly and Lax.
    let response = browser
        .client
        .get(format!("{}{}", browser.base, browser.url))
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["code"], "flow_not_applicable",
        "enrollment requires being signed out"
    );
    assert_eq!(
        env.db
            .number("SELECT COUNT(*) FROM akin_sessions WHERE user_id IS NOT NULL")
            .await,
        1
    );
}

async fn denied_code(browser: &Browser) -> Value {
    let challenge = browser.challenge().await;
    assert_eq!(
        challenge["component"], "ak-stage-access-denied",
        "{challenge}"
    );
    assert!(
        challenge["error_message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    // As authentik's, a refusal carries the flow's info (its page keeps the title).
    assert_eq!(
        challenge["flow_info"]["title"], "Welcome to authentik!",
        "{challenge}"
    );
    challenge["code"].clone()
}

async fn every_refusal_has_its_reason(backend: Backend) {
    let env = start(&backend).await;
    two_stage_flow(&env).await;
    let app = &env.app;
    let flow = "default-enrollment-flow";

    let unknown = Browser::new(app, flow, "itoken=00000000-0000-0000-0000-000000000000");
    assert_eq!(denied_code(&unknown).await, "invitation_not_found");
    let malformed = Browser::new(app, flow, "itoken=not-a-uuid");
    assert_eq!(denied_code(&malformed).await, "invitation_not_found");

    let expired = invitation(
        &env,
        "old",
        &format!("{{{FOR_ENROLLMENT}, expires: '2001-01-01T00:00:00Z'}}"),
    )
    .await;
    assert_eq!(
        denied_code(&Browser::new(app, flow, &format!("itoken={expired}"))).await,
        "invitation_expired"
    );

    import(&env, "version: 1\nentries:\n  - model: authentik_flows.flow\n    identifiers: {slug: other-flow}\n    attrs: {name: Other, title: Other, designation: enrollment}\n").await;
    let elsewhere = invitation(
        &env,
        "elsewhere",
        "{flow: !Find [authentik_flows.flow, [slug, other-flow]]}",
    )
    .await;
    assert_eq!(
        denied_code(&Browser::new(app, flow, &format!("itoken={elsewhere}"))).await,
        "invitation_other_flow"
    );

    let once = invitation(
        &env,
        "once",
        &format!("{{{FOR_ENROLLMENT}, single_use: true}}"),
    )
    .await;
    let first = Browser::new(app, flow, &format!("itoken={once}"));
    first.challenge().await;
    first.answer(credentials("first")).await;
    let done = first
        .answer(
            json!({"component": "ak-stage-prompt", "name": "First", "email": "first@example.com"}),
        )
        .await;
    assert_eq!(done["component"], "xak-flow-redirect");
    assert_eq!(
        denied_code(&Browser::new(app, flow, &format!("itoken={once}"))).await,
        "invitation_used"
    );

    // Without a token the 2-stage flow stays open, as authentik's is.
    let open = Browser::new(app, flow, "");
    assert_eq!(open.challenge().await["component"], "ak-stage-prompt");
    let (status, _) = crate::json(
        app.anonymous(Method::GET, "/api/v3/flows/executor/no-such-flow/?query=")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn link_scanners_consume_nothing_and_new_links_replace_stale_plans(backend: Backend) {
    let env = start(&backend).await;
    two_stage_flow(&env).await;
    let a = invitation(
        &env,
        "a",
        &format!("{{{FOR_ENROLLMENT}, single_use: true, fixed_data: {{email: a@example.com}}}}"),
    )
    .await;
    let b = invitation(
        &env,
        "b",
        &format!("{{{FOR_ENROLLMENT}, single_use: true, fixed_data: {{email: b@example.com}}}}"),
    )
    .await;

    // A mail scanner opens the link ten times, each time as a new client.
    for _ in 0..10 {
        let scanner = Browser::new(&env.app, "default-enrollment-flow", &format!("itoken={a}"));
        assert_eq!(scanner.challenge().await["component"], "ak-stage-prompt");
    }
    assert_eq!(
        env.db
            .number("SELECT uses FROM invitations WHERE name = 'a'")
            .await,
        0
    );

    // One browser starts with A, then opens B's link: B's data, never A's.
    let browser = Browser::new(&env.app, "default-enrollment-flow", &format!("itoken={a}"));
    browser.challenge().await;
    browser.answer(credentials("switcher")).await;
    let browser = Browser {
        url: Browser::new(&env.app, "default-enrollment-flow", &format!("itoken={b}")).url,
        ..browser
    };
    let first = browser.challenge().await;
    assert_eq!(first["fields"][0]["field_key"], "username", "B starts over");
    let second = browser.answer(credentials("switcher")).await;
    let email = second["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field_key"] == "email")
        .unwrap();
    assert_eq!(email["initial_value"], "b@example.com");
    let done = browser
        .answer(json!({"component": "ak-stage-prompt", "name": "S", "email": "x"}))
        .await;
    assert_eq!(done["component"], "xak-flow-redirect");
    assert_eq!(
        env.db
            .number("SELECT uses FROM invitations WHERE name = 'a'")
            .await,
        0,
        "A is still unused"
    );
    assert_eq!(
        env.db
            .number("SELECT uses FROM invitations WHERE name = 'b'")
            .await,
        1
    );
}

async fn a_single_use_invitation_yields_exactly_one_account_under_a_race(backend: Backend) {
    const RACERS: usize = 50;
    let env = start(&backend).await;
    two_stage_flow(&env).await;
    let token = invitation(
        &env,
        "contested",
        &format!("{{{FOR_ENROLLMENT}, single_use: true}}"),
    )
    .await;
    // On PostgreSQL, half the browsers talk to a second akin process on the same database.
    let second = match backend {
        Backend::Postgres(_) => {
            Some(TestApp::start(BIN, &env.db.url, &akin_testkit::SpawnOptions::default()).await)
        }
        Backend::Sqlite => None,
    };
    let mut browsers = Vec::new();
    for i in 0..RACERS {
        let app = match (&second, i % 2) {
            (Some(other), 1) => other,
            _ => &env.app,
        };
        let browser = Browser::new(app, "default-enrollment-flow", &format!("itoken={token}"));
        browser.challenge().await;
        browser.answer(credentials(&format!("racer{i}"))).await;
        let status = browser.answer_only(json!({"component": "ak-stage-prompt", "name": format!("Racer {i}"), "email": format!("r{i}@example.com")})).await;
        assert_eq!(status, StatusCode::FOUND);
        browsers.push(browser);
    }
    // Every browser now stands before the user write stage; all go at once.
    let results = futures_join_all(browsers.iter().map(|b| b.challenge())).await;
    let winners = results
        .iter()
        .filter(|r| r["component"] == "xak-flow-redirect")
        .count();
    let used = results
        .iter()
        .filter(|r| r["code"] == "invitation_used")
        .count();
    assert_eq!(
        (winners, used),
        (1, RACERS - 1),
        "{:?}",
        results
            .iter()
            .map(|r| r["component"].clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        env.db
            .number("SELECT COUNT(*) FROM users WHERE username LIKE 'racer%'")
            .await,
        1
    );
    assert_eq!(
        env.db
            .number("SELECT uses FROM invitations WHERE name = 'contested'")
            .await,
        1
    );
    if let Some(second) = second {
        assert!(second.terminate().await);
    }
}

/// Runs futures concurrently on this task (no extra dependency for a join).
/// Runs futures concurrently on this task; returns their outputs in order.
pub async fn futures_join_all<T, F: std::future::Future<Output = T>>(
    futures: impl Iterator<Item = F>,
) -> Vec<T> {
    let mut pinned: Vec<_> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<T>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}

async fn invalid_responses_can_restart_the_flow(backend: Backend) {
    let env = start(&backend).await;
    let mut yaml = String::from("version: 1\nentries:\n");
    for (slug, action) in [
        ("restart-flow", "restart"),
        ("keep-flow", "restart_with_context"),
    ] {
        yaml.push_str(&format!(
            "  - model: authentik_flows.flow\n    id: {slug}\n    identifiers: {{slug: {slug}}}\n    attrs: {{name: R, title: R, designation: enrollment}}\n\
             \x20 - model: authentik_stages_prompt.prompt\n    id: {slug}-nick\n    identifiers: {{name: {slug}-nick}}\n    attrs: {{field_key: nick, label: Nick, type: text}}\n\
             \x20 - model: authentik_stages_prompt.prompt\n    id: {slug}-mail\n    identifiers: {{name: {slug}-mail}}\n    attrs: {{field_key: mail, label: Mail, type: email}}\n\
             \x20 - model: authentik_stages_prompt.promptstage\n    id: {slug}-one\n    identifiers: {{name: {slug}-one}}\n    attrs: {{fields: [!KeyOf {slug}-nick]}}\n\
             \x20 - model: authentik_stages_prompt.promptstage\n    id: {slug}-two\n    identifiers: {{name: {slug}-two}}\n    attrs: {{fields: [!KeyOf {slug}-mail]}}\n\
             \x20 - model: authentik_flows.flowstagebinding\n    identifiers: {{target: !KeyOf {slug}, stage: !KeyOf {slug}-one, order: 10}}\n\
             \x20 - model: authentik_flows.flowstagebinding\n    identifiers: {{target: !KeyOf {slug}, stage: !KeyOf {slug}-two, order: 20}}\n    attrs: {{invalid_response_action: {action}}}\n"
        ));
    }
    import(&env, &yaml).await;
    for (slug, kept) in [("restart-flow", ""), ("keep-flow", "kim")] {
        let browser = Browser::new(&env.app, slug, "");
        assert_eq!(browser.challenge().await["fields"][0]["field_key"], "nick");
        let second = browser
            .answer(json!({"component": "ak-stage-prompt", "nick": "kim"}))
            .await;
        assert_eq!(second["fields"][0]["field_key"], "mail");
        let again = browser
            .answer(json!({"component": "ak-stage-prompt", "mail": "not-an-email"}))
            .await;
        assert_eq!(
            again["fields"][0]["field_key"], "nick",
            "{slug}: invalid input restarts the flow"
        );
        assert_eq!(again["fields"][0]["initial_value"], kept, "{slug}");
    }
}

/// authentik's `invalid_response_action` applies to any stage that rejects a response, not
/// only prompts: a wrong inline password on an identification stage, a wrong password on a
/// password stage. With `retry` the challenge comes back with authentik's errors.
async fn every_stage_kind_honours_invalid_response_action(backend: Backend) {
    let env = start(&backend).await;
    let mut yaml = String::from("version: 1\nentries:\n");
    for (slug, action) in [("retry-login", "retry"), ("restart-login", "restart")] {
        yaml.push_str(&format!(
            "  - model: authentik_flows.flow\n    id: {slug}\n    identifiers: {{slug: {slug}}}\n    attrs: {{name: L, title: L, designation: authentication}}\n\
             \x20 - model: authentik_stages_password.passwordstage\n    id: {slug}-pw\n    identifiers: {{name: {slug}-pw}}\n    attrs: {{backends: [authentik.core.auth.InbuiltBackend]}}\n\
             \x20 - model: authentik_stages_identification.identificationstage\n    id: {slug}-id\n    identifiers: {{name: {slug}-id}}\n    attrs: {{user_fields: [username], password_stage: !KeyOf {slug}-pw}}\n\
             \x20 - model: authentik_flows.flowstagebinding\n    identifiers: {{target: !KeyOf {slug}, stage: !KeyOf {slug}-id, order: 10}}\n    attrs: {{invalid_response_action: {action}}}\n"
        ));
    }
    // A separate password stage, restarting the flow on a wrong password.
    yaml.push_str(
        "  - model: authentik_flows.flow\n    id: two-step\n    identifiers: {slug: two-step}\n    attrs: {name: T, title: T, designation: authentication}\n\
         \x20 - model: authentik_stages_identification.identificationstage\n    id: two-step-id\n    identifiers: {name: two-step-id}\n    attrs: {user_fields: [username]}\n\
         \x20 - model: authentik_stages_password.passwordstage\n    id: two-step-pw\n    identifiers: {name: two-step-pw}\n    attrs: {backends: [authentik.core.auth.InbuiltBackend]}\n\
         \x20 - model: authentik_flows.flowstagebinding\n    identifiers: {target: !KeyOf two-step, stage: !KeyOf two-step-id, order: 10}\n\
         \x20 - model: authentik_flows.flowstagebinding\n    identifiers: {target: !KeyOf two-step, stage: !KeyOf two-step-pw, order: 20}\n    attrs: {invalid_response_action: restart}\n",
    );
    import(&env, &yaml).await;
    let wrong = json!({"component": "ak-stage-identification", "uid_field": "akadmin", "password": "wrong"});

    // retry: authentik's one answer, whether the account or the password is wrong.
    let browser = Browser::new(&env.app, "retry-login", "");
    assert_eq!(browser.challenge().await["password_fields"], true);
    let again = browser.answer(wrong.clone()).await;
    assert_eq!(again["component"], "ak-stage-identification");
    assert_eq!(
        again["response_errors"],
        json!({"non_field_errors": [{"string": "Failed to authenticate.", "code": "invalid"}]})
    );

    // restart: the flow starts over, with no errors to show.
    let browser = Browser::new(&env.app, "restart-login", "");
    browser.challenge().await;
    let restarted = browser.answer(wrong).await;
    assert_eq!(restarted["component"], "ak-stage-identification");
    assert!(restarted.get("response_errors").is_none(), "{restarted}");
    let done = browser
        .answer(json!({"component": "ak-stage-identification", "uid_field": "akadmin", "password": akin_testkit::ADMIN_PASSWORD}))
        .await;
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");

    // A password stage's wrong password restarts at the identification stage.
    let browser = Browser::new(&env.app, "two-step", "");
    browser.challenge().await;
    let password = browser
        .answer(json!({"component": "ak-stage-identification", "uid_field": "akadmin"}))
        .await;
    assert_eq!(password["component"], "ak-stage-password");
    let restarted = browser
        .answer(json!({"component": "ak-stage-password", "password": "wrong"}))
        .await;
    assert_eq!(
        restarted["component"], "ak-stage-identification",
        "{restarted}"
    );
}

/// `require_redirect` flows are only for applications to send people to, and
/// `require_outpost` flows only for outposts; akin has neither, so opening one is refused
/// as not applicable, for visitors and administrators alike.
async fn flows_only_an_application_or_outpost_may_open_are_refused(backend: Backend) {
    let env = start(&backend).await;
    let mut yaml = String::from("version: 1\nentries:\n");
    for requirement in ["require_redirect", "require_outpost"] {
        yaml.push_str(&format!(
            "  - model: authentik_flows.flow\n    identifiers: {{slug: {requirement}}}\n    attrs: {{name: F, title: F, designation: authentication, authentication: {requirement}}}\n"
        ));
    }
    import(&env, &yaml).await;
    for requirement in ["require_redirect", "require_outpost"] {
        let refused = Browser::new(&env.app, requirement, "").challenge().await;
        assert_eq!(refused["component"], "ak-stage-access-denied", "{refused}");
        assert_eq!(refused["code"], "flow_not_applicable", "{requirement}");
        let (_, as_admin) = admin_get(
            &env,
            &format!("/api/v3/flows/executor/{requirement}/?query="),
        )
        .await;
        assert_eq!(as_admin["code"], "flow_not_applicable", "{requirement}");
    }
}

/// Issue 16: each node keeps flows as planning reads them. An administrator's edit (a
/// prompt's label, the flow's title, a stage unbound) counts for the next visitor on the
/// node that made it at once, and on another node (another process on the SQLite file;
/// another node on PostgreSQL) within a fraction of a second. A visitor already in the flow
/// keeps the plan they started with, as in authentik.
async fn an_edited_flow_is_planned_anew_on_every_node(backend: Backend) {
    let env = start(&backend).await;
    let other = TestApp::start(BIN, &env.db.url, &akin_testkit::SpawnOptions::default()).await;
    two_stage_flow(&env).await;
    let slug = "default-enrollment-flow";
    // What a new visitor's first challenge says on `app`: the flow's title, the first
    // field's label, and how many stages the plan has left after it (none shown yet).
    let first_look = |app: &TestApp| {
        let browser = Browser::new(app, slug, "");
        async move {
            let challenge = browser.challenge().await;
            (
                challenge["flow_info"]["title"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                challenge["fields"][0]["label"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        }
    };
    let before = first_look(&env.app).await;
    assert_eq!(before, first_look(&other).await, "both nodes plan alike");
    assert_eq!(before, first_look(&env.app).await, "and again, from memory");
    let started = Browser::new(&env.app, slug, "");
    started.challenge().await;

    let (status, prompts) =
        admin_get(&env, "/api/v3/stages/prompt/prompts/?field_key=username").await;
    assert_eq!(status, StatusCode::OK, "{prompts}");
    let prompt = prompts["results"][0]["pk"].as_str().unwrap().to_owned();
    let (status, body) = crate::admin_json(
        &env,
        Method::PATCH,
        &format!("/api/v3/stages/prompt/prompts/{prompt}/"),
        json!({"label": "Pick a handle"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = crate::admin_json(
        &env,
        Method::PATCH,
        &format!("/api/v3/flows/instances/{slug}/"),
        json!({"title": "Join us"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let edited = ("Join us".to_owned(), "Pick a handle".to_owned());
    assert_eq!(first_look(&env.app).await, edited, "at once on this node");
    let waited = std::time::Instant::now();
    while first_look(&other).await != edited {
        assert!(
            waited.elapsed() < std::time::Duration::from_secs(3),
            "the other node still plans the old flow"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    eprintln!(
        "an edit reached the other node's plans in {:?}",
        waited.elapsed()
    );
    // The visitor who started before the edit keeps their plan.
    let kept = started.challenge().await;
    assert_eq!(kept["fields"][0]["label"], before.1, "{kept}");

    // Unbinding the first stage: new visitors start at the second.
    let (_, flow) = admin_get(&env, &format!("/api/v3/flows/instances/{slug}/")).await;
    let (status, bindings) = admin_get(
        &env,
        &format!(
            "/api/v3/flows/bindings/?target={}",
            flow["pk"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{bindings}");
    let first = bindings["results"]
        .as_array()
        .unwrap()
        .iter()
        .min_by_key(|b| b["order"].as_i64())
        .unwrap()["pk"]
        .as_str()
        .unwrap()
        .to_owned();
    let deleted = env
        .app
        .admin(Method::DELETE, &format!("/api/v3/flows/bindings/{first}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let challenge = Browser::new(&env.app, slug, "").challenge().await;
    let keys: Vec<&str> = challenge["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["field_key"].as_str())
        .collect();
    assert_eq!(keys, ["name", "email"], "{challenge}");
}

/// Issue 16's attacker check on the flow definitions each node keeps: thousands of
/// made-up slugs at once are each answered 404, a real visitor keeps walking the real flow
/// alongside, readiness keeps answering, and memory does not grow with the slugs tried (a
/// slug that names no flow is never kept).
async fn a_flood_of_made_up_flow_slugs_neither_grows_nor_stalls_the_server(backend: Backend) {
    let env = start(&backend).await;
    two_stage_flow(&env).await;
    let client = reqwest::Client::new();
    let probe = |n: usize| {
        let client = client.clone();
        let url = env
            .app
            .url(&format!("/api/v3/flows/executor/made-up-{n:0>12}/"));
        async move { client.get(url).send().await.unwrap().status() }
    };
    for n in 0..200 {
        assert_eq!(probe(n).await, StatusCode::NOT_FOUND);
    }
    let before = env.app.rss_kib();
    let health = akin_testkit::HealthWatch::start(&env.app);
    let flood = async {
        let mut missing = 0;
        for wave in 0..100 {
            let answers = futures_join_all((0..32).map(|i| probe(1_000 + wave * 32 + i))).await;
            missing += answers
                .iter()
                .filter(|s| **s == StatusCode::NOT_FOUND)
                .count();
        }
        missing
    };
    let visitors = async {
        let mut first_fields = Vec::new();
        for _ in 0..20 {
            let challenge = Browser::new(&env.app, "default-enrollment-flow", "")
                .challenge()
                .await;
            first_fields.push(challenge["fields"][0]["field_key"].clone());
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        first_fields
    };
    let (missing, first_fields) = tokio::join!(flood, visitors);
    let seen = health.stop().await;
    assert_eq!(missing, 3_200, "every made-up slug is answered 404");
    assert!(
        first_fields.iter().all(|f| f == "username"),
        "{first_fields:?}"
    );
    assert!(seen.failures.is_empty(), "{seen:?}");
    if let (Some(before), Some(after)) = (before, env.app.rss_kib()) {
        let grown = after.saturating_sub(before);
        eprintln!("{backend:?}: RSS {before} KiB before 3,200 made-up slugs, {after} KiB after");
        assert!(grown < 16 * 1024, "memory grew by {grown} KiB");
    }
}
