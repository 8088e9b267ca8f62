//! Bad input gets a clear 4xx in DRF's shape and changes nothing; never a 500.

use akin_testkit::Backend;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{admin_get, admin_json, json, start};

on_both_backends!(
    bad_requests_get_drf_shaped_errors,
    null_characters_are_refused_not_stored,
    concurrent_writes_all_succeed,
    numbers_out_of_range_are_refused,
);

async fn bad_requests_get_drf_shaped_errors(backend: Backend) {
    let env = start(&backend).await;
    let users = "/api/v3/core/users/";
    let send_raw = |content_type: &'static str, body: Vec<u8>| {
        env.app
            .admin(Method::POST, users)
            .header("Content-Type", content_type)
            .body(body)
            .send()
    };

    let (status, body) = json(
        send_raw("application/json", b"{\"username\": ".to_vec())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("JSON parse error - "),
        "{body}"
    );

    let (status, body) = json(
        send_raw(
            "application/x-www-form-urlencoded",
            b"username=x&name=y".to_vec(),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        body,
        json!({"detail": "Unsupported media type \"application/x-www-form-urlencoded\" in request."})
    );

    let (status, body) = json(
        send_raw("application/json", b"[1, 2]".to_vec())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]})
    );

    // A body over the limit is refused from its Content-Length, before it is read.
    let (status, body) = crate::oversized_post(
        &env.app.base_url,
        users,
        "application/json",
        2 * 1024 * 1024,
    )
    .await;
    assert_eq!(status, 413);
    assert_eq!(body["detail"], "Request body is larger than 1048576 bytes.");

    let (status, body) = admin_json(&env, Method::POST, users, json!({"username": "x", "name": "y", "is_active": "maybe", "attributes": [1], "groups": "g"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({
            "is_active": ["Must be a valid boolean."],
            "attributes": ["Expected a dictionary of items but got type \"list\"."],
            "groups": ["Expected a list of items but got type \"str\"."],
        })
    );

    let (status, body) = admin_json(
        &env,
        Method::POST,
        users,
        json!({"username": null, "name": "y", "type": "robot"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"username": ["This field may not be null."], "type": ["\"robot\" is not a valid choice."]})
    );

    // Unknown and read-only fields are ignored.
    let (status, body) = admin_json(
        &env,
        Method::POST,
        users,
        json!({"username": "ok", "name": "y", "pk": 999, "flavour": "mint"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_ne!(body["pk"], 999);

    for (path, detail) in [
        ("/api/v3/core/nothing/", "Not found."),
        ("/api/v3/core/users", "Not found."),
        ("/nowhere", "Not found."),
        (
            "/api/v3/core/users/abc/",
            "No User matches the given query.",
        ),
    ] {
        let (status, body) = admin_get(&env, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body, json!({"detail": detail}), "{path}");
    }

    let (status, body) = admin_json(&env, Method::PATCH, users, json!({})).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body, json!({"detail": "Method \"PATCH\" not allowed."}));

    let (status, _) = admin_get(&env, "/api/v3/core/users/?is_active=perhaps").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = admin_get(&env, "/api/v3/core/users/?attributes=notjson").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Of all the above only "ok" was written.
    let (_, list) = admin_get(&env, users).await;
    assert_eq!(list["pagination"]["count"], 2);
}

/// U+0000 cannot be stored in PostgreSQL; akin refuses it up front, the same on SQLite.
async fn null_characters_are_refused_not_stored(backend: Backend) {
    let env = start(&backend).await;
    let (status, body) = admin_json(
        &env,
        Method::POST,
        "/api/v3/stages/invitation/invitations/",
        json!({"name": "a", "fixed_data": {"email": "x\u{0}y"}}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"fixed_data": ["Null characters are not allowed."]})
    );
    let (status, body) = admin_get(&env, "/api/v3/stages/invitation/invitations/?name=a%00").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"name": ["Null characters are not allowed."]}));
    let (status, body) = admin_get(&env, "/api/v3/flows/instances/a%00b/").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"detail": "Not found."}));
    assert_eq!(env.db.number("SELECT COUNT(*) FROM invitations").await, 0);
}

/// Issue 17, point 5: administrators' writes at the same moment are all applied — SQLite
/// used to answer some of them 500 "database is locked". 8 clients each PATCH their own
/// user 25 times and create an invitation in between, all at once.
async fn concurrent_writes_all_succeed(backend: Backend) {
    let env = start(&backend).await;
    let mut users = Vec::new();
    for i in 0..8 {
        let (status, user) = crate::admin_json(
            &env,
            Method::POST,
            "/api/v3/core/users/",
            serde_json::json!({"username": format!("writer{i}"), "name": "w"}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{user}");
        users.push(user["pk"].as_i64().unwrap());
    }
    let writers = users.iter().enumerate().map(|(i, pk)| {
        let env = &env;
        async move {
            let mut statuses = Vec::new();
            for n in 0..25 {
                let response = env
                    .app
                    .admin(Method::PATCH, &format!("/api/v3/core/users/{pk}/"))
                    .json(&serde_json::json!({"name": format!("w{n}"), "attributes": {"n": n}}))
                    .send()
                    .await
                    .unwrap();
                statuses.push(response.status());
                let response = env
                    .app
                    .admin(Method::POST, "/api/v3/stages/invitation/invitations/")
                    .json(&serde_json::json!({"name": format!("w{i}-{n}")}))
                    .send()
                    .await
                    .unwrap();
                statuses.push(response.status());
            }
            statuses
        }
    });
    let statuses: Vec<StatusCode> = crate::flows::futures_join_all(writers)
        .await
        .into_iter()
        .flatten()
        .collect();
    let failed: Vec<_> = statuses.iter().filter(|s| !s.is_success()).collect();
    assert!(
        failed.is_empty(),
        "{} of {} failed: {failed:?}",
        failed.len(),
        statuses.len()
    );
    let (_, list) =
        crate::admin_get(&env, "/api/v3/stages/invitation/invitations/?page_size=1").await;
    assert_eq!(list["pagination"]["count"], 200);
}

/// Issue 17, point 5: a number no database column or JSON document can hold is a 400 with
/// the field named, on both databases (PostgreSQL answered 500), and nothing is stored.
async fn numbers_out_of_range_are_refused(backend: Backend) {
    let env = start(&backend).await;
    let (_, user) = admin_json(
        &env,
        Method::POST,
        "/api/v3/core/users/",
        json!({"username": "numbers", "name": "n"}),
    )
    .await;
    let pk = user["pk"].as_i64().unwrap();
    for body in [
        r#"{"attributes": {"n": 1e999999}}"#,
        r#"{"attributes": {"n": -1e400}}"#,
        r#"{"attributes": {"deep": [1, {"n": 1e309}]}}"#,
    ] {
        let response = env
            .app
            .admin(Method::PATCH, &format!("/api/v3/core/users/{pk}/"))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let answer: serde_json::Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(
            answer["attributes"][0], "A number in it is too large to store.",
            "{body}: {answer}"
        );
    }
    let (_, stored) = admin_get(&env, &format!("/api/v3/core/users/{pk}/")).await;
    assert_eq!(stored["attributes"], json!({}));
}
