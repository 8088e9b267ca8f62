//! `bench mail`: mail through the outbox to a real SMTP server on loopback (aiosmtpd, the
//! tests' `smtp_sink.py`, with the Python `AKIN_BENCH_PYTHON` names): the time from
//! `send_email/` answering to the message being in the server's hands (median of 20), and
//! messages delivered per second when 1 000 are queued at once. The sink is Python: at high
//! rates it, not akin, may be the limit.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::{TOKEN, free_port, median, scratch_dir, spawn_akin_with, wait_ready};

struct Sink(Child);

impl Drop for Sink {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

fn start_sink(dir: &Path, port: u16) -> Result<Sink> {
    let python = std::env::var("AKIN_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/akin/tests/python/smtp_sink.py");
    let mut child = Command::new(&python)
        .arg(script)
        .arg(dir)
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("start the SMTP sink with {python}"))?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("sink stdout")?).read_line(&mut line)?;
    if line.trim() != "ready" {
        bail!("the SMTP sink did not start (is aiosmtpd installed for {python}?)");
    }
    Ok(Sink(child))
}

fn delivered(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .count()
        })
        .unwrap_or(0)
}

/// Waits until `dir` holds `n` messages; how long that took.
fn wait_delivered(dir: &Path, n: usize, started: Instant) -> Result<Duration> {
    while delivered(dir) < n {
        if started.elapsed() > Duration::from_secs(120) {
            bail!("{} of {n} messages delivered after 120 s", delivered(dir));
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    Ok(started.elapsed())
}

pub fn run() -> Result<()> {
    let dir = scratch_dir()?;
    let mail = dir.join("mail");
    std::fs::create_dir_all(&mail)?;
    let smtp_port = free_port()?;
    let _sink = start_sink(&mail, smtp_port)?;
    let akin = spawn_akin_with(
        &format!("sqlite://{}", dir.join("akin.db").display()),
        &[
            ("AKIN_EMAIL__HOST", "127.0.0.1".into()),
            ("AKIN_EMAIL__PORT", smtp_port.to_string()),
            ("AKIN_EMAIL__FROM", "akin@bench.test".into()),
        ],
    )?;
    wait_ready(akin.port, Instant::now())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let base = format!("http://127.0.0.1:{}/api/v3", akin.port);
    let client = reqwest::Client::new();
    let post = |path: String, body: Value| {
        let client = client.clone();
        async move {
            let response = client
                .post(path.clone())
                .bearer_auth(TOKEN)
                .json(&body)
                .send()
                .await?;
            let status = response.status();
            let text = response.text().await?;
            if !status.is_success() {
                bail!("{path}: {status} {text}");
            }
            anyhow::Ok(serde_json::from_str::<Value>(&text).unwrap_or(Value::Null))
        }
    };
    let invitation = runtime.block_on(async {
        let flow = post(
            format!("{base}/flows/instances/"),
            json!({"name": "Bench", "slug": "bench-enrollment", "title": "Bench", "designation": "enrollment"}),
        )
        .await?;
        post(
            format!("{base}/stages/invitation/invitations/"),
            json!({"name": "bench", "flow": flow["pk"]}),
        )
        .await
    })?;
    let send = format!(
        "{base}/stages/invitation/invitations/{}/send_email/",
        invitation["pk"].as_str().context("an invitation pk")?
    );

    // Latency: one message at a time, from the API's answer to the server having it.
    let mut latencies = Vec::new();
    for i in 0..21 {
        let before = delivered(&mail);
        runtime.block_on(post(
            send.clone(),
            json!({"email_addresses": [format!("one{i}@bench.test")]}),
        ))?;
        let answered = Instant::now();
        let took = wait_delivered(&mail, before + 1, answered)?;
        if i > 0 {
            latencies.push(took.as_secs_f64() * 1000.0);
        }
    }

    // Throughput: 1 000 messages queued by 5 requests, delivered as fast as they go.
    let before = delivered(&mail);
    let started = Instant::now();
    for batch in 0..5 {
        let addresses: Vec<String> = (0..200)
            .map(|i| format!("bulk{batch}-{i}@bench.test"))
            .collect();
        runtime.block_on(post(send.clone(), json!({"email_addresses": addresses})))?;
    }
    let queued = started.elapsed();
    let took = wait_delivered(&mail, before + 1000, started)?;
    println!(
        "mail: send_email → delivered, median of 20: {:.1} ms; 1000 messages queued in {:.0} ms, delivered in {:.2} s = {:.0} messages/s (SQLite, one node, aiosmtpd on loopback)",
        median(latencies),
        queued.as_secs_f64() * 1000.0,
        took.as_secs_f64(),
        1000.0 / took.as_secs_f64()
    );
    drop(akin);
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
