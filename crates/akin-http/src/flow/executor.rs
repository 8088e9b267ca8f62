//! `GET|POST /api/v3/flows/executor/{slug}/?query=…`: authentik's flow executor protocol.
//! Each request runs the current stage of the session's plan: a challenge stage answers
//! with its challenge (or the same challenge with `response_errors`), a finished stage
//! with a 302 to the same URL, the end of the flow with `xak-flow-redirect`.

use std::collections::{HashMap, HashSet};

use akin_domain::catalog;
use akin_domain::event::EventAction;
use akin_domain::flow::plan::{
    self, DENY_STAGE, IDENTIFICATION_STAGE, INVITATION_STAGE, PASSWORD_STAGE, PENDING_USER,
    PROMPT_DATA, PROMPT_STAGE, Requester, USER_LOGIN_STAGE, USER_LOGOUT_STAGE, USER_WRITE_STAGE,
};
use akin_domain::flow::{Challenge, FlowInfo, FlowPlan, PlannedStage};
use akin_domain::invitation::{self, CONTEXT_IN_EFFECT, CONTEXT_INVITATION, Refusal};
use akin_domain::policy::EngineMode;
use akin_domain::stage::prompt::{self, Prompt};
use akin_domain::stage::user_write::{self, UserWriteConfig, WriteAction};
use akin_domain::user::UserChanges;
use akin_store::{ClaimError, UserWrite};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::session::{Session, parse_duration};
use crate::audit::{self, RequestMeta};
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonObject, QueryParams};
use crate::policy;
use crate::state::AppState;

/// Where a planned prompt stage keeps its prompts' definitions.
const PLANNED_PROMPTS: &str = "akin_prompts";

pub fn router() -> Router<AppState> {
    Router::new().route("/flows/executor/{slug}/", get(get_stage).post(post_stage))
}

/// Everything one executor request works with.
struct Run<'a> {
    state: &'a AppState,
    meta: &'a RequestMeta,
    /// The page's own query (`query=` decoded): `itoken`, `next`, …
    page: Vec<(String, String)>,
    slug: String,
    now: OffsetDateTime,
    /// Who is signed in to this browser session, if anyone.
    signed_in: Option<i64>,
}

impl Run<'_> {
    fn page_param(&self, key: &str) -> Option<&str> {
        self.page
            .iter()
            .rev()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    fn token(&self) -> Option<String> {
        invitation::TOKEN_QUERY_KEYS
            .iter()
            .find_map(|k| self.page_param(k))
            .map(str::to_owned)
    }
}

async fn get_stage(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    query: QueryParams,
    headers: HeaderMap,
    meta: RequestMeta,
) -> ApiResult<Response> {
    let page_query = query.get("query").unwrap_or_default();
    let executed = execute(&state, &slug, page_query, &headers, &meta, None).await?;
    Ok(executed.into_json(&slug, page_query))
}

async fn post_stage(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    query: QueryParams,
    headers: HeaderMap,
    meta: RequestMeta,
    JsonObject(body): JsonObject,
) -> ApiResult<Response> {
    let page_query = query.get("query").unwrap_or_default();
    let executed = execute(&state, &slug, page_query, &headers, &meta, Some(body)).await?;
    Ok(executed.into_json(&slug, page_query))
}

/// What one executor request produced, before it is rendered (as authentik's JSON here,
/// as HTML by the flow interface).
pub(crate) struct Executed {
    pub step: Step,
    /// `Set-Cookie` for the session, when it changed.
    pub cookie: Option<String>,
}

pub(crate) enum Step {
    /// A challenge, in authentik's JSON (the end of the flow is `xak-flow-redirect`).
    Challenge(Value),
    /// The stage is done: the next one is fetched with a GET of the same page.
    Continue,
}

