//! The flow interface `/if/flow/<slug>/` as a browser without JavaScript uses it: HTML
//! forms posted back, redirects between steps, the invitation's fixed data shown read-only
//! and enforced, refusals with their reason, and the user page at the end.

use akin_testkit::{Backend, TestEnv};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, LOCATION};

use crate::flows::{self, FOR_ENROLLMENT};
use crate::start;

on_both_backends!(
    an_invitee_enrolls_through_the_html_pages_without_javascript,
    the_first_administrator_is_set_up_in_the_browser,
);

/// A browser with cookies that follows nothing by itself, so each step is seen.
pub struct PageBrowser {
    pub client: reqwest::Client,
    pub base: String,
}

impl PageBrowser {
    pub fn new(env: &TestEnv) -> PageBrowser {
        PageBrowser {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: env.app.base_url.clone(),
        }
    }

    /// GET `path`: status, `Location`, body.
    pub async fn get(&self, path: &str) -> (StatusCode, String, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let location = header(&response, LOCATION);
        if status == StatusCode::OK {
            assert!(
                header(&response, CONTENT_TYPE).starts_with("text/html"),
                "{path}"
            );
        }
        (status, location, response.text().await.unwrap())
    }

    /// Submits a form on `path` as a page of this site does (the browser sends `Origin`).
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String, String) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("Origin", &self.base)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form(fields))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let location = header(&response, LOCATION);
        (status, location, response.text().await.unwrap())
    }
}

