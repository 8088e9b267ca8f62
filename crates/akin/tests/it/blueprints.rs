//! Blueprint import through the API and the CLI, into the real database: authentik's own
//! files import unchanged, build what they describe, re-import idempotently, and broken
//! files are refused whole with a place and a reason.

use std::path::PathBuf;

use akin_testkit::{Backend, TestEnv};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{BIN, json, start};

on_both_backends!(
    exported_flows_rebuild_the_same_flow_elsewhere,
    default_flows_are_applied_once_at_start,
    shipped_blueprints_are_listed_and_import_by_path,
    every_shared_blueprint_imports_and_reimports_unchanged,
    imported_objects_match_the_file,
    broken_blueprints_are_refused_whole,
    the_cli_applies_and_validates_with_file_line_column,
    entries_grouped_in_named_lists_apply_in_order,
    entries_identified_by_pk_keep_their_keys,
    context_values_may_be_tags,
    identifiers_and_attrs_merge_into_a_new_object,
    tokens_are_a_blueprint_model,
    uploaded_blueprints_read_only_allowed_variables,
);

fn shared(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/blueprints")
        .join(path)
}

const SHARED: &[&str] = &[
    "default/flow-default-authentication-flow.yaml",
    "default/flow-default-invalidation-flow.yaml",
    "default/flow-default-source-enrollment.yaml",
    "example/flows-enrollment-2-stage.yaml",
    "example/flows-enrollment-email-verification.yaml",
    "example/flows-invitation-enrollment-minimal.yaml",
    "example/flows-invitation-enrollment.yaml",
];

async fn default_flows_are_applied_once_at_start(backend: Backend) {
    let db = akin_testkit::TestDatabase::create(&backend).await;
    let options = akin_testkit::SpawnOptions::default();
    let app = akin_testkit::TestApp::start(BIN, &db.url, &options).await;
    assert!(app.logs().join("\n").contains("applied default blueprints"));
    for slug in [
        "default-authentication-flow",
        "default-invalidation-flow",
        "default-recovery-flow",
        "default-user-settings-flow",
        "default-password-change",
        "initial-setup",
    ] {
        let sql: &'static str = match slug {
            "default-user-settings-flow" => {
                "SELECT COUNT(*) FROM flows WHERE slug = 'default-user-settings-flow'"
            }
            "default-password-change" => {
                "SELECT COUNT(*) FROM flows WHERE slug = 'default-password-change'"
            }
            "default-recovery-flow" => {
                "SELECT COUNT(*) FROM flows WHERE slug = 'default-recovery-flow'"
            }
            "default-authentication-flow" => {
                "SELECT COUNT(*) FROM flows WHERE slug = 'default-authentication-flow'"
            }
            "default-invalidation-flow" => {
                "SELECT COUNT(*) FROM flows WHERE slug = 'default-invalidation-flow'"
            }
            _ => "SELECT COUNT(*) FROM flows WHERE slug = 'initial-setup'",
        };
        assert_eq!(db.number(sql).await, 1, "{slug}");
    }
    assert_eq!(db.number("SELECT COUNT(*) FROM flow_stage_bindings b JOIN flows f ON f.flow_uuid = b.target_uuid WHERE f.slug = 'default-authentication-flow'").await, 3);
    assert_eq!(
        db.number("SELECT COUNT(*) FROM policy_bindings").await,
        1,
        "initial setup is guarded by a policy"
    );
    assert!(app.terminate().await);

    // A restart with the same defaults does not apply them again.
    let app = akin_testkit::TestApp::start(BIN, &db.url, &options).await;
    assert!(
        !app.logs().join("\n").contains("applied default blueprints"),
        "unchanged defaults are not re-applied"
    );
    assert_eq!(db.number("SELECT COUNT(*) FROM flows").await, 6);
    assert!(app.terminate().await);
}

