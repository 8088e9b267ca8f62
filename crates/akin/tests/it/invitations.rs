//! `/api/v3/stages/invitation/invitations/`: authentik's invitation API, with akin's
//! history (used and expired invitations are kept and hidden) and `max_uses`.

use akin_testkit::{Backend, TestEnv};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::flows::{Browser, credentials, two_stage_flow};
use crate::{admin_get, admin_json, start};

on_both_backends!(
    invitations_are_managed_through_the_api,
    max_uses_allows_that_many_accounts,
    the_cli_creates_links_that_work,
    a_revoked_invitation_is_refused_with_its_reason_and_kept,
    a_reissued_invitation_replaces_the_old_link,
    invitations_add_groups_bind_an_address_and_list_their_uses,
    bulk_invitations_report_each_row_atomically_and_idempotently,
    the_cli_imports_a_csv_file,
    the_funnel_counts_sent_opened_started_completed,
    an_administrator_previews_an_invitation_without_using_it,
    search_finds_any_part_of_a_name_in_any_case,
    list_totals_and_funnels_follow_every_change,
    pages_by_cursor_walk_the_whole_list_once,
);

const BASE: &str = "/api/v3/stages/invitation/invitations/";

async fn flow_pk(env: &TestEnv) -> String {
    env.db
        .text("SELECT CAST(flow_uuid AS TEXT) FROM flows WHERE slug = 'default-enrollment-flow'")
        .await
}

async fn enroll(env: &TestEnv, token: &str, username: &str) -> Value {
    let browser = Browser::new(
        &env.app,
        "default-enrollment-flow",
        &format!("itoken={token}"),
    );
    let first = browser.challenge().await;
    if first["component"] != "ak-stage-prompt" {
        return first;
    }
    browser.answer(credentials(username)).await;
    browser
        .answer(json!({"component": "ak-stage-prompt", "name": username, "email": format!("{username}@example.com")}))
        .await
}

