//! The models blueprints (and later the API) write, with authentik's field names, types,
//! defaults and choices. [`validate`] turns submitted fields into a normalised object or
//! DRF-style field errors, the same way for every model.

use serde_json::{Map, Value};

use crate::FieldErrors;
use crate::choice::WithDefault;
use crate::flow::options::{
    Authentication, DeniedAction, Designation, InvalidResponseAction, Layout,
};
use crate::policy::EngineMode;
use crate::stage::prompt::PromptType;
use crate::stage::user_write::UserCreationMode;
use crate::token::TokenIntent;
use crate::user::UserType;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Text,
    /// Letters, digits, `-` and `_` (a URL segment).
    Slug,
    Bool,
    Int,
    /// Any JSON object.
    Object,
    /// ISO 8601 with offset, normalised to UTC `…Z`.
    Datetime,
    Choice(&'static [&'static str]),
    /// The primary key of one object of the named model.
    Ref(&'static str),
    /// Primary keys of objects of the named model, in order.
    RefList(&'static str),
    /// A list of strings.
    TextList,
}

#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub ty: FieldType,
    pub required: bool,
    pub nullable: bool,
    /// JSON text of the default, used on create when the field is absent.
    pub default: Option<&'static str>,
    /// Accepted in requests, never answered (DRF's `write_only`): a secret.
    pub write_only: bool,
}

const fn req(name: &'static str, ty: FieldType) -> Field {
    Field {
        name,
        ty,
        required: true,
        nullable: false,
        default: None,
        write_only: false,
    }
}

const fn opt(name: &'static str, ty: FieldType, default: &'static str) -> Field {
    Field {
        name,
        ty,
        required: false,
        nullable: false,
        default: Some(default),
        write_only: false,
    }
}

/// A secret text field, empty by default: written, never read back through the API.
const fn secret(name: &'static str) -> Field {
    Field {
        write_only: true,
        ..opt(name, Text, "\"\"")
    }
}

/// An optional field of a closed set: its choices and default are the enum's.
const fn choice<T: WithDefault>(name: &'static str) -> Field {
    opt(name, Choice(T::CHOICES), T::DEFAULT_JSON)
}

/// Served by the API at `path` as plain CRUD.
const fn api(
    path: &'static str,
    component: &'static str,
    verbose_plural: &'static str,
    description: &'static str,
) -> Option<ApiSpec> {
    Some(ApiSpec {
        path,
        component,
        verbose_plural,
        description,
    })
}

const fn null(name: &'static str, ty: FieldType) -> Field {
    Field {
        name,
        ty,
        required: false,
        nullable: true,
        default: Some("null"),
        write_only: false,
    }
}

/// How `/api/v3` serves a model that is plain CRUD over the catalog.
#[derive(Debug)]
pub struct ApiSpec {
    /// Under `/api/v3`, with its trailing slash.
    pub path: &'static str,
    /// authentik's admin form element for the model (`component` in responses); empty
    /// when it has none.
    pub component: &'static str,
    /// authentik's `verbose_name_plural`.
    pub verbose_plural: &'static str,
    /// What the model is for, as authentik's `types/` endpoints describe it; empty for
    /// models that are not a kind of something (prompts, bindings).
    pub description: &'static str,
}

/// Which polymorphic base a model extends, as authentik's `Stage` and `Policy`: the kinds of
/// one family share a table, a `…/all/` list and references that may name any kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// A model of its own (flows, prompts, bindings, users, …).
    Object,
    Stage,
    Policy,
}

impl Family {
    /// The catalog's placeholder model name a reference uses for "any kind of this family".
    pub fn placeholder(self) -> Option<&'static str> {
        match self {
            Family::Object => None,
            Family::Stage => Some(STAGE),
            Family::Policy => Some(POLICY),
        }
    }

    /// The family a placeholder model name stands for.
    pub fn of_placeholder(model: &str) -> Option<Family> {
        match model {
            STAGE => Some(Family::Stage),
            POLICY => Some(Family::Policy),
            _ => None,
        }
    }

    /// Its kinds, by authentik's model name.
    pub fn models(self) -> impl Iterator<Item = &'static str> {
        MODELS
            .iter()
            .filter(move |m| m.family == self && self != Family::Object)
            .map(|m| m.name)
    }
}

