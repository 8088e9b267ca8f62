//! The flow executor and expression policies: prompt challenges/s next to a bare handler,
//! one invitation enrollment next to one Argon2id hash, enrollments/s; µs per policy
//! evaluation, and the first GET of a flow with and without a flow-level policy.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::{
    TOKEN, bare_baseline, load, load_with_client, median, on_scratch_postgres, scratch_dir,
    spawn_akin, spawn_akin_on, timed_import, wait_ready,
};

/// A browser walking the enrollment flow: its own cookie, no automatic redirects. A 503
/// (hashing's queue full) is retried after its `Retry-After`, as a browser's user would,
/// and counted.
struct Walker {
    client: reqwest::Client,
    url: String,
    retried: std::sync::Arc<AtomicU64>,
}

impl Walker {
    fn new(port: u16, token: &str) -> Result<Walker> {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("query", &format!("itoken={token}"))
            .finish();
        Ok(Walker {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            url: format!(
                "http://127.0.0.1:{port}/api/v3/flows/executor/default-enrollment-flow/?{query}"
            ),
            retried: std::sync::Arc::default(),
        })
    }

    /// Sends `request` again after `Retry-After` for as long as it is answered 503.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        loop {
            let response = request
                .try_clone()
                .context("a request without a streamed body")?
                .send()
                .await?;
            if response.status() != reqwest::StatusCode::SERVICE_UNAVAILABLE {
                return Ok(response);
            }
            self.retried.fetch_add(1, Ordering::Relaxed);
            let wait = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                .unwrap_or(1);
            tokio::time::sleep(Duration::from_secs(wait)).await;
        }
    }

    /// GET, following 302s, to the next challenge's component.
    async fn next(&self) -> Result<String> {
        for _ in 0..10 {
            let response = self.send(self.client.get(&self.url)).await?;
            if response.status() == reqwest::StatusCode::FOUND {
                continue;
            }
            let body: serde_json::Value = response.json().await?;
            return Ok(body["component"].as_str().unwrap_or_default().to_owned());
        }
        bail!("redirect loop")
    }

    async fn post(&self, body: serde_json::Value) -> Result<()> {
        self.send(self.client.post(&self.url).json(&body)).await?;
        Ok(())
    }

    /// One whole enrollment; fails unless it ends in the final redirect.
    async fn enroll(&self, username: &str) -> Result<()> {
        self.next().await?;
        self.post(serde_json::json!({"component": "ak-stage-prompt", "username": username, "password": "Bench-pa55", "password_repeat": "Bench-pa55"})).await?;
        self.next().await?;
        self.post(serde_json::json!({"component": "ak-stage-prompt", "name": username, "email": format!("{username}@example.com")})).await?;
        let last = self.next().await?;
        if last != "xak-flow-redirect" {
            bail!("enrollment ended with {last}");
        }
        Ok(())
    }
}

/// Imports the enrollment `blueprint` and creates an invitation `name` that any number of
/// accounts may use; its token.
async fn enrollment_invitation(
    client: &reqwest::Client,
    port: u16,
    blueprint: Vec<u8>,
    name: &str,
) -> Result<String> {
    timed_import(client, port, blueprint).await?;
    let created: serde_json::Value = client
        .post(format!(
            "http://127.0.0.1:{port}/api/v3/stages/invitation/invitations/"
        ))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"name": name, "max_uses": null}))
        .send()
        .await?
        .json()
        .await?;
    created["pk"]
        .as_str()
        .context("invitation created")
        .map(str::to_owned)
}

