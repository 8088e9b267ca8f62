//! `/api/v3/core/groups/`: membership, parents, inherited superuser status.

use akin_testkit::Backend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{admin_get, admin_json, start};

on_both_backends!(
    groups_hold_members_and_parents,
    superuser_status_is_inherited_from_parent_groups,
    group_writes_refuse_bad_references_cycles_and_duplicates,
);

async fn create_user(env: &akin_testkit::TestEnv, username: &str) -> i64 {
    let (status, body) = admin_json(
        env,
        Method::POST,
        "/api/v3/core/users/",
        json!({"username": username, "name": username}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["pk"].as_i64().unwrap()
}

async fn groups_hold_members_and_parents(backend: Backend) {
    let env = start(&backend).await;
    let ann = create_user(&env, "ann").await;
    let bob = create_user(&env, "bob").await;
    let (status, parent) = admin_json(
        &env,
        Method::POST,
        "/api/v3/core/groups/",
        json!({"name": "org"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, team) = admin_json(
        &env,
        Method::POST,
        "/api/v3/core/groups/",
        json!({"name": "team", "users": [ann], "parents": [parent["pk"]], "attributes": {"k": "v"}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{team}");
    for key in [
        "pk",
        "num_pk",
        "name",
        "is_superuser",
        "parents",
        "parents_obj",
        "users",
        "users_obj",
        "attributes",
        "roles",
        "roles_obj",
        "inherited_roles_obj",
        "children",
        "children_obj",
    ] {
        assert!(team.get(key).is_some(), "group lacks {key}");
    }
    assert_eq!(team["users"], json!([ann]));
    assert_eq!(team["users_obj"][0]["username"], "ann");
    assert_eq!(team["parents"], json!([parent["pk"]]));
    assert_eq!(team["parents_obj"][0]["name"], "org");
    let team_path = format!("/api/v3/core/groups/{}/", team["pk"].as_str().unwrap());

    let (_, org) = admin_get(
        &env,
        &format!("/api/v3/core/groups/{}/", parent["pk"].as_str().unwrap()),
    )
    .await;
    assert_eq!(org["children"], json!([team["pk"]]));

    let add = env
        .app
        .admin(Method::POST, &format!("{team_path}add_user/"))
        .json(&json!({"pk": bob}))
        .send()
        .await
        .unwrap();
    assert_eq!(add.status(), StatusCode::NO_CONTENT);
    let (_, team_now) = admin_get(&env, &team_path).await;
    assert_eq!(team_now["users"], json!([ann, bob]));
    let (_, in_team) = admin_get(&env, "/api/v3/core/groups/?members_by_username=bob").await;
    assert_eq!(in_team["results"].as_array().unwrap().len(), 1);

    let remove = env
        .app
        .admin(Method::POST, &format!("{team_path}remove_user/"))
        .json(&json!({"pk": ann}))
        .send()
        .await
        .unwrap();
    assert_eq!(remove.status(), StatusCode::NO_CONTENT);
    let (_, team_now) = admin_get(&env, &team_path).await;
    assert_eq!(team_now["users"], json!([bob]));

    let (status, body) = crate::json(
        env.app
            .admin(Method::POST, &format!("{team_path}add_user/"))
            .json(&json!({"pk": 999_999}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let (_, listed) = admin_get(&env, "/api/v3/core/groups/?search=TEA").await;
    assert_eq!(listed["results"][0]["name"], "team");
    let (_, brief) = admin_get(&env, "/api/v3/core/groups/?name=team&include_users=false").await;
    assert_eq!(brief["results"][0]["users_obj"], Value::Null);

    let deleted = env
        .app
        .admin(Method::DELETE, &team_path)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let (status, _) = admin_get(&env, &team_path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The members themselves remain.
    let (status, _) = admin_get(&env, &format!("/api/v3/core/users/{bob}/")).await;
    assert_eq!(status, StatusCode::OK);
}

async fn superuser_status_is_inherited_from_parent_groups(backend: Backend) {
    let env = start(&backend).await;
    let ann = create_user(&env, "ann").await;
    let (_, admins) = admin_json(
        &env,
        Method::POST,
        "/api/v3/core/groups/",
        json!({"name": "root", "is_superuser": true}),
    )
    .await;
    let (_, ops) = admin_json(
        &env,
        Method::POST,
        "/api/v3/core/groups/",
        json!({"name": "ops", "users": [ann]}),
    )
    .await;
    let user_path = format!("/api/v3/core/users/{ann}/");
    let (_, user) = admin_get(&env, &user_path).await;
    assert_eq!(user["is_superuser"], false);

    let ops_path = format!("/api/v3/core/groups/{}/", ops["pk"].as_str().unwrap());
    let (status, _) = admin_json(
        &env,
        Method::PATCH,
        &ops_path,
        json!({"parents": [admins["pk"]]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, user) = admin_get(&env, &user_path).await;
    assert_eq!(
        user["is_superuser"], true,
        "member of a child of a superuser group"
    );
    let (_, supers) = admin_get(
        &env,
        "/api/v3/core/users/?is_superuser=true&ordering=username",
    )
    .await;
    assert_eq!(supers["pagination"]["count"], 2);

    let (status, _) = admin_json(&env, Method::PATCH, &ops_path, json!({"parents": []})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, user) = admin_get(&env, &user_path).await;
    assert_eq!(user["is_superuser"], false);
}

async fn group_writes_refuse_bad_references_cycles_and_duplicates(backend: Backend) {
    let env = start(&backend).await;
    let (_, a) = admin_json(
        &env,
        Method::POST,
        "/api/v3/core/groups/",
        json!({"name": "a"}),
    )
    .await;
    let (_, b) = admin_json(
        &env,
        Method::POST,
        "/api/v3/core/groups/",
        json!({"name": "b", "parents": [a["pk"]]}),
    )
    .await;

    let a_path = format!("/api/v3/core/groups/{}/", a["pk"].as_str().unwrap());
    let (status, body) =
        admin_json(&env, Method::PATCH, &a_path, json!({"parents": [b["pk"]]})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"parents": ["A group cannot be its own ancestor."]})
    );

    let (status, body) = admin_json(
        &env,
        Method::POST,
        "/api/v3/core/groups/",
        json!({"name": "a"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"name": ["group with this name already exists."]})
    );

    let missing = "00000000-0000-0000-0000-000000000001";
    let (status, body) = admin_json(
        &env,
        Method::POST,
        "/api/v3/core/groups/",
        json!({"name": "c", "parents": [missing]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"parents": [format!("Invalid pk \"{missing}\" - object does not exist.")]})
    );

    let (status, body) = admin_json(
        &env,
        Method::POST,
        "/api/v3/core/groups/",
        json!({"name": "c", "users": [424242]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"users": ["Invalid pk \"424242\" - object does not exist."]})
    );

    let (_, list) = admin_get(&env, "/api/v3/core/groups/").await;
    let names: Vec<&str> = list["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["a", "akin Admins", "b"],
        "refused writes left nothing behind"
    );

    let (status, _) = admin_get(&env, "/api/v3/core/groups/not-a-uuid/").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
