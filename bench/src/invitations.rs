//! `bench invitations`: the invitation list with `--rows` invitations in the database (the
//! first page, page 500, pages by cursor, a page filtered by name, a search by part of a
//! name; median of 50 requests each), the funnel over all of them, and invitation
//! creates/s at 32 connections, on SQLite and on PostgreSQL.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

use super::{TOKEN, median, on_scratch_postgres, scratch_dir, spawn_akin_on, wait_ready};

/// Expiring invitations run out up to this many hours from now.
const EXPIRY_HOURS: i64 = 2_000;

/// Writes `rows` invitations straight into a migrated database (the API would take
/// minutes), in one transaction per 10 000: a third never expire, the rest in the next
/// `EXPIRY_HOURS` hours; each created a microsecond after the one before. On PostgreSQL
/// the tallies are then folded and the tables vacuumed and analyzed, as a server and
/// autovacuum do within seconds: otherwise the timings ran while a server folded a million
/// pending tally changes (pages at 11-28 ms there, 2-4 ms once settled).
async fn seed(url: &str, rows: usize) -> Result<()> {
    let db = akin_store::Db::connect(url).await?;
    db.migrate().await?;
    let now = time_now();
    for batch in 0..rows.div_ceil(10_000) {
        let mut tx = db.begin().await?;
        for i in batch * 10_000..((batch + 1) * 10_000).min(rows) {
            let mut fields = Map::new();
            fields.insert("name".into(), json!(format!("bench-{i}")));
            fields.insert(
                "fixed_data".into(),
                json!({"email": format!("user{i}@example.com")}),
            );
            fields.insert("single_use".into(), json!(true));
            let expires = (i % 3 != 0).then(|| {
                let hours = 1 + (i as i64 * 7919) % EXPIRY_HOURS;
                rfc3339(now + time::Duration::hours(hours))
            });
            fields.insert("expires".into(), json!(expires));
            fields.insert("flow".into(), Value::Null);
            let created = now + time::Duration::microseconds(i as i64);
            tx.create_object(akin_domain::catalog::INVITATION, &fields, created)
                .await?;
        }
        tx.commit().await?;
    }
    if db.backend() == akin_store::Backend::Postgres {
        akin_store::Store::new(db.clone())
            .fold_invitation_tallies()
            .await?;
        db.execute(db.sql("VACUUM ANALYZE")).await?;
    }
    db.close().await;
    Ok(())
}

fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

struct Figures {
    first_page_ms: f64,
    page_500_ms: f64,
    cursor_10k_ms: f64,
    cursor_mid_ms: f64,
    filtered_ms: f64,
    search_ms: f64,
    funnel_ms: f64,
    creates_per_second: f64,
}

