//! Blueprint instances (issue 13, point 17): `/api/v3/managed/blueprints/` as authentik's,
//! and a blueprints folder (`AKIN_BLUEPRINTS_DIR`) applied at start, watched for changes,
//! and applied once by one of several nodes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use akin_testkit::{ADMIN_PASSWORD, Backend, SpawnOptions, TestApp, TestEnv};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{BIN, admin_get, admin_json};

on_both_backends!(
    a_folder_is_applied_at_start_and_watched,
    instances_are_validated_as_authentik_does,
    two_nodes_apply_a_change_once,
);

fn shared(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/blueprints")
        .join(path)
}

/// A blueprints folder holding authentik's example blueprints, unchanged, and one file of
/// our own. (authentik's `default/` files would replace akin's sign-in flow with one that
/// asks for a second factor, which the admin pages' sign-in below does not give.)
fn folder(base: &Path) -> PathBuf {
    let dir = base.join("blueprints");
    std::fs::create_dir_all(dir.join("example")).unwrap();
    for entry in std::fs::read_dir(shared("example")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join("example").join(path.file_name().unwrap())).unwrap();
    }
    std::fs::create_dir_all(dir.join("ours")).unwrap();
    std::fs::write(
        dir.join("ours/teams.yaml"),
        "version: 1\nmetadata:\n  name: Our teams\nentries:\n  - model: authentik_core.group\n    identifiers: {name: blue-team}\n",
    )
    .unwrap();
    dir
}

fn options(dir: &Path) -> SpawnOptions {
    SpawnOptions {
        env: vec![
            ("AKIN_BLUEPRINTS_DIR".into(), dir.display().to_string()),
            ("AKIN_BLUEPRINTS_INTERVAL".into(), "1".into()),
        ],
        ..SpawnOptions::default()
    }
}

async fn instances(env: &TestEnv) -> Vec<Value> {
    let (status, body) = admin_get(env, "/api/v3/managed/blueprints/?page_size=100").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["results"].as_array().unwrap().clone()
}

async fn instance_at(env: &TestEnv, path: &str) -> Value {
    instances(env)
        .await
        .into_iter()
        .find(|i| i["path"] == path)
        .unwrap_or_else(|| panic!("no instance of {path}"))
}