pub fn flows(seconds: u64, connections: usize, postgres: &str) -> Result<()> {
    let example = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/blueprints/example/flows-enrollment-2-stage.yaml"),
    )
    .context("read shared/blueprints/example/flows-enrollment-2-stage.yaml")?;

    // Baseline and Argon2id first, in this run.
    let bare_rps = bare_baseline(seconds, connections)?;
    let hash_ms = hash_ms(20)?;
    let cores = super::placement().server_cores;
    // Every enrollment hashes one password: no more than this many a second can finish.
    let ceiling = cores as f64 * 1000.0 / hash_ms;
    let parallel = parallel_hashes_per_second(cores, Duration::from_secs(seconds.min(3)))?;

    let dir = scratch_dir()?;
    let sqlite = executor_figures(
        &format!("sqlite://{}", dir.join("akin.db").display()),
        &example,
        seconds,
        connections,
    )?;
    std::fs::remove_dir_all(&dir).ok();
    let on_postgres = if postgres == "none" {
        None
    } else {
        Some(on_scratch_postgres(postgres, "flows", |url| {
            executor_figures(url, &example, seconds, connections)
        })?)
    };

    println!(
        "flow executor (release build, {}):",
        super::load_placement()
    );
    println!("  bare axum handler:                                   {bare_rps:>9.0} req/s");
    println!("  one Argon2id hash (same parameters, median of 20):   {hash_ms:>9.1} ms");
    println!(
        "  hashing ceiling, {cores} cores / one hash:                {ceiling:>9.1} enrollments/s"
    );
    println!(
        "  measured: {cores} threads hashing back to back:      {parallel:>9.1} hashes/s ({:.0} % of the ceiling)",
        parallel / ceiling * 100.0
    );
    for (backend, figures) in [
        ("SQLite", Some(&sqlite)),
        ("PostgreSQL", on_postgres.as_ref()),
    ] {
        let Some(f) = figures else { continue };
        println!("  {backend}:");
        println!(
            "    executor GET of a prompt challenge ({connections} connections): {:>9.0} req/s ({:.1} % of bare)",
            f.challenge_rps,
            f.challenge_rps / bare_rps * 100.0
        );
        println!(
            "    one invitation enrollment, 5 requests (median of 20): {:>7.1} ms ({:.2} hashes)",
            f.enroll_ms,
            f.enroll_ms / hash_ms
        );
        println!(
            "    enrollments/s, 16 browsers at once:                {:>9.1} ({:.0} % of the ceiling)",
            f.per_second,
            f.per_second / ceiling * 100.0
        );
        // This machine's speed drifts (other tenants): the hash timed right before and
        // right after the phase gives the ceiling of that moment.
        let around = cores as f64 * 1000.0 / f.hash_ms_around;
        println!(
            "      against one hash timed around that phase ({:.1} ms): {:.0} % of {around:.1}/s",
            f.hash_ms_around,
            f.per_second / around * 100.0
        );
    }
    Ok(())
}

/// Hashes a second with `threads` threads hashing back to back for `period`, nothing
/// else running: what the machine itself allows (cores share caches and memory bandwidth,
/// and Argon2's 19 MiB per hash does not fit a core's cache, so `threads` hashes at once
/// each take longer than one alone).
fn parallel_hashes_per_second(threads: usize, period: Duration) -> Result<f64> {
    let done = AtomicU64::new(0);
    let started = Instant::now();
    let stop = started + period;
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    use argon2::password_hash::PasswordHasher as _;
                    while Instant::now() < stop {
                        argon2::Argon2::default()
                            .hash_password(b"Bench-pa55")
                            .map_err(|e| anyhow::anyhow!("{e}"))?;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    anyhow::Ok(())
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .map_err(|_| anyhow::anyhow!("a hashing thread panicked"))?
        })
    })?;
    Ok(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

/// The median time of one Argon2id hash with akin's parameters, of `n`, in ms.
fn hash_ms(n: usize) -> Result<f64> {
    use argon2::password_hash::PasswordHasher as _;
    let mut hashes = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        argon2::Argon2::default()
            .hash_password(b"Bench-pa55")
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        hashes.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(median(hashes))
}

struct ExecutorFigures {
    challenge_rps: f64,
    enroll_ms: f64,
    per_second: f64,
    /// The mean of one hash's median time right before and right after the 16 browsers.
    hash_ms_around: f64,
}

/// The executor on the database at `url`: a parked prompt challenge read over and over,
/// one enrollment at a time, and enrollments from 16 browsers at once.
fn executor_figures(
    url: &str,
    example: &[u8],
    seconds: u64,
    connections: usize,
) -> Result<ExecutorFigures> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let client = reqwest::Client::new();
    let akin = spawn_akin_on(url)?;
    wait_ready(akin.port, Instant::now())?;
    let port = akin.port;
    let (parked, token) = runtime.block_on(async {
        let token = enrollment_invitation(&client, port, example.to_vec(), "bench").await?;
        // One browser parked on the first prompt; its challenge is read over and over.
        let parked = Walker::new(port, &token)?;
        if parked.next().await? != "ak-stage-prompt" {
            bail!("the flow does not start with a prompt");
        }
        anyhow::Ok((parked, token))
    })?;
    // The load generator is the parked browser: its cookie goes with every request.
    let challenge_rps = load_with_client(
        &runtime,
        parked.client.clone(),
        &parked.url,
        seconds,
        connections,
    )?;
    let mut times = Vec::new();
    for i in 0..20 {
        let walker = Walker::new(port, &token)?;
        let started = Instant::now();
        runtime.block_on(walker.enroll(&format!("solo{i}")))?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let hash_before = hash_ms(10)?;
    let done = std::sync::Arc::new(AtomicU64::new(0));
    runtime.block_on(async {
        let stop = Instant::now() + Duration::from_secs(seconds);
        let mut tasks = Vec::new();
        for worker in 0..16 {
            let (done, token) = (done.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                let mut n = 0;
                while Instant::now() < stop {
                    let walker = Walker::new(port, &token)?;
                    walker.enroll(&format!("w{worker}x{n}")).await?;
                    done.fetch_add(1, Ordering::Relaxed);
                    n += 1;
                }
                anyhow::Ok(())
            }));
        }
        for task in tasks {
            task.await??;
        }
        anyhow::Ok(())
    })?;
    let hash_after = hash_ms(10)?;
    drop(akin);
    Ok(ExecutorFigures {
        challenge_rps,
        enroll_ms: median(times),
        per_second: done.load(Ordering::Relaxed) as f64 / seconds as f64,
        hash_ms_around: (hash_before + hash_after) / 2.0,
    })
}

