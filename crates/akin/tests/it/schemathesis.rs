//! Schemathesis (PyPI) against akin's own `/api/v3/schema/`: generated requests, valid and
//! invalid, to the invitation, flow, stage and user endpoints; no response may be a 5xx,
//! and every response must match the schema. Skipped without schemathesis unless
//! `AKIN_TEST_REQUIRE_SCHEMATHESIS` is set (CI installs it into a virtualenv and points
//! `AKIN_SCHEMATHESIS` at it).
//!
//! Writes to `/core/users/{id}/` are left out: generated data there deletes or deactivates
//! the run's own administrator, after which every request is a 403 and nothing is tested.

use akin_testkit::{ADMIN_TOKEN, Backend};

use crate::{flows, start};

on_both_backends!(generated_requests_get_no_server_error_and_match_the_schema);

fn schemathesis() -> Option<String> {
    let command = std::env::var("AKIN_SCHEMATHESIS").unwrap_or_else(|_| "schemathesis".into());
    std::process::Command::new(&command)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
        .then_some(command)
}

/// One schemathesis run over the paths matching `paths`, with `methods` selecting methods.
async fn run(command: &str, schema: &str, paths: &str, methods: &[&str]) -> std::process::Output {
    tokio::process::Command::new(command)
        .args(["run", schema])
        .args(["-H", &format!("Authorization: Bearer {ADMIN_TOKEN}")])
        .args(["--checks", "not_a_server_error,response_schema_conformance"])
        .args(["--max-examples", "15", "--seed", "1", "--no-color"])
        .args(["--include-path-regex", paths])
        .args(["--exclude-path-regex", "import"])
        .args(methods)
        .output()
        .await
        .expect("run schemathesis")
}

async fn generated_requests_get_no_server_error_and_match_the_schema(backend: Backend) {
    let Some(command) = schemathesis() else {
        assert!(
            std::env::var_os("AKIN_TEST_REQUIRE_SCHEMATHESIS").is_none(),
            "AKIN_TEST_REQUIRE_SCHEMATHESIS is set but schemathesis does not run"
        );
        eprintln!("skipped: pip install schemathesis==4.32.5 to run this test");
        return;
    };
    let env = start(&backend).await;
    // Something to find: the seed's flow, its stages and prompts, and an invitation.
    flows::two_stage_flow(&env).await;
    flows::invitation(&env, "fuzzed", &format!("{{{}}}", flows::FOR_ENROLLMENT)).await;
    let schema = format!("{}/api/v3/schema/", env.app.base_url);
    // Reads everywhere; writes except to users (see above).
    let output = run(
        &command,
        &schema,
        "^/api/v3/(stages/|flows/instances/|flows/bindings/|policies/|core/users/)",
        &[
            "--exclude-method",
            "PUT",
            "--exclude-method",
            "PATCH",
            "--exclude-method",
            "DELETE",
        ],
    )
    .await;
    let writes = run(
        &command,
        &schema,
        "^/api/v3/(stages/|flows/instances/|flows/bindings/|policies/)",
        &[
            "--include-method",
            "PUT",
            "--include-method",
            "PATCH",
            "--include-method",
            "DELETE",
        ],
    )
    .await;
    let mut stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    stdout.push_str(&String::from_utf8_lossy(&writes.stdout));
    let cases: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains(" generated, "))
        .collect();
    assert!(
        output.status.success() && writes.status.success() && cases.len() == 2,
        "{stdout}\n{}{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&writes.stderr)
    );
    eprintln!("schemathesis on {backend:?}: {}", cases.join("; "));
}