/// Waits up to ten seconds for the instance of `path` to satisfy `done`.
async fn wait_for(env: &TestEnv, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        let instance = instance_at(env, path).await;
        if done(&instance) {
            return instance;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    instance_at(env, path).await
}

async fn group_exists(env: &TestEnv, name: &str) -> bool {
    let (_, groups) = admin_get(env, &format!("/api/v3/core/groups/?name={name}")).await;
    groups["pagination"]["count"] == 1
}

const EXTRA_GROUP: &str = "  - model: authentik_core.group\n    identifiers: {name: added-later}\n    attrs: {is_superuser: false}\n";

async fn a_folder_is_applied_at_start_and_watched(backend: Backend) {
    let db = akin_testkit::TestDatabase::create(&backend).await;
    let dir = folder(db.dir());
    let app = TestApp::start(BIN, &db.url, &options(&dir)).await;
    let env = TestEnv { app, db };

    // A file without `instantiate: "false"`: an instance, applied before the server
    // answered.
    let all = instances(&env).await;
    let ours = instance_at(&env, "ours/teams.yaml").await;
    assert_eq!(ours["status"], "successful", "{ours}");
    assert_eq!(ours["name"], "Our teams");
    assert_eq!(ours["metadata"]["name"], "Our teams");
    assert_eq!(ours["managed_models"], json!(["authentik_core.group"]));
    assert_eq!(ours["last_applied_hash"].as_str().unwrap().len(), 64);
    assert!(group_exists(&env, "blue-team").await);
    // The examples say `instantiate: "false"`: available, not instances.
    assert!(
        all.iter()
            .all(|i| !i["path"].as_str().unwrap().starts_with("example/")),
        "{all:?}"
    );
    let (_, available) = admin_get(&env, "/api/v3/managed/blueprints/available/").await;
    assert!(
        available
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["path"] == "example/flows-enrollment-2-stage.yaml"
                && f["meta"]["labels"]["blueprints.goauthentik.io/instantiate"] == "false"),
        "{available}"
    );

    // An administrator instantiates an example: applied at once.
    let path = "example/flows-enrollment-2-stage.yaml";
    let (status, created) = admin_json(
        &env,
        Method::POST,
        "/api/v3/managed/blueprints/",
        json!({"name": "Two-stage enrollment", "path": path}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "successful", "{created}");
    let (status, _) = admin_get(&env, "/api/v3/flows/instances/default-enrollment-flow/").await;
    assert_eq!(status, StatusCode::OK);
    let first_hash = created["last_applied_hash"].clone();

    // The file changes: applied again by the watcher.
    let file = dir.join(path);
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str(EXTRA_GROUP);
    std::fs::write(&file, &text).unwrap();
    let changed = wait_for(&env, path, |i| i["last_applied_hash"] != first_hash).await;
    assert_eq!(changed["status"], "successful", "{changed}");
    assert!(group_exists(&env, "added-later").await);

    // A mistake: status error with the reason, shown on the admin page too; nothing of the
    // broken file is applied.
    std::fs::write(
        &file,
        format!("{text}  - model: authentik_core.group\n    identifiers: {{name: broken}}\n    attrs: {{is_superuser: maybe}}\n"),
    )
    .unwrap();
    let broken = wait_for(&env, path, |i| i["status"] == "error").await;
    assert_eq!(broken["status"], "error", "{broken}");
    let reason = broken["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["event"].as_str())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(reason.contains("is_superuser"), "{reason}");
    assert!(!group_exists(&env, "broken").await);
    let admin = crate::admin_pages::log_in(&env, "akadmin", ADMIN_PASSWORD).await;
    let (status, _, html) = admin.get("/if/admin/blueprints/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Two-stage enrollment") && html.contains("status-error"),
        "{html}"
    );
    assert!(
        html.contains("is_superuser"),
        "the error's log is shown: {html}"
    );
    let pk = broken["pk"].as_str().unwrap();
    let (status, location, _) = admin
        .post(
            &format!("/if/admin/blueprints/{pk}/apply/"),
            &[("csrf_token", &crate::admin_pages::csrf_token(&html))],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, format!("/if/admin/blueprints/#instance-{pk}"));
    let (status, _, _) = admin
        .post(
            &format!("/if/admin/blueprints/{pk}/apply/"),
            &[("csrf_token", "forged")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The file is gone: orphaned. `apply/` says so again.
    std::fs::remove_file(&file).unwrap();
    let gone = wait_for(&env, path, |i| i["status"] == "orphaned").await;
    assert_eq!(gone["status"], "orphaned", "{gone}");
    let pk = gone["pk"].as_str().unwrap();
    let (status, applied) = admin_json(
        &env,
        Method::POST,
        &format!("/api/v3/managed/blueprints/{pk}/apply/"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    assert_eq!(applied["status"], "orphaned");

    // Inline content with a context of its own.
    let (status, inline) = admin_json(
        &env,
        Method::POST,
        "/api/v3/managed/blueprints/",
        json!({
            "name": "inline",
            "context": {"team": "blue"},
            "content": "version: 1\nentries:\n  - model: authentik_core.group\n    identifiers: {name: !Format ['team-%s', !Context team]}\n",
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{inline}");
    assert_eq!(inline["status"], "successful", "{inline}");
    assert!(group_exists(&env, "team-blue").await);

    // A restart with nothing changed applies nothing.
    let TestEnv { app, db } = env;
    assert!(app.terminate().await);
    let app = TestApp::start(BIN, &db.url, &options(&dir)).await;
    assert!(
        !app.logs()
            .join("\n")
            .contains("applied blueprint instances"),
        "{:?}",
        app.logs()
    );
}

async fn instances_are_validated_as_authentik_does(backend: Backend) {
    let env = crate::start(&backend).await;
    let post = |body: Value| {
        let env = &env;
        async move { admin_json(env, Method::POST, "/api/v3/managed/blueprints/", body).await }
    };
    let (status, body) = post(json!({"name": "neither"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["non_field_errors"],
        json!(["Either path or content must be set."])
    );
    for path in ["no/such.yaml", "../../etc/passwd", "/etc/passwd"] {
        let (status, body) = post(json!({"name": "missing", "path": path})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(
            body["path"],
            json!(["Blueprint file does not exist"]),
            "{path}"
        );
    }
    let (status, body) = post(json!({"name": "bad", "content": "version: 1\nentries:\n  - model: nope.nope\n    identifiers: {a: 1}\n"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["content"][0], "Failed to validate blueprint", "{body}");
    // A path akin ships works without a folder.
    let (status, shipped) =
        post(json!({"name": "shipped", "path": "example/invitation-enrollment.yaml"})).await;
    assert_eq!(status, StatusCode::CREATED, "{shipped}");
    assert_eq!(shipped["status"], "successful", "{shipped}");
    let (status, body) =
        post(json!({"name": "shipped", "path": "example/invitation-enrollment.yaml"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["name"].is_array(), "{body}");

    // Disabled: not applied; enabling applies it.
    let pk = shipped["pk"].as_str().unwrap();
    let item = format!("/api/v3/managed/blueprints/{pk}/");
    let (status, disabled) =
        admin_json(&env, Method::PATCH, &item, json!({"enabled": false})).await;
    assert_eq!(status, StatusCode::OK, "{disabled}");
    assert_eq!(disabled["enabled"], false);
    let (status, listed) = admin_get(&env, "/api/v3/managed/blueprints/?search=shipp").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["pagination"]["count"], 1, "{listed}");
    let (status, _) = admin_json(&env, Method::DELETE, &item, json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = admin_get(&env, &item).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Anonymous callers are refused.
    let response = env
        .app
        .anonymous(Method::GET, "/api/v3/managed/blueprints/")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

async fn two_nodes_apply_a_change_once(backend: Backend) {
    let db = akin_testkit::TestDatabase::create(&backend).await;
    let dir = db.dir().join("blueprints");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("teams.yaml");
    let group = |name: &str| {
        format!(
            "version: 1\nmetadata: {{name: Teams}}\nentries:\n  - model: authentik_core.group\n    identifiers: {{name: {name}}}\n"
        )
    };
    std::fs::write(&file, group("first")).unwrap();
    let first = TestApp::start(BIN, &db.url, &options(&dir)).await;
    let second = TestApp::start(BIN, &db.url, &options(&dir)).await;
    let env = TestEnv { app: first, db };
    assert!(group_exists(&env, "first").await);

    std::fs::write(&file, group("second")).unwrap();
    for _ in 0..100 {
        if group_exists(&env, "second").await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(group_exists(&env, "second").await);
    // Let every node pass over the folder a few more times.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let all = instances(&env).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["status"], "successful");
    let applies: usize = [env.app.logs(), second.logs()]
        .iter()
        .flatten()
        .filter(|line| line.contains("applied blueprint instances"))
        .count();
    assert_eq!(applies, 2, "once at start, once for the change");
    assert!(second.terminate().await);
}
