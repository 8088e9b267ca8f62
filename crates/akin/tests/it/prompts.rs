//! Prompts as authentik's own tests expect them (issue 13): computed placeholders and
//! initial values, choice fields taking their choices from the plan (`<field_key>__choices`)
//! or from the placeholder, and file fields taking only inline base64 files.

use akin_testkit::Backend;
use serde_json::json;

use crate::flows::{Browser, import};
use crate::{admin_json, start};

on_both_backends!(
    computed_placeholders_and_initial_values_are_evaluated,
    a_prompt_previews_as_its_challenge,
    choice_fields_offer_the_plans_choices_or_the_placeholder,
    file_fields_take_only_inline_base64_files,
);

/// Imports a prompt flow (see [`prompt_flow`]) and opens it in a new browser: the browser
/// and the form it shows first.
async fn open(
    env: &akin_testkit::TestEnv,
    slug: &str,
    prompts: &[(&str, &str)],
    policy: Option<&str>,
) -> (Browser, serde_json::Value) {
    import(env, &prompt_flow(slug, prompts, policy)).await;
    let browser = Browser::new(&env.app, slug, "");
    let form = browser.challenge().await;
    (browser, form)
}

/// The field `key` of a prompt challenge.
fn field_of(form: &serde_json::Value, key: &str) -> serde_json::Value {
    form["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field_key"] == key)
        .unwrap_or_else(|| panic!("no field {key} in {form}"))
        .clone()
}

/// A flow with one prompt stage holding `prompts` (YAML attrs, keyed by field key), bound
/// after a flow-level policy with `policy` as its expression (when given).
fn prompt_flow(slug: &str, prompts: &[(&str, &str)], policy: Option<&str>) -> String {
    let mut yaml = format!(
        "version: 1\nentries:\n  - model: authentik_flows.flow\n    id: flow\n    identifiers: {{slug: {slug}}}\n    attrs: {{name: P, title: P, designation: authentication}}\n"
    );
    for (key, attrs) in prompts {
        yaml.push_str(&format!(
            "  - model: authentik_stages_prompt.prompt\n    id: {key}\n    identifiers: {{name: {slug}-{key}}}\n    attrs: {{field_key: {key}, label: {key}, {attrs}}}\n"
        ));
    }
    let fields: Vec<String> = prompts
        .iter()
        .map(|(key, _)| format!("!KeyOf {key}"))
        .collect();
    yaml.push_str(&format!(
        "  - model: authentik_stages_prompt.promptstage\n    id: stage\n    identifiers: {{name: {slug}-stage}}\n    attrs: {{fields: [{}]}}\n\
         \x20 - model: authentik_flows.flowstagebinding\n    identifiers: {{target: !KeyOf flow, stage: !KeyOf stage, order: 0}}\n",
        fields.join(", ")
    ));
    if let Some(expression) = policy {
        yaml.push_str(&format!(
            "  - model: authentik_policies_expression.expressionpolicy\n    id: policy\n    identifiers: {{name: {slug}-policy}}\n    attrs:\n      expression: |\n        {}\n\
             \x20 - model: authentik_policies.policybinding\n    identifiers: {{target: !KeyOf flow, policy: !KeyOf policy, order: 0}}\n",
            expression.replace('\n', "\n        ")
        ));
    }
    yaml
}

async fn choice_fields_offer_the_plans_choices_or_the_placeholder(backend: Backend) {
    let env = start(&backend).await;
    // A policy puts the choices into the plan, as authentik's docs show.
    let policy = "context[\"flow_plan\"].context[\"prompt_data\"] = {\"color__choices\": [\"green\", \"blue\"]}\nreturn True";
    let (browser, form) = open(
        &env,
        "choices",
        &[
            (
                "color",
                "type: dropdown, placeholder: red, initial_value: blue",
            ),
            (
                "size",
                "type: radio-button-group, placeholder: '', initial_value: big",
            ),
        ],
        Some(policy),
    )
    .await;
    let field = |key: &str| field_of(&form, key);
    assert_eq!(
        field("color")["choices"],
        json!([{"value": "green", "label": "green"}, {"value": "blue", "label": "blue"}])
    );
    assert_eq!(field("color")["initial_value"], "blue");
    assert_eq!(field("color")["placeholder"], "");
    // No choices in the plan and an empty placeholder: "" is the one choice, and an initial
    // value that is not a choice falls back to it.
    assert_eq!(
        field("size")["choices"],
        json!([{"value": "", "label": ""}])
    );
    assert_eq!(field("size")["initial_value"], "");

    let refused = browser
        .answer(json!({"component": "ak-stage-prompt", "color": "red", "size": ""}))
        .await;
    assert_eq!(
        refused["response_errors"]["color"][0]["string"],
        "\"red\" is not a valid choice."
    );
    assert!(
        refused["response_errors"].get("size").is_none(),
        "{refused}"
    );
    let done = browser
        .answer(json!({"component": "ak-stage-prompt", "color": "green", "size": ""}))
        .await;
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");
}

