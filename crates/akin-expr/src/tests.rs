//! The engine on authentik's documented examples and on hostile expressions.

use std::time::{Duration, Instant};

use akin_domain::policy::{
    ExpressionEngine, HttpRequestInfo, PolicyDirectory, PolicyRequest, PolicyUser, PolicyVerdict,
};
use serde_json::{Map, Value, json};

use super::StarlarkEngine;

/// A directory with one user, `alice`, in group `admins`.
struct Directory;

fn alice() -> PolicyUser {
    PolicyUser {
        pk: 7,
        username: "alice".into(),
        name: "Alice".into(),
        email: "alice@example.com".into(),
        is_active: true,
        is_superuser: false,
        attributes: json!({"team": "blue"}).as_object().unwrap().clone(),
        groups: vec!["admins".into()],
        path: "users".into(),
        user_type: "internal".into(),
        has_usable_password: false,
    }
}

impl PolicyDirectory for Directory {
    fn user_by(&self, filters: &Map<String, Value>) -> Option<PolicyUser> {
        (filters.get("username") == Some(&json!("alice"))).then(alice)
    }
    fn is_group_member(&self, user: i64, filters: &Map<String, Value>) -> bool {
        user == 7 && filters.get("name") == Some(&json!("admins"))
    }
    fn call_policy(
        &self,
        name: &str,
        request: &PolicyRequest,
        timeout: Duration,
    ) -> Option<PolicyVerdict> {
        (name == "recursive").then(|| {
            StarlarkEngine::new().evaluate(
                "return ak_call_policy('recursive').passing",
                request,
                self,
                timeout,
            )
        })
    }
}

fn request(context: Value) -> PolicyRequest {
    PolicyRequest {
        user: alice().to_value(),
        context: context.as_object().cloned().unwrap_or_default(),
        http: Some(HttpRequestInfo {
            path: "/if/flow/x/".into(),
            method: "GET".into(),
            headers: Map::new(),
            client_ip: "10.1.2.3".into(),
        }),
    }
}

fn run(expression: &str, context: Value) -> PolicyVerdict {
    StarlarkEngine::new().evaluate(
        expression,
        &request(context),
        &Directory,
        Duration::from_secs(5),
    )
}

#[test]
fn invitation_in_effect() {
    let expression = "return request.context.get(\"invitation_in_effect\", False)";
    assert!(run(expression, json!({"invitation_in_effect": true})).passing);
    assert!(!run(expression, json!({})).passing);
    let docs_variant = "return context.get('invitation_in_effect', False)";
    assert!(run(docs_variant, json!({"invitation_in_effect": true})).passing);
}

#[test]
fn email_domain_with_message() {
    let expression = "email = request.context['prompt_data']['email']\n\
        if not email.endswith('@example.com'):\n\
        \x20   ak_message('Only example.com addresses may enroll.')\n\
        \x20   return False\n\
        return True";
    assert!(
        run(
            expression,
            json!({"prompt_data": {"email": "ann@example.com"}})
        )
        .passing
    );
    let refused = run(
        expression,
        json!({"prompt_data": {"email": "eve@evil.test"}}),
    );
    assert!(!refused.passing);
    assert_eq!(refused.messages, ["Only example.com addresses may enroll."]);
}

