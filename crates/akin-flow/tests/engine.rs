//! The engine without HTTP: an invitee walks authentik's own two-stage enrollment blueprint
//! (made invite-only by an invitation stage) through `Engine::execute`, step by step, on a
//! real SQLite file (and PostgreSQL when `AKIN_TEST_POSTGRES_URL` is set), with the real
//! Argon2id hasher and Starlark engine. The session is the engine's port, held here in
//! memory as the web layer holds it in a cookie and a row.

use std::path::PathBuf;
use std::sync::Arc;

use akin_domain::catalog;
use akin_domain::flow::{Challenge, FlowPlan};
use akin_flow::blueprints::{ImportRequest, import};
use akin_flow::password::Argon2Hasher;
use akin_flow::{Engine, FlowRequest, FlowSession, RequestInfo, Step};
use akin_store::{Db, Store};
use akin_testkit::{Backend, TestDatabase};
use serde_json::{Map, Value, json};
use time::{Duration, OffsetDateTime};

/// One browser's session as the engine sees it.
#[derive(Default)]
struct Browser {
    user: Option<i64>,
    plan: Option<Arc<FlowPlan>>,
    logins: usize,
}

impl FlowSession for Browser {
    fn user(&self) -> Option<i64> {
        self.user
    }
    fn plan(&self) -> Option<Arc<FlowPlan>> {
        self.plan.clone()
    }
    fn set_plan(&mut self, plan: Option<FlowPlan>) {
        self.plan = plan.map(Arc::new);
    }
    fn login(&mut self, user: i64, _duration: Duration, _now: OffsetDateTime) {
        self.user = Some(user);
        self.logins += 1;
    }
    fn logout(&mut self) {
        self.user = None;
    }
}

const SLUG: &str = "default-enrollment-flow";

/// Makes the seed flow invite-only (an invitation stage first) and creates a single-use
/// invitation that fixes the invitee's email.
const INVITE_ONLY: &str = r#"
version: 1
entries:
  - model: authentik_stages_invitation.invitationstage
    id: invitation-stage
    identifiers: {name: engine-test-invitation-stage}
    attrs: {continue_flow_without_invitation: false}
  - model: authentik_flows.flowstagebinding
    identifiers:
      target: !Find [authentik_flows.flow, [slug, default-enrollment-flow]]
      stage: !KeyOf invitation-stage
      order: 0
  - model: authentik_stages_invitation.invitation
    identifiers: {name: jane}
    attrs:
      single_use: true
      flow: !Find [authentik_flows.flow, [slug, default-enrollment-flow]]
      fixed_data: {email: jane@example.com}
"#;

struct Setup {
    engine: Engine,
    token: String,
    _database: TestDatabase,
}

async fn setup(backend: &Backend) -> Setup {
    let database = TestDatabase::create(backend).await;
    let db = Db::connect(&database.url).await.expect("connect");
    db.migrate().await.expect("migrate");
    let store = Store::new(db);
    let expressions = Arc::new(akin_expr::StarlarkEngine::new());
    let seed = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/blueprints/example/flows-enrollment-2-stage.yaml");
    for bytes in [
        std::fs::read(&seed).expect("shared/blueprints is beside the repository"),
        INVITE_ONLY.as_bytes().to_vec(),
    ] {
        let report = import(
            &store,
            ImportRequest {
                bytes: &bytes,
                context: Map::new(),
                files: None,
                acting_user: None,
                dry_run: false,
                expressions: expressions.as_ref(),
                env: &akin_blueprint::env::EnvAccess::All,
            },
        )
        .await
        .expect("import");
        assert!(report.success(), "{:?}", report.error);
    }
    let invitation = store
        .find_objects(catalog::INVITATION, &[("name".into(), json!("jane"))])
        .await
        .unwrap()
        .pop()
        .expect("the blueprint made the invitation");
    Setup {
        engine: Engine::new(store, Arc::new(Argon2Hasher), expressions),
        token: invitation["pk"].as_str().unwrap().to_owned(),
        _database: database,
    }
}

impl Setup {
    async fn step(&self, browser: &mut Browser, query: &str, response: Option<Value>) -> Step {
        let origin = RequestInfo {
            client_ip: Some("127.0.0.1".into()),
            method: if response.is_some() { "POST" } else { "GET" }.into(),
            path: format!("/if/flow/{SLUG}/"),
            user_agent: "engine test".into(),
            request_id: String::new(),
            site: "http://127.0.0.1".into(),
        };
        let request = FlowRequest {
            slug: SLUG,
            page_query: query,
            origin: &origin,
            now: OffsetDateTime::now_utc(),
        };
        let response = response.map(|r| r.as_object().cloned().unwrap());
        self.engine
            .execute(request, browser, response)
            .await
            .expect("the step runs")
    }
}

fn challenge(step: Step) -> Challenge {
    match step {
        Step::Challenge(challenge, _) => challenge,
        Step::Continue => panic!("expected a challenge, the stage finished"),
    }
}

fn field<'a>(challenge: &'a Challenge, key: &str) -> &'a Value {
    let Challenge::Prompt { fields, .. } = challenge else {
        panic!("expected a prompt, got {challenge:?}");
    };
    fields
        .iter()
        .find(|f| f["field_key"] == key)
        .unwrap_or_else(|| panic!("no field {key} in {fields:?}"))
}

