//! authentik's expression helpers (`ak_message`, `regex_match`, `ak_user_by`, …) as
//! Starlark built-ins, and guards on the operators that could allocate without bound.
// `ak_send_email` takes authentik's eight parameters (the lint fires on the code
// `starlark_module` generates, out of reach of an attribute on the function).
#![allow(clippy::too_many_arguments)]

use std::net::IpAddr;

use akin_domain::policy::{ExpressionMail, MailBody, PolicyUser};
use serde_json::{Map, Value as Json};
use starlark::environment::GlobalsBuilder;
use starlark::eval::Evaluator;
use starlark::starlark_module;
use starlark::values::none::NoneType;
use starlark::values::structs::AllocStruct;
use starlark::values::{Heap, Value};
use starlark_map::small_map::SmallMap;

use crate::convert;
use crate::state::EvalState;

/// The largest string or list `*` and `+` may build (bytes or items).
pub const MAX_SEQUENCE: usize = 1 << 22;
/// How deep `ak_call_policy` may nest.
pub const MAX_POLICY_DEPTH: usize = 8;

fn state<'a>(eval: &'a Evaluator) -> anyhow::Result<&'a EvalState<'a>> {
    eval.extra
        .and_then(|e| e.downcast_ref::<EvalState>())
        .ok_or_else(|| anyhow::anyhow!("expression helpers are not available here"))
}

fn kwargs_json(kwargs: &SmallMap<String, Value>) -> anyhow::Result<Map<String, Json>> {
    kwargs
        .iter()
        .map(|(k, v)| Ok((k.clone(), v.to_json_value()?)))
        .collect()
}

/// One address or a list of them.
fn addresses(value: Option<Value>) -> anyhow::Result<Vec<String>> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    if let Some(one) = value.unpack_str() {
        return Ok(vec![one.to_owned()]);
    }
    let Some(list) = starlark::values::list::ListRef::from_value(value) else {
        anyhow::bail!("ak_send_email: an address is a string or a list of strings");
    };
    anyhow::ensure!(
        list.len() <= ExpressionMail::MAX_RECIPIENTS,
        "ak_send_email: more than {} addresses",
        ExpressionMail::MAX_RECIPIENTS
    );
    list.iter()
        .map(|v| {
            v.unpack_str()
                .map(str::to_owned)
                .ok_or_else(|| anyhow::anyhow!("ak_send_email: an address is a string"))
        })
        .collect()
}

fn regex(pattern: &str) -> anyhow::Result<regex::Regex> {
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| anyhow::anyhow!("invalid regular expression: {e}"))
}

/// A user as a struct, or None.
fn user_value<'v>(heap: Heap<'v>, user: Option<PolicyUser>, state: &EvalState) -> Value<'v> {
    match user {
        Some(user) => convert::user(heap, &user.to_value(), state),
        None => Value::new_none(),
    }
}

/// A parsed IP address as expressions see it.
pub fn ip_address_value<'v>(heap: Heap<'v>, address: IpAddr) -> Value<'v> {
    let private = match address {
        IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    };
    heap.alloc(AllocStruct([
        ("_ak_ip", heap.alloc(address.to_string())),
        ("compressed", heap.alloc(address.to_string())),
        ("exploded", heap.alloc(address.to_string())),
        ("version", heap.alloc(if address.is_ipv4() { 4 } else { 6 })),
        ("is_private", heap.alloc(private)),
        (
            "is_global",
            heap.alloc(!private && !address.is_unspecified()),
        ),
        ("is_loopback", heap.alloc(address.is_loopback())),
    ]))
}

fn parse_network(text: &str) -> anyhow::Result<(IpAddr, u8)> {
    let (address, prefix) = text.split_once('/').unwrap_or((text, ""));
    let address: IpAddr = address
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("'{text}' does not appear to be an IPv4 or IPv6 network"))?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    let prefix = if prefix.is_empty() {
        max
    } else {
        prefix
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| anyhow::anyhow!("'{text}' has an invalid prefix length"))?
    };
    Ok((address, prefix))
}

fn bits(address: IpAddr) -> (u128, u8) {
    match address {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    }
}