#[test]
fn users_groups_and_helpers() {
    assert!(
        run(
            "return ak_is_group_member(request.user, name='admins')",
            json!({})
        )
        .passing
    );
    assert!(
        !run(
            "return ak_is_group_member(request.user, name='others')",
            json!({})
        )
        .passing
    );
    assert!(run("return 'admins' in request.user.groups", json!({})).passing);
    assert!(
        run(
            "return request.user.attributes['team'] == 'blue'",
            json!({})
        )
        .passing
    );
    assert!(
        run(
            "return ak_user_by(username='alice').email == 'alice@example.com'",
            json!({})
        )
        .passing
    );
    assert!(run("return ak_user_by(username='bob') is None", json!({})).passing);
    assert!(
        run(
            "return regex_match(request.user.email, '^a.*@example\\\\.com$')",
            json!({})
        )
        .passing
    );
    assert!(run("return regex_replace('a-b', '-', '_') == 'a_b'", json!({})).passing);
    assert!(run("return ak_client_ip in ip_network('10.0.0.0/8')", json!({})).passing);
    assert!(
        run(
            "return ip_address('192.168.1.1') not in ip_network('10.0.0.0/8')",
            json!({})
        )
        .passing
    );
    assert!(
        run(
            "return list_flatten(['x', 'y']) == 'x' and slugify('Hello World') == 'hello-world'",
            json!({})
        )
        .passing
    );
    assert!(
        run(
            "return context['pending_user'].username == 'alice'",
            json!({"pending_user": alice().to_value()})
        )
        .passing
    );
    assert!(
        run(
            "return context['invitation'].fixed_data['a'] == 1",
            json!({"invitation": {"fixed_data": {"a": 1}}})
        )
        .passing
    );
}

/// authentik's own default-authentication-flow blueprint binds this to the password stage.
#[test]
fn authentiks_password_stage_policy_runs() {
    let expression = "flow_plan = request.context.get(\"flow_plan\")\n\
        if not flow_plan:\n\
        \x20   return True\n\
        return not hasattr(flow_plan.context.get(\"pending_user\"), \"backend\")";
    let verdict = run(expression, json!({"pending_user": alice().to_value()}));
    assert!(verdict.passing && verdict.error.is_none(), "{verdict:?}");
    assert!(
        run(
            "return context['flow_plan'].context['x'] == 1",
            json!({"x": 1})
        )
        .passing
    );
}

/// authentik's initial-setup policy sets the plan's pending user.
#[test]
fn policies_can_set_plan_context() {
    let expression = "akadmin = ak_user_by(username='alice')\n\
        context['flow_plan'].context['pending_user'] = akadmin\n\
        context['flow_plan'].context['note'] = 'x'\n\
        return not akadmin.has_usable_password()";
    let verdict = run(expression, json!({}));
    assert!(verdict.passing, "{verdict:?}");
    assert_eq!(
        verdict.context_updates,
        json!({"pending_user": 7, "note": "x"})
            .as_object()
            .unwrap()
            .clone()
    );
    let unchanged = run(
        "return True",
        json!({"pending_user": alice().to_value(), "a": 1}),
    );
    assert!(unchanged.context_updates.is_empty(), "{unchanged:?}");
}

#[test]
fn logs_and_none() {
    let verdict = run(
        "ak_logger.info('checking', 1)\nprint('hello')\nreturn True",
        json!({}),
    );
    assert!(verdict.passing);
    assert_eq!(verdict.log_messages, ["info: checking 1", "hello"]);
    let none = run("x = 1", json!({}));
    assert!(!none.passing && none.error.is_none());
}

#[test]
fn python_features_are_refused_when_saved() {
    let engine = StarlarkEngine::new();
    let error = engine
        .validate("x = 1\nimport os\nreturn True")
        .unwrap_err();
    assert_eq!(error.line, 2);
    assert!(error.message.contains("built in"), "{error}");
    let error = engine.validate("if True:\nreturn 1").unwrap_err();
    assert_eq!(error.line, 2, "{error}");
    assert!(
        engine
            .validate("return request.user.username is not None")
            .is_ok()
    );
}

#[test]
fn hostile_expressions_fail_safely() {
    let cases = [
        ("return open('/etc/passwd')", "open"),
        ("def f(n):\n    return f(n + 1)\nreturn f(0)", "stack"),
        ("for i in range(1000000000):\n    pass\nreturn True", "tick"),
        ("s = 'x' * 100000000\nreturn True", "larger"),
        (
            "s = 'x'\nfor i in range(64):\n    s = s + s\nreturn True",
            "larger",
        ),
        ("return 1 / 0", "zero"),
        ("return regex_match('a', '(')", "regular expression"),
    ];
    for (expression, expected) in cases {
        let verdict = run(expression, json!({}));
        let error = verdict.error.clone().unwrap_or_default();
        assert!(!verdict.passing, "{expression}");
        assert!(
            error.to_lowercase().contains(expected),
            "{expression}: {error}"
        );
    }
}

