//! The admin interface `/if/admin/` over HTTP, as a browser without JavaScript uses it:
//! who may open it, CSRF, invitations created, edited and deleted through forms (with their
//! errors), a refused import that changes nothing, and deactivating a user.

use akin_testkit::{ADMIN_PASSWORD, Backend, TestEnv};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::flow_pages::PageBrowser;
use crate::{admin_get, admin_json, flows, start};

on_both_backends!(
    the_admin_pages_manage_invitations_through_forms,
    the_admin_pages_create_and_change_policies_through_forms,
);

/// Logs `username` in through the default authentication flow's pages.
pub(crate) async fn log_in(env: &TestEnv, username: &str, password: &str) -> PageBrowser {
    let browser = PageBrowser::new(env);
    let (_, location, _) = browser.get("/if/admin/").await;
    assert_eq!(
        location,
        "/flows/-/default/authentication/?next=%2Fif%2Fadmin%2F"
    );
    let (_, flow_page, _) = browser.get(&location).await;
    browser
        .post(
            &flow_page,
            &[
                ("component", "ak-stage-identification"),
                ("uid_field", username),
            ],
        )
        .await;
    browser
        .post(
            &flow_page,
            &[("component", "ak-stage-password"), ("password", password)],
        )
        .await;
    let (status, location, _) = browser.get(&flow_page).await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/if/admin/")
    );
    browser
}

