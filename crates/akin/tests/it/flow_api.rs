//! `/api/v3/flows/instances/`: flows in authentik's shape, looked up by slug.

use akin_testkit::Backend;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{admin_get, admin_json, start};

on_both_backends!(flows_are_listed_created_changed_and_deleted);

const FLOW_KEYS: &[&str] = &[
    "pk",
    "policybindingmodel_ptr_id",
    "name",
    "slug",
    "title",
    "designation",
    "background",
    "background_url",
    "background_themed_urls",
    "stages",
    "policies",
    "cache_count",
    "policy_engine_mode",
    "compatibility_mode",
    "export_url",
    "layout",
    "denied_action",
    "authentication",
];

async fn flows_are_listed_created_changed_and_deleted(backend: Backend) {
    let env = start(&backend).await;
    let (status, list) = admin_get(&env, "/api/v3/flows/instances/").await;
    assert_eq!(status, StatusCode::OK);
    let slugs: Vec<&str> = list["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["slug"].as_str().unwrap())
        .collect();
    assert_eq!(
        slugs,
        [
            "default-authentication-flow",
            "default-invalidation-flow",
            "default-password-change",
            "default-recovery-flow",
            "default-user-settings-flow",
            "initial-setup"
        ]
    );
    let (_, one) = admin_get(&env, "/api/v3/flows/instances/?designation=invalidation").await;
    assert_eq!(one["pagination"]["count"], 1);

    let (_, auth) = admin_get(&env, "/api/v3/flows/instances/default-authentication-flow/").await;
    for key in FLOW_KEYS {
        assert!(auth.get(*key).is_some(), "flow lacks {key}");
    }
    assert_eq!(auth["stages"].as_array().unwrap().len(), 3);
    assert_eq!(
        auth["export_url"],
        "/api/v3/flows/instances/default-authentication-flow/export/"
    );

    let body =
        json!({"name": "Join", "slug": "join", "title": "Join us", "designation": "enrollment"});
    let (status, created) =
        admin_json(&env, Method::POST, "/api/v3/flows/instances/", body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        (
            created["authentication"].as_str(),
            created["layout"].as_str()
        ),
        (Some("none"), Some("stacked"))
    );
    let (status, errors) = admin_json(&env, Method::POST, "/api/v3/flows/instances/", body).await;
    assert_eq!(
        (status, errors),
        (
            StatusCode::BAD_REQUEST,
            json!({"slug": ["flow with this slug already exists."]})
        )
    );
    let (status, errors) = admin_json(
        &env,
        Method::POST,
        "/api/v3/flows/instances/",
        json!({"name": "x", "slug": "x", "title": "x", "designation": "party"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(errors["designation"][0], "\"party\" is not a valid choice.");

    let (status, patched) = admin_json(
        &env,
        Method::PATCH,
        "/api/v3/flows/instances/join/",
        json!({"title": "Welcome aboard"}),
    )
    .await;
    assert_eq!(
        (status, patched["title"].as_str(), patched["name"].as_str()),
        (StatusCode::OK, Some("Welcome aboard"), Some("Join"))
    );

    // An invitation bound to a deleted flow keeps existing, unbound (authentik's SET_DEFAULT).
    let (_, invitation) = admin_json(
        &env,
        Method::POST,
        "/api/v3/stages/invitation/invitations/",
        json!({"name": "to-join", "flow": created["pk"]}),
    )
    .await;
    let deleted = env
        .app
        .admin(Method::DELETE, "/api/v3/flows/instances/join/")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let (status, _) = admin_get(&env, "/api/v3/flows/instances/join/").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, kept) = admin_get(
        &env,
        &format!(
            "/api/v3/stages/invitation/invitations/{}/",
            invitation["pk"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(kept["flow"], serde_json::Value::Null);
}