#[test]
fn policies_calling_themselves_stop() {
    // Each level fails at the depth limit, so the outermost one fails, without an error.
    let verdict = run("return ak_call_policy('recursive').passing", json!({}));
    assert!(!verdict.passing);
    let verdict = run("return ak_call_policy('missing').passing", json!({}));
    assert!(verdict.error.unwrap().contains("not found"));
}

#[test]
fn timeouts_stop_evaluation() {
    let started = Instant::now();
    let verdict = StarlarkEngine::new().evaluate(
        "def spin(n):\n    for i in range(n):\n        pass\nfor j in range(1000):\n    spin(9000)\nreturn True",
        &request(json!({})),
        &Directory,
        Duration::from_millis(100),
    );
    assert!(!verdict.passing);
    assert!(
        verdict
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("time")
            || verdict
                .error
                .as_deref()
                .unwrap_or_default()
                .contains("tick"),
        "{:?}",
        verdict.error
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn errors_at_the_end_point_at_the_last_line() {
    let error = StarlarkEngine::new().validate("return (1 +").unwrap_err();
    assert_eq!(error.line, 1, "{error}");
}

/// Prompts' computed placeholders and initial values (authentik's property mappings): the
/// expression's return value comes back, with `user`, `request` and `prompt_context`.
#[test]
fn property_mappings_return_values() {
    let engine = StarlarkEngine::new();
    let prompt_context = json!({"email": "alice@example.com"});
    let mapping = |expression: &str| {
        engine.evaluate_mapping(
            expression,
            &request(json!({})),
            prompt_context.as_object().unwrap(),
            &Directory,
            Duration::from_secs(1),
        )
    };
    assert_eq!(
        mapping("return user.username + ' <' + prompt_context['email'] + '>'"),
        Ok(json!("alice <alice@example.com>"))
    );
    assert_eq!(
        mapping("return ['red', 'green', request.user.username]"),
        Ok(json!(["red", "green", "alice"]))
    );
    assert_eq!(mapping("return None"), Ok(Value::Null));
    let failed = mapping("return prompt_context['missing']").unwrap_err();
    assert!(failed.contains("missing"), "{failed}");
    let slow = mapping("for i in range(100000000):\n    pass\nreturn 1").unwrap_err();
    assert!(!slow.is_empty());
    // A policy's variables are not a mapping's.
    assert!(mapping("return context").is_err());
}

/// Parsing recurses once per nesting level or chained operator: deep or long expressions
/// are compiled on a thread with a large stack, and ones past the size limit are refused,
/// so none can overflow a stack and abort the server. Checked here on an ordinary 2 MiB
/// thread, as the server's worker threads are.
#[test]
fn deep_or_long_expressions_cannot_crash_the_server() {
    let checked = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let engine = StarlarkEngine::new();
            let deep = [
                format!("return {}1{}", "(".repeat(4_000), ")".repeat(4_000)),
                format!("return {}1", "1+".repeat(4_000)),
                format!("return {}True", "not ".repeat(4_000)),
                format!("return {}1", "1 if True else ".repeat(1_500)),
                format!("return str{}", "(1)".repeat(3_000)),
            ];
            for body in &deep {
                // Compiles (or is refused) without overflowing; evaluating it is safe too.
                if engine.validate(body).is_ok() {
                    let _ = engine.evaluate(
                        body,
                        &request(json!({})),
                        &Directory,
                        Duration::from_secs(5),
                    );
                }
            }
            let long = format!("return {}1", "1+".repeat(20_000));
            engine.validate(&long).unwrap_err().message
        })
        .unwrap()
        .join()
        .expect("no stack overflow");
    assert!(checked.contains("too long"), "{checked}");
}