/// Nothing to look up: the evaluation benchmark measures the language, not the database.
struct NoDirectory;

impl akin_domain::policy::PolicyDirectory for NoDirectory {
    fn user_by(
        &self,
        _: &serde_json::Map<String, serde_json::Value>,
    ) -> Option<akin_domain::policy::PolicyUser> {
        None
    }
    fn is_group_member(&self, _: i64, _: &serde_json::Map<String, serde_json::Value>) -> bool {
        false
    }
    fn call_policy(
        &self,
        _: &str,
        _: &akin_domain::policy::PolicyRequest,
        _: Duration,
    ) -> Option<akin_domain::policy::PolicyVerdict> {
        None
    }
}

/// µs per evaluation of `expression` by `engine`, compiled once (the first call) and
/// then cached.
fn evaluation_micros(
    engine: &dyn akin_domain::policy::ExpressionEngine,
    expression: &str,
    context: serde_json::Value,
) -> Result<f64> {
    use akin_domain::policy::PolicyRequest;
    let request = PolicyRequest {
        user: serde_json::json!({"pk": 1, "username": "ann", "email": "ann@example.com",
            "name": "Ann", "is_active": true, "is_superuser": false, "attributes": {},
            "groups": [], "path": "users", "type": "internal", "is_authenticated": true}),
        context: context.as_object().cloned().unwrap_or_default(),
        http: None,
    };
    let timeout = Duration::from_secs(30);
    let first = engine.evaluate(expression, &request, &NoDirectory, timeout);
    if !first.passing {
        bail!("the benchmark expression should pass: {first:?}");
    }
    let runs = 20_000;
    let started = Instant::now();
    for _ in 0..runs {
        engine.evaluate(expression, &request, &NoDirectory, timeout);
    }
    Ok(started.elapsed().as_secs_f64() * 1e6 / f64::from(runs))
}