async fn shipped_blueprints_are_listed_and_import_by_path(backend: Backend) {
    let env = start(&backend).await;
    let (status, list) = json(
        env.app
            .admin(Method::GET, "/api/v3/managed/blueprints/available/")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let paths: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"example/invitation-enrollment.yaml"),
        "{paths:?}"
    );
    let example = list
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["path"] == "example/invitation-enrollment.yaml")
        .unwrap();
    assert_eq!(
        example["meta"]["name"],
        "akin example - invitation enrollment"
    );
    assert_eq!(example["hash"].as_str().unwrap().len(), 64);

    let form = Form::new()
        .text("path", "example/invitation-enrollment.yaml")
        .text("context", r#"{"flow_slug": "join-acme"}"#);
    let (status, body) = json(
        env.app
            .admin(Method::POST, "/api/v3/managed/blueprints/import/")
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["success"].clone()),
        (StatusCode::OK, json!(true)),
        "{body}"
    );
    assert_eq!(
        env.db
            .text("SELECT designation FROM flows WHERE slug = 'join-acme'")
            .await,
        "enrollment"
    );

    let form = Form::new().text("path", "no/such.yaml");
    let (status, body) = json(
        env.app
            .admin(Method::POST, "/api/v3/managed/blueprints/import/")
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["success"].clone()),
        (StatusCode::BAD_REQUEST, json!(false))
    );
}

