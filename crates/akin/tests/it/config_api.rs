//! The catalog-driven configuration endpoints: stages of each kind, prompts, bindings,
//! expression policies and policy bindings.

use akin_testkit::Backend;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{admin_get, admin_json, start};

on_both_backends!(
    stages_prompts_and_bindings_are_configured_through_the_api,
    configuration_lists_filter_order_and_page_in_the_database
);

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

/// The catalog lists are filtered, ordered and paged by SQL on both databases: list fields
/// by one of their items (a prompt stage's prompts live in a join table, a stage's user
/// fields in JSON), booleans and numbers as the catalog reads them, text ignoring case.
async fn configuration_lists_filter_order_and_page_in_the_database(backend: Backend) {
    let env = start(&backend).await;
    let mut pks = std::collections::HashMap::new();
    for (name, key, kind, order, required) in [
        ("lst-alpha", "alpha", "password", 10, true),
        ("lst-beta", "beta", "text", 2, false),
        ("lst-gamma", "gamma", "password", 9, true),
    ] {
        let (status, prompt) = admin_json(
            &env,
            Method::POST,
            "/api/v3/stages/prompt/prompts/",
            json!({"name": name, "field_key": key, "label": key, "type": kind, "order": order, "required": required}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{prompt}");
        pks.insert(key, prompt["pk"].as_str().unwrap().to_owned());
    }
    for (name, fields) in [
        ("lst-stage-one", vec![&pks["alpha"], &pks["gamma"]]),
        ("lst-stage-two", vec![&pks["beta"]]),
    ] {
        let (status, stage) = admin_json(
            &env,
            Method::POST,
            "/api/v3/stages/prompt/stages/",
            json!({"name": name, "fields": fields}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{stage}");
    }
    let list = |query: String| {
        let env = &env;
        async move {
            let (status, body) = admin_get(env, &query).await;
            assert_eq!(status, StatusCode::OK, "{query}: {body}");
            body
        }
    };
    let keys = |body: &serde_json::Value, key: &str| -> Vec<String> {
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r[key].as_str().unwrap().to_owned())
            .collect()
    };
    let prompts = "/api/v3/stages/prompt/prompts/";

    // Text ignoring case; numbers ordered as numbers (10 before 9 descending).
    let body = list(format!(
        "{prompts}?search=lst-&type=PASSWORD&ordering=-order"
    ))
    .await;
    assert_eq!(keys(&body, "field_key"), ["alpha", "gamma"]);
    // Booleans as the catalog reads them, from the row's JSON.
    for no in ["false", "0"] {
        let body = list(format!("{prompts}?search=LST-&required={no}")).await;
        assert_eq!(keys(&body, "field_key"), ["beta"], "required={no}");
    }
    // A prompt stage by one of its prompts (a join table).
    let body = list(format!(
        "/api/v3/stages/prompt/stages/?fields={}",
        pks["gamma"]
    ))
    .await;
    assert_eq!(keys(&body, "name"), ["lst-stage-one"]);
    // A stage by one of its user fields (a JSON array).
    let body = list("/api/v3/stages/identification/?user_fields=email".into()).await;
    assert_eq!(
        keys(&body, "name"),
        [
            "default-authentication-identification",
            "default-recovery-identification"
        ]
    );
    let body = list("/api/v3/stages/identification/?user_fields=upn".into()).await;
    assert_eq!(body["pagination"]["count"], 0);

    // Every kind of stage in one list, by name.
    let body =
        list("/api/v3/stages/all/?search=LST-STAGE&ordering=-name&page_size=1&page=2".into()).await;
    assert_eq!(keys(&body, "name"), ["lst-stage-one"]);
    assert_eq!(body["pagination"]["count"], 2);
    assert_eq!(body["results"][0]["component"], "ak-stage-prompt-form");
    let body = list("/api/v3/stages/all/?name=default-authentication-identification".into()).await;
    assert_eq!(
        body["results"][0]["meta_model_name"],
        "authentik_stages_identification.identificationstage"
    );

    // Pages with DRF's count; a page past the end is DRF's 404.
    let body = list(format!(
        "{prompts}?search=lst-&ordering=field_key&page_size=2&page=2"
    ))
    .await;
    assert_eq!(keys(&body, "field_key"), ["gamma"]);
    assert_eq!(body["pagination"]["count"], 3);
    let (status, body) =
        admin_get(&env, &format!("{prompts}?search=lst-&page_size=2&page=3")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body, json!({"detail": "Invalid page."}));

    // A value that cannot be the field's matches nothing; it is no error.
    let body = list("/api/v3/flows/bindings/?target=not-a-uuid&order=many".into()).await;
    assert_eq!(body["pagination"]["count"], 0);

    // Flows: searched over name, slug, title and designation, ordered by slug.
    let body =
        list("/api/v3/flows/instances/?search=DEFAULT-AUTHENTICATION&ordering=-slug".into()).await;
    let slugs = keys(&body, "slug");
    assert!(
        slugs.contains(&"default-authentication-flow".to_owned()),
        "{slugs:?}"
    );
    let mut sorted = slugs.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(slugs, sorted);
}