impl Executed {
    /// authentik's executor protocol: the challenge as JSON, or a 302 to the same URL.
    fn into_json(self, slug: &str, page_query: &str) -> Response {
        let response = match self.step {
            Step::Challenge(challenge) => Json(challenge).into_response(),
            Step::Continue => {
                let query = form_urlencoded::Serializer::new(String::new())
                    .append_pair("query", page_query)
                    .finish();
                let location = format!("/api/v3/flows/executor/{slug}/?{query}");
                (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
            }
        };
        with_cookie(response, &self.cookie)
    }
}

/// What a stage decided.
enum Outcome {
    /// Show this challenge; the stage stays current.
    Challenge(Challenge),
    /// The stage is done: on to the next.
    Next,
    /// The flow stops here; the plan is dropped.
    Stop(Challenge),
    /// Invalid input on a binding with `invalid_response_action` restart: plan again,
    /// keeping the context when asked (`restart_with_context`).
    Restart { keep_context: bool },
}

/// Runs the flow `slug` for this browser: `page_query` is the flow page's own query
/// (`itoken=…&next=…`), `response` the answer to the current challenge (`None` for a GET).
pub(crate) async fn execute(
    state: &AppState,
    slug: &str,
    page_query: &str,
    headers: &HeaderMap,
    meta: &RequestMeta,
    response: Option<Map<String, Value>>,
) -> ApiResult<Executed> {
    let now = OffsetDateTime::now_utc();
    let page: Vec<(String, String)> = form_urlencoded::parse(page_query.as_bytes())
        .into_owned()
        .collect();
    let secure = is_https(headers);
    let mut session = Session::load(state, headers, now).await?;
    let run = Run {
        state,
        meta,
        page,
        slug: slug.to_owned(),
        now,
        signed_in: session.user(),
    };

    // A plan for this flow continues, unless the link carries another invitation: then
    // the old plan (and its data) is dropped and the new invitation starts over.
    let token = run.token();
    let stored = session.plan();
    let continues = |p: &FlowPlan| p.slug == run.slug && (token.is_none() || p.token == token);

    // Showing the current challenge again changes nothing: it is rendered from the
    // session's shared plan, without copying it or writing the session (the common
    // request: a page reloaded, a link scanner, a browser polling).
    if response.is_none()
        && let Some(plan) = stored.as_deref().filter(|p| continues(p))
        && let Some(challenge) = plan
            .current()
            .and_then(|stage| unchanged_challenge(plan, stage))
    {
        return Ok(Executed {
            step: Step::Challenge(challenge.to_json(Some(&plan.info))),
            cookie: None,
        });
    }

    let mut current = stored.as_deref().filter(|p| continues(p)).cloned();
    if current.is_none() {
        let flow = find_flow(&run).await?;
        match new_plan(&run, &flow, &session, token).await? {
            Ok(plan) => current = Some(plan),
            Err(denied) => {
                session.set_plan(None);
                let cookie = session.save(state, meta, secure, now).await?;
                return Ok(Executed {
                    // With the flow's info, as authentik's (its page keeps the title).
                    step: Step::Challenge(denied.to_json(Some(&flow_info(&flow)))),
                    cookie,
                });
            }
        }
    }
    let mut plan = current.expect("planned above");

    // A GET runs stages until one has something to show: stages without a challenge
    // (invitation, user write, login, …) need no round trip of their own. A POST answers
    // its stage and, when that is done, redirects (302) to the next, as authentik does.
    let is_get = response.is_none();
    let mut response = response;
    let outcome = loop {
        match plan.current().cloned() {
            None => break Outcome::Stop(finish(&run)),
            // authentik's re_evaluate_policies: a binding whose policies fail now is
            // skipped; once they passed, the stage keeps running without re-checking.
            Some(stage) if stage.re_evaluate => {
                if binding_policies_pass(&run, &mut plan, &stage).await? {
                    plan.stages[0].re_evaluate = false;
                } else {
                    plan.advance();
                }
            }
            Some(stage) => {
                match run_stage(&run, &mut plan, &stage, &mut session, response.take()).await? {
                    Outcome::Next if is_get => plan.advance(),
                    outcome => break outcome,
                }
            }
        }
    };
    let info = plan.info.clone();
    let step = match outcome {
        Outcome::Challenge(challenge) => {
            if stored.as_deref() != Some(&plan) {
                session.set_plan(Some(plan));
            }
            Step::Challenge(challenge.to_json(Some(&info)))
        }
        Outcome::Next => {
            plan.advance();
            if plan.current().is_none() {
                session.set_plan(None);
                Step::Challenge(finish(&run).to_json(Some(&info)))
            } else {
                session.set_plan(Some(plan));
                Step::Continue
            }
        }
        Outcome::Stop(challenge) => {
            session.set_plan(None);
            Step::Challenge(challenge.to_json(Some(&info)))
        }
        Outcome::Restart { keep_context } => {
            let flow = find_flow(&run).await?;
            match new_plan(&run, &flow, &session, plan.token.clone()).await? {
                Ok(mut fresh) => {
                    if keep_context {
                        fresh.context = plan.context.clone();
                    }
                    session.set_plan(Some(fresh));
                }
                Err(_) => session.set_plan(None),
            }
            Step::Continue
        }
    };
    let cookie = session.save(state, meta, secure, now).await?;
    Ok(Executed { step, cookie })
}

/// Whether the browser reached us over https (through a proxy that says so): session
/// cookies are then marked Secure.
pub(crate) fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

pub(crate) fn with_cookie(mut response: Response, cookie: &Option<String>) -> Response {
    if let Some(value) = cookie
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// A path on this server: not `//host` or `/\\host` (which browsers treat as another
/// host), no scheme, no control characters. Anything else would make `next` an open
/// redirect.
pub(crate) fn is_local_path(next: &str) -> bool {
    next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
}

/// The flow being run, as stored: read only when planning (a plan carries what its
/// stages need).
async fn find_flow(run: &Run<'_>) -> ApiResult<Map<String, Value>> {
    run.state
        .store
        .find_objects(
            catalog::FLOW,
            &[("slug".to_owned(), Value::String(run.slug.clone()))],
        )
        .await?
        .into_iter()
        .next()
        .ok_or(ApiError::NotFound("Flow"))
}

/// The end of the flow: where the browser goes now.
fn finish(run: &Run<'_>) -> Challenge {
    let to = run
        .page_param("next")
        .filter(|n| is_local_path(n))
        .unwrap_or("/")
        .to_owned();
    Challenge::Redirect {
        to,
        final_redirect: true,
    }
}

fn text(object: &Map<String, Value>, key: &str) -> String {
    object
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// What the challenges say about `flow` (its title and layout for the page, …).
fn flow_info(flow: &Map<String, Value>) -> FlowInfo {
    FlowInfo {
        title: text(flow, "title"),
        layout: Some(text(flow, "layout"))
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| "stacked".into()),
        designation: text(flow, "designation"),
        authentication: text(flow, "authentication"),
        denied_action: text(flow, "denied_action"),
    }
}

/// Plans the flow for this session, or says why it may not run.
async fn new_plan(
    run: &Run<'_>,
    flow: &Map<String, Value>,
    session: &Session,
    token: Option<String>,
) -> ApiResult<Result<FlowPlan, Challenge>> {
    let info = flow_info(flow);
    let requester = match session.user() {
        None => Requester::Anonymous,
        Some(pk) => match run.state.store.user_by_pk(pk).await? {
            Some(user) if user.user.is_active => Requester::User {
                superuser: user.is_superuser,
            },
            _ => Requester::Anonymous,
        },
    };
    if !plan::may_run(&info.authentication, requester) {
        return Ok(Err(Challenge::denied(
            "Flow does not apply to current user.",
            Some("flow_not_applicable"),
        )));
    }
    let flow_pk = Uuid::parse_str(flow["pk"].as_str().unwrap_or_default())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    // Everything the plan needs, in a handful of queries however many stages the flow has.
    let mut tx = run.state.store.db().begin().await?;
    let mut bindings = tx
        .find_objects(
            catalog::FLOW_STAGE_BINDING,
            &[("target".to_owned(), flow["pk"].clone())],
        )
        .await?;
    bindings.sort_by_key(|b| b["order"].as_i64().unwrap_or_default());
    let stage_pks: Vec<Value> = bindings.iter().map(|b| b["stage"].clone()).collect();
    let stages_by_pk: HashMap<String, (&'static str, Map<String, Value>)> = tx
        .find_stages(&stage_pks)
        .await?
        .into_iter()
        .map(|(kind, stage)| (text(&stage, "pk"), (kind, stage)))
        .collect();
    let prompt_pks: Vec<Value> = stages_by_pk
        .values()
        .filter(|(kind, _)| *kind == PROMPT_STAGE)
        .filter_map(|(_, stage)| stage.get("fields").and_then(Value::as_array))
        .flatten()
        .cloned()
        .collect();
    let prompts_by_pk: HashMap<String, Map<String, Value>> = tx
        .find_objects_in(catalog::PROMPT, "pk", &prompt_pks)
        .await?
        .into_iter()
        .map(|prompt| (text(&prompt, "pk"), prompt))
        .collect();
    let binding_pks: Vec<Value> = bindings.iter().map(|b| b["pk"].clone()).collect();
    let with_policies: HashSet<String> =
        policy::targets_with_bindings(&mut tx, &binding_pks).await?;
    drop(tx);

    let mut stages = Vec::with_capacity(bindings.len());
    let mut check_on_plan = Vec::new();
    for binding in bindings {
        let Some((kind, stage)) = binding["stage"]
            .as_str()
            .and_then(|pk| stages_by_pk.get(pk))
            .cloned()
        else {
            continue;
        };
        let mut stage = stage;
        if kind == PROMPT_STAGE {
            // The prompts travel with the plan, so showing the form reads no prompt rows.
            let prompts: Vec<Value> = stage
                .get("fields")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter_map(|pk| prompts_by_pk.get(pk))
                .map(|prompt| Value::Object(prompt.clone()))
                .collect();
            stage.insert(PLANNED_PROMPTS.into(), Value::Array(prompts));
        }
        let binding_pk = binding["pk"].as_str().and_then(|p| Uuid::parse_str(p).ok());
        let has_policies = with_policies.contains(&text(&binding, "pk"));
        let flag =
            |key: &str, default: bool| binding.get(key).and_then(Value::as_bool).unwrap_or(default);
        if has_policies && flag("evaluate_on_plan", false) {
            check_on_plan.extend(binding_pk);
        }
        stages.push(PlannedStage {
            binding: binding_pk,
            stage: stage["pk"].as_str().and_then(|p| Uuid::parse_str(p).ok()),
            kind: kind.to_owned(),
            name: text(&stage, "name"),
            config: std::sync::Arc::new(stage),
            invalid_response_action: text(&binding, "invalid_response_action"),
            re_evaluate: has_policies && flag("re_evaluate_policies", true),
            policy_engine_mode: text(&binding, "policy_engine_mode"),
        });
    }
    let mut plan = FlowPlan::new(flow_pk, run.slug.clone(), info, stages, token.clone());

    // The invitation is put into effect before flow policies are evaluated, so a policy
    // on `invitation_in_effect` can make any flow invite-only (DESIGN.md, 7). A token
    // that is present but unusable is refused with its reason here.
    if let Some(token) = token.filter(|_| plan.has_stage(INVITATION_STAGE))
        && let Err(refusal) = put_invitation_in_effect(run, &mut plan, &token).await?
    {
        return Ok(Err(Challenge::denied(
            refusal.message(),
            Some(refusal.code()),
        )));
    }

    let flow_bindings = policy::bindings_of(run.state, &flow["pk"]).await?;
    if !flow_bindings.is_empty() {
        let request =
            policy::flow_request(run.state, run.meta, run.signed_in, &plan.context).await?;
        let mode = EngineMode::parse(&text(flow, "policy_engine_mode"));
        let verdict = policy::evaluate(run.state, run.meta, flow_bindings, mode, request).await?;
        plan.context.extend(verdict.context_updates);
        if !verdict.passing {
            return Ok(Err(flow_denied(run, &plan.info, &verdict.messages)));
        }
    }

    // Bindings with evaluate_on_plan: a stage whose policies fail now is left out.
    for binding in check_on_plan {
        let Some(stage) = plan
            .stages
            .iter()
            .find(|s| s.binding == Some(binding))
            .cloned()
        else {
            continue;
        };
        if !binding_policies_pass(run, &mut plan, &stage).await? {
            plan.stages.retain(|s| s.binding != Some(binding));
        }
    }
    Ok(Ok(plan))
}

/// What a visitor sees when the flow's policies refuse them, by the flow's
/// `denied_action`: `continue` goes on to `next` (or `/`), `message_continue` does when
/// there is a `next`, otherwise the policies' messages are shown.
fn flow_denied(run: &Run<'_>, info: &FlowInfo, messages: &[String]) -> Challenge {
    let next = run.page_param("next").filter(|n| is_local_path(n));
    match (info.denied_action.as_str(), next) {
        ("continue", next) | ("message_continue", next @ Some(_)) => Challenge::Redirect {
            to: next.unwrap_or("/").to_owned(),
            final_redirect: true,
        },
        _ => {
            let message = if messages.is_empty() {
                "Flow does not apply to current user.".to_owned()
            } else {
                messages.join("\n")
            };
            Challenge::denied(message, Some("flow_not_applicable"))
        }
    }
}

/// Whether the policies bound to `stage`'s flow-stage binding let it run now. What they
/// write into the plan's context is kept.
async fn binding_policies_pass(
    run: &Run<'_>,
    plan: &mut FlowPlan,
    stage: &PlannedStage,
) -> ApiResult<bool> {
    let Some(binding) = stage.binding else {
        return Ok(true);
    };
    let bindings = policy::bindings_of(run.state, &Value::String(binding.to_string())).await?;
    let request = policy::flow_request(run.state, run.meta, run.signed_in, &plan.context).await?;
    let mode = EngineMode::parse(&stage.policy_engine_mode);
    let verdict = policy::evaluate(run.state, run.meta, bindings, mode, request).await?;
    plan.context.extend(verdict.context_updates);
    Ok(verdict.passing)
}

fn refused(refusal: Refusal) -> Outcome {
    Outcome::Stop(Challenge::denied(refusal.message(), Some(refusal.code())))
}

async fn run_stage(
    run: &Run<'_>,
    plan: &mut FlowPlan,
    stage: &PlannedStage,
    session: &mut Session,
    response: Option<Map<String, Value>>,
) -> ApiResult<Outcome> {
    match stage.kind.as_str() {
        INVITATION_STAGE => invitation_stage(run, plan, stage).await,
        PROMPT_STAGE => prompt_stage(run, plan, stage, response).await,
        USER_WRITE_STAGE => user_write_stage(run, plan, stage).await,
        USER_LOGIN_STAGE => user_login_stage(run, plan, stage, session, response).await,
        IDENTIFICATION_STAGE => identification_stage(run, plan, stage, response).await,
        PASSWORD_STAGE => password_stage(run, plan, stage, response).await,
        USER_LOGOUT_STAGE => {
            session.logout();
            Ok(Outcome::Next)
        }
        DENY_STAGE => {
            let message = Some(text(&stage.config, "deny_message")).filter(|m| !m.is_empty());
            Ok(Outcome::Stop(Challenge::denied(
                message.unwrap_or_else(|| "Access denied.".into()),
                Some("denied"),
            )))
        }
        other => Ok(Outcome::Stop(Challenge::denied(
            format!("akin cannot run {other} stages yet."),
            Some("stage_unsupported"),
        ))),
    }
}

/// Looks the invitation up and puts it into effect. A token that is present but unusable
/// is refused even when the stage may continue without an invitation (DESIGN.md, 5).
async fn invitation_stage(
    run: &Run<'_>,
    plan: &mut FlowPlan,
    stage: &PlannedStage,
) -> ApiResult<Outcome> {
    let prompt_token = plan
        .context
        .get(PROMPT_DATA)
        .and_then(|p| p.get(invitation::TOKEN_PROMPT_KEY))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let Some(token) = run.token().or(prompt_token) else {
        let optional = stage
            .config
            .get("continue_flow_without_invitation")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        return Ok(if optional {
            Outcome::Next
        } else {
            refused(Refusal::Missing)
        });
    };
    Ok(match put_invitation_in_effect(run, plan, &token).await? {
        Ok(()) => Outcome::Next,
        Err(refusal) => refused(refusal),
    })
}

/// Looks the invitation up and, when it may be used in this flow now, puts it into the
/// plan: `invitation_in_effect`, `invitation`, and its fixed data in `prompt_data`.
async fn put_invitation_in_effect(
    run: &Run<'_>,
    plan: &mut FlowPlan,
    token: &str,
) -> ApiResult<Result<(), Refusal>> {
    let Some(uuid) = invitation::parse_token(token) else {
        return Ok(Err(Refusal::NotFound));
    };
    let Some(found) = run.state.store.invitation(uuid).await? else {
        return Ok(Err(Refusal::NotFound));
    };
    if let Err(refusal) = found.check(plan.flow, run.now) {
        return Ok(Err(refusal));
    }
    plan.context
        .insert(CONTEXT_IN_EFFECT.into(), Value::Bool(true));
    plan.context
        .insert(CONTEXT_INVITATION.into(), found.to_context());
    invitation::deep_merge(plan.prompt_data(), &found.fixed_data);
    plan.token = Some(token.to_owned());
    Ok(Ok(()))
}

/// The challenge `stage` shows on a GET when showing it changes nothing in the plan:
/// prompts and identification (whose policies, if any, were already checked). `None` for
/// stages that must run to know what to show.
fn unchanged_challenge(plan: &FlowPlan, stage: &PlannedStage) -> Option<Challenge> {
    if stage.re_evaluate {
        return None;
    }
    match stage.kind.as_str() {
        PROMPT_STAGE => Some(prompt_challenge(plan, stage)),
        IDENTIFICATION_STAGE => Some(identification_challenge(plan, stage, Map::new())),
        _ => None,
    }
}

fn planned_prompts(stage: &PlannedStage) -> Vec<Prompt> {
    stage
        .config
        .get(PLANNED_PROMPTS)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .map(Prompt::from_object)
        .collect()
}

/// The prompt stage's form, filled from the plan (fixed data read-only).
fn prompt_challenge(plan: &FlowPlan, stage: &PlannedStage) -> Challenge {
    let empty = Map::new();
    let prompt_data = plan
        .context
        .get(PROMPT_DATA)
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let fields = prompt::challenge_fields(&planned_prompts(stage), prompt_data, &plan.fixed_data());
    Challenge::Prompt {
        fields,
        errors: Map::new(),
    }
}

async fn prompt_stage(
    run: &Run<'_>,
    plan: &mut FlowPlan,
    stage: &PlannedStage,
    response: Option<Map<String, Value>>,
) -> ApiResult<Outcome> {
    let Some(response) = response else {
        return Ok(Outcome::Challenge(prompt_challenge(plan, stage)));
    };
    let prompts = planned_prompts(stage);
    let fixed = plan.fixed_data();
    let prompt_data = plan
        .context
        .get(PROMPT_DATA)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut checked = prompt::check_response(&prompts, &response, &prompt_data, &fixed);
    for (field, username) in std::mem::take(&mut checked.usernames) {
        if run.state.store.user_by_username(&username).await?.is_some() {
            checked.add_error(&field, "Username is already taken.", "invalid");
        }
    }
    if !checked.errors.is_empty() {
        match stage.invalid_response_action.as_str() {
            "restart" => {
                return Ok(Outcome::Restart {
                    keep_context: false,
                });
            }
            "restart_with_context" => return Ok(Outcome::Restart { keep_context: true }),
            _ => {}
        }
        let fields = prompt::challenge_fields(&prompts, &prompt_data, &fixed);
        return Ok(Outcome::Challenge(Challenge::Prompt {
            fields,
            errors: checked.errors,
        }));
    }
    // The stage's validation policies see the submitted data as `prompt_data`; their
    // messages come back as errors the person can correct.
    let validation: Vec<Value> = stage
        .config
        .get("validation_policies")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !validation.is_empty() {
        let bindings = policy::policies_as_bindings(run.state, &validation).await?;
        let mut context = plan.context.clone();
        let mut submitted = prompt_data.clone();
        submitted.extend(checked.data.clone());
        context.insert(PROMPT_DATA.into(), Value::Object(submitted));
        let request = policy::flow_request(run.state, run.meta, run.signed_in, &context).await?;
        let verdict =
            policy::evaluate(run.state, run.meta, bindings, EngineMode::All, request).await?;
        if !verdict.passing {
            let messages = if verdict.messages.is_empty() {
                vec!["The entered values were not accepted.".to_owned()]
            } else {
                verdict.messages
            };
            let errors: Vec<Value> = messages
                .iter()
                .map(|m| akin_domain::flow::challenge::error_detail(m, "invalid"))
                .collect();
            let mut map = Map::new();
            map.insert("non_field_errors".into(), Value::Array(errors));
            let fields = prompt::challenge_fields(&prompts, &prompt_data, &fixed);
            return Ok(Outcome::Challenge(Challenge::Prompt {
                fields,
                errors: map,
            }));
        }
    }
    plan.prompt_data().extend(checked.data);
    Ok(Outcome::Next)
}

/// Writes the account; an invitation in effect is claimed in the same transaction.
async fn user_write_stage(
    run: &Run<'_>,
    plan: &mut FlowPlan,
    stage: &PlannedStage,
) -> ApiResult<Outcome> {
    let Some(prompt_data) = plan
        .context
        .get(PROMPT_DATA)
        .and_then(Value::as_object)
        .cloned()
    else {
        return Ok(Outcome::Stop(Challenge::denied(
            "No Pending data.",
            Some("no_pending_data"),
        )));
    };
    let config = UserWriteConfig::from_object(&stage.config);
    let pending = plan.context.get(PENDING_USER).and_then(Value::as_i64);
    let claim = plan
        .context
        .get(CONTEXT_INVITATION)
        .and_then(|i| i.get("pk"))
        .and_then(Value::as_str)
        .and_then(|p| Uuid::parse_str(p).ok())
        .map(|invitation| (invitation, plan.flow));
    let hash = |password: Option<String>| async move {
        let Some(password) = password else {
            return Ok::<_, ApiError>(None);
        };
        let hasher = run.state.hasher.clone();
        let phc = tokio::task::spawn_blocking(move || hasher.hash(&password))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))??;
        Ok(Some(phc))
    };
    // The write's audit events are recorded in its transaction: `user_write` (what was
    // entered, without passwords) and, when an invitation was claimed, `invitation_used`.
    let cleansed: Map<String, Value> = prompt_data
        .iter()
        .filter(|(k, _)| !k.contains("password") && k.as_str() != "component")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let events = |created: bool, username: String, email: String| {
        move |pk: i64| {
            let actor = akin_domain::event::Actor {
                pk,
                username,
                email,
            };
            let mut events = vec![audit::event(
                run.meta,
                EventAction::UserWrite,
                Some(&actor),
                json!({"created": created, "prompt_data": cleansed}),
            )];
            if let Some((invitation, _)) = claim {
                events.push(audit::event(
                    run.meta,
                    EventAction::InvitationUsed,
                    Some(&actor),
                    json!({"invitation_uuid": invitation.simple().to_string(), "user": pk}),
                ));
            }
            events
        }
    };
    let written = match (config.action(pending.is_some()), pending) {
        (WriteAction::Refuse, _) => {
            return Ok(Outcome::Stop(Challenge::denied(
                "No user found and can't create new user.",
                Some("no_user"),
            )));
        }
        (WriteAction::UpdatePending, Some(pk)) => {
            let Some(existing) = run.state.store.user_by_pk(pk).await? else {
                return Ok(Outcome::Stop(Challenge::denied(
                    "No Pending user.",
                    Some("no_pending_user"),
                )));
            };
            let mut changes = UserChanges::from_user(&existing.user);
            let password = user_write::apply_to(&prompt_data, &mut changes);
            if let Err(error) = changes.validate() {
                return Ok(Outcome::Stop(Challenge::denied(
                    format!("The account cannot be updated: {error}"),
                    Some("invalid_user"),
                )));
            }
            let phc = hash(password).await?;
            let write = UserWrite::Update {
                pk,
                changes: &changes,
                password: phc.as_deref(),
            };
            let events = events(false, changes.username.clone(), changes.email.clone());
            run.state
                .store
                .write_user_claiming(write, claim, run.now, events)
                .await
        }
        _ => {
            let context_path = plan
                .context
                .get("user_path")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let (mut new_user, password) =
                user_write::new_user(&config, &prompt_data, context_path.as_deref());
            if let Err(error) = new_user.validate() {
                return Ok(Outcome::Stop(Challenge::denied(
                    format!("The account cannot be created: {error}"),
                    Some("invalid_user"),
                )));
            }
            new_user.password = hash(password).await?;
            let groups: Vec<Uuid> = config
                .group
                .as_deref()
                .and_then(|g| Uuid::parse_str(g).ok())
                .into_iter()
                .collect();
            let write = UserWrite::Create {
                user: &new_user,
                groups: &groups,
            };
            let events = events(true, new_user.username.clone(), new_user.email.clone());
            run.state
                .store
                .write_user_claiming(write, claim, run.now, events)
                .await
        }
    };
    let entry = match written {
        Ok(written) => written,
        Err(ClaimError::Refused(refusal)) => return Ok(refused(refusal)),
        Err(ClaimError::Store(akin_store::StoreError::Unique { .. })) => {
            return Ok(Outcome::Stop(Challenge::denied(
                "Username is already taken.",
                Some("username_taken"),
            )));
        }
        Err(ClaimError::Store(error)) => return Err(error.into()),
    };
    plan.context
        .insert(PENDING_USER.into(), Value::from(entry.user.pk));
    Ok(Outcome::Next)
}

/// Signs the pending user in. When the stage offers "remember me" (a positive
/// `remember_me_offset`) it first asks, and a yes lengthens the session by the offset.
async fn user_login_stage(
    run: &Run<'_>,
    plan: &mut FlowPlan,
    stage: &PlannedStage,
    session: &mut Session,
    response: Option<Map<String, Value>>,
) -> ApiResult<Outcome> {
    let Some(pk) = plan.context.get(PENDING_USER).and_then(Value::as_i64) else {
        return Ok(Outcome::Stop(Challenge::denied(
            "No Pending user to login.",
            Some("no_pending_user"),
        )));
    };
    let Some(entry) = run.state.store.user_by_pk(pk).await? else {
        return Ok(Outcome::Stop(Challenge::denied(
            "No Pending user to login.",
            Some("no_pending_user"),
        )));
    };
    if !entry.user.is_active {
        return Ok(Outcome::Stop(Challenge::denied(
            "This account is not active.",
            Some("user_inactive"),
        )));
    }
    let mut duration = parse_duration(&text(&stage.config, "session_duration"));
    let offset = parse_duration(&text(&stage.config, "remember_me_offset"));
    if offset.is_positive() {
        let Some(response) = response else {
            return Ok(Outcome::Challenge(Challenge::UserLogin {
                pending_user: entry.user.username.clone(),
            }));
        };
        match response.get("remember_me") {
            Some(Value::Bool(true)) => duration += offset,
            Some(Value::Bool(false)) => {}
            _ => {
                return Ok(Outcome::Challenge(Challenge::UserLogin {
                    pending_user: entry.user.username.clone(),
                }));
            }
        }
    }
    if stage
        .config
        .get("terminate_other_sessions")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        // This browser's session gets a new id below and is written after this, so only
        // the user's other sessions go.
        run.state.store.delete_user_sessions(pk).await?;
    }
    session.login(pk, duration, run.now);
    run.state.store.record_login(pk, run.now).await?;
    audit::record_event(
        run.state,
        run.meta,
        EventAction::Login,
        Some(&audit::actor_of(&entry.user)),
        json!({"auth_method": "flow"}),
    )
    .await;
    Ok(Outcome::Next)
}

