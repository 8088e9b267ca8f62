//! The seed's walkthrough in Debian's Chromium, driven by playwright-core
//! (`e2e/walkthrough.mjs`): admin login, Flows -> Import, Invitations -> Create, the link,
//! the invitee's enrollment with JavaScript and without it using only the keyboard, the
//! refused second use, logging out, and no console errors. Screenshots of every step go to `target/e2e-screenshots/`.
//!
//! Needs `/usr/bin/chromium` (`apt-get install chromium`) and `npm ci` in `e2e/`; skipped
//! without them unless `AKIN_TEST_REQUIRE_BROWSER` is set (as CI sets it after installing
//! both). One backend is enough here: the pages run the same server code on either.

use std::path::PathBuf;

use akin_testkit::{ADMIN_PASSWORD, Backend, TestApp, TestEnv};

use crate::mail::{self, SmtpSink};
use crate::{BIN, start};

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Chromium, when it and playwright-core are installed (else the test is skipped, or fails
/// under `AKIN_TEST_REQUIRE_BROWSER`).
fn chromium() -> Option<PathBuf> {
    let chromium =
        std::env::var_os("CHROMIUM").map_or(PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    let ready = chromium.exists()
        && repository()
            .join("e2e/node_modules/playwright-core")
            .exists();
    if !ready {
        assert!(
            std::env::var_os("AKIN_TEST_REQUIRE_BROWSER").is_none(),
            "AKIN_TEST_REQUIRE_BROWSER is set but {} or e2e/node_modules is missing",
            chromium.display()
        );
        eprintln!("skipped: apt-get install chromium && (cd e2e && npm ci) to run this test");
        return None;
    }
    Some(chromium)
}

/// Where the scripts put their screenshots.
fn screenshots() -> PathBuf {
    repository().join("target/e2e-screenshots")
}

/// Runs `node SCRIPT ARGS… SCREENSHOT_DIR` (the arguments from `args`) in Chromium and
/// asserts it printed "`name` passed"; its output.
async fn run_script(
    chromium: &std::path::Path,
    script: PathBuf,
    name: &str,
    args: impl FnOnce(&mut tokio::process::Command),
) -> String {
    let mut command = tokio::process::Command::new("node");
    command.arg(script);
    args(&mut command);
    let output = command
        .arg(screenshots())
        .env("CHROMIUM", chromium)
        .output()
        .await
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success() && stdout.contains(&format!("{name} passed")),
        "{stdout}\n{}\nscreenshots: {}",
        String::from_utf8_lossy(&output.stderr),
        screenshots().display()
    );
    stdout
}

#[tokio::test]
async fn the_seed_walkthrough_works_in_chromium() {
    let e2e = repository().join("e2e");
    let Some(chromium) = chromium() else {
        return;
    };
    let env = start(&Backend::Sqlite).await;
    let stdout = run_script(
        &chromium,
        e2e.join("walkthrough.mjs"),
        "walkthrough",
        |command| {
            command.arg(&env.app.base_url);
            command.arg("akadmin");
            command.arg(ADMIN_PASSWORD);
            command.arg(
                repository().join("../shared/blueprints/example/flows-enrollment-2-stage.yaml"),
            );
        },
    )
    .await;
    eprintln!("{stdout}screenshots: {}", screenshots().display());
}

/// Issue 14, point 5, in Chromium: "Forgot password?" on the sign-in page, the link the
/// SMTP server received opened in a second browser, a new password, signed in; the new
/// password works afterwards and the old one does not (`e2e/recovery.mjs`).
#[tokio::test]
async fn a_forgotten_password_is_reset_in_chromium() {
    let Some(chromium) = chromium() else {
        return;
    };
    if !mail::aiosmtpd_available() {
        return;
    }
    let db = akin_testkit::TestDatabase::create(&Backend::Sqlite).await;
    let port = mail::free_port();
    let mail_dir = db.dir().join("mail");
    let sink = SmtpSink::start(&mail_dir, port).await;
    let app = TestApp::start(BIN, &db.url, &mail::mail_options(port, &[])).await;
    let env = TestEnv { app, db };
    mail::user_with_password(&env, "rosa", "rosa@example.com", "Old-passw0rd").await;
    run_script(
        &chromium,
        repository().join("e2e/recovery.mjs"),
        "recovery",
        |command| {
            command.arg(&env.app.base_url);
            command.arg(&mail_dir);
            command.args(["rosa", "rosa@example.com", "Old-passw0rd", "New-passw0rd-2"]);
        },
    )
    .await;
    sink.stop().await;
}

/// Issue 15, points 9 and 11, in Chromium: every admin page and the user page at 390×844 and
/// 1366×900, light and dark, never scroll sideways and keep the navigation short at 390 px
/// (`e2e/responsive.mjs`). The invitations page has rows and the logs page events first.
#[tokio::test]
async fn the_admin_pages_fit_a_phone_and_a_laptop_in_light_and_dark() {
    let Some(chromium) = chromium() else {
        return;
    };
    let env = start(&Backend::Sqlite).await;
    crate::flows::two_stage_flow(&env).await;
    crate::flows::invitation(
        &env,
        "a-rather-long-invitation-name-that-could-push-a-table-wide",
        &format!(
            "{{{}, fixed_data: {{email: someone-with-a-long-address@a-long-domain.example.com}}}}",
            crate::flows::FOR_ENROLLMENT
        ),
    )
    .await;
    run_script(
        &chromium,
        repository().join("e2e/responsive.mjs"),
        "responsive",
        |command| {
            command.arg(&env.app.base_url);
            command.arg("akadmin");
            command.arg(ADMIN_PASSWORD);
        },
    )
    .await;
}

/// Issue 15's browser test (`e2e/invitations.mjs`), at 1366×900 and 390×844 in a browser
/// set to Berlin's time: Create on its own page with the expiry in the browser's zone, the
/// time shown back in it, preview (not counted), the funnel counting a visit, revoke and the
/// refused link, a CSV upload with its per-row results; axe-core finds nothing on any page.
#[tokio::test]
async fn the_invitation_lifecycle_works_at_both_sizes_with_no_accessibility_violations() {
    let Some(chromium) = chromium() else {
        return;
    };
    let env = start(&Backend::Sqlite).await;
    crate::flows::two_stage_flow(&env).await;
    run_script(
        &chromium,
        repository().join("e2e/invitations.mjs"),
        "invitations",
        |command| {
            command.arg(&env.app.base_url);
            command.arg("akadmin");
            command.arg(ADMIN_PASSWORD);
        },
    )
    .await;
}