fn denial_code(challenge: &Challenge) -> Option<&'static str> {
    match challenge {
        Challenge::AccessDenied { code, .. } => *code,
        other => panic!("expected access denied, got {other:?}"),
    }
}

async fn invitee_enrolls_and_the_invitation_is_spent(backend: Backend) {
    let setup = setup(&backend).await;
    let link = format!("itoken={}&next=%2Fwelcome%2F", setup.token);

    // Without the invitation the flow refuses, and says why.
    let mut visitor = Browser::default();
    let refused = challenge(setup.step(&mut visitor, "", None).await);
    assert_eq!(denial_code(&refused), Some("invitation_missing"));
    assert!(visitor.plan.is_none(), "a refused flow keeps no plan");

    // invitation → first prompt: username and password.
    let mut browser = Browser::default();
    let first = challenge(setup.step(&mut browser, &link, None).await);
    assert_eq!(field(&first, "username")["type"], "username");
    assert_eq!(field(&first, "password")["type"], "password");

    // A mismatched repeat is sent back with errors; the stage stays current.
    let mismatch =
        json!({"username": "jane", "password": "s3cret-Pa55", "password_repeat": "other"});
    let again = challenge(setup.step(&mut browser, &link, Some(mismatch)).await);
    let Challenge::Prompt { errors, .. } = &again else {
        panic!("expected the prompt again, got {again:?}");
    };
    assert!(!errors.is_empty(), "the mismatch is reported");

    let answer =
        json!({"username": "jane", "password": "s3cret-Pa55", "password_repeat": "s3cret-Pa55"});
    assert_eq!(
        setup.step(&mut browser, &link, Some(answer)).await,
        Step::Continue
    );

    // Second prompt: the invitation's email is filled in and read-only.
    let second = challenge(setup.step(&mut browser, &link, None).await);
    assert_eq!(field(&second, "email")["type"], "text_read_only");
    assert_eq!(field(&second, "email")["initial_value"], "jane@example.com");
    // Another email is ignored: the fixed value is what is written.
    let answer = json!({"name": "Jane Doe", "email": "mallory@example.com"});
    assert_eq!(
        setup.step(&mut browser, &link, Some(answer)).await,
        Step::Continue
    );

    // user write + login run without a challenge; the flow ends at `next`.
    let end = challenge(setup.step(&mut browser, &link, None).await);
    assert_eq!(
        end,
        Challenge::Redirect {
            to: "/welcome/".into(),
            final_redirect: true
        }
    );
    assert!(browser.plan.is_none(), "a finished flow keeps no plan");
    assert_eq!(browser.logins, 1);
    let store = &setup.engine.store;
    let jane = store
        .user_by_username("jane")
        .await
        .unwrap()
        .expect("the account exists");
    assert_eq!(browser.user, Some(jane.user.pk));
    assert_eq!(jane.user.email, "jane@example.com");
    assert_eq!(jane.user.name, "Jane Doe");
    let hash = jane.user.password.as_deref().unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");

    // The single-use invitation is spent: another browser is refused with the reason.
    let mut late = Browser::default();
    let refused = challenge(setup.step(&mut late, &link, None).await);
    assert_eq!(denial_code(&refused), Some("invitation_used"));
}

#[tokio::test]
async fn invitee_enrolls_through_the_engine_on_sqlite() {
    invitee_enrolls_and_the_invitation_is_spent(Backend::Sqlite).await;
}

#[tokio::test]
async fn invitee_enrolls_through_the_engine_on_postgres() {
    if let Some(backend) = Backend::postgres() {
        invitee_enrolls_and_the_invitation_is_spent(backend).await;
    }
}

/// Two browsers race for the same single-use invitation up to the last step: exactly one
/// account comes of it, the other is refused with the reason.
#[tokio::test]
async fn a_single_use_invitation_makes_one_account_when_two_browsers_race() {
    let setup = setup(&Backend::Sqlite).await;
    let link = format!("itoken={}", setup.token);
    let mut browsers = [Browser::default(), Browser::default()];
    for (i, browser) in browsers.iter_mut().enumerate() {
        let username = format!("racer{i}");
        setup.step(browser, &link, None).await;
        let first = json!({"username": username, "password": "s3cret-Pa55", "password_repeat": "s3cret-Pa55"});
        setup.step(browser, &link, Some(first)).await;
        setup.step(browser, &link, None).await;
        let second = json!({"name": "Racer", "email": "x@example.com"});
        assert_eq!(
            setup.step(browser, &link, Some(second)).await,
            Step::Continue
        );
    }
    let [a, b] = &mut browsers;
    let (ended_a, ended_b) = tokio::join!(setup.step(a, &link, None), setup.step(b, &link, None));
    let outcomes = [challenge(ended_a), challenge(ended_b)];
    let finished = outcomes
        .iter()
        .filter(|c| matches!(c, Challenge::Redirect { .. }))
        .count();
    assert_eq!(finished, 1, "{outcomes:?}");
    let refused: Vec<_> = outcomes
        .iter()
        .filter(|c| matches!(c, Challenge::AccessDenied { .. }))
        .map(denial_code)
        .collect();
    assert_eq!(refused, [Some("invitation_used")]);
}