fn measure(url: &str, rows: usize, seconds: u64, connections: usize) -> Result<Figures> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let seeding = Instant::now();
    runtime
        .block_on(seed(url, rows))
        .context("seed invitations")?;
    eprintln!(
        "seeded {rows} invitations in {:.0} s",
        seeding.elapsed().as_secs_f64()
    );
    let akin = spawn_akin_on(url)?;
    wait_ready(akin.port, Instant::now())?;
    let base = format!(
        "http://127.0.0.1:{}/api/v3/stages/invitation/invitations/",
        akin.port
    );
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {TOKEN}").parse()?,
    );
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(connections)
        .build()?;
    let timed = |url: String| {
        let client = client.clone();
        runtime.block_on(async move {
            let mut times = Vec::new();
            for i in 0..55 {
                let started = Instant::now();
                let response = client.get(&url).send().await?;
                if !response.status().is_success() {
                    bail!("{url}: {}", response.status());
                }
                let body: Value = response.json().await?;
                let listed = body["pagination"]["count"].as_u64().unwrap_or(0);
                if listed == 0 && body.get("opened").is_none() {
                    bail!("{url}: nothing listed");
                }
                if i >= 5 {
                    times.push(started.elapsed().as_secs_f64() * 1000.0);
                }
            }
            anyhow::Ok(median(times))
        })
    };
    let first_page_ms = timed(base.clone())?;
    let page_500_ms = timed(format!("{base}?page=500&page_size=20"))?;
    // By cursor: 10,000 deep (where page 500 starts), from the cursor a page of 10,000
    // hands on; and half-way through the expiring ones, from a cursor made by hand.
    let cursor_10k = runtime.block_on(async {
        let page: Value = client
            .get(format!("{base}?after=&page_size=10000"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        page["pagination"]["next_after"]
            .as_str()
            .map(str::to_owned)
            .context("no cursor after 10,000 invitations")
    })?;
    let cursor_10k_ms = timed(format!("{base}?after={cursor_10k}&page_size=20"))?;
    let mid = akin_domain::invitation::InvitationCursor {
        expires: Some(time_now() + time::Duration::hours(EXPIRY_HOURS / 2)),
        created: time_now(),
        uuid: uuid::Uuid::nil(),
    };
    let cursor_mid_ms = timed(format!("{base}?after={mid}&page_size=20"))?;
    let filtered_ms = timed(format!("{base}?name=bench-77777"))?;
    // Any part of a name: 77777 is in bench-77777, bench-177777, bench-777770…
    let search_ms = timed(format!("{base}?search=77777"))?;
    // The funnel over every invitation (sums of counters, and the outbox by index).
    let funnel_ms = timed(format!("{base}funnel/"))?;
    let creates_per_second = creates(&runtime, &client, &base, seconds, connections)?;
    drop(akin);
    Ok(Figures {
        first_page_ms,
        page_500_ms,
        cursor_10k_ms,
        cursor_mid_ms,
        filtered_ms,
        search_ms,
        funnel_ms,
        creates_per_second,
    })
}

/// Invitation creates per second from `connections` clients over `seconds`.
fn creates(
    runtime: &tokio::runtime::Runtime,
    client: &reqwest::Client,
    url: &str,
    seconds: u64,
    connections: usize,
) -> Result<f64> {
    runtime.block_on(async {
        let stop = Instant::now() + Duration::from_secs(seconds);
        let mut tasks = Vec::new();
        for worker in 0..connections {
            let (client, url) = (client.clone(), url.to_owned());
            tasks.push(tokio::spawn(async move {
                let mut done = 0u64;
                while Instant::now() < stop {
                    let body = json!({"name": format!("load-{worker}-{done}"), "single_use": true});
                    let response = client.post(&url).json(&body).send().await?;
                    if response.status() != reqwest::StatusCode::CREATED {
                        bail!("create: {}", response.status());
                    }
                    done += 1;
                }
                anyhow::Ok(done)
            }));
        }
        let mut total = 0;
        for task in tasks {
            total += task.await??;
        }
        anyhow::Ok(total as f64 / seconds as f64)
    })
}

fn report(backend: &str, rows: usize, figures: &Figures, connections: usize) {
    println!("invitations on {backend}, {rows} in the database (release build):");
    println!(
        "  first page (median of 50):            {:>8.2} ms",
        figures.first_page_ms
    );
    println!(
        "  page 500 (median of 50):              {:>8.2} ms",
        figures.page_500_ms
    );
    println!(
        "  page by cursor, 10,000 deep (median of 50): {:>2.2} ms",
        figures.cursor_10k_ms
    );
    println!(
        "  page by cursor, half-way (median of 50):  {:>4.2} ms",
        figures.cursor_mid_ms
    );
    println!(
        "  search by part of a name (median of 50): {:>5.2} ms",
        figures.search_ms
    );
    println!(
        "  filtered by name (median of 50):      {:>8.2} ms",
        figures.filtered_ms
    );
    println!(
        "  funnel of all of them (median of 50): {:>8.2} ms",
        figures.funnel_ms
    );
    println!(
        "  creates/s at {connections} connections:            {:>8.0}",
        figures.creates_per_second
    );
}

pub fn run(rows: usize, seconds: u64, connections: usize, postgres: &str) -> Result<()> {
    let dir = scratch_dir()?;
    let sqlite = measure(
        &format!("sqlite://{}", dir.join("akin.db").display()),
        rows,
        seconds,
        connections,
    )?;
    std::fs::remove_dir_all(&dir).ok();
    report("SQLite", rows, &sqlite, connections);
    if postgres == "none" {
        return Ok(());
    }
    let result = on_scratch_postgres(postgres, "invitations", |url| {
        measure(url, rows, seconds, connections)
    })?;
    report("PostgreSQL", rows, &result, connections);
    Ok(())
}
