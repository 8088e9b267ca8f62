//! `…/{pk}/used_by/` on every model endpoint (what a delete would take with it), and the
//! two endpoints authentik's UI reads first: `root/config/` and `admin/version/`.

use akin_testkit::Backend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{admin_get, admin_json, flows, json, start};

on_both_backends!(
    used_by_says_what_a_delete_takes_with_it,
    config_and_version_answer_as_authentiks,
);

fn entry<'a>(list: &'a Value, model_name: &str, name: &str) -> &'a Value {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .find(|e| e["model_name"] == model_name && e["name"] == name)
        .unwrap_or_else(|| panic!("no {model_name} {name} in {list}"))
}

async fn used_by_says_what_a_delete_takes_with_it(backend: Backend) {
    let env = start(&backend).await;
    flows::two_stage_flow(&env).await;
    let (_, flow) = admin_get(&env, "/api/v3/flows/instances/default-enrollment-flow/").await;

    let (status, invitation) = admin_json(
        &env,
        Method::POST,
        "/api/v3/stages/invitation/invitations/",
        json!({"name": "jane", "flow": flow["pk"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{invitation}");

    // The flow: its four stage bindings go with it, the invitation only loses its flow.
    let (status, used) = admin_get(
        &env,
        "/api/v3/flows/instances/default-enrollment-flow/used_by/",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{used}");
    let bindings: Vec<&Value> = used
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["model_name"] == "flowstagebinding")
        .collect();
    assert_eq!(bindings.len(), 4, "{used}");
    assert!(
        bindings
            .iter()
            .all(|b| b["app"] == "authentik_flows" && b["action"] == "cascade")
    );
    let by_invitation = entry(&used, "invitation", "jane");
    assert_eq!(by_invitation["action"], "set_null");
    assert_eq!(by_invitation["pk"], invitation["pk"]);

    // A prompt: the prompt stages listing it lose one field.
    let (_, prompts) = admin_get(&env, "/api/v3/stages/prompt/prompts/?field_key=username").await;
    let prompt = &prompts["results"][0];
    let (status, used) = admin_get(
        &env,
        &format!(
            "/api/v3/stages/prompt/prompts/{}/used_by/",
            prompt["pk"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{used}");
    assert_eq!(
        entry(&used, "promptstage", "default-enrollment-prompt-first")["action"],
        "cascade_many"
    );

    // A stage: its binding in the flow goes with it.
    let (_, stages) = admin_get(
        &env,
        "/api/v3/stages/all/?search=default-enrollment-user-write",
    )
    .await;
    let stage = stages["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "default-enrollment-user-write")
        .expect("the user write stage");
    let (_, used) = admin_get(
        &env,
        &format!(
            "/api/v3/stages/user_write/{}/used_by/",
            stage["pk"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(used.as_array().map(Vec::len), Some(1), "{used}");
    assert_eq!(used[0]["model_name"], "flowstagebinding");

    // The administrator: their invitation keeps existing without a creator, their token goes.
    let (_, me) = admin_get(&env, "/api/v3/core/users/me/").await;
    let pk = me["user"]["pk"].as_i64().unwrap();
    let (status, used) = admin_get(&env, &format!("/api/v3/core/users/{pk}/used_by/")).await;
    assert_eq!(status, StatusCode::OK, "{used}");
    assert_eq!(entry(&used, "invitation", "jane")["action"], "set_null");
    assert!(
        used.as_array()
            .unwrap()
            .iter()
            .any(|e| e["model_name"] == "token" && e["action"] == "cascade"),
        "{used}"
    );

    // A group with a member: the member only leaves the group.
    let (status, group) = admin_json(
        &env,
        Method::POST,
        "/api/v3/core/groups/",
        json!({"name": "staff", "users": [pk]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let (_, used) = admin_get(
        &env,
        &format!(
            "/api/v3/core/groups/{}/used_by/",
            group["pk"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(entry(&used, "user", "akadmin")["action"], "cascade_many");

    // Nothing refers to an invitation; unknown and malformed keys are 404, never 500.
    let path = format!(
        "/api/v3/stages/invitation/invitations/{}/used_by/",
        invitation["pk"].as_str().unwrap()
    );
    assert_eq!(admin_get(&env, &path).await, (StatusCode::OK, json!([])));
    for missing in [
        "/api/v3/stages/invitation/invitations/not-a-uuid/used_by/",
        "/api/v3/stages/prompt/prompts/00000000-0000-0000-0000-000000000000/used_by/",
        "/api/v3/flows/instances/no-such-flow/used_by/",
        "/api/v3/core/users/999999/used_by/",
        "/api/v3/core/tokens/nope/used_by/",
    ] {
        let (status, body) = admin_get(&env, missing).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}: {body}");
        assert!(body["detail"].is_string(), "{body}");
    }

    // Admin only.
    let (status, _) = json(
        env.app
            .anonymous(
                Method::GET,
                "/api/v3/flows/instances/default-enrollment-flow/used_by/",
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        matches!(status, StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED),
        "{status}"
    );
}

async fn config_and_version_answer_as_authentiks(backend: Backend) {
    let env = start(&backend).await;
    // The login page reads the config before anyone signs in.
    let (status, config) = json(
        env.app
            .anonymous(Method::GET, "/api/v3/root/config/")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(config["error_reporting"]["enabled"], false);
    assert_eq!(config["capabilities"], json!([]));
    assert!(config["cache_timeout_flows"].is_i64(), "{config}");

    let (status, version) = admin_get(&env, "/api/v3/admin/version/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(version["version_current"], env!("CARGO_PKG_VERSION"));
    assert_eq!(version["outdated"], false);
    let (status, _) = json(
        env.app
            .anonymous(Method::GET, "/api/v3/admin/version/")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        matches!(status, StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED),
        "{status}"
    );
}
