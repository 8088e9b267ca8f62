//! `/api/v3/core/users/`: shapes, CRUD, filters, paging.

use akin_testkit::Backend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{admin_get, admin_json, start};

on_both_backends!(
    me_has_the_session_user_shape,
    users_are_created_read_updated_and_deleted,
    lists_filter_order_search_and_page,
    usernames_are_checked_and_unique,
    the_last_active_superuser_stays,
);

const USER_KEYS: &[&str] = &[
    "pk",
    "username",
    "name",
    "is_active",
    "last_login",
    "date_joined",
    "is_superuser",
    "groups",
    "groups_obj",
    "roles",
    "roles_obj",
    "email",
    "avatar",
    "attributes",
    "uid",
    "path",
    "type",
    "uuid",
    "password_change_date",
    "last_updated",
];

async fn me_has_the_session_user_shape(backend: Backend) {
    let env = start(&backend).await;
    let (status, body) = admin_get(&env, "/api/v3/core/users/me/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["original"], Value::Null);
    let user = &body["user"];
    for key in [
        "pk",
        "username",
        "name",
        "is_active",
        "is_superuser",
        "is_current",
        "groups",
        "roles",
        "email",
        "avatar",
        "uid",
        "settings",
        "type",
        "system_permissions",
    ] {
        assert!(user.get(key).is_some(), "users/me lacks {key}: {user}");
    }
    assert_eq!(user["username"], "akadmin");
    assert_eq!(user["is_superuser"], true);
    assert_eq!(user["groups"][0]["name"], "akin Admins");
    assert_eq!(body["users"][0]["username"], "akadmin");
}

async fn users_are_created_read_updated_and_deleted(backend: Backend) {
    let env = start(&backend).await;
    let (status, created) = admin_json(
        &env,
        Method::POST,
        "/api/v3/core/users/",
        json!({"username": "jane", "name": "Jane Doe", "email": "jane@example.com",
               "attributes": {"team": "blue"}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    for key in USER_KEYS {
        assert!(created.get(*key).is_some(), "user lacks {key}: {created}");
    }
    assert_eq!(created["is_active"], true);
    assert_eq!(created["is_superuser"], false);
    assert_eq!(created["path"], "users");
    assert_eq!(created["type"], "internal");
    assert_eq!(created["attributes"], json!({"team": "blue"}));
    assert!(created["date_joined"].as_str().unwrap().ends_with('Z'));
    let pk = created["pk"].as_i64().unwrap();
    let path = format!("/api/v3/core/users/{pk}/");

    let (status, read) = admin_get(&env, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["email"], "jane@example.com");

    // PUT needs the required fields; PATCH does not.
    let (status, body) = admin_json(&env, Method::PUT, &path, json!({"username": "jane"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"name": ["This field is required."]}));
    let (status, patched) = admin_json(
        &env,
        Method::PATCH,
        &path,
        json!({"name": "Jane D.", "type": "external"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["name"], "Jane D.");
    assert_eq!(patched["type"], "external");
    assert_eq!(
        patched["email"], "jane@example.com",
        "PATCH keeps what it does not name"
    );
    let (status, put) = admin_json(
        &env,
        Method::PUT,
        &path,
        json!({"username": "jane2", "name": "J"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(put["username"], "jane2");

    let response = env.app.admin(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, body) =
        crate::json(env.app.admin(Method::DELETE, &path).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"detail": "No User matches the given query."}));
    let (status, _) = admin_get(&env, &path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

fn usernames(body: &Value) -> Vec<String> {
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_owned())
        .collect()
}

async fn lists_filter_order_search_and_page(backend: Backend) {
    let env = start(&backend).await;
    let (status, group) = admin_json(
        &env,
        Method::POST,
        "/api/v3/core/groups/",
        json!({"name": "staff"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    for user in [
        json!({"username": "ann", "name": "Ann Smith", "email": "ann@example.com", "attributes": {"dept": "eng", "level": 3}, "groups": [group["pk"]]}),
        json!({"username": "bob", "name": "Bob", "is_active": false, "attributes": {"dept": "ops"}}),
        json!({"username": "cat", "name": "Cat", "type": "external", "path": "users/partners"}),
        json!({"username": "dan", "name": "Dan Smith", "type": "service_account"}),
    ] {
        let (status, body) = admin_json(&env, Method::POST, "/api/v3/core/users/", user).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let list = |query: &'static str| {
        let env = &env;
        async move {
            let (status, body) = admin_get(env, &format!("/api/v3/core/users/?{query}")).await;
            assert_eq!(status, StatusCode::OK, "{query}: {body}");
            body
        }
    };

    let all = list("").await;
    assert_eq!(usernames(&all), ["akadmin", "ann", "bob", "cat", "dan"]);
    assert_eq!(all["autocomplete"], json!({}));
    assert_eq!(all["pagination"]["count"], 5);

    assert_eq!(usernames(&list("username=bob").await), ["bob"]);
    assert_eq!(usernames(&list("is_active=false").await), ["bob"]);
    assert_eq!(
        usernames(&list("type=external&type=service_account").await),
        ["cat", "dan"]
    );
    assert_eq!(
        usernames(&list("path_startswith=users/part").await),
        ["cat"]
    );
    assert_eq!(usernames(&list("search=SMITH").await), ["ann", "dan"]);
    assert_eq!(usernames(&list("email=ann@example.com").await), ["ann"]);
    assert_eq!(usernames(&list("groups_by_name=staff").await), ["ann"]);
    assert_eq!(usernames(&list("is_superuser=true").await), ["akadmin"]);
    assert_eq!(
        usernames(&list("attributes=%7B%22dept%22%3A%22eng%22%2C%22level%22%3A3%7D").await),
        ["ann"]
    );
    assert_eq!(
        usernames(&list("ordering=-username").await),
        ["dan", "cat", "bob", "ann", "akadmin"]
    );
    assert_eq!(
        usernames(&list("last_login__isnull=true&ordering=name").await)[0],
        "ann"
    );

    let ann = &list("username=ann").await["results"][0];
    assert_eq!(ann["groups_obj"][0]["name"], "staff");
    let ann_without = &list("username=ann&include_groups=false").await["results"][0];
    assert_eq!(ann_without["groups_obj"], Value::Null);
    assert_eq!(ann_without["groups"].as_array().unwrap().len(), 1);

    let page2 = list("page_size=2&page=2").await;
    assert_eq!(usernames(&page2), ["bob", "cat"]);
    assert_eq!(
        page2["pagination"],
        json!({"next": 3, "previous": 1, "count": 5, "current": 2, "total_pages": 3,
               "start_index": 3, "end_index": 4})
    );
    for bad_page in ["page=4&page_size=2", "page=0", "page=abc"] {
        let (status, body) = admin_get(&env, &format!("/api/v3/core/users/?{bad_page}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{bad_page}");
        assert_eq!(body, json!({"detail": "Invalid page."}));
    }
    let empty = list("username=nobody").await;
    assert_eq!(
        empty["pagination"],
        json!({"next": 0, "previous": 0, "count": 0, "current": 1, "total_pages": 1,
               "start_index": 0, "end_index": 0})
    );
}

async fn usernames_are_checked_and_unique(backend: Backend) {
    let env = start(&backend).await;
    let (status, body) = admin_json(
        &env,
        Method::POST,
        "/api/v3/core/users/",
        json!({"username": "akadmin", "name": "x"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"username": ["user with this username already exists."]})
    );

    let (status, body) = admin_json(
        &env,
        Method::POST,
        "/api/v3/core/users/",
        json!({"username": "has space", "name": "x"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["username"][0].as_str().unwrap().contains("@/./+/-/_"),
        "{body}"
    );

    let (status, body) = admin_json(
        &env,
        Method::POST,
        "/api/v3/core/users/",
        json!({"username": "a".repeat(151), "name": "x"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["username"][0].as_str().unwrap().contains("150"),
        "{body}"
    );

    let (status, body) = admin_json(
        &env,
        Method::POST,
        "/api/v3/core/users/",
        json!({"username": "ok", "name": "x", "email": "not-an-email"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"email": ["Enter a valid email address."]}));

    let (status, body) = admin_json(&env, Method::POST, "/api/v3/core/users/", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"username": ["This field is required."], "name": ["This field is required."]})
    );

    // Nothing above was written.
    let (_, list) = admin_get(&env, "/api/v3/core/users/").await;
    assert_eq!(list["pagination"]["count"], 1);
}

/// A careless administrator (or a fuzzer) cannot lock everyone out: the last active
/// superuser cannot be deactivated, taken out of the superuser group or deleted (400, and
/// nothing changes); once there is another, it can.
async fn the_last_active_superuser_stays(backend: Backend) {
    let env = start(&backend).await;
    let (_, me) = admin_get(&env, "/api/v3/core/users/?username=akadmin").await;
    let akadmin = me["results"][0]["pk"].as_i64().unwrap();
    let admins = me["results"][0]["groups"][0].clone();
    let user = format!("/api/v3/core/users/{akadmin}/");
    for (method, body) in [
        (Method::PATCH, json!({"is_active": false})),
        (Method::PATCH, json!({"groups": []})),
        (Method::DELETE, Value::Null),
    ] {
        let (status, refused) = admin_json(&env, method.clone(), &user, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{method} {body}: {refused}"
        );
        assert!(
            refused["non_field_errors"][0]
                .as_str()
                .unwrap()
                .contains("last active superuser"),
            "{refused}"
        );
    }
    // Nor through its group: the superuser flag turned off, the group deleted, akadmin
    // taken out of it.
    let group = format!("/api/v3/core/groups/{}/", admins.as_str().unwrap());
    for (method, path, body) in [
        (Method::PATCH, group.clone(), json!({"is_superuser": false})),
        (Method::DELETE, group.clone(), Value::Null),
        (
            Method::POST,
            format!("{group}remove_user/"),
            json!({"pk": akadmin}),
        ),
    ] {
        let (status, refused) = admin_json(&env, method.clone(), &path, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{method} {path}: {refused}"
        );
        assert!(
            refused.to_string().contains("last active superuser"),
            "{refused}"
        );
    }
    let (_, still) = admin_get(&env, &user).await;
    assert_eq!(
        (still["is_active"].clone(), still["is_superuser"].clone()),
        (json!(true), json!(true))
    );

    let (status, other) = admin_json(
        &env,
        Method::POST,
        "/api/v3/core/users/",
        json!({"username": "second-admin", "name": "Second", "groups": [admins]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{other}");
    // Both administrators deactivated at the same moment, several times over: changes
    // to one of them go through, those to the other are refused.
    let second = format!("/api/v3/core/users/{}/", other["pk"]);
    let attempts = (0..8).map(|i| {
        let path = if i % 2 == 0 { &user } else { &second };
        admin_json(&env, Method::PATCH, path, json!({"is_active": false}))
    });
    let answers = crate::flows::futures_join_all(attempts).await;
    assert!(
        answers.iter().any(|(status, _)| *status == StatusCode::OK),
        "{answers:?}"
    );
    assert!(
        answers.iter().any(|(status, _)| *status != StatusCode::OK),
        "{answers:?}"
    );
    let active = env
        .db
        .number(
            "SELECT COUNT(DISTINCT u.id) FROM users u \
             JOIN group_members gm ON gm.user_id = u.id \
             JOIN groups g ON g.group_uuid = gm.group_uuid \
             WHERE u.is_active AND g.is_superuser",
        )
        .await;
    assert_eq!(active, 1, "one active superuser is left");
}