pub fn policies(seconds: u64, connections: usize) -> Result<()> {
    const INVITATION: &str = "return request.context.get(\"invitation_in_effect\", False)";
    const DOMAIN: &str = "email = request.context['prompt_data']['email']\n\
         if not email.endswith('@example.com'):\n\
         \x20   ak_message('Only example.com addresses may enroll.')\n\
         \x20   return False\n\
         return True";
    let invitation_context = serde_json::json!({"invitation_in_effect": true});
    let domain_context =
        serde_json::json!({"prompt_data": {"email": "ann@example.com", "username": "ann"}});
    // In this process, as before issue 17; and in a worker process, as the server runs them.
    let in_process = akin_expr::StarlarkEngine::new();
    let isolated = akin_expr::IsolatedEngine::new(akin_expr::WorkerSettings {
        program: super::akin_binary()?,
        args: vec!["expression-worker".into()],
        memory_mib: 256,
        max_workers: 1,
    });
    let mut micros = Vec::new();
    for engine in [
        &in_process as &dyn akin_domain::policy::ExpressionEngine,
        &isolated,
    ] {
        micros.push((
            evaluation_micros(engine, INVITATION, invitation_context.clone())?,
            evaluation_micros(engine, DOMAIN, domain_context.clone())?,
        ));
    }
    let [(invitation, domain), (invitation_isolated, domain_isolated)] = micros[..] else {
        bail!("two engines measured");
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let client = reqwest::Client::new();
    let dir = scratch_dir()?;
    let akin = spawn_akin(&dir)?;
    wait_ready(akin.port, Instant::now())?;
    let port = akin.port;
    // No cookie: every request is a new visitor, so every GET plans the flow (which is
    // when flow-level policies run) and answers its first challenge. The shipped
    // authentication flow starts with one; an enrollment flow starts with the implicit
    // invitation stage's redirect.
    let slug = "default-authentication-flow";
    let url = format!("http://127.0.0.1:{port}/api/v3/flows/executor/{slug}/?query=");
    let without = load(&url, None, seconds, connections)?;
    runtime.block_on(async {
        let api = |path: &str| format!("http://127.0.0.1:{port}/api/v3{path}");
        let flows: serde_json::Value = client
            .get(api(&format!("/flows/instances/?slug={slug}")))
            .bearer_auth(TOKEN)
            .send()
            .await?
            .json()
            .await?;
        let flow = flows["results"][0]["pk"].clone();
        let policy: serde_json::Value = client
            .post(api("/policies/expression/"))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({"name": "not-blocked",
                "expression": "return not request.context.get(\"blocked\", False)"}))
            .send()
            .await?
            .json()
            .await?;
        let bound = client
            .post(api("/policies/bindings/"))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({"policy": policy["pk"], "target": flow, "order": 0}))
            .send()
            .await?;
        if !bound.status().is_success() {
            bail!("binding the policy failed: {}", bound.text().await?);
        }
        anyhow::Ok(())
    })?;
    let with = load(&url, None, seconds, connections)?;
    drop(akin);
    std::fs::remove_dir_all(&dir).ok();
    let (every_check, trivial) = password_policy_timing(&runtime)?;

    println!("expression policies (release build):");
    println!(
        "  invitation_in_effect check, compiled and cached:     {invitation:>9.1} µs/evaluation in process, {invitation_isolated:.1} in a worker"
    );
    println!(
        "  email domain check with ak_message:                  {domain:>9.1} µs/evaluation in process, {domain_isolated:.1} in a worker"
    );
    println!("  executor first GET (plans the login flow), no policy:{without:>9.0} req/s");
    println!("  the same with one flow-level expression policy:      {with:>9.0} req/s");
    println!(
        "  ratio with : without                                 {:>9.2}",
        with / without
    );
    println!("password policy, every check on (static, zxcvbn, breach lookup on loopback):");
    println!(
        "  policy test endpoint, median of 200:                 {every_check:>9.2} ms (a trivial expression policy: {trivial:.2} ms; difference {:.2} ms)",
        every_check - trivial
    );
    Ok(())
}

/// Issue 16's memory figures: RSS before, at its peak during `browsers` enrollments at once
/// (sampled every 10 ms), and after them at 1, 10, 30 and 60 s; how many requests were told
/// to retry (503) and how long the burst took.
pub fn burst(browsers: usize, env: &[(&str, String)]) -> Result<()> {
    let example = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/blueprints/example/flows-enrollment-2-stage.yaml"),
    )
    .context("read shared/blueprints/example/flows-enrollment-2-stage.yaml")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let client = reqwest::Client::new();
    let dir = scratch_dir()?;
    let akin = super::spawn_akin_with(&format!("sqlite://{}", dir.join("akin.db").display()), env)?;
    wait_ready(akin.port, Instant::now())?;
    let port = akin.port;
    let pid = akin.child.id();
    let token = runtime.block_on(enrollment_invitation(&client, port, example, "burst"))?;
    std::thread::sleep(Duration::from_secs(2));
    let before = super::rss_kib(pid)?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let peak = std::sync::Arc::new(AtomicU64::new(before));
    let sampler = {
        let (stop, peak) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(rss) = super::rss_kib(pid) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let started = Instant::now();
    let retried = runtime.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..browsers {
            let walker = Walker::new(port, &token)?;
            tasks.push(tokio::spawn(async move {
                walker.enroll(&format!("burst{i}")).await?;
                anyhow::Ok(walker.retried.load(Ordering::Relaxed))
            }));
        }
        let mut retried = 0;
        for task in tasks {
            retried += task.await??;
        }
        anyhow::Ok(retried)
    })?;
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    sampler.join().ok();
    let mut after = Vec::new();
    let mut waited = Duration::ZERO;
    for at in [1, 10, 30, 60] {
        let at = Duration::from_secs(at);
        std::thread::sleep(at - waited);
        waited = at;
        after.push(super::rss_kib(pid)?);
    }
    drop(akin);
    std::fs::remove_dir_all(&dir).ok();
    let mb = |kib: u64| kib as f64 / 1024.0;
    let settings: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!(
        "memory under a burst (SQLite, release build, {browsers} enrollments at once{}):",
        if settings.is_empty() {
            String::new()
        } else {
            format!(", {}", settings.join(" "))
        }
    );
    println!(
        "  RSS before:                         {:>7.1} MB",
        mb(before)
    );
    println!(
        "  RSS peak during the burst:          {:>7.1} MB",
        mb(peak.load(Ordering::Relaxed))
    );
    for (at, rss) in [1, 10, 30, 60].iter().zip(&after) {
        println!(
            "  RSS {at:>2} s after:                    {:>7.1} MB",
            mb(*rss)
        );
    }
    println!(
        "  the burst took {:.1} s; {retried} requests were told to retry (503)",
        took.as_secs_f64()
    );
    Ok(())
}