#[derive(Debug)]
pub struct ModelSpec {
    /// `app_label.modelname`.
    pub name: &'static str,
    /// DRF's verbose name, for "flow with this slug already exists.".
    pub verbose: &'static str,
    /// Whether this model is a kind of something (a stage, a policy): kinds of one family
    /// are stored together, with names unique across the kinds.
    pub family: Family,
    /// Where the API serves it as plain CRUD; `None` for models with endpoints of their own
    /// (flows, invitations, users, groups).
    pub api: Option<ApiSpec>,
    pub fields: &'static [Field],
}

pub const FLOW: &str = "authentik_flows.flow";
pub const FLOW_STAGE_BINDING: &str = "authentik_flows.flowstagebinding";
pub const PROMPT: &str = "authentik_stages_prompt.prompt";
pub const PROMPT_STAGE: &str = "authentik_stages_prompt.promptstage";
pub const INVITATION: &str = "authentik_stages_invitation.invitation";
pub const INVITATION_STAGE: &str = "authentik_stages_invitation.invitationstage";
pub const USER_WRITE_STAGE: &str = "authentik_stages_user_write.userwritestage";
pub const USER_LOGIN_STAGE: &str = "authentik_stages_user_login.userloginstage";
pub const USER_LOGOUT_STAGE: &str = "authentik_stages_user_logout.userlogoutstage";
pub const IDENTIFICATION_STAGE: &str = "authentik_stages_identification.identificationstage";
pub const PASSWORD_STAGE: &str = "authentik_stages_password.passwordstage";
pub const EMAIL_STAGE: &str = "authentik_stages_email.emailstage";
pub const DENY_STAGE: &str = "authentik_stages_deny.denystage";
pub const AUTHENTICATOR_VALIDATE_STAGE: &str =
    "authentik_stages_authenticator_validate.authenticatorvalidatestage";
pub const EXPRESSION_POLICY: &str = "authentik_policies_expression.expressionpolicy";
pub const REPUTATION_POLICY: &str = "authentik_policies_reputation.reputationpolicy";
pub const PASSWORD_POLICY: &str = "authentik_policies_password.passwordpolicy";
pub const POLICY_BINDING: &str = "authentik_policies.policybinding";
pub const GROUP: &str = "authentik_core.group";
pub const USER: &str = "authentik_core.user";
pub const TOKEN: &str = "authentik_core.token";
/// Placeholder model name for "any stage".
pub const STAGE: &str = "authentik_flows.stage";
/// Placeholder model name for "any policy" (authentik's polymorphic `Policy`).
pub const POLICY: &str = "authentik_policies.policy";
/// Placeholder model name for "a flow or a binding" (authentik's PolicyBindingModel).
pub const POLICY_TARGET: &str = "authentik_policies.policybindingmodel";

const BINDINGS: &[&str] = &[
    "no_binding",
    "bind_continent",
    "bind_continent_country",
    "bind_continent_country_city",
    "bind_asn",
    "bind_asn_network",
    "bind_asn_network_ip",
];
const NOT_CONFIGURED: &[&str] = &["skip", "deny", "configure"];

use FieldType::*;

const NAME: Field = req("name", Text);

