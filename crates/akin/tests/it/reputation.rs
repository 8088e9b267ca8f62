//! Reputation policies (authentik's `authentik_policies_reputation`) through the real
//! server: failed sign-ins lower the score of what was typed from the guesser's address, a
//! sign-in raises it, a negated reputation policy on the sign-in flow keeps a guesser out
//! while the owner elsewhere signs in, and an administrator sees and forgets scores.

use akin_testkit::{ADMIN_PASSWORD, Backend, TestEnv};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::flows::{Browser, import};
use crate::{admin_get, admin_json};

on_both_backends!(
    a_negated_reputation_policy_keeps_a_guesser_out_and_lets_the_owner_in,
    reputation_policies_are_validated_listed_and_imported_from_blueprints,
);

const FLOW: &str = "default-authentication-flow";
const GUESSER: &str = "203.0.113.9";
const OWNER: &str = "198.51.100.4";

async fn start_behind_proxy(backend: &Backend) -> TestEnv {
    let options = akin_testkit::SpawnOptions {
        env: vec![("AKIN_TRUSTED_PROXIES".into(), "127.0.0.1, ::1".into())],
        ..akin_testkit::SpawnOptions::default()
    };
    TestEnv::start_with(crate::BIN, backend, &options).await
}

/// Signs in as `account` from `address`; returns the password stage's answer (or the
/// first challenge when the flow does not get that far).
async fn sign_in(env: &TestEnv, address: &str, account: &str, password: &str) -> Value {
    let browser = Browser::at(&env.app, FLOW, address);
    let first = browser.challenge().await;
    if first["component"] != "ak-stage-identification" {
        return first;
    }
    let step = browser
        .answer(json!({"component": "ak-stage-identification", "uid_field": account}))
        .await;
    assert_eq!(step["component"], "ak-stage-password", "{step}");
    browser
        .answer(json!({"component": "ak-stage-password", "password": password}))
        .await
}

