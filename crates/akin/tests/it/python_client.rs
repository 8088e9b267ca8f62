//! authentik's own Python client (`authentik-client` 2026.8.5 from PyPI) against the real
//! server. Skipped when the package is not installed, unless
//! `AKIN_TEST_REQUIRE_PYTHON_CLIENT` is set (as CI sets it after installing it into a
//! virtualenv whose interpreter `AKIN_TEST_PYTHON` names; `python3` otherwise).

use akin_testkit::{ADMIN_TOKEN, Backend};

use crate::start;

on_both_backends!(authentiks_python_client_works_unchanged);

fn python() -> String {
    std::env::var("AKIN_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn client_installed() -> bool {
    std::process::Command::new(python())
        .args(["-c", "import authentik_client"])
        .output()
        .is_ok_and(|o| o.status.success())
}

async fn authentiks_python_client_works_unchanged(backend: Backend) {
    if !client_installed() {
        assert!(
            std::env::var_os("AKIN_TEST_REQUIRE_PYTHON_CLIENT").is_none(),
            "AKIN_TEST_REQUIRE_PYTHON_CLIENT is set but `import authentik_client` fails"
        );
        eprintln!("skipped: pip install authentik-client==2026.8.5 to run this test");
        return;
    }
    let env = start(&backend).await;
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let output = tokio::process::Command::new(python())
        .arg(dir.join("tests/python/client_compat.py"))
        .arg(&env.app.base_url)
        .arg(ADMIN_TOKEN)
        .arg(dir.join("../../../shared/blueprints/example/flows-enrollment-2-stage.yaml"))
        .output()
        .await
        .expect("run python3");
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