pub static MODELS: &[ModelSpec] = &[
    ModelSpec {
        name: FLOW,
        verbose: "flow",
        family: Family::Object,
        api: None,
        fields: &[
            NAME,
            req("slug", Slug),
            req("title", Text),
            req("designation", Choice(Designation::ALL)),
            null("background", Text),
            choice::<EngineMode>("policy_engine_mode"),
            opt("compatibility_mode", Bool, "false"),
            choice::<Layout>("layout"),
            choice::<DeniedAction>("denied_action"),
            choice::<Authentication>("authentication"),
        ],
    },
    ModelSpec {
        name: FLOW_STAGE_BINDING,
        verbose: "flow stage binding",
        family: Family::Object,
        api: api("/flows/bindings/", "", "Flow Stage Bindings", ""),
        fields: &[
            req("target", Ref(FLOW)),
            req("stage", Ref(STAGE)),
            req("order", Int),
            opt("evaluate_on_plan", Bool, "false"),
            opt("re_evaluate_policies", Bool, "true"),
            choice::<EngineMode>("policy_engine_mode"),
            choice::<InvalidResponseAction>("invalid_response_action"),
        ],
    },
    ModelSpec {
        name: PROMPT,
        verbose: "prompt",
        family: Family::Object,
        api: api("/stages/prompt/prompts/", "", "Prompts", ""),
        fields: &[
            NAME,
            req("field_key", Text),
            req("label", Text),
            req("type", Choice(PromptType::ALL)),
            opt("required", Bool, "true"),
            opt("placeholder", Text, "\"\""),
            opt("initial_value", Text, "\"\""),
            opt("order", Int, "0"),
            opt("sub_text", Text, "\"\""),
            opt("placeholder_expression", Bool, "false"),
            opt("initial_value_expression", Bool, "false"),
        ],
    },
    ModelSpec {
        name: PROMPT_STAGE,
        verbose: "prompt stage",
        family: Family::Stage,
        api: api(
            "/stages/prompt/stages/",
            "ak-stage-prompt-form",
            "Prompt Stages",
            "Define arbitrary prompts for the user.",
        ),
        fields: &[
            NAME,
            req("fields", RefList(PROMPT)),
            opt("validation_policies", RefList(POLICY), "[]"),
        ],
    },
    ModelSpec {
        name: INVITATION_STAGE,
        verbose: "invitation stage",
        family: Family::Stage,
        api: api(
            "/stages/invitation/stages/",
            "ak-stage-invitation-form",
            "Invitation Stages",
            "Simplify enrollment; allow users to use a single link to create their user with pre-defined parameters.",
        ),
        fields: &[NAME, opt("continue_flow_without_invitation", Bool, "false")],
    },
    ModelSpec {
        name: INVITATION,
        verbose: "invitation",
        family: Family::Object,
        api: None,
        fields: &[
            req("name", Slug),
            null("expires", Datetime),
            opt("fixed_data", Object, "{}"),
            null("created_by", Ref(USER)),
            opt("single_use", Bool, "false"),
            null("flow", Ref(FLOW)),
            // akin's: groups the account joins, and whose email it must have.
            opt("groups", RefList(GROUP), "[]"),
            opt("allowed_email", Text, "\"\""),
        ],
    },
    ModelSpec {
        name: USER_WRITE_STAGE,
        verbose: "user write stage",
        family: Family::Stage,
        api: api(
            "/stages/user_write/",
            "ak-stage-user-write-form",
            "User Write Stages",
            "Writes currently pending data into the pending user, or if no user exists, creates a new user with the data.",
        ),
        fields: &[
            NAME,
            choice::<UserCreationMode>("user_creation_mode"),
            opt("create_users_as_inactive", Bool, "false"),
            null("create_users_group", Ref(GROUP)),
            opt("user_type", Choice(UserType::ALL), "\"external\""),
            opt("user_path_template", Text, "\"\""),
        ],
    },
    ModelSpec {
        name: USER_LOGIN_STAGE,
        verbose: "user login stage",
        family: Family::Stage,
        api: api(
            "/stages/user_login/",
            "ak-stage-user-login-form",
            "User Login Stages",
            "Attaches the currently pending user to the current session.",
        ),
        fields: &[
            NAME,
            opt("session_duration", Text, "\"seconds=0\""),
            opt("terminate_other_sessions", Bool, "false"),
            opt("remember_me_offset", Text, "\"seconds=0\""),
            opt("network_binding", Choice(BINDINGS), "\"no_binding\""),
            opt("geoip_binding", Choice(BINDINGS), "\"no_binding\""),
            opt("remember_device", Text, "\"days=30\""),
        ],
    },
    ModelSpec {
        name: USER_LOGOUT_STAGE,
        verbose: "user logout stage",
        family: Family::Stage,
        api: api(
            "/stages/user_logout/",
            "ak-stage-user-logout-form",
            "User Logout Stages",
            "Resets the users current session.",
        ),
        fields: &[NAME],
    },
    ModelSpec {
        name: IDENTIFICATION_STAGE,
        verbose: "identification stage",
        family: Family::Stage,
        api: api(
            "/stages/identification/",
            "ak-stage-identification-form",
            "Identification Stages",
            "Allows the user to identify themselves for authentication.",
        ),
        fields: &[
            NAME,
            opt("user_fields", TextList, "[\"username\", \"email\"]"),
            null("password_stage", Ref(STAGE)),
            opt("case_insensitive_matching", Bool, "true"),
            opt("show_matched_user", Bool, "true"),
            null("enrollment_flow", Ref(FLOW)),
            null("recovery_flow", Ref(FLOW)),
            null("passwordless_flow", Ref(FLOW)),
            opt("show_source_labels", Bool, "false"),
            opt("pretend_user_exists", Bool, "true"),
            opt("enable_remember_me", Bool, "false"),
        ],
    },
    ModelSpec {
        name: PASSWORD_STAGE,
        verbose: "password stage",
        family: Family::Stage,
        api: api(
            "/stages/password/",
            "ak-stage-password-form",
            "Password Stages",
            "Prompts the user for their password, and validates it against a backend.",
        ),
        fields: &[
            NAME,
            req("backends", TextList),
            null("configure_flow", Ref(FLOW)),
            opt("failed_attempts_before_cancel", Int, "5"),
            opt("allow_show_password", Bool, "false"),
        ],
    },
    ModelSpec {
        name: EMAIL_STAGE,
        verbose: "email stage",
        family: Family::Stage,
        api: api(
            "/stages/email/",
            "ak-stage-email-form",
            "Email Stages",
            "Sends an Email to the user with a token to confirm their Email address.",
        ),
        fields: &[
            NAME,
            opt("use_global_settings", Bool, "false"),
            opt("host", Text, "\"localhost\""),
            opt("port", Int, "25"),
            opt("username", Text, "\"\""),
            secret("password"),
            opt("use_tls", Bool, "false"),
            opt("use_ssl", Bool, "false"),
            opt("timeout", Int, "10"),
            opt("from_address", Text, "\"system@authentik.local\""),
            opt("token_expiry", Text, "\"minutes=30\""),
            opt("subject", Text, "\"authentik\""),
            opt("template", Text, "\"email/password_reset.html\""),
            opt("activate_user_on_success", Bool, "false"),
            opt("recovery_max_attempts", Int, "5"),
            opt("recovery_cache_timeout", Text, "\"minutes=5\""),
        ],
    },
    ModelSpec {
        name: DENY_STAGE,
        verbose: "deny stage",
        family: Family::Stage,
        api: api(
            "/stages/deny/",
            "ak-stage-deny-form",
            "Deny Stages",
            "Cancels the current flow.",
        ),
        fields: &[NAME, opt("deny_message", Text, "\"\"")],
    },
    ModelSpec {
        name: AUTHENTICATOR_VALIDATE_STAGE,
        verbose: "authenticator validation stage",
        family: Family::Stage,
        api: api(
            "/stages/authenticator/validate/",
            "ak-stage-authenticator-validate-form",
            "Authenticator Validation Stages",
            "Validate user's configured OTP Device.",
        ),
        fields: &[
            NAME,
            opt("not_configured_action", Choice(NOT_CONFIGURED), "\"skip\""),
            opt(
                "device_classes",
                TextList,
                "[\"static\", \"totp\", \"webauthn\", \"duo\", \"sms\"]",
            ),
            opt("configuration_stages", RefList(STAGE), "[]"),
            opt("last_auth_threshold", Text, "\"seconds=0\""),
            opt("webauthn_user_verification", Text, "\"preferred\""),
        ],
    },
    ModelSpec {
        name: GROUP,
        verbose: "group",
        family: Family::Object,
        api: None,
        fields: &[
            NAME,
            opt("is_superuser", Bool, "false"),
            opt("attributes", Object, "{}"),
        ],
    },
    ModelSpec {
        name: USER,
        verbose: "user",
        family: Family::Object,
        api: None,
        fields: &[
            req("username", Text),
            opt("name", Text, "\"\""),
            opt("email", Text, "\"\""),
            opt("is_active", Bool, "true"),
            opt("attributes", Object, "{}"),
            opt("path", Text, "\"users\""),
            choice::<UserType>("type"),
        ],
    },
    // Written by blueprints (`/core/tokens/` has handlers of its own). A token created
    // without a `key` gets a random one, as authentik's default.
    ModelSpec {
        name: TOKEN,
        verbose: "token",
        family: Family::Object,
        api: None,
        fields: &[
            req("identifier", Slug),
            Field {
                name: "key",
                ty: Text,
                required: false,
                nullable: false,
                default: None,
                write_only: false,
            },
            choice::<TokenIntent>("intent"),
            req("user", Ref(USER)),
            opt("description", Text, "\"\""),
            null("expires", Datetime),
            opt("expiring", Bool, "true"),
            null("managed", Text),
        ],
    },
    ModelSpec {
        name: EXPRESSION_POLICY,
        verbose: "expression policy",
        family: Family::Policy,
        api: api(
            "/policies/expression/",
            "ak-policy-expression-form",
            "Expression Policies",
            "Execute arbitrary Python code to implement custom checks and validation.",
        ),
        fields: &[
            NAME,
            req("expression", Text),
            opt("execution_logging", Bool, "false"),
        ],
    },
    ModelSpec {
        name: REPUTATION_POLICY,
        verbose: "reputation policy",
        family: Family::Policy,
        api: api(
            "/policies/reputation/",
            "ak-policy-reputation-form",
            "Reputation Policies",
            "Return true if request IP/target username's score is below a certain threshold",
        ),
        fields: &[
            NAME,
            opt("execution_logging", Bool, "false"),
            opt("check_ip", Bool, "true"),
            opt("check_username", Bool, "true"),
            opt("threshold", Int, "-5"),
        ],
    },
    ModelSpec {
        name: PASSWORD_POLICY,
        verbose: "password policy",
        family: Family::Policy,
        api: api(
            "/policies/password/",
            "ak-policy-password-form",
            "Password Policies",
            "Policy to make sure passwords have certain properties",
        ),
        fields: &[
            NAME,
            opt("execution_logging", Bool, "false"),
            opt("password_field", Text, "\"password\""),
            opt("amount_digits", Int, "0"),
            opt("amount_uppercase", Int, "0"),
            opt("amount_lowercase", Int, "0"),
            opt("amount_symbols", Int, "0"),
            opt("length_min", Int, "0"),
            opt(
                "symbol_charset",
                Text,
                r##""!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ ""##,
            ),
            opt("error_message", Text, "\"\""),
            opt("check_static_rules", Bool, "true"),
            opt("check_have_i_been_pwned", Bool, "false"),
            opt("check_zxcvbn", Bool, "false"),
            opt("hibp_allowed_count", Int, "0"),
            opt("zxcvbn_score_threshold", Int, "2"),
        ],
    },
    ModelSpec {
        name: POLICY_BINDING,
        verbose: "policy binding",
        family: Family::Object,
        api: api("/policies/bindings/", "", "Policy Bindings", ""),
        fields: &[
            null("policy", Ref(POLICY)),
            null("group", Ref(GROUP)),
            null("user", Ref(USER)),
            req("target", Ref(POLICY_TARGET)),
            req("order", Int),
            opt("negate", Bool, "false"),
            opt("enabled", Bool, "true"),
            opt("timeout", Int, "30"),
            opt("failure_result", Bool, "false"),
        ],
    },
];

