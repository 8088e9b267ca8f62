//! The seed's walkthrough in Debian's Chromium, driven by playwright-core
//! (`e2e/walkthrough.mjs`): admin login, Flows -> Import, Invitations -> Create, the link,
//! the invitee's enrollment with JavaScript and without it using only the keyboard, the
//! refused second use, logging out, and no console errors. Screenshots of every step go to `target/e2e-screenshots/`.
//!
//! Needs `/usr/bin/chromium` (`apt-get install chromium`) and `npm ci` in `e2e/`; skipped
//! without them unless `AKIN_TEST_REQUIRE_BROWSER` is set (as CI sets it after installing
//! both). One backend is enough here: the pages run the same server code on either.

use std::path::PathBuf;

use akin_testkit::{ADMIN_PASSWORD, Backend};

use crate::start;

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::test]
async fn the_seed_walkthrough_works_in_chromium() {
    let e2e = repository().join("e2e");
    let chromium =
        std::env::var_os("CHROMIUM").map_or(PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    let ready = chromium.exists() && e2e.join("node_modules/playwright-core").exists();
    if !ready {
        assert!(
            std::env::var_os("AKIN_TEST_REQUIRE_BROWSER").is_none(),
            "AKIN_TEST_REQUIRE_BROWSER is set but {} or e2e/node_modules is missing",
            chromium.display()
        );
        eprintln!("skipped: apt-get install chromium && (cd e2e && npm ci) to run this test");
        return;
    }
    let env = start(&Backend::Sqlite).await;
    let screenshots = repository().join("target/e2e-screenshots");
    let output = tokio::process::Command::new("node")
        .arg(e2e.join("walkthrough.mjs"))
        .arg(&env.app.base_url)
        .arg("akadmin")
        .arg(ADMIN_PASSWORD)
        .arg(repository().join("../shared/blueprints/example/flows-enrollment-2-stage.yaml"))
        .arg(&screenshots)
        .env("CHROMIUM", &chromium)
        .output()
        .await
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("walkthrough passed"),
        "{stdout}\n{}\nscreenshots: {}",
        String::from_utf8_lossy(&output.stderr),
        screenshots.display()
    );
    eprintln!("{stdout}screenshots: {}", screenshots.display());
}