async fn scores(env: &TestEnv, query: &str) -> Vec<Value> {
    let (status, page) =
        admin_get(env, &format!("/api/v3/policies/reputation/scores/?{query}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["results"].as_array().unwrap().clone()
}

async fn flow_pk(env: &TestEnv, slug: &str) -> String {
    let (_, flows) = admin_get(env, &format!("/api/v3/flows/instances/?slug={slug}")).await;
    flows["results"][0]["pk"].as_str().unwrap().to_owned()
}

async fn a_negated_reputation_policy_keeps_a_guesser_out_and_lets_the_owner_in(backend: Backend) {
    let env = start_behind_proxy(&backend).await;
    let (status, policy) = admin_json(
        &env,
        Method::POST,
        "/api/v3/policies/reputation/",
        json!({"name": "bad-address", "check_ip": true, "check_username": false, "threshold": -3}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{policy}");
    assert_eq!(policy["component"], "ak-policy-reputation-form");
    assert_eq!(policy["verbose_name"], "Reputation Policy");
    let policy_pk = policy["pk"].as_str().unwrap().to_owned();
    let flow = flow_pk(&env, FLOW).await;
    let (status, binding) = admin_json(
        &env,
        Method::POST,
        "/api/v3/policies/bindings/",
        json!({"policy": policy_pk, "target": flow, "order": 0, "negate": true}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{binding}");
    assert_eq!(binding["policy_obj"]["name"], "bad-address", "{binding}");

    // Three wrong passwords from the guesser's address, and a name without an account.
    for n in 0..3 {
        let answer = sign_in(&env, GUESSER, "akadmin", "wrong").await;
        assert_eq!(
            answer["response_errors"]["password"][0]["string"], "Invalid password",
            "guess {n}: {answer}"
        );
    }
    let guessed = scores(&env, &format!("identifier=akadmin&ip={GUESSER}")).await;
    assert_eq!(guessed.len(), 1, "{guessed:?}");
    assert_eq!(guessed[0]["score"], -3);
    assert_eq!(guessed[0]["ip_geo_data"], json!({}));
    // The address's score is now at the threshold: the flow is closed to it.
    let refused = sign_in(&env, GUESSER, "akadmin", ADMIN_PASSWORD).await;
    assert_eq!(refused["component"], "ak-stage-access-denied", "{refused}");

    // The owner, elsewhere, signs in; that raises their score there.
    let owner = sign_in(&env, OWNER, "akadmin", ADMIN_PASSWORD).await;
    assert_eq!(owner["component"], "xak-flow-redirect", "{owner}");
    let raised = scores(&env, &format!("identifier_in=akadmin,ghost&ip={OWNER}")).await;
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert_eq!(raised[0]["score"], 1);
    let by_score = scores(&env, "score=-3").await;
    assert_eq!(by_score.len(), 1, "{by_score:?}");

    // The policy test: the administrator's own address has no failures, so it does not
    // pass (a reputation policy singles out bad reputations), and its log says why.
    let (_, me) = admin_get(&env, "/api/v3/core/users/me/").await;
    let (status, tested) = admin_json(
        &env,
        Method::POST,
        &format!("/api/v3/policies/all/{policy_pk}/test/"),
        json!({"user": me["user"]["pk"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tested}");
    assert_eq!(tested["passing"], false, "{tested}");
    let logged = tested["log_messages"][0]["event"]
        .as_str()
        .unwrap_or_default();
    assert!(logged.contains("score=0"), "{tested}");
    assert_eq!(
        tested["log_messages"][0]["logger"],
        "authentik.policies.reputation"
    );

    // Forgetting the guesser's score lets that address back in.
    let pk = guessed[0]["pk"].as_str().unwrap();
    let path = format!("/api/v3/policies/reputation/scores/{pk}/");
    let (_, used_by) = admin_get(&env, &format!("{path}used_by/")).await;
    assert_eq!(used_by, json!([]), "nothing refers to a score");
    let (status, _) = admin_json(&env, Method::DELETE, &path, Value::Null).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = admin_get(&env, &path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let again = sign_in(&env, GUESSER, "akadmin", ADMIN_PASSWORD).await;
    assert_eq!(again["component"], "xak-flow-redirect", "{again}");

    // An identifier without an account counts twice, as in authentik: the identification
    // fails, then (pretending the account exists) the password does.
    let ghost = sign_in(&env, GUESSER, "ghost", "wrong").await;
    assert_eq!(ghost["component"], "ak-stage-password", "{ghost}");
    let ghost = scores(&env, "identifier=ghost").await;
    assert_eq!(ghost.len(), 1, "{ghost:?}");
    assert_eq!(ghost[0]["score"], -2);
    assert_eq!(ghost[0]["ip"], GUESSER);
}

async fn reputation_policies_are_validated_listed_and_imported_from_blueprints(backend: Backend) {
    let env = start_behind_proxy(&backend).await;
    let (status, refused) = admin_json(
        &env,
        Method::POST,
        "/api/v3/policies/reputation/",
        json!({"name": "checks-nothing", "check_ip": false, "check_username": false}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(
        refused,
        json!({"non_field_errors": ["Either IP or Username must be checked"]})
    );
    let (_, none) = admin_get(&env, "/api/v3/policies/reputation/?name=checks-nothing").await;
    assert_eq!(none["pagination"]["count"], 0, "nothing half-saved: {none}");

    // An authentik blueprint: the policy with its defaults, bound negated to the sign-in
    // flow by `!KeyOf`.
    import(
        &env,
        "version: 1
metadata:
  name: reputation gate
entries:
  - model: authentik_policies_reputation.reputationpolicy
    id: gate
    identifiers:
      name: reputation-gate
  - model: authentik_policies.policybinding
    identifiers:
      policy: !KeyOf gate
      target: !Find [authentik_flows.flow, [slug, default-authentication-flow]]
      order: 0
    attrs:
      negate: true
",
    )
    .await;
    let (_, imported) = admin_get(&env, "/api/v3/policies/reputation/?name=reputation-gate").await;
    let gate = &imported["results"][0];
    assert_eq!(gate["check_ip"], true, "{imported}");
    assert_eq!(gate["check_username"], true);
    assert_eq!(gate["threshold"], -5);
    assert_eq!(gate["bound_to"], 1);
    // Both kinds in the polymorphic list, with their own names.
    let (_, all) = admin_get(&env, "/api/v3/policies/all/?search=gate").await;
    assert_eq!(
        all["results"][0]["meta_model_name"],
        "authentik_policies_reputation.reputationpolicy"
    );
    assert_eq!(
        all["results"][0]["verbose_name_plural"],
        "Reputation Policies"
    );
    // The sign-in flow still opens: a fresh reputation is not a bad one.
    let browser = Browser::at(&env.app, FLOW, GUESSER);
    assert_eq!(
        browser.challenge().await["component"],
        "ak-stage-identification"
    );
    // And the flow's export carries the policy to another install.
    let (status, exported) = export(&env).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        exported.contains("model: authentik_policies_reputation.reputationpolicy"),
        "{exported}"
    );
    assert!(exported.contains("threshold: -5"), "{exported}");
}

async fn export(env: &TestEnv) -> (StatusCode, String) {
    let response = env
        .app
        .admin(
            Method::GET,
            &format!("/api/v3/flows/instances/{FLOW}/export/"),
        )
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}