/// Plan context key counting failed password attempts in this flow.
const FAILED_ATTEMPTS: &str = "akin_failed_password_attempts";

fn one_error(field: &str, message: &str, code: &str) -> Map<String, Value> {
    let mut errors = Map::new();
    errors.insert(
        field.to_owned(),
        json!([akin_domain::flow::challenge::error_detail(message, code)]),
    );
    errors
}

fn identification_challenge(
    plan: &FlowPlan,
    stage: &PlannedStage,
    errors: Map<String, Value>,
) -> Challenge {
    Challenge::Identification {
        user_fields: stage
            .config
            .get("user_fields")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        password_fields: stage
            .config
            .get("password_stage")
            .is_some_and(|p| !p.is_null()),
        designation: plan.info.designation.clone(),
        errors,
    }
}

/// Who is signing in: by username or email, as the stage allows.
async fn identification_stage(
    run: &Run<'_>,
    plan: &mut FlowPlan,
    stage: &PlannedStage,
    response: Option<Map<String, Value>>,
) -> ApiResult<Outcome> {
    let Some(response) = response else {
        return Ok(Outcome::Challenge(identification_challenge(
            plan,
            stage,
            Map::new(),
        )));
    };
    let uid = response
        .get("uid_field")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_owned();
    let fields: Vec<String> = stage
        .config
        .get("user_fields")
        .and_then(Value::as_array)
        .map(|f| {
            f.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
    let ignore_case = stage
        .config
        .get("case_insensitive_matching")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let found = run
        .state
        .store
        .user_by_identifier(&uid, &fields, ignore_case)
        .await?
        .filter(|u| u.user.is_active);
    let Some(user) = found else {
        // One message whether or not the account exists: no account enumeration.
        let errors = one_error("non_field_errors", "Failed to authenticate.", "invalid");
        return Ok(Outcome::Challenge(identification_challenge(
            plan, stage, errors,
        )));
    };
    plan.context
        .insert(PENDING_USER.into(), Value::from(user.user.pk));
    plan.context
        .insert("pending_user_identifier".into(), Value::String(uid));
    // A password field on this stage is checked here, as authentik does.
    if stage
        .config
        .get("password_stage")
        .is_some_and(|p| !p.is_null())
    {
        let password = response
            .get("password")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !check_password(run, plan, &user.user, password).await? {
            plan.context.remove(PENDING_USER);
            let errors = one_error("password", "Invalid password", "invalid");
            return Ok(Outcome::Challenge(identification_challenge(
                plan, stage, errors,
            )));
        }
    }
    Ok(Outcome::Next)
}

/// Verifies `password` for `user` off the async threads; a verified imported hash is
/// replaced by Argon2id. Failures are counted in the plan and recorded as events.
async fn check_password(
    run: &Run<'_>,
    plan: &mut FlowPlan,
    user: &akin_domain::user::User,
    password: &str,
) -> ApiResult<bool> {
    let Some(stored) = user.password.clone() else {
        return Ok(false);
    };
    let hasher = run.state.hasher.clone();
    let candidate = password.to_owned();
    let (valid, rehash) = tokio::task::spawn_blocking(move || {
        let valid = hasher.verify(&candidate, &stored);
        let rehash = (valid && hasher.needs_rehash(&stored)).then(|| hasher.hash(&candidate));
        (valid, rehash)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    if let Some(fresh) = rehash {
        run.state
            .store
            .set_password(user.pk, Some(fresh?), run.now)
            .await?;
    }
    if valid {
        plan.context
            .insert("auth_method".into(), Value::String("password".into()));
    } else {
        let failures = plan
            .context
            .get(FAILED_ATTEMPTS)
            .and_then(Value::as_i64)
            .unwrap_or(0)
            + 1;
        plan.context
            .insert(FAILED_ATTEMPTS.into(), Value::from(failures));
        audit::record_event(
            run.state,
            run.meta,
            EventAction::LoginFailed,
            None,
            json!({"username": user.username, "stage": "password"}),
        )
        .await;
    }
    Ok(valid)
}

async fn password_stage(
    run: &Run<'_>,
    plan: &mut FlowPlan,
    stage: &PlannedStage,
    response: Option<Map<String, Value>>,
) -> ApiResult<Outcome> {
    let Some(pk) = plan.context.get(PENDING_USER).and_then(Value::as_i64) else {
        return Ok(Outcome::Stop(Challenge::denied(
            "No pending user.",
            Some("no_pending_user"),
        )));
    };
    let Some(user) = run.state.store.user_by_pk(pk).await? else {
        return Ok(Outcome::Stop(Challenge::denied(
            "No pending user.",
            Some("no_pending_user"),
        )));
    };
    let pending = plan
        .context
        .get("pending_user_identifier")
        .and_then(Value::as_str)
        .unwrap_or(&user.user.username)
        .to_owned();
    let Some(response) = response else {
        return Ok(Outcome::Challenge(Challenge::Password {
            pending_user: pending,
            errors: Map::new(),
        }));
    };
    let password = response
        .get("password")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if check_password(run, plan, &user.user, password).await? {
        return Ok(Outcome::Next);
    }
    let allowed = stage
        .config
        .get("failed_attempts_before_cancel")
        .and_then(Value::as_i64)
        .unwrap_or(5);
    let failures = plan
        .context
        .get(FAILED_ATTEMPTS)
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if failures >= allowed {
        return Ok(Outcome::Stop(Challenge::denied(
            "Too many failed password attempts.",
            Some("too_many_attempts"),
        )));
    }
    Ok(Outcome::Challenge(Challenge::Password {
        pending_user: pending,
        errors: one_error("password", "Invalid password", "invalid"),
    }))
}

#[cfg(test)]
mod tests {
    use super::is_local_path;

    #[test]
    fn next_stays_on_this_server() {
        assert!(is_local_path("/if/user/"));
        assert!(is_local_path("/welcome?x=1"));
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "evil",
            "/\tx",
            "",
        ] {
            assert!(!is_local_path(bad), "{bad:?}");
        }
    }
}
