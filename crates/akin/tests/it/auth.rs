//! API authentication behaves as authentik's: 403s with its exact messages.

use akin_testkit::{ADMIN_TOKEN, Backend};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{admin_json, json, start};

on_both_backends!(
    refusals_carry_authentiks_messages,
    bearer_scheme_is_case_insensitive,
    tokens_of_inactive_users_and_expired_or_non_api_tokens_are_refused,
    non_superusers_see_only_themselves,
);

async fn refusals_carry_authentiks_messages(backend: Backend) {
    let env = start(&backend).await;
    let me = "/api/v3/core/users/me/";
    let cases = [
        (None, "Authentication credentials were not provided."),
        (Some("Bearer wrong-key".to_owned()), "Token invalid/expired"),
        (Some("Bearer ".to_owned()), "Token invalid/expired"),
        (
            Some(format!("Basic {ADMIN_TOKEN}")),
            "Unsupported authentication type",
        ),
        (
            Some(format!("Token {ADMIN_TOKEN}")),
            "Unsupported authentication type",
        ),
    ];
    for (header, detail) in cases {
        let mut request = env.app.anonymous(Method::GET, me);
        if let Some(h) = &header {
            request = request.header("Authorization", h);
        }
        let (status, body) = json(request.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{header:?}");
        assert_eq!(body, json!({"detail": detail}), "{header:?}");
    }
}

async fn bearer_scheme_is_case_insensitive(backend: Backend) {
    let env = start(&backend).await;
    let response = env
        .app
        .anonymous(Method::GET, "/api/v3/core/users/me/")
        .header("Authorization", format!("bearer {ADMIN_TOKEN}"))
        .send()
        .await
        .unwrap();
    let (status, body) = json(response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["user"]["username"], "akadmin");
}

/// Creates a user and an API token for it; returns (user pk, token key).
async fn user_with_token(
    env: &akin_testkit::TestEnv,
    username: &str,
    token: serde_json::Value,
) -> (i64, String) {
    let (status, user) = admin_json(
        env,
        Method::POST,
        "/api/v3/core/users/",
        json!({"username": username, "name": username}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let mut token = token;
    token["user"] = user["pk"].clone();
    let (status, created) = admin_json(env, Method::POST, "/api/v3/core/tokens/", token).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let identifier = created["identifier"].as_str().unwrap();
    let (_, key) =
        crate::admin_get(env, &format!("/api/v3/core/tokens/{identifier}/view_key/")).await;
    (
        user["pk"].as_i64().unwrap(),
        key["key"].as_str().unwrap().to_owned(),
    )
}

async fn tokens_of_inactive_users_and_expired_or_non_api_tokens_are_refused(backend: Backend) {
    let env = start(&backend).await;
    let me = |key: &str| {
        env.app
            .anonymous(Method::GET, "/api/v3/core/users/me/")
            .bearer_auth(key.to_owned())
            .send()
    };

    let (pk, key) = user_with_token(
        &env,
        "ann",
        json!({"identifier": "ann-api", "intent": "api", "expiring": false}),
    )
    .await;
    assert_eq!(me(&key).await.unwrap().status(), StatusCode::OK);
    let (status, _) = admin_json(
        &env,
        Method::PATCH,
        &format!("/api/v3/core/users/{pk}/"),
        json!({"is_active": false}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = json(me(&key).await.unwrap()).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::FORBIDDEN,
            json!({"detail": "Token invalid/expired"})
        )
    );

    let (_, expired) = user_with_token(
        &env,
        "bob",
        json!({"identifier": "bob-api", "intent": "api", "expiring": true, "expires": "2020-01-01T00:00:00Z"}),
    )
    .await;
    let (status, body) = json(me(&expired).await.unwrap()).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::FORBIDDEN,
            json!({"detail": "Token invalid/expired"})
        )
    );

    let (_, recovery) = user_with_token(
        &env,
        "cat",
        json!({"identifier": "cat-recovery", "intent": "recovery", "expiring": false}),
    )
    .await;
    assert_eq!(me(&recovery).await.unwrap().status(), StatusCode::FORBIDDEN);

    // An expiring token with a future expiry works.
    let (_, current) = user_with_token(
        &env,
        "dan",
        json!({"identifier": "dan-api", "intent": "api", "expiring": true, "expires": "2999-01-01T00:00:00+00:00"}),
    )
    .await;
    assert_eq!(me(&current).await.unwrap().status(), StatusCode::OK);
}

async fn non_superusers_see_only_themselves(backend: Backend) {
    let env = start(&backend).await;
    let (_, key) = user_with_token(
        &env,
        "eve",
        json!({"identifier": "eve-api", "intent": "api", "expiring": false}),
    )
    .await;
    let get = |path: &'static str| {
        env.app
            .anonymous(Method::GET, path)
            .bearer_auth(key.clone())
            .send()
    };
    let (status, body) = json(get("/api/v3/core/users/me/").await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["user"]["username"], "eve");
    assert_eq!(body["user"]["is_superuser"], false);
    for path in [
        "/api/v3/core/users/",
        "/api/v3/core/groups/",
        "/api/v3/core/tokens/",
        "/api/v3/events/events/",
    ] {
        let (status, body) = json(get(path).await.unwrap()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(
            body,
            json!({"detail": "You do not have permission to perform this action."})
        );
    }
}
