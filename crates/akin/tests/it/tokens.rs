//! `/api/v3/core/tokens/`: keys are generated, shown only by `view_key/`, and work at once.

use akin_testkit::Backend;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{admin_get, admin_json, json, start};

on_both_backends!(tokens_are_managed_and_their_keys_authenticate);

async fn tokens_are_managed_and_their_keys_authenticate(backend: Backend) {
    let env = start(&backend).await;
    let (status, token) = admin_json(
        &env,
        Method::POST,
        "/api/v3/core/tokens/",
        json!({"identifier": "ci-robot", "intent": "api", "expiring": false, "description": "CI"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    for key in [
        "pk",
        "managed",
        "identifier",
        "intent",
        "user",
        "user_obj",
        "description",
        "expires",
        "expiring",
    ] {
        assert!(token.get(key).is_some(), "token lacks {key}");
    }
    assert!(
        token.get("key").is_none(),
        "the key is only shown by view_key"
    );
    assert_eq!(token["user_obj"]["username"], "akadmin");

    let (status, key) = admin_get(&env, "/api/v3/core/tokens/ci-robot/view_key/").await;
    assert_eq!(status, StatusCode::OK);
    let key = key["key"].as_str().unwrap().to_owned();
    assert_eq!(key.len(), 128);
    let me = |key: String| {
        env.app
            .anonymous(Method::GET, "/api/v3/core/users/me/")
            .bearer_auth(key)
            .send()
    };
    assert_eq!(me(key.clone()).await.unwrap().status(), StatusCode::OK);

    // authentik's defaults: intent verification, expiring in 30 minutes.
    let (status, default) = admin_json(
        &env,
        Method::POST,
        "/api/v3/core/tokens/",
        json!({"identifier": "defaults"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{default}");
    assert_eq!(default["intent"], "verification");
    assert_eq!(default["expiring"], true);
    assert!(default["expires"].is_string());

    let (_, filtered) = admin_get(
        &env,
        "/api/v3/core/tokens/?intent=api&user__username=akadmin",
    )
    .await;
    let identifiers: Vec<&str> = filtered["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["identifier"].as_str().unwrap())
        .collect();
    assert_eq!(identifiers, ["akin-bootstrap-token", "ci-robot"]);

    let (status, body) = admin_json(
        &env,
        Method::POST,
        "/api/v3/core/tokens/",
        json!({"identifier": "ci-robot"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"identifier": ["token with this identifier already exists."]})
    );

    let set = env
        .app
        .admin(Method::POST, "/api/v3/core/tokens/ci-robot/set_key/")
        .json(&json!({"key": "my-own-key-1234567890"}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        me(key.clone()).await.unwrap().status(),
        StatusCode::FORBIDDEN,
        "old key stops working"
    );
    assert_eq!(
        me("my-own-key-1234567890".into()).await.unwrap().status(),
        StatusCode::OK
    );

    let (status, patched) = admin_json(
        &env,
        Method::PATCH,
        "/api/v3/core/tokens/ci-robot/",
        json!({"expiring": true, "expires": "2001-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["expires"], "2001-01-01T00:00:00Z");
    let (status, body) = json(me("my-own-key-1234567890".into()).await.unwrap()).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::FORBIDDEN,
            json!({"detail": "Token invalid/expired"})
        )
    );

    let deleted = env
        .app
        .admin(Method::DELETE, "/api/v3/core/tokens/ci-robot/")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let (status, _) = admin_get(&env, "/api/v3/core/tokens/ci-robot/").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
