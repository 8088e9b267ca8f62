//! One step of a flow for one browser: continue the session's plan (or plan anew), run the
//! current stage with the response to its challenge, and say what to show next. authentik's
//! executor protocol is this loop; the web layer only translates it.

use std::sync::Arc;

use akin_domain::flow::plan::{FLOW_TOKEN, IS_RESTORED};
use akin_domain::flow::{Challenge, FlowInfo, FlowPlan, InvalidResponseAction};
use akin_domain::invitation;
use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};

use crate::stages::{self, Outcome, StageStep};
use crate::{Engine, FlowResult, RequestInfo, definitions, planner};

/// The browser session a flow runs in, as the engine sees it: who is signed in and the
/// plan in progress. The web layer's cookie session implements it; the engine decides,
/// the session's owner stores.
pub trait FlowSession: Send {
    /// Who is signed in to this session, if anyone.
    fn user(&self) -> Option<i64>;
    /// The flow this session is running, if any.
    fn plan(&self) -> Option<Arc<FlowPlan>>;
    fn set_plan(&mut self, plan: Option<FlowPlan>);
    /// Signs `user` in; the session id must change (against session fixation). A zero
    /// `duration` means until the browser closes.
    fn login(&mut self, user: i64, duration: Duration, now: OffsetDateTime);
    fn logout(&mut self);
}

/// One request to run the flow `slug`.
pub struct FlowRequest<'a> {
    pub slug: &'a str,
    /// The flow page's own query as sent (`itoken=…&next=…`).
    pub page_query: &'a str,
    pub origin: &'a RequestInfo,
    pub now: OffsetDateTime,
}

/// What a step produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Show this challenge (the end of the flow is a redirect challenge).
    Challenge(Challenge, FlowInfo),
    /// The stage is done: the next one is fetched by showing the same page again.
    Continue,
}

/// Everything one step works with, for the planner and the stages.
pub(crate) struct Run<'a> {
    pub engine: &'a Engine,
    pub origin: &'a RequestInfo,
    /// The page's own query, decoded: `itoken`, `next`, …
    page: Vec<(String, String)>,
    pub slug: &'a str,
    pub now: OffsetDateTime,
    /// Who is signed in to this browser session, if anyone.
    pub signed_in: Option<i64>,
    /// The invitation this request already looked up and put into effect: the planner
    /// does, and the invitation stage that runs right after it need not read it again.
    pub invitation_checked: std::sync::OnceLock<uuid::Uuid>,
}

