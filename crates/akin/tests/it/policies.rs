//! Expression policies through the real server: saving (with syntax checks), the policy
//! test endpoint, flow-level policies (invite-only enrollment), binding policies that skip
//! a stage, prompt validation policies, and hostile expressions.

use akin_testkit::{Backend, HealthWatch, TestEnv};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::flows::{
    Browser, FOR_ENROLLMENT, credentials, futures_join_all, import_report, invitation,
    two_stage_flow,
};
use crate::{admin_get, admin_json, start};

on_both_backends!(
    expressions_are_checked_when_saved,
    administrators_can_test_a_policy,
    a_flow_policy_makes_enrollment_invite_only,
    a_failing_binding_policy_skips_its_stage,
    validation_policies_send_messages_back_to_the_form,
    hostile_expressions_fail_without_harming_the_server,
    expressions_that_exhaust_memory_or_stack_fail_alone,
    initial_setup_closes_once_an_administrator_exists,
    initial_setup_sets_akadmins_email_and_password,
    many_visitors_at_once_do_not_exhaust_the_pool,
    bindings_types_and_tests_answer_as_authentik,
    an_expression_calls_a_policy_of_another_kind_by_name,
);

/// `POST /api/v3/policies/all/<pk>/test/` as `user` with `context`; the answer (200).
async fn test_policy(env: &TestEnv, pk: &str, user: i64, context: Value) -> Value {
    let (status, body) = admin_json(
        env,
        Method::POST,
        &format!("/api/v3/policies/all/{pk}/test/"),
        json!({"user": user, "context": context}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

const INVITE_ONLY: &str = "return request.context.get(\"invitation_in_effect\", False)";

pub async fn create_policy(env: &TestEnv, name: &str, expression: &str) -> String {
    let (status, body) = admin_json(
        env,
        Method::POST,
        "/api/v3/policies/expression/",
        json!({"name": name, "expression": expression}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["pk"].as_str().unwrap().to_owned()
}

async fn bind(env: &TestEnv, target: &str, binding: Value) {
    let mut body = json!({"target": target, "order": 0});
    body.as_object_mut()
        .unwrap()
        .extend(binding.as_object().unwrap().clone());
    let (status, body) = admin_json(env, Method::POST, "/api/v3/policies/bindings/", body).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn enrollment_flow_pk(env: &TestEnv) -> String {
    let (_, flows) = admin_get(env, "/api/v3/flows/instances/?slug=default-enrollment-flow").await;
    flows["results"][0]["pk"].as_str().unwrap().to_owned()
}

async fn expressions_are_checked_when_saved(backend: Backend) {
    let env = start(&backend).await;
    let (status, body) = admin_json(
        &env,
        Method::POST,
        "/api/v3/policies/expression/",
        json!({"name": "loops", "expression": "x = 0\nwhile x < 3:\n    x += 1\nreturn True"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = body["expression"][0].as_str().unwrap();
    assert!(
        message.starts_with("Expression Syntax Error: line 2, column 1:")
            && message.contains("for i in range"),
        "{message}"
    );

    let (status, body) = admin_json(
        &env,
        Method::POST,
        "/api/v3/policies/expression/",
        json!({"name": "broken", "expression": "return (1 +"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["expression"][0].as_str().unwrap().contains("line 1"));

    let pk = create_policy(&env, "fine", INVITE_ONLY).await;
    let (status, body) = admin_json(
        &env,
        Method::PATCH,
        &format!("/api/v3/policies/expression/{pk}/"),
        json!({"expression": "import os"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (_, stored) = admin_get(&env, &format!("/api/v3/policies/expression/{pk}/")).await;
    assert_eq!(stored["expression"], INVITE_ONLY, "nothing half-saved");

    // Blueprints are checked the same way, and nothing of a refused import is kept.
    let yaml = "version: 1\nentries:\n  - model: authentik_policies_expression.expressionpolicy\n    identifiers: {name: from-blueprint}\n    attrs: {expression: 'try:\\n    pass\\nexcept:\\n    pass'}\n";
    let report = import_report(&env, yaml).await;
    assert_eq!(report["success"], false);
    assert!(
        report["logs"]
            .to_string()
            .contains("exceptions are not available"),
        "{report}"
    );
    let (_, all) = admin_get(&env, "/api/v3/policies/all/").await;
    let names: Vec<&str> = all["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"fine") && !names.contains(&"from-blueprint"),
        "{names:?}"
    );
}

async fn administrators_can_test_a_policy(backend: Backend) {
    let env = start(&backend).await;
    let pk = create_policy(
        &env,
        "domain",
        "ak_logger.info('checking', request.user.username)\n\
         if not context.get('email', '').endswith('@example.com'):\n\
         \x20   ak_message('Only example.com addresses.')\n\
         \x20   return False\n\
         return ak_is_group_member(request.user, name='akin Admins')",
    )
    .await;
    let (_, me) = admin_get(&env, "/api/v3/core/users/?username=akadmin").await;
    let akadmin = me["results"][0]["pk"].as_i64().unwrap();
    let test = |context: Value| test_policy(&env, &pk, akadmin, context);
    let refused = test(json!({"email": "eve@evil.test"})).await;
    assert_eq!(refused["passing"], false);
    assert_eq!(refused["messages"], json!(["Only example.com addresses."]));
    assert_eq!(refused["log_messages"][0]["event"], "checking akadmin");
    assert_eq!(refused["log_messages"][0]["log_level"], "info");
    assert_eq!(
        refused["log_messages"][0]["logger"],
        "authentik.policies.expression"
    );
    let passed = test(json!({"email": "ann@example.com"})).await;
    assert_eq!(passed["passing"], true, "{passed}");

    let (status, _) = admin_json(
        &env,
        Method::POST,
        &format!("/api/v3/policies/all/{pk}/test/"),
        json!({"user": 999999}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = admin_json(
        &env,
        Method::POST,
        "/api/v3/policies/all/not-a-uuid/test/",
        json!({"user": akadmin}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, listed) = admin_get(&env, &format!("/api/v3/policies/all/{pk}/")).await;
    assert_eq!(
        (listed["name"].as_str(), listed["bound_to"].as_i64()),
        (Some("domain"), Some(0))
    );
}

async fn a_flow_policy_makes_enrollment_invite_only(backend: Backend) {
    let env = start(&backend).await;
    two_stage_flow(&env).await;
    let flow = enrollment_flow_pk(&env).await;
    let policy = create_policy(&env, "invite-only", INVITE_ONLY).await;
    bind(&env, &flow, json!({"policy": policy})).await;
    admin_json(
        &env,
        Method::PATCH,
        &format!("/api/v3/policies/expression/{policy}/"),
        json!({"execution_logging": true}),
    )
    .await;

    let stranger = Browser::new(&env.app, "default-enrollment-flow", "");
    let denied = stranger.challenge().await;
    assert_eq!(
        (denied["component"].as_str(), denied["code"].as_str()),
        (Some("ak-stage-access-denied"), Some("flow_not_applicable"))
    );
    let (_, logged) = admin_get(&env, "/api/v3/events/events/?action=policy_execution").await;
    assert_eq!(
        logged["results"][0]["context"]["result"]["passing"], false,
        "execution_logging records each evaluation: {logged}"
    );

    let token = invitation(&env, "invited", &format!("{{{FOR_ENROLLMENT}}}")).await;
    let invited = Browser::new(
        &env.app,
        "default-enrollment-flow",
        &format!("itoken={token}"),
    );
    assert_eq!(invited.challenge().await["component"], "ak-stage-prompt");
    invited.answer(credentials("invited-user")).await;
    let done = invited
        .answer(
            json!({"component": "ak-stage-prompt", "name": "Invited", "email": "i@example.com"}),
        )
        .await;
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");

    // A bad token keeps its own reason rather than the policy's generic refusal.
    let forged = Browser::new(
        &env.app,
        "default-enrollment-flow",
        "itoken=00000000-0000-0000-0000-000000000000",
    );
    assert_eq!(forged.challenge().await["code"], "invitation_not_found");

    // Disabled bindings do not count; negated ones flip the result.
    let (_, bindings) = admin_get(&env, &format!("/api/v3/policies/bindings/?target={flow}")).await;
    let binding = bindings["results"][0]["pk"].as_str().unwrap().to_owned();
    admin_json(
        &env,
        Method::PATCH,
        &format!("/api/v3/policies/bindings/{binding}/"),
        json!({"enabled": false}),
    )
    .await;
    let open = Browser::new(&env.app, "default-enrollment-flow", "");
    assert_eq!(open.challenge().await["component"], "ak-stage-prompt");
    admin_json(
        &env,
        Method::PATCH,
        &format!("/api/v3/policies/bindings/{binding}/"),
        json!({"enabled": true, "negate": true}),
    )
    .await;
    let negated = Browser::new(&env.app, "default-enrollment-flow", "");
    assert_eq!(negated.challenge().await["component"], "ak-stage-prompt");
}

async fn a_failing_binding_policy_skips_its_stage(backend: Backend) {
    let env = start(&backend).await;
    two_stage_flow(&env).await;
    let flow = enrollment_flow_pk(&env).await;
    // The second prompt stage (name, email) runs only for usernames starting with "staff-".
    let (_, bindings) = admin_get(&env, &format!("/api/v3/flows/bindings/?target={flow}")).await;
    let second = bindings["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["order"] == 11)
        .unwrap()["pk"]
        .as_str()
        .unwrap()
        .to_owned();
    // The blueprint turns re-evaluation off; without it (or evaluate_on_plan) authentik
    // never looks at a binding's policies.
    let (status, body) = admin_json(
        &env,
        Method::PATCH,
        &format!("/api/v3/flows/bindings/{second}/"),
        json!({"re_evaluate_policies": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let policy = create_policy(
        &env,
        "staff-only",
        "path = request.http_request.path\n\
         return context['prompt_data']['username'].startswith('staff-') and \
         path.startswith('/api/v3/flows/executor/') and 'user-agent' in http_request.headers",
    )
    .await;
    bind(&env, &second, json!({"policy": policy})).await;

    let guest = Browser::new(&env.app, "default-enrollment-flow", "");
    guest.challenge().await;
    let after = guest.answer(credentials("guest")).await;
    assert_eq!(
        after["component"], "xak-flow-redirect",
        "name/email skipped: {after}"
    );

    let staff = Browser::new(&env.app, "default-enrollment-flow", "");
    staff.challenge().await;
    let after = staff.answer(credentials("staff-ann")).await;
    assert_eq!(after["component"], "ak-stage-prompt", "{after}");
}

async fn validation_policies_send_messages_back_to_the_form(backend: Backend) {
    let env = start(&backend).await;
    two_stage_flow(&env).await;
    let policy = create_policy(
        &env,
        "company-email",
        "if not context['prompt_data'].get('email', '').endswith('@example.com'):\n\
         \x20   ak_message('Use your example.com address.')\n\
         \x20   return False\n\
         return True",
    )
    .await;
    let (_, stages) = admin_get(
        &env,
        "/api/v3/stages/prompt/stages/?name=default-enrollment-prompt-second",
    )
    .await;
    let stage = stages["results"][0]["pk"].as_str().unwrap().to_owned();
    let (status, body) = admin_json(
        &env,
        Method::PATCH,
        &format!("/api/v3/stages/prompt/stages/{stage}/"),
        json!({"validation_policies": [policy]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let browser = Browser::new(&env.app, "default-enrollment-flow", "");
    browser.challenge().await;
    browser.answer(credentials("val")).await;
    let refused = browser
        .answer(json!({"component": "ak-stage-prompt", "name": "Val", "email": "val@gmail.test"}))
        .await;
    assert_eq!(
        refused["response_errors"]["non_field_errors"][0]["string"],
        "Use your example.com address.",
        "{refused}"
    );
    let done = browser
        .answer(json!({"component": "ak-stage-prompt", "name": "Val", "email": "val@example.com"}))
        .await;
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");
}

async fn hostile_expressions_fail_without_harming_the_server(backend: Backend) {
    let env = start(&backend).await;
    two_stage_flow(&env).await;
    let flow = enrollment_flow_pk(&env).await;
    for (name, expression) in [
        ("spin", "for i in range(1000000000):\n    pass\nreturn True"),
        ("recurse", "def f(n):\n    return f(n + 1)\nreturn f(0)"),
        ("huge", "s = 'x' * 1000000000\nreturn True"),
    ] {
        let policy = create_policy(&env, name, expression).await;
        bind(&env, &flow, json!({"policy": policy, "timeout": 1})).await;
        let browser = Browser::new(&env.app, "default-enrollment-flow", "");
        let denied = browser.challenge().await;
        assert_eq!(denied["code"], "flow_not_applicable", "{name}: {denied}");
        let (_, bindings) =
            admin_get(&env, &format!("/api/v3/policies/bindings/?target={flow}")).await;
        for binding in bindings["results"].as_array().unwrap() {
            admin_json(
                &env,
                Method::DELETE,
                &format!(
                    "/api/v3/policies/bindings/{}/",
                    binding["pk"].as_str().unwrap()
                ),
                json!({}),
            )
            .await;
        }
    }
    let (_, events) = admin_get(&env, "/api/v3/events/events/?action=policy_exception").await;
    assert_eq!(events["pagination"]["count"], 3, "{events}");
    // There is no file access to try: unknown names are refused when the policy is saved.
    let (status, body) = admin_json(
        &env,
        Method::POST,
        "/api/v3/policies/expression/",
        json!({"name": "files", "expression": "return open('/etc/passwd').read()"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["expression"][0]
            .as_str()
            .unwrap()
            .contains("`open` not found")
    );
    let health = reqwest::get(format!("{}/-/health/live/", env.app.base_url))
        .await
        .unwrap();
    assert!(health.status().is_success());
    let browser = Browser::new(&env.app, "default-enrollment-flow", "");
    assert_eq!(browser.challenge().await["component"], "ak-stage-prompt");
}

/// What a red team aborted the server with (issue 17): built-ins that allocate gigabytes
/// in one call (past every periodic heap check), values nested deeper than any stack can
/// print, and constants the compiler folds when a policy is saved. Each runs in a worker
/// process that dies alone: the policy test answers with the reason, a flow guarded by
/// such a policy is refused with a `policy_exception` event, the save or the blueprint is
/// refused with a message, and the server answers its readiness check throughout (polled
/// alongside) and serves flows and policies afterwards.
async fn expressions_that_exhaust_memory_or_stack_fail_alone(backend: Backend) {
    let env = start(&backend).await;
    two_stage_flow(&env).await;
    let flow = enrollment_flow_pk(&env).await;
    let (_, me) = admin_get(&env, "/api/v3/core/users/?username=akadmin").await;
    let akadmin = me["results"][0]["pk"].as_i64().unwrap();
    let health = HealthWatch::start(&env.app);

    let deep = "x = []\nfor i in range(500000):\n    x = [x]\n";
    let four_mb = "s = 'x' * 4000000\n";
    let hostile = [
        (
            "join",
            format!("{four_mb}return len(''.join([s] * 1000)) > 0"),
        ),
        (
            "replace",
            "s = 'a' * 100000\nreturn len(s.replace('a', s)) > 0".to_owned(),
        ),
        (
            "format",
            format!("{four_mb}return len(('{{}}' * 1000).format(*([s] * 1000))) > 0"),
        ),
        (
            "percent",
            format!("{four_mb}return len(('%s' * 1000) % tuple([s] * 1000)) > 0"),
        ),
        (
            "str of a deep list",
            format!("{deep}return len(str(x)) > 0"),
        ),
        (
            "json of a deep list",
            format!("{deep}return len(json.encode(x)) > 0"),
        ),
        (
            "a deep list in the plan",
            format!("{deep}context['flow_plan'].context['deep'] = x\nreturn True"),
        ),
    ];
    for (name, expression) in &hostile {
        let pk = create_policy(&env, name, expression).await;
        if !name.contains("plan") {
            let (status, tested) = admin_json(
                &env,
                Method::POST,
                &format!("/api/v3/policies/all/{pk}/test/"),
                json!({"user": akadmin, "context": {}}),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{name}: {tested}");
            assert_eq!(tested["passing"], false, "{name}: {tested}");
            let said = tested["messages"].to_string();
            assert!(
                said.contains("more memory or stack than allowed"),
                "{name}: {tested}"
            );
        }
    }
    // Bound to a public flow: each visit is refused, the next visitor is not affected.
    for (name, _) in hostile
        .iter()
        .filter(|(n, _)| ["join", "str of a deep list", "a deep list in the plan"].contains(n))
    {
        let (_, policies) = admin_get(
            &env,
            &format!(
                "/api/v3/policies/expression/?name={}",
                name.replace(' ', "%20")
            ),
        )
        .await;
        let policy = policies["results"][0]["pk"].clone();
        bind(&env, &flow, json!({"policy": policy, "timeout": 10})).await;
        let denied = Browser::new(&env.app, "default-enrollment-flow", "")
            .challenge()
            .await;
        assert_eq!(denied["code"], "flow_not_applicable", "{name}: {denied}");
        let (_, bindings) =
            admin_get(&env, &format!("/api/v3/policies/bindings/?target={flow}")).await;
        for binding in bindings["results"].as_array().unwrap() {
            let pk = binding["pk"].as_str().unwrap();
            admin_json(
                &env,
                Method::DELETE,
                &format!("/api/v3/policies/bindings/{pk}/"),
                json!({}),
            )
            .await;
        }
    }
    // One event for each: the six tests and the three visits.
    let (_, events) = admin_get(&env, "/api/v3/events/events/?action=policy_exception").await;
    assert_eq!(events["pagination"]["count"], 9, "{events}");

    // Compiling folds `list(range(1 << 28))`: saving it is refused, not fatal…
    let bomb = "return len(list(range(1 << 28))) > 0";
    let (status, refused) = admin_json(
        &env,
        Method::POST,
        "/api/v3/policies/expression/",
        json!({"name": "bomb", "expression": bomb}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert!(
        refused["expression"][0]
            .as_str()
            .unwrap()
            .contains("could not be compiled"),
        "{refused}"
    );
    // …and so is a blueprint carrying it, whole.
    let report = import_report(
        &env,
        &format!("version: 1\nentries:\n  - model: authentik_flows.flow\n    identifiers: {{slug: bombed}}\n    attrs: {{name: Bombed, title: Bombed, designation: enrollment}}\n  - model: authentik_policies_expression.expressionpolicy\n    identifiers: {{name: bomb}}\n    attrs: {{expression: \"{bomb}\"}}\n"),
    )
    .await;
    assert_eq!(report["success"], false, "{report}");
    let (_, bombed) = admin_get(&env, "/api/v3/flows/instances/?slug=bombed").await;
    assert_eq!(bombed["pagination"]["count"], 0, "{bombed}");

    let seen = health.stop().await;
    assert!(seen.checks >= 10 && seen.failures.is_empty(), "{seen:?}");
    // Still serving: a flow, and a policy evaluated by a fresh worker.
    assert_eq!(
        Browser::new(&env.app, "default-enrollment-flow", "")
            .challenge()
            .await["component"],
        "ak-stage-prompt"
    );
    let fine = create_policy(&env, "fine", "return request.user.username == 'akadmin'").await;
    let (_, tested) = admin_json(
        &env,
        Method::POST,
        &format!("/api/v3/policies/all/{fine}/test/"),
        json!({"user": akadmin, "context": {}}),
    )
    .await;
    assert_eq!(tested["passing"], true, "{tested}");
}

/// The shipped initial-setup flow is open only while no active administrator exists; the
/// test server's akadmin is one.
async fn initial_setup_closes_once_an_administrator_exists(backend: Backend) {
    let env = start(&backend).await;
    let browser = Browser::new(&env.app, "initial-setup", "");
    let challenge = browser.challenge().await;
    assert_eq!(
        (challenge["component"].as_str(), challenge["code"].as_str()),
        (Some("ak-stage-access-denied"), Some("flow_not_applicable"))
    );
    assert_eq!(env.db.number("SELECT COUNT(*) FROM users").await, 1);
}

/// Far more simultaneous requests than pooled connections (4 on SQLite): a handler that
/// holds one connection while waiting for a second would hang them all until the request
/// timeout. Planning a flow whose bindings have policies, and listing invitations with
/// their creators, are the paths that read the most.
async fn many_visitors_at_once_do_not_exhaust_the_pool(backend: Backend) {
    let env = start(&backend).await;
    two_stage_flow(&env).await;
    let flow = enrollment_flow_pk(&env).await;
    let (_, bindings) = admin_get(&env, &format!("/api/v3/flows/bindings/?target={flow}")).await;
    let policy = create_policy(&env, "everyone", "return True").await;
    for binding in bindings["results"].as_array().unwrap() {
        bind(
            &env,
            binding["pk"].as_str().unwrap(),
            json!({"policy": policy.clone()}),
        )
        .await;
    }
    bind(&env, &flow, json!({"policy": policy.clone()})).await;
    for n in 0..5 {
        invitation(&env, &format!("crowd{n}"), &format!("{{{FOR_ENROLLMENT}}}")).await;
    }
    let started = std::time::Instant::now();
    let visitors = (0..32).map(|_| {
        let app = &env.app;
        async move {
            let browser = Browser::new(app, "default-enrollment-flow", "");
            browser.challenge().await["component"].clone()
        }
    });
    let lists = (0..32).map(|_| async {
        admin_get(&env, "/api/v3/stages/invitation/invitations/")
            .await
            .0
    });
    let (components, statuses) = tokio::join!(futures_join_all(visitors), futures_join_all(lists));
    assert!(
        components.iter().all(|c| c == "ak-stage-prompt"),
        "{components:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "requests waited for connections: {:?}",
        started.elapsed()
    );
}

/// A fresh install started without AKIN_BOOTSTRAP_PASSWORD: akadmin exists without a
/// password, and the initial-setup flow sets its email and password, signs it in, and
/// then closes.
async fn initial_setup_sets_akadmins_email_and_password(backend: Backend) {
    let db = akin_testkit::TestDatabase::create(&backend).await;
    let options = akin_testkit::SpawnOptions {
        bootstrap: false,
        env: Vec::new(),
    };
    let app = akin_testkit::TestApp::start(crate::BIN, &db.url, &options).await;
    assert!(
        app.logs().join("\n").contains("initial-setup"),
        "the log says how to set up: {:?}",
        app.logs()
    );
    let setup = Browser::new(&app, "initial-setup", "next=/if/admin/");
    let form = setup.challenge().await;
    let keys: Vec<&str> = form["fields"]
        .as_array()
        .unwrap_or_else(|| panic!("{form}"))
        .iter()
        .map(|f| f["field_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["email", "password", "password_repeat"]);
    let done = setup
        .answer(
            json!({"component": "ak-stage-prompt", "email": "admin@example.com",
            "password": "First-admin-pa55", "password_repeat": "First-admin-pa55"}),
        )
        .await;
    assert_eq!(
        (done["component"].as_str(), done["to"].as_str()),
        (Some("xak-flow-redirect"), Some("/if/admin/")),
        "{done}"
    );
    assert_eq!(
        db.number("SELECT COUNT(*) FROM users").await,
        1,
        "no new account"
    );
    assert_eq!(
        db.text("SELECT email FROM users WHERE username = 'akadmin'")
            .await,
        "admin@example.com"
    );
    let me = setup
        .client
        .get(format!("{}/api/v3/core/users/me/", setup.base))
        .send()
        .await
        .unwrap();
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["user"]["username"], "akadmin", "signed in: {me}");
    assert_eq!(me["user"]["is_superuser"], true);

    // The password works in the login flow, and the setup flow is closed for good.
    let login = Browser::new(&app, "default-authentication-flow", "");
    login.challenge().await;
    login
        .answer(json!({"component": "ak-stage-identification", "uid_field": "akadmin"}))
        .await;
    let signed_in = login
        .answer(json!({"component": "ak-stage-password", "password": "First-admin-pa55"}))
        .await;
    assert_eq!(signed_in["component"], "xak-flow-redirect", "{signed_in}");
    let again = Browser::new(&app, "initial-setup", "");
    assert_eq!(again.challenge().await["code"], "flow_not_applicable");
    assert!(app.terminate().await);
}

/// authentik's answers around policies (issue 13, point 10): a binding binds exactly one
/// subject, in its serializer's words; `types/` lists what can be created; the policy test
/// runs with the administrator's own request as `request.http_request`.
async fn bindings_types_and_tests_answer_as_authentik(backend: Backend) {
    let env = start(&backend).await;
    let (_, flows) = admin_get(
        &env,
        "/api/v3/flows/instances/?slug=default-authentication-flow",
    )
    .await;
    let flow = flows["results"][0]["pk"].clone();
    let (_, me) = admin_get(&env, "/api/v3/core/users/?username=akadmin").await;
    let akadmin = me["results"][0]["pk"].as_i64().unwrap();
    let group = me["results"][0]["groups"][0].clone();
    for (body, message) in [
        (
            json!({"target": flow, "order": 0, "user": akadmin, "group": group}),
            "Only one of 'group', 'policy', 'user' can be set.",
        ),
        (
            json!({"target": flow, "order": 0}),
            "One of 'group', 'policy', 'user' must be set.",
        ),
    ] {
        let (status, errors) =
            admin_json(&env, Method::POST, "/api/v3/policies/bindings/", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(errors, json!({"non_field_errors": [message]}));
    }

    let (status, types) = admin_get(&env, "/api/v3/stages/all/types/").await;
    assert_eq!(status, StatusCode::OK, "{types}");
    let names: Vec<&str> = types
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "by name");
    let invitation = types
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["model_name"] == "invitationstage")
        .expect("invitation stages can be created");
    assert_eq!(invitation["name"], "Invitation Stage");
    assert_eq!(invitation["component"], "ak-stage-invitation-form");
    assert_eq!(invitation["requires_enterprise"], false);
    assert!(!invitation["description"].as_str().unwrap().is_empty());
    let (_, policies) = admin_get(&env, "/api/v3/policies/all/types/").await;
    assert_eq!(policies[0]["model_name"], "expressionpolicy");
    assert_eq!(policies[0]["component"], "ak-policy-expression-form");
    assert_eq!(policies[1]["model_name"], "passwordpolicy");
    assert_eq!(policies[1]["component"], "ak-policy-password-form");
    assert_eq!(policies[2]["model_name"], "reputationpolicy");
    assert_eq!(policies[2]["component"], "ak-policy-reputation-form");
    assert_eq!(policies.as_array().unwrap().len(), 3);

    let pk = create_policy(
        &env,
        "sees-the-request",
        "return request.http_request.method == 'POST' and request.http_request.path.endswith('/test/')",
    )
    .await;
    let (status, tested) = admin_json(
        &env,
        Method::POST,
        &format!("/api/v3/policies/all/{pk}/test/"),
        json!({"user": akadmin}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tested}");
    assert_eq!(tested["passing"], true, "{tested}");
}

/// `ak_call_policy` finds a policy by name whatever its kind (here a password policy,
/// called from an expression) and gives back its verdict and messages; an unknown name
/// fails the calling policy with authentik's message.
async fn an_expression_calls_a_policy_of_another_kind_by_name(backend: Backend) {
    let env = start(&backend).await;
    let (status, body) = admin_json(
        &env,
        Method::POST,
        "/api/v3/policies/password/",
        json!({"name": "eight-or-more", "length_min": 8}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let calling = create_policy(
        &env,
        "calls-another",
        "verdict = ak_call_policy('eight-or-more', password=request.context['candidate'])\n\
         for message in verdict.messages:\n\
         \x20   ak_message(message)\n\
         return verdict.passing",
    )
    .await;
    let missing = create_policy(
        &env,
        "calls-nothing",
        "return ak_call_policy('nowhere').passing",
    )
    .await;
    let (_, me) = admin_get(&env, "/api/v3/core/users/?username=akadmin").await;
    let akadmin = me["results"][0]["pk"].as_i64().unwrap();
    let short = test_policy(&env, &calling, akadmin, json!({"candidate": "short"})).await;
    assert_eq!(short["passing"], false, "{short}");
    assert_eq!(
        short["messages"],
        json!(["At least 8 characters."]),
        "{short}"
    );
    let long = test_policy(&env, &calling, akadmin, json!({"candidate": "long enough"})).await;
    assert_eq!(long["passing"], true, "{long}");
    let nowhere = test_policy(&env, &missing, akadmin, json!({})).await;
    assert_eq!(nowhere["passing"], false, "{nowhere}");
    assert!(
        nowhere["messages"]
            .to_string()
            .contains("Policy 'nowhere' not found"),
        "{nowhere}"
    );
}