async fn export(env: &TestEnv, slug: &str) -> String {
    let response = env
        .app
        .admin(
            Method::GET,
            &format!("/api/v3/flows/instances/{slug}/export/"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{slug}");
    assert_eq!(
        response.headers()["content-disposition"],
        format!("attachment; filename=\"{slug}.yaml\"").as_str()
    );
    response.text().await.unwrap()
}

async fn exported_flows_rebuild_the_same_flow_elsewhere(backend: Backend) {
    let source = start(&backend).await;
    for file in [
        "default/flow-default-authentication-flow.yaml",
        "example/flows-enrollment-2-stage.yaml",
        "example/flows-invitation-enrollment.yaml",
    ] {
        let body = import(&source, std::fs::read(shared(file)).unwrap()).await;
        assert_eq!(body["success"], true, "{file}: {body}");
    }
    let target = start(&backend).await;
    for slug in [
        "default-authentication-flow",
        "default-enrollment-flow",
        "invitation-enrollment-flow-internal-engineering",
    ] {
        let exported = export(&source, slug).await;
        let body = import(&target, exported.clone().into_bytes()).await;
        assert_eq!(body["success"], true, "{slug}: {body}\n{exported}");
        assert_eq!(
            export(&target, slug).await,
            exported,
            "{slug}: the copy differs"
        );
    }
    // The policy bound to the password binding came along.
    assert_eq!(
        target
            .db
            .number("SELECT COUNT(*) FROM policy_bindings pb JOIN flow_stage_bindings b ON b.fsb_uuid = pb.target_uuid JOIN stages s ON s.stage_uuid = b.stage_uuid WHERE s.name = 'default-authentication-password'")
            .await,
        1
    );
    let (status, _) = json(
        source
            .app
            .admin(Method::GET, "/api/v3/flows/instances/no-such-flow/export/")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Uploads `bytes` to an import endpoint; returns status and body.
async fn upload(
    env: &TestEnv,
    endpoint: &str,
    bytes: Vec<u8>,
    context: Option<&str>,
) -> (StatusCode, Value) {
    let mut form = Form::new().part("file", Part::bytes(bytes).file_name("blueprint.yaml"));
    if let Some(context) = context {
        form = form.text("context", context.to_owned());
    }
    json(
        env.app
            .admin(Method::POST, endpoint)
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn import(env: &TestEnv, bytes: Vec<u8>) -> Value {
    let (status, body) = upload(env, "/api/v3/managed/blueprints/import/", bytes, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Row counts of every table a blueprint writes.
async fn counts(env: &TestEnv) -> Vec<i64> {
    let mut out = Vec::new();
    for sql in [
        "SELECT COUNT(*) FROM flows",
        "SELECT COUNT(*) FROM stages",
        "SELECT COUNT(*) FROM prompts",
        "SELECT COUNT(*) FROM prompt_stage_fields",
        "SELECT COUNT(*) FROM flow_stage_bindings",
        "SELECT COUNT(*) FROM policies",
        "SELECT COUNT(*) FROM policy_bindings",
        "SELECT COUNT(*) FROM invitations",
        "SELECT COUNT(*) FROM groups",
    ] {
        out.push(env.db.number(sql).await);
    }
    out
}

async fn every_shared_blueprint_imports_and_reimports_unchanged(backend: Backend) {
    let env = start(&backend).await;
    for file in SHARED {
        let bytes = std::fs::read(shared(file)).unwrap();
        let first = import(&env, bytes.clone()).await;
        assert_eq!(first["success"], true, "{file}: {first}");
        let before = counts(&env).await;
        let again = import(&env, bytes).await;
        assert_eq!(again["success"], true, "{file}: {again}");
        assert_eq!(
            counts(&env).await,
            before,
            "{file}: re-import added objects"
        );
        let changed: Vec<&Value> = again["logs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| {
                l["attributes"]["action"] == "updated" || l["attributes"]["action"] == "created"
            })
            .collect();
        assert!(changed.is_empty(), "{file}: re-import changed {changed:?}");
    }
    // The older endpoint takes the same files.
    let (status, body) = upload(
        &env,
        "/api/v3/flows/instances/import/",
        std::fs::read(shared(SHARED[3])).unwrap(),
        None,
    )
    .await;
    assert_eq!(
        (status, body["success"].clone()),
        (StatusCode::OK, json!(true))
    );
}

async fn imported_objects_match_the_file(backend: Backend) {
    let env = start(&backend).await;
    let baseline = counts(&env).await;
    let body = import(
        &env,
        std::fs::read(shared("example/flows-invitation-enrollment.yaml")).unwrap(),
    )
    .await;
    assert_eq!(body["success"], true, "{body}");
    let events: Vec<&str> = body["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["event"].as_str().unwrap())
        .collect();
    assert!(
        events.contains(&"entry 0: created flow \"invitation-enrollment-flow-external\""),
        "{events:?}"
    );
    let added: Vec<i64> = counts(&env)
        .await
        .iter()
        .zip(&baseline)
        .map(|(now, before)| now - before)
        .collect();
    assert_eq!(added, [3, 9, 5, 5, 15, 0, 0, 5, 1]);
    assert_eq!(
        env.db
            .text(
                "SELECT designation FROM flows WHERE slug = 'invitation-enrollment-flow-external'"
            )
            .await,
        "enrollment"
    );
    assert_eq!(env.db.text("SELECT authentication FROM flows WHERE slug = 'invitation-enrollment-flow-internal'").await, "require_unauthenticated");
    assert_eq!(
        env.db.number("SELECT COUNT(*) FROM flow_stage_bindings b JOIN flows f ON f.flow_uuid = b.target_uuid WHERE f.slug = 'invitation-enrollment-flow-internal-engineering' AND b.binding_order IN (5, 10, 15, 20, 100)").await,
        5
    );
    // Prompt stage fields keep the file's order.
    assert_eq!(
        env.db.text("SELECT p.name FROM prompt_stage_fields f JOIN prompts p ON p.prompt_uuid = f.prompt_uuid JOIN stages s ON s.stage_uuid = f.stage_uuid WHERE s.name = 'invitation-enrollment-prompt-credentials' AND f.position = 2").await,
        "invitation-enrollment-field-password-repeat"
    );
    assert_eq!(
        env.db
            .number("SELECT COUNT(*) FROM invitations WHERE single_use AND max_uses = 1")
            .await,
        2
    );
    assert_eq!(
        env.db
            .number("SELECT COUNT(*) FROM invitations WHERE NOT single_use AND max_uses IS NULL")
            .await,
        3
    );
    let created_by = env.db.text("SELECT u.username FROM invitations i JOIN users u ON u.id = i.created_by WHERE i.name = 'example-external-basic-invitation'").await;
    assert_eq!(
        created_by, "akadmin",
        "invitations belong to the importing user"
    );

    // Context from the form parameterises the minimal blueprint.
    let bytes = std::fs::read(shared("example/flows-invitation-enrollment-minimal.yaml")).unwrap();
    let (status, body) = upload(
        &env,
        "/api/v3/managed/blueprints/import/",
        bytes,
        Some(r#"{"flow_slug": "partners", "flow_name": "Partners", "user_type": "internal"}"#),
    )
    .await;
    assert_eq!(
        (status, body["success"].clone()),
        (StatusCode::OK, json!(true)),
        "{body}"
    );
    assert_eq!(
        env.db
            .text("SELECT name FROM flows WHERE slug = 'partners'")
            .await,
        "Partners"
    );
}

/// Imports `yaml` and expects a refusal whose error log mentions `needle`, at `line`.
async fn refused(env: &TestEnv, yaml: &[u8], needle: &str, line: Option<u64>) {
    let before = counts(env).await;
    let body = import(env, yaml.to_vec()).await;
    assert_eq!(body["success"], false, "{needle}: {body}");
    let error = body["logs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["log_level"] == "error")
        .unwrap_or_else(|| panic!("no error log: {body}"));
    let event = error["event"].as_str().unwrap();
    assert!(event.contains(needle), "expected {needle:?} in {event:?}");
    if let Some(line) = line {
        assert_eq!(error["attributes"]["line"], line, "{event}");
    }
    assert_eq!(
        counts(env).await,
        before,
        "{needle}: a refused import changed something"
    );
}

async fn broken_blueprints_are_refused_whole(backend: Backend) {
    let env = start(&backend).await;
    let flows_before = env.db.number("SELECT COUNT(*) FROM flows").await;
    let flow = "version: 1\nentries:\n  - model: authentik_flows.flow\n    id: flow\n    identifiers: {slug: ok-flow}\n    attrs: {name: Ok, title: Ok, designation: enrollment}\n";
    refused(&env, b"version: 1\nentries: [\n", "YAML syntax error", None).await;
    refused(
        &env,
        format!("{flow}  - model: authentik_core.group\n    identifiers: {{name: !Nope x}}\n")
            .as_bytes(),
        "unknown tag !Nope",
        Some(8),
    )
    .await;
    refused(&env, format!("{flow}  - model: authentik_flows.flowstagebinding\n    identifiers: {{target: !KeyOf flow, stage: !KeyOf later, order: 1}}\n").as_bytes(), "no earlier entry has the id \"later\"", Some(8)).await;
    refused(&env, format!("{flow}  - model: authentik_core.group\n    identifiers: {{name: x}}\n    attrs: {{is_superuser: !Find [authentik_core.nothing, [a, b]]}}\n").as_bytes(), "unknown model", Some(9)).await;
    refused(&env, format!("{flow}  - model: authentik_stages_prompt.prompt\n    identifiers: {{name: p}}\n    attrs: {{field_key: k, label: L, type: text, order: many}}\n").as_bytes(), "order: A valid integer is required.", Some(7)).await;
    refused(
        &env,
        format!("{flow}  - model: authentik_core.nothing\n    identifiers: {{name: x}}\n")
            .as_bytes(),
        "unknown model \"authentik_core.nothing\"",
        Some(7),
    )
    .await;
    refused(&env, format!("{flow}  - model: authentik_flows.flow\n    state: must_created\n    identifiers: {{slug: ok-flow}}\n").as_bytes(), "already exists", Some(7)).await;
    // The API's rules hold for blueprints too (one write path): a policy binding binds
    // exactly one of a policy, a group or a user.
    refused(&env, format!("{flow}  - model: authentik_policies.policybinding\n    identifiers: {{target: !KeyOf flow, order: 0}}\n").as_bytes(), "One of 'group', 'policy', 'user' must be set.", Some(7)).await;
    // A user made by a blueprint passes the users API's rules too (issue 13, point 16).
    refused(&env, format!("{flow}  - model: authentik_core.user\n    identifiers: {{username: ok-user}}\n    attrs: {{email: not-an-email}}\n").as_bytes(), "authentik_core.user is not valid: email: Enter a valid email address.", Some(7)).await;
    refused(
        &env,
        format!(
            "{flow}  - model: authentik_core.user\n    identifiers: {{username: 'has space'}}\n"
        )
        .as_bytes(),
        "authentik_core.user is not valid: username:",
        Some(7),
    )
    .await;
    refused(
        &env,
        b"version: 1\nentries:\n  - model: authentik_core.group\n    identifiers: {name: \xff}\n",
        "not valid UTF-8",
        Some(4),
    )
    .await;
    let mut bomb = String::from("version: 1\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    refused(&env, bomb.as_bytes(), "alias bomb", None).await;
    // The flow above was never created: each refusal rolled back the whole file.
    assert_eq!(
        env.db.number("SELECT COUNT(*) FROM flows").await,
        flows_before
    );
    assert_eq!(
        env.db
            .number("SELECT COUNT(*) FROM flows WHERE slug = 'ok-flow'")
            .await,
        0
    );

    let (status, body) = json(
        env.app
            .admin(Method::POST, "/api/v3/managed/blueprints/import/")
            .multipart(Form::new().text("context", "{}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["success"], false);
    let (status, body) = upload(
        &env,
        "/api/v3/managed/blueprints/import/",
        flow.as_bytes().to_vec(),
        Some("[1]"),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!({"context": ["context must be a JSON object"]})
        )
    );
    // Larger than a blueprint may be: refused from the announced length, before reading.
    let (status, body) = crate::oversized_post(
        &env.app.base_url,
        "/api/v3/managed/blueprints/import/",
        "multipart/form-data; boundary=x",
        3 * 1024 * 1024,
    )
    .await;
    assert_eq!(status, 413, "{body}");
}

async fn the_cli_applies_and_validates_with_file_line_column(backend: Backend) {
    let env = start(&backend).await;
    let run = |args: Vec<String>| {
        let url = env.db.url.clone();
        async move {
            tokio::process::Command::new(BIN)
                .args(args)
                .env("AKIN_DATABASE_URL", url)
                .output()
                .await
                .unwrap()
        }
    };
    let file = shared("example/flows-enrollment-2-stage.yaml")
        .display()
        .to_string();
    let output = run(vec!["blueprint".into(), "validate".into(), file.clone()]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("created authentik_flows.flow slug=default-enrollment-flow"),
        "{stdout}"
    );
    let enrollment = "SELECT COUNT(*) FROM flows WHERE slug = 'default-enrollment-flow'";
    assert_eq!(
        env.db.number(enrollment).await,
        0,
        "validate changes nothing"
    );

    let output = run(vec!["blueprint".into(), "apply".into(), file.clone()]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(env.db.number(enrollment).await, 1);

    let broken = env.db.dir().join("broken.yaml");
    std::fs::write(&broken, "version: 1\nentries:\n  - model: authentik_flows.flow\n    identifiers: {slug: x}\n    attrs: {name: X, title: X, designation: party}\n").unwrap();
    let output = run(vec![
        "blueprint".into(),
        "apply".into(),
        broken.display().to_string(),
    ])
    .await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("{}:3:5: entry 0: authentik_flows.flow is not valid: designation: \"party\" is not a valid choice.", broken.display())), "{stderr}");

    let minimal = shared("example/flows-invitation-enrollment-minimal.yaml")
        .display()
        .to_string();
    let output = run(vec![
        "blueprint".into(),
        "apply".into(),
        minimal,
        "--context".into(),
        "flow_slug=from-cli".into(),
        "--context".into(),
        "continue_flow_without_invitation=true".into(),
    ])
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        env.db
            .text("SELECT slug FROM flows WHERE slug = 'from-cli'")
            .await,
        "from-cli"
    );
}

/// authentik's grouped form: `entries` as a mapping of named lists, applied section by
/// section, `!KeyOf` reaching across sections (issue 13, point 12).
async fn entries_grouped_in_named_lists_apply_in_order(backend: Backend) {
    let env = start(&backend).await;
    let yaml = b"version: 1\nentries:\n  flows:\n    - model: authentik_flows.flow\n      id: flow\n      identifiers: {slug: grouped}\n      attrs: {name: G, title: G, designation: enrollment}\n  stages:\n    - model: authentik_stages_deny.denystage\n      id: deny\n      identifiers: {name: grouped-deny}\n    - model: authentik_flows.flowstagebinding\n      identifiers: {target: !KeyOf flow, stage: !KeyOf deny, order: 0}\n";
    for _ in 0..2 {
        let body = import(&env, yaml.to_vec()).await;
        assert_eq!(body["success"], true, "{body}");
    }
    let (_, bindings) = crate::admin_get(&env, "/api/v3/flows/bindings/?search=").await;
    let bound = bindings["results"]
        .as_array()
        .unwrap()
        .iter()
        .any(|b| b["stage_obj"]["name"] == "grouped-deny");
    assert!(bound, "{bindings}");
}

/// authentik's exports identify entries by `pk`: such an entry is created with that key
/// (UUIDs and users' integer keys), applies again as an update, and matches an object with
/// another key by its other identifiers, as authentik's importer (issue 13, point 11).
async fn entries_identified_by_pk_keep_their_keys(backend: Backend) {
    let env = start(&backend).await;
    let flow = "11111111-1111-4111-8111-111111111111";
    let stage = "22222222-2222-4222-8222-222222222222";
    let export = format!(
        "version: 1\nentries:\n\
         - identifiers: {{pk: {flow}, slug: exported-flow}}\n  model: authentik_flows.flow\n  attrs: {{name: E, title: E, designation: authentication}}\n\
         - identifiers: {{pk: {stage}}}\n  model: authentik_stages_deny.denystage\n  attrs: {{name: exported-deny}}\n\
         - identifiers: {{pk: 33333333-3333-4333-8333-333333333333, target: {flow}, stage: {stage}, order: 0}}\n  model: authentik_flows.flowstagebinding\n\
         - identifiers: {{pk: 4242}}\n  model: authentik_core.user\n  attrs: {{username: exported-user, name: Exported}}\n\
         - identifiers: {{pk: 44444444-4444-4444-8444-444444444444, slug: default-authentication-flow}}\n  model: authentik_flows.flow\n  attrs: {{title: Welcome back}}\n"
    );
    for round in 0..2 {
        let body = import(&env, export.clone().into_bytes()).await;
        assert_eq!(body["success"], true, "round {round}: {body}");
    }
    let (_, flows) = crate::admin_get(&env, "/api/v3/flows/instances/?slug=exported-flow").await;
    assert_eq!(flows["results"][0]["pk"], flow);
    assert_eq!(flows["results"][0]["stages"], serde_json::json!([stage]));
    let (_, users) = crate::admin_get(&env, "/api/v3/core/users/?username=exported-user").await;
    assert_eq!(users["results"][0]["pk"], 4242);
    // The shipped flow was matched by its slug and changed, not duplicated.
    let (_, default) = crate::admin_get(
        &env,
        "/api/v3/flows/instances/?slug=default-authentication-flow",
    )
    .await;
    assert_eq!(default["pagination"]["count"], 1);
    assert_eq!(default["results"][0]["title"], "Welcome back");
    // A key that would leave no room for the next account is refused, nothing applied.
    let huge = b"version: 1\nentries:\n  - identifiers: {pk: 9223372036854775807}\n    model: authentik_core.user\n    attrs: {username: too-far}\n";
    let body = import(&env, huge.to_vec()).await;
    assert_eq!(body["success"], false, "{body}");
    // New accounts get keys past the imported one.
    let (status, created) = crate::admin_json(
        &env,
        reqwest::Method::POST,
        "/api/v3/core/users/",
        serde_json::json!({"username": "after-import", "name": "A"}),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{created}");
    assert!(created["pk"].as_i64().unwrap() > 4242, "{created}");
}

/// A `context:` value that is itself a tag resolves against the rest of the context
/// (issue 13, point 15).
async fn context_values_may_be_tags(backend: Backend) {
    let env = start(&backend).await;
    let yaml = b"version: 1\ncontext:\n  slug: !Format ['%s-flow', !Context team]\n  team: blue\nentries:\n  - model: authentik_flows.flow\n    identifiers: {slug: !Context slug}\n    attrs: {name: T, title: T, designation: authentication}\n";
    let body = import(&env, yaml.to_vec()).await;
    assert_eq!(body["success"], true, "{body}");
    let (_, flows) = crate::admin_get(&env, "/api/v3/flows/instances/?slug=blue-flow").await;
    assert_eq!(flows["pagination"]["count"], 1, "{flows}");

    // Inside an !Enumerate's own iterable, depth 0 is that !Enumerate (as authentik counts
    // it), so the enclosing item is `!Value 1` there (issue 13, point 15, second half).
    let nested = b"version: 1\ncontext:\n  teams: {blue: [alice, bob], red: [carol]}\nentries:\n  - model: authentik_core.group\n    identifiers: {name: teams}\n    attrs:\n      attributes:\n        members: !Enumerate [!Context teams, MAP, [!Index 0, !Enumerate [!Value 1, SEQ, !Format ['%s@%s', !Value 0, !Index 1]]]]\n";
    let body = import(&env, nested.to_vec()).await;
    assert_eq!(body["success"], true, "{body}");
    let (_, groups) = crate::admin_get(&env, "/api/v3/core/groups/?name=teams").await;
    assert_eq!(
        groups["results"][0]["attributes"]["members"],
        serde_json::json!({"blue": ["alice@blue", "bob@blue"], "red": ["carol@red"]})
    );
    let own = b"version: 1\nentries:\n  - model: authentik_core.group\n    identifiers: {name: own}\n    attrs:\n      attributes: {x: !Enumerate [[[1]], SEQ, !Enumerate [!Value 0, SEQ, y]]}\n";
    let body = import(&env, own.to_vec()).await;
    assert_eq!(body["success"], false, "{body}");
    assert!(
        body["logs"][0]["event"]
            .as_str()
            .is_some_and(|e| e.contains("still reading its iterable")),
        "{body}"
    );
}

/// A new object is its identifiers and attrs deep-merged, as authentik's importer does:
/// attributes named in the identifiers are kept when attrs add others; dict identifiers
/// find existing objects by containment (issue 13, point 14).
async fn identifiers_and_attrs_merge_into_a_new_object(backend: Backend) {
    let env = start(&backend).await;
    let yaml = b"version: 1\nentries:\n  - model: authentik_core.group\n    identifiers: {name: merged, attributes: {team: blue}}\n    attrs: {attributes: {floor: 3}}\n";
    let body = import(&env, yaml.to_vec()).await;
    assert_eq!(body["success"], true, "{body}");
    let (_, groups) = crate::admin_get(&env, "/api/v3/core/groups/?name=merged").await;
    assert_eq!(
        groups["results"][0]["attributes"],
        serde_json::json!({"team": "blue", "floor": 3})
    );

    // Dict identifiers match by JSON containment (authentik's `__contains`), so the same
    // file applies again as an update of that group, not a second one.
    let body = import(&env, yaml.to_vec()).await;
    assert_eq!(body["success"], true, "{body}");
    let (_, groups) = crate::admin_get(&env, "/api/v3/core/groups/?name=merged").await;
    assert_eq!(groups["pagination"]["count"], 1, "{groups}");

    // An object found by a nested part of its attributes alone, and renamed.
    let by_attributes = b"version: 1\nentries:\n  - model: authentik_core.group\n    identifiers: {attributes: {team: blue}}\n    attrs: {name: renamed}\n";
    let body = import(&env, by_attributes.to_vec()).await;
    assert_eq!(body["success"], true, "{body}");
    let (_, groups) = crate::admin_get(&env, "/api/v3/core/groups/?name=renamed").await;
    assert_eq!(groups["pagination"]["count"], 1, "{groups}");
    let (_, old) = crate::admin_get(&env, "/api/v3/core/groups/?name=merged").await;
    assert_eq!(old["pagination"]["count"], 0, "{old}");

    // No object contains this one: a new group.
    let other = b"version: 1\nentries:\n  - model: authentik_core.group\n    identifiers: {attributes: {team: red, floor: 3}}\n    attrs: {name: reds}\n";
    let body = import(&env, other.to_vec()).await;
    assert_eq!(body["success"], true, "{body}");
    let (_, reds) = crate::admin_get(&env, "/api/v3/core/groups/?name=reds").await;
    assert_eq!(
        reds["results"][0]["attributes"],
        serde_json::json!({"team": "red", "floor": 3})
    );
}

/// `authentik_core.token` entries (issue 13, point 13): a token with a given key signs API
/// requests in as its user; one without a key gets a random one; applying again updates it
/// (a new key replaces the old, which stops working); a bad reference is refused whole.
async fn tokens_are_a_blueprint_model(backend: Backend) {
    let env = start(&backend).await;
    let with_key = |key: &str| {
        format!(
            "version: 1\nentries:\n  - model: authentik_core.token\n    identifiers: {{identifier: ci-deploy}}\n    attrs:\n      user: !Find [authentik_core.user, [username, akadmin]]\n      intent: api\n      expiring: false\n      key: {key}\n  - model: authentik_core.token\n    identifiers: {{identifier: generated}}\n    attrs: {{user: !Find [authentik_core.user, [username, akadmin]], intent: api, description: made by a blueprint}}\n"
        )
    };
    let body = import(&env, with_key("first-key-0123456789abcdef").into_bytes()).await;
    assert_eq!(body["success"], true, "{body}");
    let me = |key: &'static str| {
        let client = reqwest::Client::new();
        let url = format!("{}/api/v3/core/users/me/", env.app.base_url);
        async move {
            client
                .get(url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(me("first-key-0123456789abcdef").await, StatusCode::OK);

    let (status, generated) = crate::admin_get(&env, "/api/v3/core/tokens/generated/").await;
    assert_eq!(status, StatusCode::OK, "{generated}");
    assert_eq!(generated["intent"], "api");
    assert_eq!(generated["description"], "made by a blueprint");
    let (_, key) = crate::admin_get(&env, "/api/v3/core/tokens/generated/view_key/").await;
    let key = key["key"].as_str().unwrap().to_owned();
    assert!(key.len() >= 32, "{key}");

    // Again, with another key: the token is updated, the generated one keeps its key.
    let body = import(&env, with_key("second-key-0123456789abcdef").into_bytes()).await;
    assert_eq!(body["success"], true, "{body}");
    assert_eq!(
        me("first-key-0123456789abcdef").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(me("second-key-0123456789abcdef").await, StatusCode::OK);
    let (_, again) = crate::admin_get(&env, "/api/v3/core/tokens/generated/view_key/").await;
    assert_eq!(again["key"], key.as_str());
    let (_, tokens) = crate::admin_get(&env, "/api/v3/core/tokens/?identifier=ci-deploy").await;
    assert_eq!(tokens["pagination"]["count"], 1, "{tokens}");

    let bad = b"version: 1\nentries:\n  - model: authentik_core.token\n    identifiers: {identifier: orphan}\n    attrs: {user: 999999, intent: api}\n";
    let body = import(&env, bad.to_vec()).await;
    assert_eq!(body["success"], false, "{body}");
    let (status, _) = crate::admin_get(&env, "/api/v3/core/tokens/orphan/").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A blueprint uploaded through the API (by whoever holds an administrator's token) reads
/// with `!Env` only what `AKIN_BLUEPRINT_ENV_ALLOW` names, never akin's own settings: a
/// flow titled `!Env AKIN_BOOTSTRAP_TOKEN` (a title anonymous visitors see) is refused
/// whole, its report and the server's log name the variable and never its value. The CLI
/// reads any, as authentik does.
async fn uploaded_blueprints_read_only_allowed_variables(backend: Backend) {
    let secret = "s3cret-d0-not-leak-1234567890";
    let options = akin_testkit::SpawnOptions {
        env: vec![
            // An operator allowing too much still never exposes AKIN_*.
            ("AKIN_BLUEPRINT_ENV_ALLOW".into(), "ORG_*, AKIN_*".into()),
            ("ORG_NAME".into(), "Acme".into()),
            ("OTHER_SECRET".into(), secret.into()),
        ],
        ..Default::default()
    };
    let env = TestEnv::start_with(BIN, &backend, &options).await;
    let flow = |slug: &str, title: &str| {
        format!(
            "version: 1\nentries:\n  - model: authentik_flows.flow\n    identifiers: {{slug: {slug}}}\n    attrs: {{name: {slug}, title: {title}, designation: enrollment}}\n"
        )
    };
    let allowed = import(&env, flow("allowed", "!Env ORG_NAME").into_bytes()).await;
    assert_eq!(allowed["success"], true, "{allowed}");
    assert_eq!(
        env.db
            .text("SELECT title FROM flows WHERE slug = 'allowed'")
            .await,
        "Acme"
    );
    for variable in [
        "AKIN_BOOTSTRAP_TOKEN",
        "OTHER_SECRET",
        "[AKIN_DATABASE_URL, fallback]",
    ] {
        let (status, report) = upload(
            &env,
            "/api/v3/managed/blueprints/import/",
            flow("leaky", &format!("!Env {variable}")).into_bytes(),
            None,
        )
        .await;
        let text = report.to_string();
        // As any refused import: authentik's 200 with `success: false`.
        assert_eq!(
            (status, report["success"].clone()),
            (StatusCode::OK, json!(false)),
            "{variable}: {report}"
        );
        let name = variable.trim_start_matches('[').split(',').next().unwrap();
        assert!(
            text.contains(&format!("!Env {name}")),
            "{variable}: {report}"
        );
        assert!(
            !text.contains(secret) && !text.contains(akin_testkit::ADMIN_TOKEN),
            "{report}"
        );
    }
    assert_eq!(
        env.db
            .number("SELECT COUNT(*) FROM flows WHERE slug = 'leaky'")
            .await,
        0
    );
    let logs = env.app.logs().join("\n");
    assert!(
        logs.contains("!Env AKIN_BOOTSTRAP_TOKEN"),
        "the refusal is logged"
    );
    assert!(!logs.contains(secret) && !logs.contains(akin_testkit::ADMIN_TOKEN));

    // The operator's own file, through the CLI: authentik's full `!Env`.
    let dir = env.db.dir().to_path_buf();
    let file = dir.join("cli.yaml");
    std::fs::write(&file, flow("from-cli", "!Env OTHER_SECRET")).unwrap();
    let applied = tokio::process::Command::new(BIN)
        .args(["blueprint", "apply"])
        .arg(&file)
        .env("AKIN_DATABASE_URL", &env.db.url)
        .env("OTHER_SECRET", "cli-may-read-it")
        .output()
        .await
        .unwrap();
    assert!(applied.status.success(), "{applied:?}");
    assert_eq!(
        env.db
            .text("SELECT title FROM flows WHERE slug = 'from-cli'")
            .await,
        "cli-may-read-it"
    );
}