fn in_network(address: IpAddr, network: &str) -> anyhow::Result<bool> {
    let (net, prefix) = parse_network(network)?;
    let ((a, width_a), (n, width_n)) = (bits(address), bits(net));
    if width_a != width_n {
        return Ok(false);
    }
    let shift = u32::from(width_a - prefix);
    Ok(prefix == 0 || a.checked_shr(shift).unwrap_or(0) == n.checked_shr(shift).unwrap_or(0))
}

fn ip_of<'v>(value: Value<'v>, heap: Heap<'v>) -> Option<IpAddr> {
    value
        .get_attr("_ak_ip", heap)
        .ok()
        .flatten()
        .and_then(|v| v.unpack_str())
        .or_else(|| value.unpack_str())
        .and_then(|s| s.trim().parse().ok())
}

#[starlark_module]
pub fn helpers(builder: &mut GlobalsBuilder) {
    /// Adds a message the person sees (as authentik's `ak_message`).
    fn ak_message(
        #[starlark(require = pos)] message: Value,
        eval: &mut Evaluator,
    ) -> anyhow::Result<NoneType> {
        state(eval)?.messages.borrow_mut().push(message.to_str());
        Ok(NoneType)
    }

    fn _ak_log(
        #[starlark(require = pos)] level: &str,
        #[starlark(require = pos)] message: Value,
        eval: &mut Evaluator,
    ) -> anyhow::Result<NoneType> {
        state(eval)?
            .logs
            .borrow_mut()
            .push(format!("{level}: {}", message.to_str()));
        Ok(NoneType)
    }

    /// Queues a message through the outbox (authentik's `ak_send_email`): to `address`
    /// (one or a list), with `body` (plain text) or `template` (rendered with `context`),
    /// through the email stage named `stage` or the global settings. True once queued.
    fn ak_send_email<'v>(
        address: Value<'v>,
        subject: &str,
        body: Option<Value<'v>>,
        stage: Option<Value<'v>>,
        template: Option<Value<'v>>,
        context: Option<Value<'v>>,
        cc: Option<Value<'v>>,
        bcc: Option<Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<bool> {
        let state = state(eval)?;
        let given = |v: Option<Value<'v>>| v.filter(|v| !v.is_none());
        let body = match (given(body), given(template)) {
            (Some(_), Some(_)) => anyhow::bail!("ak_send_email takes body or template, not both"),
            (None, None) => anyhow::bail!("ak_send_email needs body or template"),
            (Some(body), None) => {
                let text = body.to_str();
                anyhow::ensure!(
                    text.len() <= ExpressionMail::MAX_BODY,
                    "ak_send_email: the body is longer than {} bytes",
                    ExpressionMail::MAX_BODY
                );
                MailBody::Text(text)
            }
            (None, Some(template)) => MailBody::Template {
                name: template.to_str(),
                context: match given(context).map(|c| c.to_json_value()).transpose()? {
                    Some(Json::Object(map)) => map,
                    None => Map::new(),
                    Some(_) => anyhow::bail!("ak_send_email: context must be a dict"),
                },
            },
        };
        let mail = ExpressionMail {
            to: addresses(Some(address))?,
            cc: addresses(given(cc))?,
            bcc: addresses(given(bcc))?,
            subject: subject.to_owned(),
            body,
            stage: given(stage).map(|s| s.to_str()),
        };
        anyhow::ensure!(!mail.to.is_empty(), "ak_send_email needs an address");
        anyhow::ensure!(
            mail.to.len() + mail.cc.len() + mail.bcc.len() <= ExpressionMail::MAX_RECIPIENTS,
            "ak_send_email: more than {} addresses",
            ExpressionMail::MAX_RECIPIENTS
        );
        if state.request.context.get(akin_domain::flow::plan::PREVIEW) == Some(&Json::Bool(true)) {
            // An administrator's preview sends nothing.
            state.logs.borrow_mut().push(format!(
                "info: ak_send_email to {} not sent: this is a preview",
                mail.to.join(", ")
            ));
            return Ok(true);
        }
        {
            let mut sent = state.mail_sent.borrow_mut();
            anyhow::ensure!(
                *sent < ExpressionMail::MAX_PER_EVALUATION,
                "ak_send_email: at most {} messages per evaluation",
                ExpressionMail::MAX_PER_EVALUATION
            );
            *sent += 1;
        }
        state
            .directory
            .send_email(&mail)
            .map_err(|e| anyhow::anyhow!("ak_send_email: {e}"))?;
        Ok(true)
    }

    fn _ak_true() -> anyhow::Result<bool> {
        Ok(true)
    }

    fn _ak_false() -> anyhow::Result<bool> {
        Ok(false)
    }

    /// `re.search(regex, value)`: whether the pattern occurs anywhere in `value`.
    fn regex_match(
        #[starlark(require = pos)] value: Value,
        #[starlark(require = pos)] pattern: &str,
    ) -> anyhow::Result<bool> {
        Ok(regex(pattern)?.is_match(&value.to_str()))
    }

    /// `re.sub(regex, replacement, value)`.
    fn regex_replace(
        #[starlark(require = pos)] value: Value,
        #[starlark(require = pos)] pattern: &str,
        #[starlark(require = pos)] replacement: &str,
    ) -> anyhow::Result<String> {
        // Python writes groups as \1; the regex crate as ${1}.
        let replacement = regex::Regex::new(r"\\(\d+)")
            .expect("a valid pattern")
            .replace_all(replacement, "$${$1}");
        Ok(regex(pattern)?
            .replace_all(&value.to_str(), replacement.as_ref())
            .into_owned())
    }

    /// The first element of a list (None for an empty one); anything else as it is.
    fn list_flatten<'v>(#[starlark(require = pos)] value: Value<'v>) -> anyhow::Result<Value<'v>> {
        if let Some(list) = starlark::values::list::ListRef::from_value(value) {
            return Ok(list.first().copied().unwrap_or_else(Value::new_none));
        }
        if let Some(tuple) = starlark::values::tuple::TupleRef::from_value(value) {
            return Ok(tuple
                .content()
                .first()
                .copied()
                .unwrap_or_else(Value::new_none));
        }
        Ok(value)
    }

    /// Django's `slugify`: lower-case ASCII letters, digits, `-` and `_`.
    fn slugify(#[starlark(require = pos)] value: &str) -> anyhow::Result<String> {
        let mut slug = String::new();
        for c in value.trim().to_lowercase().chars() {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                slug.push(c);
            } else if c.is_whitespace() && !slug.ends_with('-') {
                slug.push('-');
            }
        }
        Ok(slug.trim_matches(|c| c == '-' || c == '_').to_owned())
    }

    /// The first user matching every filter (`username=`, `email=`, `pk=`, …), or None.
    fn ak_user_by<'v>(
        #[starlark(kwargs)] filters: SmallMap<String, Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        let filters = kwargs_json(&filters)?;
        let state = state(eval)?;
        let user = state.directory.user_by(&filters);
        Ok(user_value(eval.heap(), user, state))
    }

    /// Whether `user` is in a group matching the filters (`name=`, `pk=`), parents
    /// included.
    fn ak_is_group_member<'v>(
        #[starlark(require = pos)] user: Value<'v>,
        #[starlark(kwargs)] filters: SmallMap<String, Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<bool> {
        let Some(pk) = user
            .get_attr("pk", eval.heap())?
            .and_then(|v| v.unpack_i32().map(i64::from))
        else {
            return Ok(false);
        };
        let filters = kwargs_json(&filters).map_err(starlark::Error::new_other)?;
        let state = state(eval).map_err(starlark::Error::new_other)?;
        Ok(state.directory.is_group_member(pk, &filters))
    }

    /// Runs another policy by name with extra context; returns its result as a struct
    /// with `passing` and `messages`.
    fn ak_call_policy<'v>(
        #[starlark(require = pos)] name: &str,
        #[starlark(kwargs)] context: SmallMap<String, Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        let state = state(eval)?;
        let depth = state
            .request
            .context
            .get("_ak_policy_depth")
            .and_then(Json::as_u64)
            .unwrap_or(0) as usize;
        if depth >= MAX_POLICY_DEPTH {
            anyhow::bail!("ak_call_policy nested more than {MAX_POLICY_DEPTH} levels deep");
        }
        let mut request = state.request.clone();
        request.context.extend(kwargs_json(&context)?);
        request
            .context
            .insert("_ak_policy_depth".into(), Json::from(depth + 1));
        let verdict = state
            .directory
            .call_policy(
                name,
                &request,
                state
                    .deadline
                    .saturating_duration_since(std::time::Instant::now()),
            )
            .ok_or_else(|| anyhow::anyhow!("Policy '{name}' not found"))?;
        let heap = eval.heap();
        Ok(heap.alloc(AllocStruct([
            ("passing", heap.alloc(verdict.passing)),
            ("messages", heap.alloc(verdict.messages)),
        ])))
    }

    /// `ipaddress.ip_address`.
    fn ip_address<'v>(
        #[starlark(require = pos)] address: Value<'v>,
        heap: Heap<'v>,
    ) -> anyhow::Result<Value<'v>> {
        let address = ip_of(address, heap).ok_or_else(|| {
            anyhow::anyhow!(
                "'{}' does not appear to be an IPv4 or IPv6 address",
                address.to_str()
            )
        })?;
        Ok(ip_address_value(heap, address))
    }

    /// `ipaddress.ip_network`; use it as `ip_address(x) in ip_network("10.0.0.0/8")`.
    fn ip_network<'v>(
        #[starlark(require = pos)] network: &str,
        heap: Heap<'v>,
    ) -> anyhow::Result<Value<'v>> {
        let (address, prefix) = parse_network(network)?;
        Ok(heap.alloc(AllocStruct([
            ("_ak_network", heap.alloc(format!("{address}/{prefix}"))),
            ("network_address", ip_address_value(heap, address)),
            ("prefixlen", heap.alloc(i32::from(prefix))),
        ])))
    }

    /// `a * b`, refusing results larger than `MAX_SEQUENCE`.
    fn _ak_mul<'v>(
        #[starlark(require = pos)] a: Value<'v>,
        #[starlark(require = pos)] b: Value<'v>,
        heap: Heap<'v>,
    ) -> starlark::Result<Value<'v>> {
        for (sequence, count) in [(a, b), (b, a)] {
            if let (Some(len), Some(n)) = (sized(sequence), count.unpack_i32())
                && len.saturating_mul(n.max(0) as usize) > MAX_SEQUENCE
            {
                return Err(too_large());
            }
        }
        a.mul(b, heap)
    }

    /// `a + b`, refusing results larger than `MAX_SEQUENCE`.
    fn _ak_add<'v>(
        #[starlark(require = pos)] a: Value<'v>,
        #[starlark(require = pos)] b: Value<'v>,
        heap: Heap<'v>,
    ) -> starlark::Result<Value<'v>> {
        if let (Some(x), Some(y)) = (sized(a), sized(b))
            && x + y > MAX_SEQUENCE
        {
            return Err(too_large());
        }
        a.add(b, heap)
    }

    /// `a in b`, which also knows IP networks.
    fn _ak_in<'v>(
        #[starlark(require = pos)] a: Value<'v>,
        #[starlark(require = pos)] b: Value<'v>,
        heap: Heap<'v>,
    ) -> starlark::Result<bool> {
        contains(b, a, heap)
    }

    fn _ak_not_in<'v>(
        #[starlark(require = pos)] a: Value<'v>,
        #[starlark(require = pos)] b: Value<'v>,
        heap: Heap<'v>,
    ) -> starlark::Result<bool> {
        Ok(!contains(b, a, heap)?)
    }
}

fn contains<'v>(container: Value<'v>, item: Value<'v>, heap: Heap<'v>) -> starlark::Result<bool> {
    if let Some(network) = container
        .get_attr("_ak_network", heap)?
        .and_then(|n| n.unpack_str())
    {
        let Some(address) = ip_of(item, heap) else {
            return Ok(false);
        };
        return in_network(address, network).map_err(starlark::Error::new_other);
    }
    container.is_in(item)
}

/// The length of a string (bytes) or list; `None` for anything else.
fn sized(value: Value) -> Option<usize> {
    if let Some(s) = value.unpack_str() {
        return Some(s.len());
    }
    starlark::values::list::ListRef::from_value(value).map(|list| list.len())
}

fn too_large() -> starlark::Error {
    starlark::Error::new_other(anyhow::anyhow!(
        "the result would be larger than {MAX_SEQUENCE} characters or items"
    ))
}
