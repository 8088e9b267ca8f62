//! The catalog-driven configuration endpoints: stages of each kind, prompts, bindings,
//! expression policies and policy bindings.

use akin_testkit::Backend;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{admin_get, admin_json, start};

on_both_backends!(stages_prompts_and_bindings_are_configured_through_the_api);

async fn stages_prompts_and_bindings_are_configured_through_the_api(backend: Backend) {
    let env = start(&backend).await;
    let (status, stage) = admin_json(
        &env,
        Method::POST,
        "/api/v3/stages/invitation/stages/",
        json!({"name": "invite-only"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{stage}");
    assert_eq!(stage["continue_flow_without_invitation"], false);
    assert_eq!(stage["component"], "ak-stage-invitation-form");
    assert_eq!(
        stage["meta_model_name"],
        "authentik_stages_invitation.invitationstage"
    );
    assert_eq!(stage["flow_set"], json!([]));

    let (status, prompt) = admin_json(
        &env,
        Method::POST,
        "/api/v3/stages/prompt/prompts/",
        json!({"name": "p-email", "field_key": "email", "label": "Email", "type": "email"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{prompt}");
    let (status, errors) = admin_json(
        &env,
        Method::POST,
        "/api/v3/stages/prompt/stages/",
        json!({"name": "ps", "fields": ["00000000-0000-0000-0000-000000000009"]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        errors["fields"][0]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{errors}"
    );
    let (status, prompt_stage) = admin_json(
        &env,
        Method::POST,
        "/api/v3/stages/prompt/stages/",
        json!({"name": "ps", "fields": [prompt["pk"]]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{prompt_stage}");
    assert_eq!(prompt_stage["fields"], json!([prompt["pk"]]));

    let (_, flow) = admin_json(
        &env,
        Method::POST,
        "/api/v3/flows/instances/",
        json!({"name": "J", "slug": "j", "title": "J", "designation": "enrollment"}),
    )
    .await;
    let binding = json!({"target": flow["pk"], "stage": stage["pk"], "order": 0});
    let (status, created) = admin_json(
        &env,
        Method::POST,
        "/api/v3/flows/bindings/",
        binding.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        (
            created["evaluate_on_plan"].clone(),
            created["re_evaluate_policies"].clone()
        ),
        (json!(false), json!(true))
    );
    let (status, errors) = admin_json(&env, Method::POST, "/api/v3/flows/bindings/", binding).await;
    assert_eq!(
        (status, errors),
        (
            StatusCode::BAD_REQUEST,
            json!({"non_field_errors": ["The fields target, stage, order must make a unique set."]})
        )
    );
    let (_, listed) = admin_get(
        &env,
        &format!(
            "/api/v3/flows/bindings/?target={}",
            flow["pk"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(listed["pagination"]["count"], 1);
    let (_, with_flows) = admin_get(
        &env,
        &format!(
            "/api/v3/stages/invitation/stages/{}/",
            stage["pk"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(with_flows["flow_set"][0]["slug"], "j");

    let (status, policy) = admin_json(&env, Method::POST, "/api/v3/policies/expression/", json!({"name": "invited", "expression": "return request.context.get('invitation_in_effect', False)"})).await;
    assert_eq!(status, StatusCode::CREATED, "{policy}");
    let (status, _) = admin_json(
        &env,
        Method::POST,
        "/api/v3/policies/bindings/",
        json!({"policy": policy["pk"], "target": flow["pk"], "order": 0}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    let path = format!(
        "/api/v3/stages/invitation/stages/{}/",
        stage["pk"].as_str().unwrap()
    );
    let (status, patched) = admin_json(
        &env,
        Method::PATCH,
        &path,
        json!({"continue_flow_without_invitation": true}),
    )
    .await;
    assert_eq!(
        (status, patched["continue_flow_without_invitation"].clone()),
        (StatusCode::OK, json!(true))
    );
    assert_eq!(
        env.app
            .admin(Method::DELETE, &path)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    let (_, listed) = admin_get(
        &env,
        &format!(
            "/api/v3/flows/bindings/?target={}",
            flow["pk"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(
        listed["pagination"]["count"], 0,
        "deleting a stage removes its bindings"
    );
}