impl Run<'_> {
    pub fn page_param(&self, key: &str) -> Option<&str> {
        self.page
            .iter()
            .rev()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Whether the page asks for a preview (`akin_preview=1`); only a superuser gets one.
    pub fn wants_preview(&self) -> bool {
        self.page_param(akin_domain::flow::plan::PREVIEW) == Some("1")
    }

    /// The invitation token the link carries, under any of authentik's names for it.
    pub fn token(&self) -> Option<String> {
        invitation::TOKEN_QUERY_KEYS
            .iter()
            .find_map(|k| self.page_param(k))
            .map(str::to_owned)
    }

    /// The page's query as it was sent, for links that keep it (`next=…`).
    pub fn page_query(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&self.page)
            .finish()
    }

    /// `next` when it is a path on this server.
    pub fn next(&self) -> Option<&str> {
        self.page_param("next").filter(|n| is_local_path(n))
    }

    /// The end of the flow: where the browser goes now.
    fn finish(&self) -> Challenge {
        Challenge::Redirect {
            to: self.next().unwrap_or("/").to_owned(),
            final_redirect: true,
        }
    }

    /// Where a preview ends: back to the invitation in the admin pages, which say so
    /// (`previewed`: the page has the words, the address only a flag).
    fn finish_preview(&self, plan: &FlowPlan) -> Challenge {
        let pk = plan
            .context
            .get(invitation::CONTEXT_INVITATION)
            .and_then(|i| i.get("pk"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("status", "all")
            .append_pair("opened", &pk)
            .append_pair("previewed", "1")
            .finish();
        Challenge::Redirect {
            to: format!("/if/admin/invitations/?{query}#invitation-{pk}"),
            final_redirect: true,
        }
    }
}

impl Engine {
    /// Runs the flow for this session: `response` answers the current challenge (`None`
    /// for a GET). The session's plan and sign-in are updated; its owner stores it.
    pub async fn execute(
        &self,
        request: FlowRequest<'_>,
        session: &mut dyn FlowSession,
        response: Option<Map<String, Value>>,
    ) -> FlowResult<Step> {
        let run = Run {
            engine: self,
            origin: request.origin,
            page: form_urlencoded::parse(request.page_query.as_bytes())
                .into_owned()
                .collect(),
            slug: request.slug,
            now: request.now,
            signed_in: session.user(),
            invitation_checked: std::sync::OnceLock::new(),
        };

        // An email stage's link: the plan parked behind its one-time key continues in this
        // browser, whichever it is (authentik's flow token). A spent or expired key is
        // ignored: the session's own plan, or a new one, goes on.
        if let Some(key) = run.page_param(FLOW_TOKEN)
            && let Some(parked) = self.store.take_parked_plan(key, run.now).await?
            && parked.flow_slug == run.slug
            && let Ok(mut plan) = serde_json::from_value::<FlowPlan>(parked.plan)
        {
            plan.context
                .insert(IS_RESTORED.to_owned(), Value::from(parked.user));
            session.set_plan(Some(plan));
        }

        // A plan for this flow continues, unless the link carries another invitation: then
        // the old plan (and its data) is dropped and the new invitation starts over.
        let token = run.token();
        let stored = session.plan();
        let preview = run.wants_preview();
        let continues = |p: &FlowPlan| {
            p.slug == run.slug && (token.is_none() || p.token == token) && p.is_preview() == preview
        };

        // Showing the current challenge again changes nothing: it is rendered from the
        // session's shared plan, without copying it or changing the session (the common
        // request: a page reloaded, a link scanner, a browser polling).
        if response.is_none()
            && let Some(plan) = stored.as_deref().filter(|p| continues(p))
            && let Some(challenge) = plan
                .current()
                .and_then(|stage| stages::unchanged_challenge(plan, stage))
        {
            return Ok(Step::Challenge(challenge, plan.info.clone()));
        }

        let mut plan = match stored.as_deref().filter(|p| continues(p)) {
            Some(plan) => plan.clone(),
            None => {
                let flow = definitions::definition(self, run.slug).await?;
                match planner::plan(&run, &flow, token).await? {
                    Ok(plan) => {
                        self.metrics
                            .flow_executions
                            .get_or_create(&crate::metrics::FlowLabels {
                                flow: plan.slug.clone(),
                            })
                            .inc();
                        plan
                    }
                    Err(denied) => {
                        session.set_plan(None);
                        // With the flow's info, as authentik's (its page keeps the title).
                        return Ok(Step::Challenge(denied, flow.info.clone()));
                    }
                }
            }
        };

        // The first answer in a visit with an invitation in effect: the person started.
        if response.is_some() {
            count_start(&run, &mut plan).await;
        }

        // A GET runs stages until one has something to show: stages without a challenge
        // (invitation, user write, login, …) need no round trip of their own. A POST answers
        // its stage and, when that is done, redirects to the next, as authentik does.
        let is_get = response.is_none();
        let mut response = response;
        let outcome = loop {
            let Some(stage) = plan.current().cloned() else {
                break Outcome::Stop(if plan.is_preview() {
                    run.finish_preview(&plan)
                } else {
                    run.finish()
                });
            };
            // authentik's re_evaluate_policies: a binding whose policies fail now is
            // skipped; once they passed, the stage keeps running without re-checking.
            if stage.re_evaluate {
                if planner::binding_policies_pass(&run, &mut plan, &stage).await? {
                    plan.stages[0].re_evaluate = false;
                } else {
                    plan.advance();
                }
                continue;
            }
            let mut step = StageStep {
                run: &run,
                plan: &mut plan,
                session: &mut *session,
            };
            match stages::run(&mut step, &stage, response.take()).await? {
                Outcome::Next if is_get => plan.advance(),
                // authentik's invalid_response_action, for every stage kind.
                Outcome::Invalid(challenge) => {
                    break match stage.invalid_response_action {
                        InvalidResponseAction::Retry => Outcome::Challenge(challenge),
                        InvalidResponseAction::Restart => Outcome::Restart {
                            keep_context: false,
                        },
                        InvalidResponseAction::RestartWithContext => {
                            Outcome::Restart { keep_context: true }
                        }
                    };
                }
                outcome => break outcome,
            }
        };
        let info = plan.info.clone();
        Ok(match outcome {
            Outcome::Challenge(challenge) | Outcome::Invalid(challenge) => {
                if stored.as_deref() != Some(&plan) {
                    session.set_plan(Some(plan));
                }
                Step::Challenge(challenge, info)
            }
            Outcome::Next => {
                plan.advance();
                if plan.current().is_none() {
                    session.set_plan(None);
                    let end = if plan.is_preview() {
                        run.finish_preview(&plan)
                    } else {
                        run.finish()
                    };
                    Step::Challenge(end, info)
                } else {
                    session.set_plan(Some(plan));
                    Step::Continue
                }
            }
            Outcome::Stop(challenge) => {
                session.set_plan(None);
                Step::Challenge(challenge, info)
            }
            Outcome::Restart { keep_context } => {
                let flow = definitions::definition(self, run.slug).await?;
                match planner::plan(&run, &flow, plan.token.clone()).await? {
                    Ok(mut fresh) => {
                        if keep_context {
                            fresh.context = plan.context;
                        }
                        session.set_plan(Some(fresh));
                    }
                    Err(_) => session.set_plan(None),
                }
                Step::Continue
            }
        })
    }
}

/// A path on this server: not `//host` or `/\\host` (which browsers treat as another
/// host), no scheme, no control characters. Anything else would make `next` an open
/// redirect.
pub fn is_local_path(next: &str) -> bool {
    next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
}

/// Plan context flag: this visit's start was counted.
const STARTED_COUNTED: &str = "akin_invitation_started";

/// Counts the plan's invitation as started, once per plan.
async fn count_start(run: &Run<'_>, plan: &mut FlowPlan) {
    if plan.context.contains_key(STARTED_COUNTED) || plan.is_preview() {
        return;
    }
    let Some(uuid) = plan
        .context
        .get(akin_domain::invitation::CONTEXT_INVITATION)
        .and_then(|i| i.get("pk"))
        .and_then(Value::as_str)
        .and_then(|p| uuid::Uuid::parse_str(p).ok())
    else {
        return;
    };
    plan.context
        .insert(STARTED_COUNTED.to_owned(), Value::Bool(true));
    if let Err(error) = run
        .engine
        .store
        .count_invitation_visit(uuid, akin_domain::invitation::VisitStep::Started)
        .await
    {
        tracing::warn!(%error, "could not count an invitation's visit");
    }
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
