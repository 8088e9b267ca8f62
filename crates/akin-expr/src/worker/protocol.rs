//! What the server and an expression worker say to each other: one JSON object per line,
//! in both directions. The server sends a job; the worker may ask the server to look
//! something up (any number of times, each answered before it goes on) and ends the job
//! with its result.

use akin_domain::policy::{
    ExpressionError, ExpressionMail, PolicyRequest, PolicyUser, PolicyVerdict,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// From the server.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ToWorker {
    Validate {
        expression: String,
    },
    Evaluate {
        expression: String,
        request: PolicyRequest,
        timeout_ms: u64,
    },
    EvaluateMapping {
        expression: String,
        request: PolicyRequest,
        prompt_context: Map<String, Value>,
        timeout_ms: u64,
    },
    /// The answer to the worker's last [`Lookup`].
    Answer {
        answer: Answer,
    },
}

/// From the worker.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum FromWorker {
    /// The expression asks for something only the server has; the job goes on after the
    /// answer.
    Lookup {
        lookup: Lookup,
    },
    Validated {
        result: Result<(), ExpressionError>,
    },
    Evaluated {
        verdict: WireVerdict,
    },
    Mapped {
        result: Result<Value, String>,
    },
}

/// What an expression may ask the server for (`PolicyDirectory`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Lookup {
    UserBy {
        filters: Map<String, Value>,
    },
    IsGroupMember {
        user: i64,
        filters: Map<String, Value>,
    },
    CallPolicy {
        name: String,
        request: PolicyRequest,
        timeout_ms: u64,
    },
    SendEmail {
        mail: ExpressionMail,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Answer {
    UserBy(Option<PolicyUser>),
    IsGroupMember(bool),
    CallPolicy(Option<WireVerdict>),
    SendEmail(Result<(), String>),
}

/// A [`PolicyVerdict`] whole: the API's form leaves out the error and the context updates.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct WireVerdict {
    passing: bool,
    messages: Vec<String>,
    log_messages: Vec<String>,
    error: Option<String>,
    context_updates: Map<String, Value>,
}

impl From<PolicyVerdict> for WireVerdict {
    fn from(v: PolicyVerdict) -> Self {
        WireVerdict {
            passing: v.passing,
            messages: v.messages,
            log_messages: v.log_messages,
            error: v.error,
            context_updates: v.context_updates,
        }
    }
}

impl From<WireVerdict> for PolicyVerdict {
    fn from(v: WireVerdict) -> Self {
        PolicyVerdict {
            passing: v.passing,
            messages: v.messages,
            log_messages: v.log_messages,
            error: v.error,
            context_updates: v.context_updates,
            // Expressions speak of no field in particular.
            ..PolicyVerdict::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_is_one_line_and_reads_back() {
        let request = PolicyRequest {
            user: serde_json::json!({"username": "line\nbreak"}),
            ..PolicyRequest::default()
        };
        let job = ToWorker::Evaluate {
            expression: "x = 1\nreturn True".into(),
            request,
            timeout_ms: 30,
        };
        let line = serde_json::to_string(&job).unwrap();
        assert!(!line.contains('\n'), "{line}");
        let read: ToWorker = serde_json::from_str(&line).unwrap();
        assert!(matches!(read, ToWorker::Evaluate { timeout_ms: 30, .. }));

        let verdict = PolicyVerdict {
            error: Some("boom".into()),
            ..PolicyVerdict::fail(Some("no".into()))
        };
        let line = serde_json::to_string(&FromWorker::Evaluated {
            verdict: verdict.clone().into(),
        })
        .unwrap();
        let FromWorker::Evaluated { verdict: read } = serde_json::from_str(&line).unwrap() else {
            panic!("{line}")
        };
        assert_eq!(PolicyVerdict::from(read), verdict);
    }
}