/// Issue 18's figure: one password policy with every check on (static rules, zxcvbn, the
/// breach lookup against a range API on loopback) through the policy test endpoint, next
/// to a trivial expression policy through the same endpoint; median of 200 each.
fn password_policy_timing(runtime: &tokio::runtime::Runtime) -> Result<(f64, f64)> {
    let range_api = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buffer = [0u8; 2048];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buffer[..n]),
                        }
                    }
                    // About the size of a real padded answer: 800 lines.
                    let body: String = (0..800)
                        .map(|i| format!("{i:035X}:{}\r\n", i % 7))
                        .collect();
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    socket.write_all(response.as_bytes()).await.ok();
                });
            }
        });
        anyhow::Ok(address)
    })?;
    let dir = scratch_dir()?;
    let akin = super::spawn_akin_with(
        &format!("sqlite://{}", dir.join("akin.db").display()),
        &[("AKIN_HIBP_URL", format!("http://{range_api}"))],
    )?;
    wait_ready(akin.port, Instant::now())?;
    let port = akin.port;
    let client = reqwest::Client::new();
    let timings = runtime.block_on(async {
        let api = |path: &str| format!("http://127.0.0.1:{port}/api/v3{path}");
        let create = |path: &'static str, body: serde_json::Value| {
            let client = client.clone();
            let url = api(path);
            async move {
                let created: serde_json::Value = client
                    .post(url)
                    .bearer_auth(TOKEN)
                    .json(&body)
                    .send()
                    .await?
                    .json()
                    .await?;
                created["pk"]
                    .as_str()
                    .map(str::to_owned)
                    .context("the policy was not created")
            }
        };
        let password = create(
            "/policies/password/",
            serde_json::json!({"name": "everything", "length_min": 12, "amount_digits": 1,
                "amount_uppercase": 1, "amount_lowercase": 1, "amount_symbols": 1,
                "check_zxcvbn": true, "zxcvbn_score_threshold": 3,
                "check_have_i_been_pwned": true}),
        )
        .await?;
        let trivial = create(
            "/policies/expression/",
            serde_json::json!({"name": "trivial", "expression": "return True"}),
        )
        .await?;
        let me: serde_json::Value = client
            .get(api("/core/users/me/"))
            .bearer_auth(TOKEN)
            .send()
            .await?
            .json()
            .await?;
        let user = me["user"]["pk"].clone();
        let mut medians = Vec::new();
        for pk in [&password, &trivial] {
            let mut millis = Vec::new();
            for i in 0..200 {
                let started = Instant::now();
                let tested = client
                    .post(api(&format!("/policies/all/{pk}/test/")))
                    .bearer_auth(TOKEN)
                    .json(&serde_json::json!({"user": user,
                        "context": {"password": format!("Tr0ub4dor&3-horse-{i}")}}))
                    .send()
                    .await?;
                if !tested.status().is_success() {
                    bail!("the policy test failed: {}", tested.text().await?);
                }
                tested.bytes().await?;
                millis.push(started.elapsed().as_secs_f64() * 1000.0);
            }
            medians.push(median(millis));
        }
        anyhow::Ok((medians[0], medians[1]))
    })?;
    drop(akin);
    std::fs::remove_dir_all(&dir).ok();
    Ok(timings)
}