pub(crate) fn csrf_token(html: &str) -> String {
    let marker = r#"name="csrf_token" value=""#;
    let start = html.find(marker).expect("a CSRF token") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

async fn the_admin_pages_manage_invitations_through_forms(backend: Backend) {
    let env = start(&backend).await;
    flows::two_stage_flow(&env).await;
    let (_, flow) = admin_get(&env, "/api/v3/flows/instances/default-enrollment-flow/").await;
    let flow_pk = flow["pk"].as_str().unwrap().to_owned();

    let admin = log_in(&env, "akadmin", ADMIN_PASSWORD).await;
    // An admin address that does not exist is a page (issue 15, point 9).
    let response = admin
        .client
        .get(format!("{}/if/admin/no-such-page/", admin.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(response.text().await.unwrap().contains("Not found"));
    let (status, _, html) = admin.get("/if/admin/invitations/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(r#"aria-current="page">Invitations</a>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"id="empty-state""#) && html.contains("An invitation is a link"),
        "the empty page says what an invitation is: {html}"
    );
    // Create is a page of its own, reached from the list.
    assert!(
        html.contains(r#"<a class="button" href="/if/admin/invitations/new/">"#),
        "{html}"
    );
    let (status, _, html) = admin.get("/if/admin/invitations/new/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Default enrollment Flow (default-enrollment-flow)"),
        "{html}"
    );
    let token = csrf_token(&html);

    // A form without the session's token is refused and creates nothing.
    let (status, _, _) = admin
        .post(
            "/if/admin/invitations/",
            &[("csrf_token", "forged"), ("name", "x"), ("flow", &flow_pk)],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Mistakes come back on the form, with what was typed.
    let (status, _, html) = admin
        .post(
            "/if/admin/invitations/",
            &[
                ("csrf_token", &token),
                ("name", "jane"),
                ("flow", &flow_pk),
                ("fixed_data", "email: ["),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    assert!(
        html.contains(r#"id="error-fixed-data">Not valid YAML or JSON: line 2:1"#),
        "{html}"
    );
    assert!(
        html.contains(r#"name="name" type="text" required value="jane""#),
        "{html}"
    );
    let (status, _, html) = admin
        .post(
            "/if/admin/invitations/",
            &[
                ("csrf_token", &token),
                ("name", "not a slug"),
                ("flow", &flow_pk),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        html.contains(r#"<p class="field-error" id="error-name">"#),
        "{html}"
    );

    // Created, for a domain and with two groups: the list opens the new row with its link.
    let mut group_pks = Vec::new();
    for name in ["team-blue", "team-green"] {
        let (_, group) = admin_json(
            &env,
            Method::POST,
            "/api/v3/core/groups/",
            json!({"name": name}),
        )
        .await;
        group_pks.push(group["pk"].as_str().unwrap().to_owned());
    }
    let (_, _, html) = admin.get("/if/admin/invitations/new/").await;
    assert!(html.contains(">team-green</option>"), "{html}");
    let (status, _, html) = admin
        .post(
            "/if/admin/invitations/",
            &[
                ("csrf_token", &token),
                ("name", "wrong-rule"),
                ("flow", &flow_pk),
                ("allowed_email", "example.com"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains(r#"id="error-allowed-email""#), "{html}");
    let (status, location, _) = admin
        .post(
            "/if/admin/invitations/",
            &[
                ("csrf_token", &token),
                ("name", "jane"),
                ("flow", &flow_pk),
                ("expires", "2031-01-02T03:04"),
                ("fixed_data", "email: jane@example.com\nteam: blue"),
                ("single_use", "true"),
                ("allowed_email", "@example.com"),
                ("groups", &group_pks[0]),
                ("groups", &group_pks[1]),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, created) = admin_get(&env, "/api/v3/stages/invitation/invitations/?name=jane").await;
    assert_eq!(created["results"][0]["allowed_email"], "@example.com");
    assert_eq!(created["results"][0]["groups"], json!(group_pks));
    let (_, list) = admin_get(&env, "/api/v3/stages/invitation/invitations/?name=jane").await;
    let invitation = &list["results"][0];
    let pk = invitation["pk"].as_str().unwrap();
    assert_eq!(
        invitation["fixed_data"],
        json!({"email": "jane@example.com", "team": "blue"})
    );
    assert_eq!(invitation["expires"], "2031-01-02T03:04:00Z");
    assert_eq!(invitation["single_use"], true);
    assert_eq!(invitation["created_by"]["username"], "akadmin");
    let (_, _, html) = admin.get(&location).await;
    assert!(
        html.contains(&format!(r#"id="invitation-{pk}" open"#)),
        "{html}"
    );
    assert!(html.contains("Created invitation jane."), "{html}");
    // Said once, and only by the server: a reload is quiet, and words put in an address
    // made elsewhere are not shown.
    let (_, _, again) = admin.get(&location).await;
    assert!(!again.contains("Created invitation jane."), "{again}");
    let (_, _, spoofed) = admin
        .get("/if/admin/invitations/?notice=Call+us+at+555&sent_to=evil")
        .await;
    assert!(
        !spoofed.contains("Call us") && !spoofed.contains("evil"),
        "{spoofed}"
    );
    // An expiry already past, and a name taken: created, and the page says both.
    let (status, location, _) = admin
        .post(
            "/if/admin/invitations/",
            &[
                ("csrf_token", &token),
                ("name", "jane"),
                ("flow", &flow_pk),
                ("expires", "2001-01-01T00:00"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, late) = admin.get(&location).await;
    assert!(late.contains("Its expiry has already passed"), "{late}");
    assert!(
        late.contains("1 other invitations have this name too."),
        "{late}"
    );
    let late_pk = location
        .split("opened=")
        .nth(1)
        .unwrap()
        .split(['&', '#'])
        .next()
        .unwrap()
        .to_owned();
    let deleted = env
        .app
        .admin(
            Method::DELETE,
            &format!("/api/v3/stages/invitation/invitations/{late_pk}/?status=all"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let link = format!("/if/flow/default-enrollment-flow/?itoken={pk}");
    assert!(html.contains(&link.replace('/', "&#x2f;")), "{html}");
    let qr = admin
        .client
        .get(format!("{}/if/admin/invitations/{pk}/qr.svg", admin.base))
        .send()
        .await
        .unwrap();
    assert_eq!(qr.headers()["content-type"], "image/svg+xml");
    assert!(qr.text().await.unwrap().contains("<svg"));

    // Edited: never expires, used any number of times.
    let edit = format!("/if/admin/invitations/{pk}/edit/");
    let (_, _, html) = admin.get(&edit).await;
    assert!(html.contains(r#"value="2031-01-02T03:04""#), "{html}");
    let (status, _, _) = admin
        .post(
            &edit,
            &[
                ("csrf_token", &token),
                ("name", "jane2"),
                ("flow", &flow_pk),
                ("expires", ""),
                ("fixed_data", "{}"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, changed) = admin_get(
        &env,
        &format!("/api/v3/stages/invitation/invitations/{pk}/"),
    )
    .await;
    assert_eq!(
        (changed["name"].as_str(), changed["expires"].is_null()),
        (Some("jane2"), true)
    );
    assert_eq!(
        (
            changed["single_use"].as_bool(),
            changed["max_uses"].is_null()
        ),
        (Some(false), true)
    );

    // Reissued from its row (the new one opens, saying so), and the new one revoked. The
    // expiry is typed in the browser's zone, two hours east of UTC, which its script sends.
    let (status, location, _) = admin
        .post(
            &format!("/if/admin/invitations/{pk}/reissue/"),
            &[
                ("csrf_token", &token),
                ("expires", "2035-05-06T07:08"),
                ("expires_offset", "120"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, html) = {
        let (_, _, html) = admin.get(&location).await;
        ((), html)
    };
    assert!(
        html.contains("Reissued: this is the new invitation"),
        "{html}"
    );
    let (_, old) = admin_get(
        &env,
        &format!("/api/v3/stages/invitation/invitations/{pk}/?status=all"),
    )
    .await;
    let new = old["replaced_by"].as_str().expect("replaced").to_owned();
    assert!(location.contains(&new), "{location}");
    let (_, reissued) = admin_get(
        &env,
        &format!("/api/v3/stages/invitation/invitations/{new}/"),
    )
    .await;
    assert_eq!(reissued["expires"], "2035-05-06T05:08:00Z");
    let (status, location, _) = admin
        .post(
            &format!("/if/admin/invitations/{new}/revoke/"),
            &[("csrf_token", &token)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, html) = admin.get(&location).await;
    assert!(
        html.contains("Revoked: its link is refused from now on."),
        "{html}"
    );
    assert!(html.contains("by akadmin"), "{html}");
    let (_, _, html) = admin.get("/if/admin/invitations/?status=revoked").await;
    assert!(html.contains(&format!("invitation-{new}")), "{html}");
    // Reissuing a revoked one says why not, on the page.
    let (_, location, _) = admin
        .post(
            &format!("/if/admin/invitations/{new}/reissue/"),
            &[("csrf_token", &token)],
        )
        .await;
    let (_, _, html) = admin.get(&location).await;
    assert!(html.contains("cannot be reissued"), "{html}");
    // Without the CSRF token, nothing happens.
    let (status, _, _) = admin
        .post(&format!("/if/admin/invitations/{new}/revoke/"), &[])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A CSV file imported from its own page: a result per row, the expiry typed in the
    // browser's zone (an hour east of UTC).
    let (status, _, html) = admin.get("/if/admin/invitations/import/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(r#"<label for="import-file">CSV file</label>"#),
        "{html}"
    );
    let form = reqwest::multipart::Form::new()
        .text("csrf_token", token.clone())
        .text("flow", "default-enrollment-flow")
        .text("expires", "2030-01-01T00:30")
        .text("expires_offset", "60")
        .part(
            "file",
            reqwest::multipart::Part::bytes(
                b"email,groups\nkim@example.com,team-blue\nbroken,\n".to_vec(),
            )
            .file_name("people.csv"),
        );
    let response = admin
        .client
        .post(format!("{}/if/admin/invitations/import/", admin.base))
        .header("Origin", &admin.base)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        env.app.logs().join("\n")
    );
    let html = response.text().await.unwrap();
    assert!(
        html.contains("1 of 2 rows created, 1 with errors"),
        "{html}"
    );
    assert!(
        html.contains("kim@example.com") && html.contains("is not an email address"),
        "{html}"
    );
    let (_, kim) = admin_get(
        &env,
        "/api/v3/stages/invitation/invitations/?name=kim-example-com",
    )
    .await;
    assert_eq!(kim["results"][0]["groups"], json!([group_pks[0]]));
    assert_eq!(kim["results"][0]["expires"], "2029-12-31T23:30:00Z");
    // Without the token, nothing is imported.
    let form = reqwest::multipart::Form::new()
        .text("flow", "default-enrollment-flow")
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"email\nlee@example.com\n".to_vec())
                .file_name("p.csv"),
        );
    let response = admin
        .client
        .post(format!("{}/if/admin/invitations/import/", admin.base))
        .header("Origin", &admin.base)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // Deleted after a confirmation page.
    let delete = format!("/if/admin/invitations/{pk}/delete/");
    let (_, _, html) = admin.get(&delete).await;
    assert!(html.contains("Delete <strong>jane2</strong>?"), "{html}");
    let (status, _, _) = admin.post(&delete, &[("csrf_token", &token)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _) = admin_get(
        &env,
        &format!("/api/v3/stages/invitation/invitations/{pk}/?status=all"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A flow's delete page says what goes with it.
    let (_, _, html) = admin
        .get("/if/admin/flows/default-enrollment-flow/delete/")
        .await;
    assert!(
        html.contains(r#"<ul id="used-by">"#) && html.contains("deleted too"),
        "{html}"
    );
    assert!(
        html.contains("Invitation links to it stop working"),
        "{html}"
    );
    let (_, _, html) = admin
        .get("/if/admin/flows/default-authentication-flow/delete/")
        .await;
    assert!(html.contains("nobody (you included) can sign in"), "{html}");
    // The Logs page: readable times, a line per event, the context on demand.
    let (_, _, html) = admin.get("/if/admin/events/").await;
    assert!(html.contains("<details><summary>invitation "), "{html}");
    assert!(html.contains(" UTC</time></td>"), "{html}");

    // A user: deactivated after confirming, and signed out of their sessions.
    let (status, user) = admin_json(
        &env,
        Method::POST,
        "/api/v3/core/users/",
        json!({"username": "bob", "name": "Bob"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let user_pk = user["pk"].as_i64().unwrap();
    let (status, _) = admin_json(
        &env,
        Method::POST,
        &format!("/api/v3/core/users/{user_pk}/set_password/"),
        json!({"password": "Bob-pa55-word"}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let bob = PageBrowser::new(&env);
    let (_, location, _) = bob.get("/if/admin/").await;
    let (_, flow_page, _) = bob.get(&location).await;
    bob.post(
        &flow_page,
        &[
            ("component", "ak-stage-identification"),
            ("uid_field", "bob"),
        ],
    )
    .await;
    bob.post(
        &flow_page,
        &[
            ("component", "ak-stage-password"),
            ("password", "Bob-pa55-word"),
        ],
    )
    .await;
    bob.get(&flow_page).await;
    // Not an administrator: refused, but signed in.
    let (status, _, html) = bob.get("/if/admin/invitations/").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
    assert_eq!(bob.get("/if/user/").await.0, StatusCode::OK);

    let deactivate = format!("/if/admin/users/{user_pk}/deactivate/");
    let (_, _, html) = admin.get(&deactivate).await;
    assert!(html.contains("Deactivate bob?"), "{html}");
    let (status, _, _) = admin.post(&deactivate, &[("csrf_token", &token)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, html) = admin.get(&format!("/if/admin/users/{user_pk}/")).await;
    assert!(html.contains(r#"<dd id="user-active">no</dd>"#), "{html}");
    assert_eq!(
        bob.get("/if/user/").await.0,
        StatusCode::SEE_OTHER,
        "signed out"
    );

    // A refused import shows why and changes nothing.
    let form = reqwest::multipart::Form::new()
        .text("csrf_token", token.clone())
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"version: 1\nentries:\n  - model: authentik_flows.flow\n    identifiers: {slug: half}\n    attrs: {designation: nope}\n".to_vec())
                .file_name("bad.yaml"),
        );
    let response = admin
        .client
        .post(format!("{}/if/admin/flows/import/", admin.base))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = response.text().await.unwrap();
    assert!(html.contains("nothing was changed"), "{html}");
    assert_eq!(
        env.db
            .number("SELECT COUNT(*) FROM flows WHERE slug = 'half'")
            .await,
        0
    );
}

/// Customization → Policies: a form per kind, its fields from the catalog, its errors the
/// API's next to their fields; nothing saved until the form is right; changes kept.
async fn the_admin_pages_create_and_change_policies_through_forms(backend: Backend) {
    let env = start(&backend).await;
    let admin = log_in(&env, "akadmin", ADMIN_PASSWORD).await;
    let (status, _, html) = admin.get("/if/admin/policies/").await;
    assert_eq!(status, StatusCode::OK);
    let html = html.replace("&#x2f;", "/");
    for kind in ["expressionpolicy", "passwordpolicy", "reputationpolicy"] {
        assert!(
            html.contains(&format!(r#"href="/if/admin/policies/new/{kind}/""#)),
            "{kind}: {html}"
        );
    }
    let new = "/if/admin/policies/new/passwordpolicy/";
    let (status, _, html) = admin.get(new).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(r#"<label for="field-length_min">Minimum length</label>"#),
        "{html}"
    );
    assert!(html.contains(r#"id="field-check_static_rules" name="check_static_rules" type="checkbox" value="true" checked"#), "{html}");
    let token = csrf_token(&html);

    // A careless value: the API's words next to the field, nothing saved.
    let (status, _, html) = admin
        .post(
            new,
            &[
                ("csrf_token", &token),
                ("name", "form-made"),
                ("length_min", "-1"),
                ("check_static_rules", "true"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        html.contains(r#"<p class="field-error" id="error-length_min">Ensure this value is greater than or equal to 0.</p>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"value="form-made""#),
        "what was typed stays: {html}"
    );
    let (_, none) = admin_get(&env, "/api/v3/policies/password/?name=form-made").await;
    assert_eq!(none["pagination"]["count"], 0);

    // Right: saved, with the unchecked boxes off and the untouched numbers at their defaults.
    let (status, location, _) = admin
        .post(
            new,
            &[
                ("csrf_token", &token),
                ("name", "form-made"),
                ("length_min", "10"),
                ("amount_digits", ""),
                ("check_static_rules", "true"),
                ("check_zxcvbn", "true"),
            ],
        )
        .await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/if/admin/policies/")
    );
    let (_, saved) = admin_get(&env, "/api/v3/policies/password/?name=form-made").await;
    let policy = &saved["results"][0];
    assert_eq!(policy["length_min"], 10, "{saved}");
    assert_eq!(policy["amount_digits"], 0);
    assert_eq!(policy["check_zxcvbn"], true);
    assert_eq!(policy["check_have_i_been_pwned"], false);
    let (_, _, html) = admin.get("/if/admin/policies/").await;
    assert!(html.contains("Saved password policy form-made."), "{html}");

    // Changed through its own page, which shows what is stored.
    let edit = format!("/if/admin/policies/{}/", policy["pk"].as_str().unwrap());
    let (status, _, html) = admin.get(&edit).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"id="field-length_min" name="length_min" type="number" inputmode="numeric" value="10""#), "{html}");
    let (status, _, _) = admin
        .post(
            &edit,
            &[
                ("csrf_token", &token),
                ("name", "form-made"),
                ("length_min", "12"),
                ("check_static_rules", "true"),
                ("check_zxcvbn", "true"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, changed) = admin_get(
        &env,
        &format!("/api/v3/policies/all/{}/", policy["pk"].as_str().unwrap()),
    )
    .await;
    assert_eq!(changed["name"], "form-made", "{changed}");
    let (_, changed) = admin_get(&env, "/api/v3/policies/password/?name=form-made").await;
    assert_eq!(changed["results"][0]["length_min"], 12);

    // A reputation policy that checks nothing: authentik's words, above the form.
    let (status, _, html) = admin
        .post(
            "/if/admin/policies/new/reputationpolicy/",
            &[
                ("csrf_token", &token),
                ("name", "checks-nothing"),
                ("threshold", "-5"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        html.contains("Either IP or Username must be checked"),
        "{html}"
    );
    // Without the form's token nothing happens; an unknown kind is no page.
    let (status, _, _) = admin
        .post(new, &[("name", "no-token"), ("check_static_rules", "true")])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = admin.get("/if/admin/policies/new/nosuchpolicy/").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, all) = admin_get(&env, "/api/v3/policies/all/?search=form-made").await;
    assert_eq!(all["pagination"]["count"], 1, "{all}");
    let (_, refused) = admin_get(&env, "/api/v3/policies/all/?search=no-token").await;
    assert_eq!(refused["pagination"]["count"], 0, "{refused}");
}