fn form(fields: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn an_invitee_enrolls_through_the_html_pages_without_javascript(backend: Backend) {
    let env = start(&backend).await;
    flows::two_stage_flow(&env).await;
    let token = flows::invitation(
        &env,
        "html-invite",
        &format!("{{{FOR_ENROLLMENT}, single_use: true, fixed_data: {{email: jane@example.com}}}}"),
    )
    .await;
    let page = format!("/if/flow/default-enrollment-flow/?itoken={token}");
    let browser = PageBrowser::new(&env);

    // The first page: the flow's title, labelled fields, the form posting back to the
    // same address (the token kept), and the stylesheet from this server only.
    let (status, _, html) = browser.get(&page).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("<h1>Welcome to authentik!</h1>"), "{html}");
    for key in ["username", "password", "password_repeat"] {
        assert!(
            html.contains(&format!(r#"<label for="field-{key}">"#)),
            "{key}: {html}"
        );
        assert!(
            html.contains(&format!(r#"id="field-{key}" name="{key}""#)),
            "{key}: {html}"
        );
    }
    assert!(
        html.contains(&format!("itoken={token}\" novalidate")),
        "{html}"
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external resources"
    );

    // Mistakes come back on the same page, next to their field, keeping what was typed
    // (but never a password).
    let (status, _, html) = browser
        .post(
            &page,
            &[
                ("component", "ak-stage-prompt"),
                ("username", ""),
                ("password", "Corr3ct-horse"),
                ("password_repeat", "Corr3ct-horse"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(r#"aria-describedby="error-username" aria-invalid="true""#),
        "{html}"
    );
    assert!(
        html.contains(r#"<p class="field-error" id="error-username">"#),
        "{html}"
    );
    let (_, _, html) = browser
        .post(
            &page,
            &[
                ("component", "ak-stage-prompt"),
                ("username", "jane"),
                ("password", "Corr3ct-horse"),
                ("password_repeat", "other"),
            ],
        )
        .await;
    assert!(
        html.contains(r#"<div class="alert alert-danger" role="alert" id="form-errors">"#)
            && html.contains("match"),
        "{html}"
    );
    assert!(
        html.contains(r#"name="username" type="text" value="jane""#),
        "{html}"
    );
    assert!(!html.contains("Corr3ct-horse"), "{html}");

    // Corrected: post, redirect, get (no resubmission on reload).
    let (status, location, _) = browser
        .post(
            &page,
            &[
                ("component", "ak-stage-prompt"),
                ("username", "jane"),
                ("password", "Corr3ct-horse"),
                ("password_repeat", "Corr3ct-horse"),
            ],
        )
        .await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, page.as_str())
    );

    // The invitation's email is shown filled in and read-only…
    let (_, _, html) = browser.get(&page).await;
    assert!(
        html.contains(r#"name="email" type="text" value="jane@example.com""#)
            && html.contains("readonly"),
        "{html}"
    );
    // …and a different value sent anyway is not what gets written.
    let (status, _, _) = browser
        .post(
            &page,
            &[
                ("component", "ak-stage-prompt"),
                ("name", "Jane Doe"),
                ("email", "mallory@example.com"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    // The account is written and signed in; the flow ends on the user page.
    let (status, location, _) = browser.get(&page).await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, "/"));
    let (_, location, _) = browser.get("/").await;
    assert_eq!(location, "/if/user/");
    let (status, _, html) = browser.get("/if/user/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(r#"<dd id="profile-username">jane</dd>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<dd id="profile-email">jane@example.com</dd>"#),
        "{html}"
    );
    assert_eq!(
        env.db
            .number(
                "SELECT COUNT(*) FROM users WHERE username = 'jane' AND email = 'jane@example.com'"
            )
            .await,
        1
    );

    // The link, opened again elsewhere, says why it no longer works and what to do.
    let other = PageBrowser::new(&env);
    let (status, _, html) = other.get(&page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(r#"<p id="denied-reason">This invitation has already been used.</p>"#),
        "{html}"
    );
    assert!(html.contains("log in instead"), "{html}");
    assert!(html.contains("<h1>Welcome to authentik!</h1>"), "{html}");
    assert!(!html.contains("<form"), "{html}");

    // A form posted from another site is refused; nobody is signed in by it.
    let response = other
        .client
        .post(format!("{}{page}", other.base))
        .header("Origin", "https://evil.example")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(&[("component", "ak-stage-prompt")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // A wrong link is a page saying so, not the API's JSON.
    let response = other
        .client
        .get(format!("{}/if/flow/no-such-flow/", other.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(header(&response, CONTENT_TYPE).starts_with("text/html"));
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("No Flow matches the given query.")
    );

    // The user page needs someone signed in.
    let (status, location, _) = other.get("/if/user/").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        location.starts_with("/flows/-/default/authentication/"),
        "{location}"
    );
    let css = other
        .client
        .get(format!("{}/static/akin.css", other.base))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    assert_eq!(header(&css, CONTENT_TYPE), "text/css; charset=utf-8");
}

/// A first start without a bootstrap password: the log's advice, followed in a browser.
async fn the_first_administrator_is_set_up_in_the_browser(backend: Backend) {
    let options = akin_testkit::SpawnOptions {
        bootstrap: false,
        ..Default::default()
    };
    let env = akin_testkit::TestEnv::start_with(crate::BIN, &backend, &options).await;
    assert!(
        env.app
            .logs()
            .iter()
            .any(|l| l.contains("/if/flow/initial-setup/")),
        "the log points at the page"
    );
    let browser = PageBrowser::new(&env);
    let page = "/if/flow/initial-setup/";
    let (status, _, html) = browser.get(page).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(r#"<label for="field-email">"#), "{html}");
    let (status, _, _) = browser
        .post(
            page,
            &[
                ("component", "ak-stage-prompt"),
                ("email", "root@example.com"),
                ("password", "Very-secret-1"),
                ("password_repeat", "Very-secret-1"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, location, _) = browser.get(page).await;
    assert_eq!(location, "/");
    let (status, _, html) = browser.get("/if/admin/invitations/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Signed in as <strong>akadmin</strong>"),
        "{html}"
    );
    // Closed from now on.
    let (_, _, html) = PageBrowser::new(&env).get(page).await;
    assert!(html.contains(r#"<p id="denied-reason">"#), "{html}");
}