async fn file_fields_take_only_inline_base64_files(backend: Backend) {
    let env = start(&backend).await;
    import(
        &env,
        &prompt_flow("files", &[("avatar", "type: file")], None),
    )
    .await;
    let browser = Browser::new(&env.app, "files", "");
    browser.challenge().await;
    for (value, message) in [
        ("https://example.com/me.png", "Invalid scheme"),
        ("data:image/png,iVBORw0KGgo=", "Invalid encoding"),
    ] {
        let refused = browser
            .answer(json!({"component": "ak-stage-prompt", "avatar": value}))
            .await;
        assert_eq!(
            refused["response_errors"]["avatar"][0]["string"], message,
            "{value}: {refused}"
        );
    }
    let done = browser
        .answer(
            json!({"component": "ak-stage-prompt", "avatar": "data:image/png;base64,iVBORw0KGgo="}),
        )
        .await;
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");
}

/// `placeholder_expression` / `initial_value_expression`: the prompt shows what the
/// expression returns for this person and plan (`prompt_context`, `user`, `request`); a
/// choice field's expression may return its choices; a failing expression shows nothing,
/// never its source (issue 13, point 1).
async fn computed_placeholders_and_initial_values_are_evaluated(backend: Backend) {
    let env = start(&backend).await;
    let policy =
        "context[\"flow_plan\"].context[\"prompt_data\"] = {\"nick\": \"kim\"}\nreturn True";
    let (browser, form) = open(&env, "computed", &[
                ("nick", "type: text"),
                (
                    "greeting",
                    "type: text, required: false, placeholder_expression: true, placeholder: 'return \"e.g. \" + prompt_context[\"nick\"] + \" at \" + request.path'",
                ),
                (
                    "shout",
                    "type: text, initial_value_expression: true, initial_value: 'return prompt_context[\"nick\"].upper()'",
                ),
                (
                    "color",
                    "type: dropdown, placeholder_expression: true, placeholder: 'return [\"red\", \"green\"]'",
                ),
                (
                    "broken",
                    "type: text, required: false, placeholder_expression: true, placeholder: 'return prompt_context[\"missing\"]'",
                ),
            ], Some(policy)).await;
    let field = |key: &str| field_of(&form, key);
    assert_eq!(
        field("greeting")["placeholder"],
        "e.g. kim at /api/v3/flows/executor/computed/"
    );
    assert_eq!(field("shout")["initial_value"], "KIM");
    assert_eq!(
        field("color")["choices"],
        json!([{"value": "red", "label": "red"}, {"value": "green", "label": "green"}])
    );
    assert_eq!(field("color")["initial_value"], "red");
    assert_eq!(field("broken")["placeholder"], "", "never the source");
    assert!(!form.to_string().contains("prompt_context"), "{form}");

    let refused = browser
        .answer(
            json!({"component": "ak-stage-prompt", "nick": "kim", "shout": "KIM", "color": "blue"}),
        )
        .await;
    assert_eq!(
        refused["response_errors"]["color"][0]["string"],
        "\"blue\" is not a valid choice."
    );
    let done = browser
        .answer(json!({"component": "ak-stage-prompt", "nick": "kim", "shout": "KIM", "color": "green"}))
        .await;
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");
}

/// `POST /api/v3/stages/prompt/prompts/preview/` shows a prompt as a flow would, its
/// expressions evaluated for the administrator; a failing expression is reported
/// (issue 13, point 4).
async fn a_prompt_previews_as_its_challenge(backend: Backend) {
    let env = start(&backend).await;
    let preview = |body: serde_json::Value| {
        let env = &env;
        async move {
            admin_json(
                env,
                reqwest::Method::POST,
                "/api/v3/stages/prompt/prompts/preview/",
                body,
            )
            .await
        }
    };
    let (status, shown) = preview(json!({
        "field_key": "greet", "label": "Greet", "type": "text",
        "placeholder_expression": true, "placeholder": "return 'Hi ' + user.username",
    }))
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{shown}");
    assert_eq!(shown["component"], "ak-stage-prompt");
    assert_eq!(shown["fields"][0]["placeholder"], "Hi akadmin");
    assert_eq!(shown["fields"][0]["field_key"], "greet");

    let (status, failed) = preview(json!({
        "field_key": "greet", "label": "Greet", "type": "text",
        "placeholder_expression": true, "placeholder": "return prompt_context['nope']",
    }))
    .await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST);
    let message = failed["non_field_errors"][0].as_str().unwrap();
    assert!(message.contains("nope"), "{failed}");

    let (status, invalid) = preview(json!({"field_key": "greet", "label": "Greet"})).await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST);
    assert_eq!(invalid, json!({"type": ["This field is required."]}));
}
