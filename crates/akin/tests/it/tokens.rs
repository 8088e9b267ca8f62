//! `/api/v3/core/tokens/`: keys are generated, shown only by `view_key/`, and work at once.

use akin_testkit::Backend;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{admin_get, admin_json, json, start};

on_both_backends!(
    tokens_are_managed_and_their_keys_authenticate,
    a_change_on_one_node_counts_on_every_node,
    a_flood_of_made_up_tokens_is_refused_without_growing_or_stalling_the_server,
);

/// An anonymous attacker sends thousands of made-up bearer tokens at once (issue 16's
/// attacker check on the token cache): every one is refused, the real token keeps working
/// alongside, readiness keeps answering, and memory does not grow with the number of keys
/// tried (a key that matched nothing is never kept).
async fn a_flood_of_made_up_tokens_is_refused_without_growing_or_stalling_the_server(
    backend: Backend,
) {
    let env = start(&backend).await;
    let me = format!("{}/api/v3/core/users/me/", env.app.base_url);
    let client = reqwest::Client::new();
    let guess = |n: usize| {
        let client = client.clone();
        let me = me.clone();
        async move {
            // 128 characters, as akin's keys: the same work per guess as a real key.
            let key: String = format!("{n:0>16}{}", "x".repeat(112));
            client
                .get(&me)
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    for n in 0..200 {
        assert_eq!(guess(n).await, StatusCode::FORBIDDEN);
    }
    let before = env.app.rss_kib();
    let health = akin_testkit::HealthWatch::start(&env.app);
    let flood = async {
        let mut refused = 0;
        for wave in 0..100 {
            let answers =
                crate::flows::futures_join_all((0..32).map(|i| guess(1_000 + wave * 32 + i))).await;
            refused += answers
                .iter()
                .filter(|s| **s == StatusCode::FORBIDDEN)
                .count();
        }
        refused
    };
    let owner = async {
        let mut answered = Vec::new();
        for _ in 0..20 {
            let (status, _) = admin_get(&env, "/api/v3/core/users/me/").await;
            answered.push(status);
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        answered
    };
    let (refused, answered) = tokio::join!(flood, owner);
    let seen = health.stop().await;
    assert_eq!(refused, 3_200, "every made-up token is refused");
    assert!(
        answered.iter().all(|s| *s == StatusCode::OK),
        "{answered:?}"
    );
    assert!(seen.failures.is_empty(), "{seen:?}");
    if let (Some(before), Some(after)) = (before, env.app.rss_kib()) {
        let grown = after.saturating_sub(before);
        eprintln!("{backend:?}: RSS {before} KiB before 3,200 made-up tokens, {after} KiB after");
        assert!(grown < 16 * 1024, "memory grew by {grown} KiB");
    }
}

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

/// Issue 16, point 2: each node keeps tokens and their users in memory. A change counts on
/// the node that made it for the very next request, and on another node (another process
/// on the SQLite file; another node on PostgreSQL) within a fraction of a second: a
/// deactivated user, a superuser demoted by leaving a group, a deleted token.
async fn a_change_on_one_node_counts_on_every_node(backend: Backend) {
    let env = start(&backend).await;
    let other = akin_testkit::TestApp::start(
        crate::BIN,
        &env.db.url,
        &akin_testkit::SpawnOptions::default(),
    )
    .await;
    let (status, user) = admin_json(
        &env,
        Method::POST,
        "/api/v3/core/users/",
        json!({"username": "ops", "name": "Ops"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let (status, admins) = admin_get(&env, "/api/v3/core/groups/?name=akin%20Admins").await;
    assert_eq!(status, StatusCode::OK, "{admins}");
    let admins = admins["results"][0]["pk"].as_str().unwrap().to_owned();
    let (status, body) = admin_json(
        &env,
        Method::POST,
        &format!("/api/v3/core/groups/{admins}/add_user/"),
        json!({"pk": user["pk"]}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, token) = admin_json(
        &env,
        Method::POST,
        "/api/v3/core/tokens/",
        json!({"identifier": "ops-robot", "intent": "api", "expiring": false, "user": user["pk"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    let (_, key) = admin_get(&env, "/api/v3/core/tokens/ops-robot/view_key/").await;
    let key = key["key"].as_str().unwrap().to_owned();

    // What the key may do, asked of a node: read itself, and list users (superusers only).
    let ask = |node: &akin_testkit::TestApp, path: &'static str| {
        node.anonymous(Method::GET, path).bearer_auth(&key).send()
    };
    let status_of = |node: &'static str, path: &'static str| {
        let app = if node == "this" { &env.app } else { &other };
        let ask = &ask;
        async move { ask(app, path).await.unwrap().status() }
    };
    for node in ["this", "other"] {
        // Twice: the second answer comes from memory.
        for _ in 0..2 {
            assert_eq!(
                status_of(node, "/api/v3/core/users/?page_size=1").await,
                StatusCode::OK
            );
        }
    }
    // Within how long a change counts on the other node (polling every 10 ms).
    let counted_on_other = |path: &'static str, expected: StatusCode| {
        let status_of = &status_of;
        async move {
            let started = std::time::Instant::now();
            while status_of("other", path).await != expected {
                assert!(
                    started.elapsed() < std::time::Duration::from_secs(3),
                    "{path} still not {expected} on the other node"
                );
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            started.elapsed()
        }
    };

    let (status, body) = admin_json(
        &env,
        Method::POST,
        &format!("/api/v3/core/groups/{admins}/remove_user/"),
        json!({"pk": user["pk"]}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(
        status_of("this", "/api/v3/core/users/?page_size=1").await,
        StatusCode::FORBIDDEN,
        "no longer a superuser, on this node at once"
    );
    let demoted = counted_on_other("/api/v3/core/users/?page_size=1", StatusCode::FORBIDDEN).await;
    assert_eq!(
        status_of("other", "/api/v3/core/users/me/").await,
        StatusCode::OK
    );

    let (status, body) = admin_json(
        &env,
        Method::PATCH,
        &format!("/api/v3/core/users/{}/", user["pk"]),
        json!({"is_active": false}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        status_of("this", "/api/v3/core/users/me/").await,
        StatusCode::FORBIDDEN
    );
    let deactivated = counted_on_other("/api/v3/core/users/me/", StatusCode::FORBIDDEN).await;

    // Back again, then the token deleted on the other node.
    let (status, _) = admin_json(
        &env,
        Method::PATCH,
        &format!("/api/v3/core/users/{}/", user["pk"]),
        json!({"is_active": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    counted_on_other("/api/v3/core/users/me/", StatusCode::OK).await;
    let deleted = other
        .admin(Method::DELETE, "/api/v3/core/tokens/ops-robot/")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        status_of("other", "/api/v3/core/users/me/").await,
        StatusCode::FORBIDDEN
    );
    let started = std::time::Instant::now();
    while status_of("this", "/api/v3/core/users/me/").await != StatusCode::FORBIDDEN {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "the deleted token still works"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    eprintln!(
        "counted on the other node after: demoted {demoted:?}, deactivated {deactivated:?}, token deleted {:?}",
        started.elapsed()
    );
    other.kill().await;
}
