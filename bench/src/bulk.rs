//! `bench bulk`: 10 000 invitations from one CSV file, through the API (`bulk/`) and the
//! CLI (`akin invitation import`), next to the same number made one POST at a time (the
//! baseline, in the same run; one connection, as a script would, and because concurrent
//! writes on SQLite still meet "database is locked", issue 17), on SQLite and PostgreSQL.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde_json::{Value, json};

use super::{TOKEN, akin_binary, on_scratch_postgres, scratch_dir, spawn_akin_on, wait_ready};

const ROWS: usize = 10_000;
/// The flow every link opens (shipped, so nothing needs importing first).
const FLOW: &str = "default-recovery-flow";

fn csv(prefix: &str) -> String {
    let mut out = String::from("email,attributes.team\n");
    for i in 0..ROWS {
        out.push_str(&format!("{prefix}{i}@example.com,team-{}\n", i % 7));
    }
    out
}

struct Figures {
    api_rows_per_s: f64,
    cli_rows_per_s: f64,
    single_rows_per_s: f64,
}

fn measure(url: &str, dir: &std::path::Path) -> Result<Figures> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let akin = spawn_akin_on(url)?;
    wait_ready(akin.port, Instant::now())?;
    let base = format!(
        "http://127.0.0.1:{}/api/v3/stages/invitation/invitations/",
        akin.port
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(32)
        .timeout(Duration::from_secs(600))
        .build()?;

    // The API: one multipart upload.
    let body = csv("api");
    let started = Instant::now();
    let report: Value = runtime.block_on(async {
        let form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(body.into_bytes()).file_name("people.csv"),
            )
            .text("flow", FLOW);
        let response = client
            .post(format!("{base}bulk/"))
            .bearer_auth(TOKEN)
            .multipart(form)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("bulk/: {}", response.status());
        }
        anyhow::Ok(response.json().await?)
    })?;
    let api = started.elapsed();
    if report["created"].as_u64() != Some(ROWS as u64) {
        bail!("bulk/ created {} of {ROWS}", report["created"]);
    }

    // The CLI, against the same database while the server runs.
    let file = dir.join("people.csv");
    std::fs::write(&file, csv("cli"))?;
    let started = Instant::now();
    let output = Command::new(akin_binary()?)
        .args(["invitation", "import"])
        .arg(&file)
        .args(["--flow", FLOW])
        .env("AKIN_DATABASE_URL", url)
        .output()?;
    let cli = started.elapsed();
    if !output.status.success() {
        bail!(
            "akin invitation import: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    // The baseline: the same number of single creates, one after another.
    let started = Instant::now();
    runtime.block_on(async {
        for i in 0..ROWS {
            let body = json!({"name": format!("one-{i}"), "single_use": true,
                "fixed_data": {"email": format!("one{i}@example.com")}});
            let response = client
                .post(&base)
                .bearer_auth(TOKEN)
                .json(&body)
                .send()
                .await?;
            if response.status() != reqwest::StatusCode::CREATED {
                bail!("create: {}", response.status());
            }
        }
        anyhow::Ok(())
    })?;
    let single = started.elapsed();
    drop(akin);
    let per_s = |d: Duration| ROWS as f64 / d.as_secs_f64();
    Ok(Figures {
        api_rows_per_s: per_s(api),
        cli_rows_per_s: per_s(cli),
        single_rows_per_s: per_s(single),
    })
}

fn report(backend: &str, f: &Figures) {
    println!("bulk invitations on {backend}, {ROWS} rows (release build):");
    println!(
        "  API bulk/ (one CSV upload):       {:>8.0} rows/s  ({:.1} s, {:.1}× single creates)",
        f.api_rows_per_s,
        ROWS as f64 / f.api_rows_per_s,
        f.api_rows_per_s / f.single_rows_per_s
    );
    println!(
        "  CLI invitation import:            {:>8.0} rows/s  ({:.1} s, {:.1}× single creates)",
        f.cli_rows_per_s,
        ROWS as f64 / f.cli_rows_per_s,
        f.cli_rows_per_s / f.single_rows_per_s
    );
    println!(
        "  baseline: single POSTs, one by one: {:>6.0} rows/s  ({:.1} s)",
        f.single_rows_per_s,
        ROWS as f64 / f.single_rows_per_s
    );
}

pub fn run(postgres: &str) -> Result<()> {
    let dir = scratch_dir()?;
    let sqlite = measure(&format!("sqlite://{}", dir.join("akin.db").display()), &dir);
    let sqlite = sqlite?;
    report("SQLite", &sqlite);
    if postgres != "none" {
        let result = on_scratch_postgres(postgres, "bulk", |url| measure(url, &dir))?;
        report("PostgreSQL", &result);
    }
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
