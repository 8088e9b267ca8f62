//! API writes leave `model_*` events with who, from where, and what.

use akin_testkit::Backend;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{admin_get, admin_json, start};

on_both_backends!(writes_are_recorded_as_events);

async fn writes_are_recorded_as_events(backend: Backend) {
    let env = start(&backend).await;
    let (_, user) = admin_json(
        &env,
        Method::POST,
        "/api/v3/core/users/",
        json!({"username": "ann", "name": "Ann"}),
    )
    .await;
    let pk = user["pk"].as_i64().unwrap();
    let path = format!("/api/v3/core/users/{pk}/");
    admin_json(&env, Method::PATCH, &path, json!({"name": "Ann B"})).await;
    env.app.admin(Method::DELETE, &path).send().await.unwrap();
    admin_get(&env, "/api/v3/core/tokens/akin-bootstrap-token/view_key/").await;

    let (status, events) = admin_get(&env, "/api/v3/events/events/?context_model_name=user").await;
    assert_eq!(status, StatusCode::OK);
    let actions: Vec<&str> = events["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["model_deleted", "model_updated", "model_created"],
        "newest first"
    );

    let created = &events["results"][2];
    for key in [
        "pk",
        "user",
        "action",
        "app",
        "context",
        "client_ip",
        "created",
        "expires",
        "brand",
    ] {
        assert!(created.get(key).is_some(), "event lacks {key}");
    }
    assert_eq!(created["user"]["username"], "akadmin");
    assert_eq!(created["client_ip"], "127.0.0.1");
    assert_eq!(created["context"]["model"]["model_name"], "user");
    assert_eq!(created["context"]["model"]["pk"], pk.to_string());
    assert_eq!(created["context"]["model"]["name"], "ann");
    assert_eq!(created["context"]["http_request"]["method"], "POST");
    assert_eq!(
        created["context"]["http_request"]["path"],
        "/api/v3/core/users/"
    );

    let (_, viewed) = admin_get(&env, "/api/v3/events/events/?action=secret_view").await;
    assert_eq!(viewed["pagination"]["count"], 1);
    let (_, by_user) = admin_get(
        &env,
        "/api/v3/events/events/?username=akadmin&actions=model_created&actions=model_deleted",
    )
    .await;
    assert_eq!(by_user["pagination"]["count"], 2);

    let one = created["pk"].as_str().unwrap();
    let (status, single) = admin_get(&env, &format!("/api/v3/events/events/{one}/")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(single["action"], "model_created");
    // Read-only: there is no way to write events through the API.
    let (status, _) = admin_json(&env, Method::POST, "/api/v3/events/events/", json!({})).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}