pub fn spec(model: &str) -> Option<&'static ModelSpec> {
    MODELS.iter().find(|m| m.name == model)
}

/// The stage kinds akin stores, by authentik's model name.
pub fn stage_models() -> impl Iterator<Item = &'static str> {
    Family::Stage.models()
}

/// The policy kinds akin stores, by authentik's model name.
pub fn policy_models() -> impl Iterator<Item = &'static str> {
    Family::Policy.models()
}

impl ModelSpec {
    /// authentik's model name without its app: `invitationstage`.
    pub fn model_name(&self) -> &'static str {
        self.name
            .rsplit_once('.')
            .map_or(self.name, |(_, model)| model)
    }

    /// authentik's `verbose_name` ("Invitation Stage"): [`ModelSpec::verbose`] with each
    /// word capitalised.
    pub fn verbose_name(&self) -> String {
        self.verbose
            .split(' ')
            .map(|word| {
                let mut chars = word.chars();
                chars.next().map_or_else(String::new, |first| {
                    first.to_uppercase().chain(chars).collect()
                })
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn is_stage(&self) -> bool {
        self.family == Family::Stage
    }

    pub fn is_policy(&self) -> bool {
        self.family == Family::Policy
    }

    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// Reads a stored row of `model` as `T`: fields the row lacks take the catalog's default
/// first, so every default has one place (the catalog) and typed settings declare none.
pub fn typed<T: serde::de::DeserializeOwned>(
    model: &str,
    row: &Map<String, Value>,
) -> Result<T, serde_json::Error> {
    let mut filled = row.clone();
    if let Some(spec) = spec(model) {
        for field in spec.fields {
            if !filled.contains_key(field.name)
                && let Some(default) = field.default
            {
                filled.insert(field.name.to_owned(), serde_json::from_str(default)?);
            }
        }
    }
    serde_json::from_value(Value::Object(filled))
}

/// Checks `input` against `spec`. On create (`partial == false`) required fields must be
/// there and defaults fill the rest; on update only the given fields are checked. Unknown
/// fields are dropped, as DRF does. References are checked for form only (the store checks
/// that they exist).
pub fn validate(
    spec: &ModelSpec,
    input: &Map<String, Value>,
    partial: bool,
) -> Result<Map<String, Value>, FieldErrors> {
    let mut errors = FieldErrors::new();
    let mut out = Map::new();
    for field in spec.fields {
        let value = match input.get(field.name) {
            Some(v) => v.clone(),
            None if partial => continue,
            None if field.required => {
                errors.add(field.name, "This field is required.");
                continue;
            }
            // Optional without a default: the writer decides (a token's random key).
            None if field.default.is_none() => continue,
            None => serde_json::from_str(field.default.unwrap_or("null")).unwrap_or(Value::Null),
        };
        if value.is_null() {
            if field.nullable || (!field.required && field.default == Some("null")) {
                out.insert(field.name.to_owned(), Value::Null);
            } else {
                errors.add(field.name, "This field may not be null.");
            }
            continue;
        }
        match normalise(field.ty, value) {
            Ok(v) => {
                out.insert(field.name.to_owned(), v);
            }
            Err(message) => errors.add(field.name, message),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn normalise(ty: FieldType, value: Value) -> Result<Value, String> {
    match ty {
        Text => match value {
            Value::String(s) => Ok(Value::String(s)),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            Value::Bool(b) => Ok(Value::String(if b { "True" } else { "False" }.into())),
            _ => Err("Not a valid string.".into()),
        },
        Slug => match value {
            Value::String(s) if !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_') => Ok(Value::String(s)),
            Value::String(s) if s.is_empty() => Err("This field may not be blank.".into()),
            _ => Err("Enter a valid “slug” consisting of letters, numbers, underscores or hyphens.".into()),
        },
        Bool => match &value {
            Value::Bool(b) => Ok(Value::Bool(*b)),
            Value::Number(n) if n.as_i64() == Some(1) => Ok(Value::Bool(true)),
            Value::Number(n) if n.as_i64() == Some(0) => Ok(Value::Bool(false)),
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" | "t" | "y" => Ok(Value::Bool(true)),
                "false" | "0" | "no" | "off" | "f" | "n" => Ok(Value::Bool(false)),
                _ => Err("Must be a valid boolean.".into()),
            },
            _ => Err("Must be a valid boolean.".into()),
        },
        Int => match &value {
            Value::Number(n) if n.as_i64().is_some() => Ok(value),
            Value::String(s) => s.trim().parse::<i64>().map(Value::from).map_err(|_| "A valid integer is required.".into()),
            _ => Err("A valid integer is required.".into()),
        },
        Object => match value {
            Value::Object(_) => Ok(value),
            _ => Err("Expected a dictionary of items.".into()),
        },
        Datetime => match &value {
            Value::String(s) => crate::time_format::parse_datetime(s)
                .map(|t| Value::String(crate::time_format::format_datetime(t)))
                .ok_or_else(|| "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].".into()),
            _ => Err("Datetime has wrong format.".into()),
        },
        Choice(choices) => {
            let text = match &value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if choices.contains(&text.as_str()) {
                Ok(Value::String(text))
            } else {
                Err(format!("\"{text}\" is not a valid choice."))
            }
        }
        Ref(_) => match value {
            Value::String(_) | Value::Number(_) => Ok(value),
            _ => Err("Incorrect type. Expected pk value.".into()),
        },
        RefList(_) | TextList => match value {
            Value::Array(items) => {
                for item in &items {
                    let ok = match ty {
                        TextList => item.is_string(),
                        _ => item.is_string() || item.is_number(),
                    };
                    if !ok {
                        return Err(format!("Incorrect type in list: {item}"));
                    }
                }
                Ok(Value::Array(items))
            }
            _ => Err("Expected a list of items.".into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn creation_fills_defaults_and_requires_fields() {
        let flow = spec(FLOW).unwrap();
        let out = validate(
            flow,
            json!({"name": "F", "slug": "f", "title": "T", "designation": "enrollment"})
                .as_object()
                .unwrap(),
            false,
        )
        .unwrap();
        assert_eq!(out["authentication"], "none");
        assert_eq!(out["layout"], "stacked");
        assert_eq!(out["background"], Value::Null);
        let errors = validate(
            flow,
            json!({"slug": "bad slug!", "designation": "party"})
                .as_object()
                .unwrap(),
            false,
        )
        .unwrap_err();
        assert_eq!(errors.get("name").unwrap(), ["This field is required."]);
        assert!(errors.get("slug").unwrap()[0].contains("slug"));
        assert_eq!(
            errors.get("designation").unwrap(),
            ["\"party\" is not a valid choice."]
        );
    }

    #[test]
    fn updates_check_only_given_fields() {
        let binding = spec(FLOW_STAGE_BINDING).unwrap();
        let out = validate(
            binding,
            json!({"evaluate_on_plan": "yes"}).as_object().unwrap(),
            true,
        )
        .unwrap();
        assert_eq!(out, *json!({"evaluate_on_plan": true}).as_object().unwrap());
    }

    #[test]
    fn datetimes_are_normalised_to_utc() {
        let invitation = spec(INVITATION).unwrap();
        let out = validate(
            invitation,
            json!({"name": "x", "expires": "2028-12-31T23:59:59+01:00"})
                .as_object()
                .unwrap(),
            false,
        )
        .unwrap();
        assert_eq!(out["expires"], "2028-12-31T22:59:59Z");
        assert_eq!(out["fixed_data"], json!({}));
    }

    #[test]
    fn one_declaration_names_each_model_for_the_api() {
        let stage = spec(USER_WRITE_STAGE).unwrap();
        assert_eq!(stage.verbose_name(), "User Write Stage");
        assert_eq!(stage.api.as_ref().unwrap().path, "/stages/user_write/");
        assert_eq!(
            spec(AUTHENTICATOR_VALIDATE_STAGE).unwrap().verbose_name(),
            "Authenticator Validation Stage"
        );
        // Every stage kind is served by the API; flows and users have endpoints of their own.
        assert!(
            MODELS
                .iter()
                .filter(|m| m.family == Family::Stage)
                .all(|m| m.api.is_some())
        );
        assert!(spec(FLOW).unwrap().api.is_none());
        assert_eq!(stage_models().count(), 10);
    }
}