fn names(list: &Value) -> Vec<String> {
    list["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn invitations_are_managed_through_the_api(backend: Backend) {
    let env = start(&backend).await;
    two_stage_flow(&env).await;
    let flow = flow_pk(&env).await;

    let (status, created) = admin_json(
        &env,
        Method::POST,
        BASE,
        json!({"name": "jane-doe", "flow": flow, "single_use": true, "expires": "2030-01-01T00:00:00+00:00",
               "fixed_data": {"email": "jane@example.com"}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    for key in [
        "pk",
        "name",
        "expires",
        "fixed_data",
        "created_by",
        "single_use",
        "flow",
        "flow_obj",
    ] {
        assert!(created.get(key).is_some(), "invitation lacks {key}");
    }
    assert_eq!(created["created_by"]["username"], "akadmin");
    assert_eq!(created["flow_obj"]["slug"], "default-enrollment-flow");
    assert_eq!(created["expires"], "2030-01-01T00:00:00Z");
    assert_eq!(
        (
            created["uses"].clone(),
            created["max_uses"].clone(),
            created["status"].clone()
        ),
        (json!(0), json!(1), json!("active"))
    );
    let jane = created["pk"].as_str().unwrap().to_owned();

    for (body, field) in [
        (json!({"name": "has space", "flow": flow}), "name"),
        (
            json!({"name": "ok", "flow": "00000000-0000-0000-0000-000000000001"}),
            "flow",
        ),
        (json!({"name": "ok", "fixed_data": [1]}), "fixed_data"),
        (json!({"name": "ok", "expires": "soon"}), "expires"),
        (json!({"flow": flow}), "name"),
    ] {
        let (status, errors) = admin_json(&env, Method::POST, BASE, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(errors.get(field).is_some(), "{body} -> {errors}");
    }

    let (status, old) = admin_json(
        &env,
        Method::POST,
        BASE,
        json!({"name": "old", "flow": flow, "expires": "2001-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{old}");
    admin_json(
        &env,
        Method::POST,
        BASE,
        json!({"name": "open-door", "flow": flow}),
    )
    .await;

    // Jane enrols: her invitation is used, kept, and hidden from the default list.
    assert_eq!(
        enroll(&env, &jane, "jane").await["component"],
        "xak-flow-redirect"
    );
    let (_, listed) = admin_get(&env, BASE).await;
    assert_eq!(
        names(&listed),
        ["open-door"],
        "used and expired are hidden by default"
    );
    let (_, used) = admin_get(&env, &format!("{BASE}?status=used")).await;
    assert_eq!(names(&used), ["jane-doe"]);
    assert_eq!(used["results"][0]["uses"], 1);
    let (_, expired) = admin_get(&env, &format!("{BASE}?status=expired")).await;
    assert_eq!(names(&expired), ["old"]);
    let (_, all) = admin_get(&env, &format!("{BASE}?status=all&ordering=name")).await;
    assert_eq!(names(&all), ["jane-doe", "old", "open-door"]);
    let (status, _) = admin_get(&env, &format!("{BASE}{jane}/")).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a used invitation is hidden, as authentik hides it"
    );
    let (status, history) = admin_get(&env, &format!("{BASE}{jane}/?status=all")).await;
    assert_eq!(
        (status, history["status"].clone()),
        (StatusCode::OK, json!("used"))
    );

    let (_, by_flow) = admin_get(&env, &format!("{BASE}?status=all&flow__slug=default-enrollment-flow&created_by__username=akadmin&search=door")).await;
    assert_eq!(names(&by_flow), ["open-door"]);

    let door = all["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "open-door")
        .unwrap()["pk"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, patched) = admin_json(
        &env,
        Method::PATCH,
        &format!("{BASE}{door}/"),
        json!({"fixed_data": {"attributes": {"team": "x"}}}),
    )
    .await;
    assert_eq!(
        (status, patched["fixed_data"].clone()),
        (StatusCode::OK, json!({"attributes": {"team": "x"}}))
    );
    assert_eq!(
        patched["name"], "open-door",
        "PATCH keeps what it does not name"
    );
    let deleted = env
        .app
        .admin(Method::DELETE, &format!("{BASE}{door}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let (status, _) = admin_get(&env, &format!("{BASE}{door}/?status=all")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, events) = admin_get(&env, "/api/v3/events/events/?context_model_name=invitation").await;
    assert_eq!(
        events["pagination"]["count"], 5,
        "3 created, 1 updated, 1 deleted"
    );
}

async fn max_uses_allows_that_many_accounts(backend: Backend) {
    let env = start(&backend).await;
    two_stage_flow(&env).await;
    let flow = flow_pk(&env).await;
    let (status, team) = admin_json(
        &env,
        Method::POST,
        BASE,
        json!({"name": "team", "flow": flow, "max_uses": 2}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{team}");
    let token = team["pk"].as_str().unwrap().to_owned();
    assert_eq!(
        enroll(&env, &token, "first").await["component"],
        "xak-flow-redirect"
    );
    assert_eq!(
        enroll(&env, &token, "second").await["component"],
        "xak-flow-redirect"
    );
    assert_eq!(
        enroll(&env, &token, "third").await["code"],
        "invitation_used"
    );
    let (status, _) = admin_json(
        &env,
        Method::POST,
        BASE,
        json!({"name": "zero", "flow": flow, "max_uses": 0}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn the_cli_creates_links_that_work(backend: Backend) {
    let env = start(&backend).await;
    two_stage_flow(&env).await;
    let run = |args: &[&str]| {
        let url = env.db.url.clone();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        async move {
            tokio::process::Command::new(crate::BIN)
                .args(args)
                .env("AKIN_DATABASE_URL", url)
                .env("AKIN_EXTERNAL_URL", "https://id.example.com/")
                .output()
                .await
                .unwrap()
        }
    };
    let output = run(&[
        "invitation",
        "create",
        "--flow",
        "default-enrollment-flow",
        "--name",
        "from-cli",
        "--expires",
        "7d",
        "--single-use",
        "--fixed",
        "email=cli@example.com",
        "--fixed",
        "attributes.team=\"ops\"",
    ])
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let link = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let prefix = "https://id.example.com/if/flow/default-enrollment-flow/?itoken=";
    assert!(link.starts_with(prefix), "{link}");
    let token = &link[prefix.len()..];

    assert_eq!(
        enroll(&env, token, "cli-user").await["component"],
        "xak-flow-redirect"
    );
    let (_, users) = admin_get(&env, "/api/v3/core/users/?username=cli-user").await;
    assert_eq!(users["results"][0]["email"], "cli@example.com");
    assert_eq!(users["results"][0]["attributes"], json!({"team": "ops"}));

    let output = run(&["invitation", "list", "--status", "all"]).await;
    let listing = String::from_utf8_lossy(&output.stdout);
    assert!(listing.contains("from-cli\tused\t1/1"), "{listing}");
    let output = run(&["invitation", "create", "--flow", "no-such-flow"]).await;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no flow has the slug"));

    // Reissued from the CLI: a new link that works, the old one replaced; then revoked.
    let output = run(&[
        "invitation",
        "create",
        "--flow",
        "default-enrollment-flow",
        "--name",
        "resend-me",
    ])
    .await;
    let first = String::from_utf8_lossy(&output.stdout).trim()[prefix.len()..].to_owned();
    let output = run(&["invitation", "reissue", &first, "--expires", "3d"]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let second = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(second.starts_with(prefix), "{second}");
    let second = second[prefix.len()..].to_owned();
    assert_ne!(second, first);
    assert_eq!(
        enroll(&env, &first, "nobody").await["code"],
        "invitation_replaced"
    );
    let output = run(&["invitation", "revoke", &second]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("revoked invitation resend-me"));
    assert_eq!(
        enroll(&env, &second, "nobody").await["code"],
        "invitation_revoked"
    );
    let output = run(&["invitation", "list", "--status", "revoked"]).await;
    let listing = String::from_utf8_lossy(&output.stdout);
    assert!(listing.contains("resend-me\trevoked"), "{listing}");
    let output = run(&["invitation", "reissue", &second]).await;
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("revoked already"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Issue 15, point 1: revoking refuses the link with its own reason, keeps the invitation
/// (with who and when) under `?status=revoked`, and a race between a revoke and an
/// enrollment never writes an account with a revoked invitation.
async fn a_revoked_invitation_is_refused_with_its_reason_and_kept(backend: Backend) {
    let env = start(&backend).await;
    two_stage_flow(&env).await;
    let flow = flow_pk(&env).await;
    let (_, created) = admin_json(
        &env,
        Method::POST,
        BASE,
        json!({"name": "withdrawn", "flow": flow, "single_use": true}),
    )
    .await;
    let pk = created["pk"].as_str().unwrap().to_owned();
    // A visitor opened the link before it was revoked and filled in the form.
    let early = Browser::new(&env.app, "default-enrollment-flow", &format!("itoken={pk}"));
    assert_eq!(early.challenge().await["component"], "ak-stage-prompt");
    early.answer(credentials("early")).await;

    let (status, revoked) = admin_json(
        &env,
        Method::POST,
        &format!("{BASE}{pk}/revoke/"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(revoked["revoked_by"]["username"], "akadmin");
    let when = revoked["revoked"].as_str().unwrap().to_owned();
    // Again: nothing changes.
    let (status, again) = admin_json(
        &env,
        Method::POST,
        &format!("{BASE}{pk}/revoke/"),
        json!({}),
    )
    .await;
    assert_eq!(
        (status, again["revoked"].as_str()),
        (StatusCode::OK, Some(when.as_str()))
    );

    // The visitor mid-flow is refused at the write, with the reason; no account.
    let finished = early
        .answer(
            json!({"component": "ak-stage-prompt", "name": "Early", "email": "early@example.com"}),
        )
        .await;
    assert_eq!(finished["code"], "invitation_revoked", "{finished}");
    let (_, users) = admin_get(&env, "/api/v3/core/users/?username=early").await;
    assert_eq!(users["pagination"]["count"], 0);
    // A new visitor is refused at once.
    let refused = enroll(&env, &pk, "late").await;
    assert_eq!(
        (refused["component"].as_str(), refused["code"].as_str()),
        (Some("ak-stage-access-denied"), Some("invitation_revoked"))
    );
    assert!(
        refused["error_message"]
            .as_str()
            .unwrap()
            .contains("withdrawn"),
        "{refused}"
    );

    let (_, active) = admin_get(&env, BASE).await;
    assert!(names(&active).is_empty(), "not listed as active");
    let (_, listed) = admin_get(&env, &format!("{BASE}?status=revoked")).await;
    assert_eq!(names(&listed), ["withdrawn"]);
    let (status, _) = admin_get(&env, &format!("{BASE}?status=gone")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = admin_json(
        &env,
        Method::POST,
        &format!("{BASE}{}/revoke/", uuid::Uuid::new_v4()),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Issue 15, point 5: the expiry can be moved, and `reissue/` makes a new invitation with
/// the same data whose link works while the old one is refused as replaced.
async fn a_reissued_invitation_replaces_the_old_link(backend: Backend) {
    let env = start(&backend).await;
    two_stage_flow(&env).await;
    let flow = flow_pk(&env).await;
    let (_, created) = admin_json(
        &env,
        Method::POST,
        BASE,
        json!({"name": "lost-mail", "flow": flow, "single_use": true, "expires": "2001-01-01T00:00:00Z",
               "fixed_data": {"email": "lost@example.com"}}),
    )
    .await;
    let old = created["pk"].as_str().unwrap().to_owned();
    assert_eq!(enroll(&env, &old, "x").await["code"], "invitation_expired");

    // An expired invitation needs the new expiry.
    let (status, body) = admin_json(
        &env,
        Method::POST,
        &format!("{BASE}{old}/reissue/"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.get("expires").is_some(), "{body}");
    // Extending works as a PATCH (on any invitation, whatever its status).
    let (status, extended) = admin_json(
        &env,
        Method::PATCH,
        &format!("{BASE}{old}/?status=all"),
        json!({"expires": "2040-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(
        (status, extended["status"].as_str()),
        (StatusCode::OK, Some("active")),
        "{extended}"
    );

    let (status, new) = admin_json(
        &env,
        Method::POST,
        &format!("{BASE}{old}/reissue/"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{new}");
    let new_pk = new["pk"].as_str().unwrap().to_owned();
    assert_ne!(new_pk, old);
    assert_eq!(new["fixed_data"], json!({"email": "lost@example.com"}));
    assert_eq!(new["expires"], "2040-01-01T00:00:00Z");
    assert_eq!(
        (new["single_use"].as_bool(), new["status"].as_str()),
        (Some(true), Some("active"))
    );

    let (_, replaced) = admin_get(&env, &format!("{BASE}{old}/?status=replaced")).await;
    assert_eq!(replaced["replaced_by"], new_pk.as_str());
    assert_eq!(enroll(&env, &old, "y").await["code"], "invitation_replaced");
    // Reissuing the replaced one again is refused; nothing is created.
    let (status, _) = admin_json(
        &env,
        Method::POST,
        &format!("{BASE}{old}/reissue/"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, all) = admin_get(&env, &format!("{BASE}?status=all")).await;
    assert_eq!(all["pagination"]["count"], 2);

    let done = enroll(&env, &new_pk, "found").await;
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");
    let (_, users) = admin_get(&env, "/api/v3/core/users/?username=found").await;
    assert_eq!(users["results"][0]["email"], "lost@example.com");
}

/// The second stage's email field and the answer to it, for a visitor of `token`.
async fn enroll_with_email(
    env: &TestEnv,
    token: &str,
    username: &str,
    email: &str,
) -> (Value, Value) {
    let browser = Browser::new(
        &env.app,
        "default-enrollment-flow",
        &format!("itoken={token}"),
    );
    browser.challenge().await;
    let second = browser.answer(credentials(username)).await;
    let field = second["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field_key"] == "email")
        .cloned()
        .unwrap_or_default();
    let done = browser
        .answer(json!({"component": "ak-stage-prompt", "name": username, "email": email}))
        .await;
    (field, done)
}

/// Issue 15, points 2 to 4: the account joins the invitation's groups in the claim; an
/// invitation bound to a domain refuses other addresses at the prompt (nothing consumed)
/// and one bound to an address fills it in; `uses/` lists who enrolled, when and from where.
async fn invitations_add_groups_bind_an_address_and_list_their_uses(backend: Backend) {
    let env = start(&backend).await;
    two_stage_flow(&env).await;
    let flow = flow_pk(&env).await;
    let (status, group) = admin_json(
        &env,
        Method::POST,
        "/api/v3/core/groups/",
        json!({"name": "team-a"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let group = group["pk"].as_str().unwrap().to_owned();

    for (field, body) in [
        (
            "allowed_email",
            json!({"name": "bad", "flow": flow, "allowed_email": "example.com"}),
        ),
        (
            "groups",
            json!({"name": "bad", "flow": flow, "groups": [uuid::Uuid::new_v4()]}),
        ),
    ] {
        let (status, errors) = admin_json(&env, Method::POST, BASE, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{errors}");
        assert!(errors.get(field).is_some(), "{field}: {errors}");
    }

    let (status, team) = admin_json(
        &env,
        Method::POST,
        BASE,
        json!({"name": "team", "flow": flow, "groups": [group], "allowed_email": "@Example.com", "max_uses": 5}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{team}");
    assert_eq!(team["groups"], json!([group]));
    assert_eq!(team["allowed_email"], "@Example.com");
    let team = team["pk"].as_str().unwrap().to_owned();

    // Another domain: told at the prompt, which stays; nothing consumed.
    let (field, refused) = enroll_with_email(&env, &team, "mallory", "mallory@evil.test").await;
    assert_eq!(field["type"], "email", "{field}");
    assert_eq!(refused["component"], "ak-stage-prompt", "{refused}");
    assert_eq!(
        refused["response_errors"]["email"][0]["string"],
        "This invitation is for addresses ending in @Example.com."
    );
    let (_, unused) = admin_get(&env, &format!("{BASE}{team}/")).await;
    assert_eq!(unused["uses"], 0);

    let (_, done) = enroll_with_email(&env, &team, "bob", "bob@example.com").await;
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");
    let (_, users) = admin_get(&env, "/api/v3/core/users/?username=bob").await;
    let bob = &users["results"][0];
    assert_eq!(bob["groups"], json!([group]), "{bob}");

    let (status, uses) = admin_get(&env, &format!("{BASE}{team}/uses/")).await;
    assert_eq!(status, StatusCode::OK, "{uses}");
    assert_eq!(uses.as_array().unwrap().len(), 1, "{uses}");
    assert_eq!(uses[0]["username"], "bob");
    assert_eq!(uses[0]["user"], bob["pk"]);
    assert_eq!(uses[0]["client_ip"], "127.0.0.1");
    assert!(uses[0]["created"].is_string());

    // Bound to one address: filled in, read-only, and the account gets it.
    let (_, carol) = admin_json(
        &env,
        Method::POST,
        BASE,
        json!({"name": "carol", "flow": flow, "single_use": true, "allowed_email": "carol@example.com"}),
    )
    .await;
    let carol = carol["pk"].as_str().unwrap().to_owned();
    let (field, done) = enroll_with_email(&env, &carol, "carol", "someone@else.test").await;
    assert_eq!(
        (field["type"].as_str(), field["initial_value"].as_str()),
        (Some("text_read_only"), Some("carol@example.com")),
        "{field}"
    );
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");
    let (_, users) = admin_get(&env, "/api/v3/core/users/?username=carol").await;
    assert_eq!(users["results"][0]["email"], "carol@example.com");

    // A group deleted after the invitation was made is skipped, not an error.
    let deleted = env
        .app
        .admin(Method::DELETE, &format!("/api/v3/core/groups/{group}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let (_, done) = enroll_with_email(&env, &team, "dave", "dave@example.com").await;
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");
    let (_, uses) = admin_get(&env, &format!("{BASE}{team}/uses/")).await;
    assert_eq!(uses.as_array().unwrap().len(), 2);

    // The admin row, opened, says who enrolled with it.
    let admin = crate::admin_pages::log_in(&env, "akadmin", akin_testkit::ADMIN_PASSWORD).await;
    let (_, _, html) = admin
        .get(&format!("/if/admin/invitations/?status=all&opened={team}"))
        .await;
    assert!(html.contains("Accounts created with it:"), "{html}");
    assert!(
        html.contains(">bob</a>") && html.contains("from 127.0.0.1"),
        "{html}"
    );
    assert!(html.contains("For @Example.com."), "{html}");
}

/// POSTs a CSV file to `bulk/` with these form fields; status and body.
async fn bulk_csv(
    env: &TestEnv,
    query: &str,
    csv: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("people.csv"),
    );
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    let response = env
        .app
        .admin(Method::POST, &format!("{BASE}bulk/{query}"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

/// Issue 15, point 6: a CSV upload creates an invitation per right row and reports each
/// row; `?atomic=true` creates none when a row is wrong; JSON from a template with an
/// `Idempotency-Key` creates nothing twice when retried; links work and mail is queued.
async fn bulk_invitations_report_each_row_atomically_and_idempotently(backend: Backend) {
    let env = start(&backend).await;
    two_stage_flow(&env).await;
    admin_json(
        &env,
        Method::POST,
        "/api/v3/core/groups/",
        json!({"name": "team-a"}),
    )
    .await;
    let csv = "email,name,groups,attributes.team\n\
               ann@example.com,,team-a,blue\n\
               not-an-address,,,\n\
               ben@example.com,ben-invite,,green\n\
               cy@example.com,,nobody-group,\n";
    // Atomic: a wrong row, so nothing.
    let (status, atomic) = bulk_csv(
        &env,
        "?atomic=true",
        csv,
        &[("flow", "default-enrollment-flow")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{atomic}");
    assert_eq!(
        (atomic["created"].as_u64(), atomic["invalid"].as_u64()),
        (Some(0), Some(2))
    );
    assert_eq!(atomic["results"][0]["status"], "not_created");
    assert_eq!(count(&env).await, 0);

    let (status, report) = bulk_csv(
        &env,
        "",
        csv,
        &[
            ("flow", "default-enrollment-flow"),
            ("expires", "2040-01-01T00:00:00Z"),
            ("send_email", "true"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        (report["created"].as_u64(), report["invalid"].as_u64()),
        (Some(2), Some(2)),
        "{report}"
    );
    assert_eq!(report["mailed"], 2);
    let results = report["results"].as_array().unwrap();
    let lines: Vec<(u64, &str)> = results
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        lines,
        [
            (2, "created"),
            (3, "invalid"),
            (4, "created"),
            (5, "invalid")
        ]
    );
    assert!(results[1]["errors"]["email"].is_array(), "{}", results[1]);
    assert!(
        results[3]["errors"]["groups"][0]
            .as_str()
            .unwrap()
            .contains("nobody-group")
    );
    assert_eq!(results[0]["name"], "ann-example-com");
    assert_eq!(results[2]["name"], "ben-invite");
    let link = results[0]["link"].as_str().unwrap();
    assert!(
        link.contains("/if/flow/default-enrollment-flow/?itoken="),
        "{link}"
    );
    assert_eq!(count(&env).await, 2);
    let (_, outbox) = admin_get(&env, "/api/v3/akin/outbox/").await;
    assert_eq!(outbox["pagination"]["count"], 2);

    // Ann's link fills in her address and puts her in team-a.
    let ann = results[0]["pk"].as_str().unwrap();
    let (field, done) = enroll_with_email(&env, ann, "ann", "typed@else.test").await;
    assert_eq!(field["initial_value"], "ann@example.com");
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");
    let (_, users) = admin_get(&env, "/api/v3/core/users/?username=ann").await;
    assert_eq!(users["results"][0]["groups"].as_array().unwrap().len(), 1);
    assert_eq!(users["results"][0]["attributes"], json!({"team": "blue"}));

    // JSON from a template, retried with the same key: the first answer, nothing new.
    let template = results[2]["pk"].as_str().unwrap().to_owned();
    let body = json!({"template": template, "emails": ["dee@example.com", "eve@example.com"]});
    let send = |key: &'static str, body: Value| {
        let env = &env;
        async move {
            let response = env
                .app
                .admin(Method::POST, &format!("{BASE}bulk/"))
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap();
            let replayed = response.headers().get("idempotent-replayed").is_some();
            (
                response.status(),
                replayed,
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let (status, replayed, first) = send("retry-me-1", body.clone()).await;
    assert_eq!((status, replayed), (StatusCode::OK, false), "{first}");
    assert_eq!(first["created"], 2);
    assert_eq!(first["results"][0]["name"], "ben-invite-dee-example-com");
    let (status, replayed, again) = send("retry-me-1", body.clone()).await;
    assert_eq!((status, replayed), (StatusCode::OK, true));
    assert_eq!(again["results"], first["results"]);
    assert_eq!(count(&env).await, 4);
    let (status, _, other) = send(
        "retry-me-1",
        json!({"template": template, "emails": ["x@example.com"]}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{other}");
    assert_eq!(count(&env).await, 4);
    let (_, dee) = admin_get(
        &env,
        &format!("{BASE}{}/", first["results"][0]["pk"].as_str().unwrap()),
    )
    .await;
    assert_eq!(
        dee["fixed_data"],
        json!({"attributes": {"team": "green"}, "email": "dee@example.com"})
    );

    // An expiry input left empty, as a browser's form sends it, means "never" (as DRF
    // reads a form), not a wrong time.
    let (status, body) = bulk_csv(
        &env,
        "",
        "email\neve@example.com\n",
        &[("flow", "default-enrollment-flow"), ("expires", "")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, eve) = admin_get(&env, &format!("{BASE}?name=eve-example-com")).await;
    assert!(eve["results"][0]["expires"].is_null(), "{eve}");

    // Wrong requests are refused as a whole.
    let (status, body) = bulk_csv(&env, "", csv, &[("flow", "no-such-flow")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.get("flow").is_some(), "{body}");
    let (status, body) = bulk_csv(
        &env,
        "",
        "email,name\na@example.com\n",
        &[("flow", "default-enrollment-flow")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.get("file").is_some(), "{body}");
    let (status, _) = admin_json(
        &env,
        Method::POST,
        &format!("{BASE}bulk/"),
        json!({"template": template, "emails": ["nope"]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// Issue 15, point 6: `akin invitation import FILE.csv` prints a link per created row and
/// says which rows were wrong.
async fn the_cli_imports_a_csv_file(backend: Backend) {
    let env = start(&backend).await;
    two_stage_flow(&env).await;
    let file = env.db.dir().join("people.csv");
    std::fs::write(
        &file,
        "email,attributes.team\nfay@example.com,red\ngus@example.com,\nbroken,\n",
    )
    .unwrap();
    let output = tokio::process::Command::new(crate::BIN)
        .args(["invitation", "import"])
        .arg(&file)
        .args(["--flow", "default-enrollment-flow", "--expires", "7d"])
        .env("AKIN_DATABASE_URL", &env.db.url)
        .env("AKIN_EXTERNAL_URL", "https://id.example.com")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "a wrong row fails the command: {stderr}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with(
            "fay@example.com\thttps://id.example.com/if/flow/default-enrollment-flow/?itoken="
        ),
        "{stdout}"
    );
    assert!(
        stderr.contains("line 4") && stderr.contains("2 of 3 rows created, 1 invalid"),
        "{stderr}"
    );
    let token = lines[0].rsplit('=').next().unwrap();
    let (_, fay) = admin_get(&env, &format!("{BASE}{token}/")).await;
    assert_eq!(
        fay["fixed_data"],
        json!({"attributes": {"team": "red"}, "email": "fay@example.com"})
    );
    assert_eq!(fay["single_use"], true);
}

/// How many invitations there are, whatever their status.
async fn count(env: &TestEnv) -> i64 {
    let (_, all) = admin_get(env, &format!("{BASE}?status=all")).await;
    all["pagination"]["count"].as_i64().unwrap()
}

/// Issue 15, point 7: the funnel of an invitation and of its flow. A link scanner's GET
/// counts as opened and never more; a reload counts nothing; answering a step is started;
/// an account is completed.
async fn the_funnel_counts_sent_opened_started_completed(backend: Backend) {
    let env = start(&backend).await;
    two_stage_flow(&env).await;
    let flow = flow_pk(&env).await;
    let (_, created) = admin_json(
        &env,
        Method::POST,
        BASE,
        json!({"name": "funnel", "flow": flow, "single_use": true}),
    )
    .await;
    let pk = created["pk"].as_str().unwrap().to_owned();
    admin_json(
        &env,
        Method::POST,
        BASE,
        json!({"name": "other", "flow": flow}),
    )
    .await;
    let funnel = |path: String| {
        let env = &env;
        async move {
            let (status, body) = admin_get(env, &path).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            (
                body["sent"].as_i64().unwrap(),
                body["opened"].as_i64().unwrap(),
                body["started"].as_i64().unwrap(),
                body["completed"].as_i64().unwrap(),
            )
        }
    };
    assert_eq!(funnel(format!("{BASE}{pk}/funnel/")).await, (0, 0, 0, 0));

    let (status, _) = admin_json(
        &env,
        Method::POST,
        &format!("{BASE}{pk}/send_email/"),
        json!({"email_addresses": ["a@example.com", "b@example.com"]}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Two scanners fetch the link (no cookies kept between them).
    for _ in 0..2 {
        let scanner = Browser::new(&env.app, "default-enrollment-flow", &format!("itoken={pk}"));
        assert_eq!(scanner.challenge().await["component"], "ak-stage-prompt");
    }
    assert_eq!(funnel(format!("{BASE}{pk}/funnel/")).await, (2, 2, 0, 0));

    // The invitee: opens, reloads, answers, finishes.
    let invitee = Browser::new(&env.app, "default-enrollment-flow", &format!("itoken={pk}"));
    invitee.challenge().await;
    invitee.challenge().await;
    invitee.answer(credentials("finisher")).await;
    assert_eq!(funnel(format!("{BASE}{pk}/funnel/")).await, (2, 3, 1, 0));
    let done = invitee
        .answer(json!({"component": "ak-stage-prompt", "name": "F", "email": "f@example.com"}))
        .await;
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");
    assert_eq!(funnel(format!("{BASE}{pk}/funnel/")).await, (2, 3, 1, 1));

    // The flow's funnel sums its invitations'; the other one was never opened.
    assert_eq!(
        funnel(format!("{BASE}funnel/?flow__slug=default-enrollment-flow")).await,
        (2, 3, 1, 1)
    );
    assert_eq!(
        funnel(format!("{BASE}funnel/?flow__slug=no-such-flow")).await,
        (0, 0, 0, 0)
    );
    let admin = crate::admin_pages::log_in(&env, "akadmin", akin_testkit::ADMIN_PASSWORD).await;
    let (_, _, html) = admin
        .get(&format!("/if/admin/invitations/?status=all&opened={pk}"))
        .await;
    assert!(
        html.contains("2 sent · 3 opened · 1 started · 1 completed."),
        "{html}"
    );
}

/// Issue 15, point 8: an administrator walks an invitation's flow as the invitee would,
/// fixed data shown, and nothing is written, counted or used up; nobody else may preview.
async fn an_administrator_previews_an_invitation_without_using_it(backend: Backend) {
    let env = start(&backend).await;
    two_stage_flow(&env).await;
    let flow = flow_pk(&env).await;
    let (_, created) = admin_json(
        &env,
        Method::POST,
        BASE,
        json!({"name": "preview-me", "flow": flow, "single_use": true,
               "fixed_data": {"email": "pat@example.com"}}),
    )
    .await;
    let pk = created["pk"].as_str().unwrap().to_owned();
    let page = format!("/if/flow/default-enrollment-flow/?itoken={pk}&akin_preview=1");

    let admin = crate::admin_pages::log_in(&env, "akadmin", akin_testkit::ADMIN_PASSWORD).await;
    let (_, _, list) = admin
        .get(&format!("/if/admin/invitations/?opened={pk}"))
        .await;
    assert!(list.contains("Preview as the invitee"), "{list}");
    let (status, _, html) = admin.get(&page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"id="preview-banner""#), "{html}");
    let (status, _, _) = admin
        .post(
            &page,
            &[
                ("component", "ak-stage-prompt"),
                ("username", "pat"),
                ("password", "Corr3ct-horse"),
                ("password_repeat", "Corr3ct-horse"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, html) = admin.get(&page).await;
    assert!(
        html.contains("pat@example.com"),
        "the fixed email is shown: {html}"
    );
    let (status, location, _) = admin
        .post(&page, &[("component", "ak-stage-prompt"), ("name", "Pat")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // Through the rest of the flow to its end: back to the invitation, saying so.
    let mut location = location;
    for _ in 0..5 {
        if location.starts_with("/if/admin/") {
            break;
        }
        let (_, next, _) = admin.get(&location).await;
        location = next;
    }
    assert!(location.starts_with("/if/admin/invitations/"), "{location}");
    let (_, _, html) = admin.get(&location).await;
    assert!(
        html.contains("Preview finished: nothing was written"),
        "{html}"
    );

    let (_, users) = admin_get(&env, "/api/v3/core/users/?username=pat").await;
    assert_eq!(users["pagination"]["count"], 0, "no account");
    let (_, invitation) = admin_get(&env, &format!("{BASE}{pk}/")).await;
    assert_eq!(
        (invitation["uses"].as_i64(), invitation["status"].as_str()),
        (Some(0), Some("active"))
    );
    let (_, funnel) = admin_get(&env, &format!("{BASE}{pk}/funnel/")).await;
    assert_eq!(
        (funnel["opened"].as_i64(), funnel["started"].as_i64()),
        (Some(0), Some(0))
    );
    // Still signed in as the administrator.
    let (status, _, _) = admin.get("/if/admin/invitations/").await;
    assert_eq!(status, StatusCode::OK);

    // Anyone else asking for a preview is refused; the invitee's own link still works.
    let stranger = Browser::new(
        &env.app,
        "default-enrollment-flow",
        &format!("itoken={pk}&akin_preview=1"),
    );
    let refused = stranger.challenge().await;
    assert_eq!(refused["code"], "preview_forbidden", "{refused}");
    let done = enroll(&env, &pk, "pat").await;
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");
}

/// Issue 16, point 3: `?search=` finds invitations by any part of their name, in any case,
/// through the trigram index (three characters or more) and without it (fewer); renamed and
/// deleted invitations are found by their new name and no longer by the old one.
async fn search_finds_any_part_of_a_name_in_any_case(backend: Backend) {
    let env = start(&backend).await;
    let mut pks = std::collections::HashMap::new();
    for name in ["alpha-team", "Beta-Team", "gamma", "under_50x"] {
        let (status, created) = admin_json(&env, Method::POST, BASE, json!({"name": name})).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        pks.insert(name, created["pk"].as_str().unwrap().to_owned());
    }
    let found = |term: &'static str| {
        let env = &env;
        async move {
            let query: String = form_urlencoded::byte_serialize(term.as_bytes()).collect();
            let (status, list) = admin_get(
                env,
                &format!("{BASE}?status=all&ordering=name&search={query}"),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{list}");
            let mut names: Vec<String> = list["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["name"].as_str().unwrap().to_owned())
                .collect();
            names.sort();
            assert_eq!(list["pagination"]["count"], names.len(), "{list}");
            names
        }
    };
    assert_eq!(found("TEAM").await, ["Beta-Team", "alpha-team"]);
    assert_eq!(found("eta-t").await, ["Beta-Team"]);
    assert_eq!(
        found("ma").await,
        ["gamma"],
        "two characters: no index, same answer"
    );
    assert_eq!(found("r_5").await, ["under_50x"], "a wildcard is text");
    assert!(
        found("a\"b OR c").await.is_empty(),
        "the query language is text too"
    );
    assert!(found("%").await.is_empty());
    assert!(found("zzz").await.is_empty());
    let beta = &pks["Beta-Team"];
    let (status, _) = admin_json(
        &env,
        Method::PATCH,
        &format!("{BASE}{beta}/"),
        json!({"name": "delta-squad"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found("team").await, ["alpha-team"]);
    assert_eq!(found("SQUAD").await, ["delta-squad"]);
    let alpha = &pks["alpha-team"];
    let deleted = env
        .app
        .admin(Method::DELETE, &format!("{BASE}{alpha}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert!(found("alpha").await.is_empty());
}

/// Issue 16, point 3: the totals of the active list, of `?status=all` and of a flow's list
/// are kept as tallies rather than counted, and the funnel over all invitations is summed
/// from them. After every kind of change (created, expired while the hour runs, used,
/// revoked, reissued, moved to another expiry or flow, deleted, its flow deleted) each
/// total still equals the invitations the list shows, and the funnel over all equals the
/// sum of the invitations' own.
async fn list_totals_and_funnels_follow_every_change(backend: Backend) {
    let env = start(&backend).await;
    two_stage_flow(&env).await;
    let flow = flow_pk(&env).await;
    let in_seconds = |s: i64| {
        (time::OffsetDateTime::now_utc() + time::Duration::seconds(s))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let mut pks = Vec::new();
    for (name, flow, expires) in [
        ("never", json!(flow), Value::Null),
        ("next-hours", json!(flow), json!(in_seconds(5400))),
        ("tomorrow-no-flow", Value::Null, json!(in_seconds(86_400))),
        ("expired-yesterday", json!(flow), json!(in_seconds(-86_400))),
        ("expires-at-once", json!(flow), json!(in_seconds(4))),
        ("to-be-used", json!(flow), Value::Null),
        ("to-be-revoked", json!(flow), json!(in_seconds(600))),
    ] {
        let (status, created) = admin_json(
            &env,
            Method::POST,
            BASE,
            json!({"name": name, "flow": flow, "expires": expires, "single_use": true,
                   "fixed_data": {"email": format!("{name}@example.com")}}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        pks.push(created["pk"].as_str().unwrap().to_owned());
    }
    let env = &env;
    let totals = |step: &'static str| async move {
        let mut active = 0;
        for query in [
            "status=active",
            "status=all",
            "flow__slug=default-enrollment-flow",
            "status=all&flow__slug=default-enrollment-flow",
        ] {
            let (status, list) = admin_get(env, &format!("{BASE}?{query}&page_size=100")).await;
            assert_eq!(status, StatusCode::OK, "{list}");
            let listed = list["results"].as_array().unwrap().len();
            assert_eq!(
                list["pagination"]["count"],
                listed,
                "{step}, ?{query}: the total is the invitations listed: {:?}",
                names(&list)
            );
            if query == "status=active" {
                active = listed;
            }
            // Pages of two, read one after another, are the same list in the same order.
            let mut paged = Vec::new();
            for page in 1..=listed.div_ceil(2) {
                let (status, part) =
                    admin_get(env, &format!("{BASE}?{query}&page_size=2&page={page}")).await;
                assert_eq!(status, StatusCode::OK, "{part}");
                paged.extend(names(&part));
            }
            assert_eq!(paged, names(&list), "{step}, ?{query}: paged");
        }
        let (_, all) = admin_get(env, &format!("{BASE}?status=all&page_size=100")).await;
        let mut summed = json!({"sent": 0, "opened": 0, "started": 0, "completed": 0});
        for invitation in all["results"].as_array().unwrap() {
            let pk = invitation["pk"].as_str().unwrap();
            let (_, one) = admin_get(env, &format!("{BASE}{pk}/funnel/")).await;
            for key in ["sent", "opened", "started", "completed"] {
                summed[key] = json!(summed[key].as_i64().unwrap() + one[key].as_i64().unwrap());
            }
        }
        let (_, overall) = admin_get(env, &format!("{BASE}funnel/")).await;
        for key in ["sent", "opened", "started", "completed"] {
            assert_eq!(
                overall[key], summed[key],
                "{step}: the funnel over all: {overall}"
            );
        }
        active
    };
    assert_eq!(
        totals("created").await,
        6,
        "all but the one expired yesterday"
    );
    tokio::time::sleep(std::time::Duration::from_millis(4500)).await;
    assert_eq!(totals("expired while its hour runs").await, 5);

    let used = enroll(env, &pks[5], "tally-user").await;
    assert_eq!(used["component"], "xak-flow-redirect", "{used}");
    assert_eq!(totals("used").await, 4);

    let (status, _) = admin_json(
        env,
        Method::POST,
        &format!("{BASE}{}/revoke/", pks[6]),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(totals("revoked").await, 3);

    let (status, body) = admin_json(
        env,
        Method::POST,
        &format!("{BASE}{}/reissue/", pks[1]),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        totals("reissued: the old replaced, the new active").await,
        3
    );

    for (pk, change) in [
        (&pks[0], json!({"expires": in_seconds(-60)})),
        (&pks[3], json!({"expires": Value::Null})),
        (&pks[2], json!({"flow": flow})),
    ] {
        let (status, body) = admin_json(
            env,
            Method::PATCH,
            &format!("{BASE}{pk}/?status=all"),
            change,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(totals("moved to other expiries and flows").await, 3);

    let deleted = env
        .app
        .admin(Method::DELETE, &format!("{BASE}{}/?status=all", pks[3]))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(totals("deleted").await, 2);

    let deleted = env
        .app
        .admin(
            Method::DELETE,
            "/api/v3/flows/instances/default-enrollment-flow/",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(totals("their flow deleted").await, 2);
    // On PostgreSQL the server folds the tallies' pending changes in every five seconds:
    // they are gone from the deltas (else every read sums more of them, for ever) and
    // the totals are what they were.
    if env.db.url.starts_with("postgres") {
        let pending = || {
            env.db
                .number("SELECT COUNT(*) FROM invitation_tally_deltas")
        };
        assert!(pending().await > 0);
        let started = std::time::Instant::now();
        while pending().await > 0 {
            assert!(
                started.elapsed().as_secs() < 15,
                "the tallies were never folded"
            );
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }
    assert_eq!(totals("folded").await, 2);
}

/// `?after=`: pages by cursor, each one a seek in the list's index. Followed from the
/// empty cursor to the last page they list every invitation once, in the order of the
/// numbered pages, through ties of expiry and creation time and both parts of the order
/// (never expiring first); a page still follows when the invitation its cursor names has
/// been deleted since; a cursor that is not one, or one with a page number or another
/// order, is a 400 on the field.
async fn pages_by_cursor_walk_the_whole_list_once(backend: Backend) {
    let env = start(&backend).await;
    two_stage_flow(&env).await;
    let flow = flow_pk(&env).await;
    let mut created = Vec::new();
    for (i, expires) in [
        Value::Null,
        json!("2040-01-01T00:00:00Z"),
        Value::Null,
        json!("2040-01-01T00:00:00Z"),
        json!("2035-06-01T12:00:00Z"),
        Value::Null,
        json!("2040-01-01T00:00:00Z"),
        json!("2001-01-01T00:00:00Z"),
        json!("2035-06-01T12:00:00Z"),
        Value::Null,
        json!("2050-01-01T00:00:00Z"),
    ]
    .into_iter()
    .enumerate()
    {
        let (status, invitation) = admin_json(
            &env,
            Method::POST,
            BASE,
            json!({"name": format!("inv-{i}"), "flow": flow, "expires": expires}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{invitation}");
        created.push(invitation["pk"].as_str().unwrap().to_owned());
    }
    // Ties the tiebreak has to settle: half of them created at the same instant.
    env.db
        .execute("UPDATE invitations SET created = (SELECT MIN(created) FROM invitations) WHERE name IN ('inv-0', 'inv-2', 'inv-3', 'inv-6', 'inv-9', 'inv-10')")
        .await;

    let walk = |query: &'static str, page_size: usize| {
        let env = &env;
        async move {
            let mut walked = Vec::new();
            let mut after = String::new();
            for _ in 0..50 {
                let (status, page) = admin_get(
                    env,
                    &format!("{BASE}?{query}&page_size={page_size}&after={after}"),
                )
                .await;
                assert_eq!(status, StatusCode::OK, "{page}");
                let listed = names(&page);
                assert!(listed.len() <= page_size, "{page}");
                walked.extend(listed);
                match page["pagination"]["next_after"].as_str() {
                    Some(next) => after = next.to_owned(),
                    None => return (walked, page["pagination"]["count"].as_u64().unwrap()),
                }
            }
            panic!("?{query}: more than 50 pages of {page_size}");
        }
    };
    for query in [
        "status=all",
        "status=active",
        "status=all&search=inv",
        "flow__slug=default-enrollment-flow",
    ] {
        let (status, numbered) = admin_get(&env, &format!("{BASE}?{query}&page_size=100")).await;
        assert_eq!(status, StatusCode::OK, "{numbered}");
        let expected = names(&numbered);
        assert!(expected.len() >= 10, "?{query}: {expected:?}");
        for page_size in [1, 2, 3, 100] {
            let (walked, count) = walk(query, page_size).await;
            assert_eq!(walked, expected, "?{query}, pages of {page_size}");
            assert_eq!(count, expected.len() as u64, "?{query}");
        }
    }
    // The default order puts never-expiring invitations first.
    // (inv-5, created last, before the three created at one instant).
    let (all, _) = walk("status=all", 4).await;
    let mut never: Vec<&str> = all.iter().take(4).map(String::as_str).collect();
    assert_eq!(never[0], "inv-5", "{all:?}");
    never.sort_unstable();
    assert_eq!(never, ["inv-0", "inv-2", "inv-5", "inv-9"], "{all:?}");

    // A cursor whose invitation is gone still leads on, from where it stood.
    let (status, first) = admin_get(&env, &format!("{BASE}?status=all&page_size=5&after=")).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let cursor = first["pagination"]["next_after"]
        .as_str()
        .unwrap()
        .to_owned();
    let last_name = names(&first).pop().unwrap();
    let last_pk = created[last_name
        .trim_start_matches("inv-")
        .parse::<usize>()
        .unwrap()]
    .clone();
    let (status, _) = admin_json(
        &env,
        Method::DELETE,
        &format!("{BASE}{last_pk}/"),
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, rest) = admin_get(
        &env,
        &format!("{BASE}?status=all&page_size=100&after={cursor}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rest}");
    assert_eq!(names(&rest), all[5..].to_vec());
    assert!(rest["pagination"].get("next_after").is_none(), "{rest}");
    // Numbered pages keep authentik's envelope, without the cursor.
    assert!(first["pagination"]["next"] == 0 && numbered_has_no_cursor(&env).await);

    for (query, why) in [
        ("after=nonsense", "Invalid cursor."),
        ("after=-.1.zz", "Invalid cursor."),
        ("after=&ordering=name", "leave out ordering"),
        ("after=&page=2", "leave out page"),
    ] {
        let (status, refused) = admin_get(&env, &format!("{BASE}?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "?{query}: {refused}");
        assert!(
            refused["after"][0].as_str().unwrap().contains(why),
            "?{query}: {refused}"
        );
    }
}

async fn numbered_has_no_cursor(env: &TestEnv) -> bool {
    let (status, page) = admin_get(env, &format!("{BASE}?status=all&page_size=1")).await;
    status == StatusCode::OK
        && page["pagination"]["next"] == 2
        && page["pagination"].get("next_after").is_none()
}
