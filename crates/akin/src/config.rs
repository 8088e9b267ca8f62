//! Parsing and checking of settings. Each parser's error names the environment variable, so
//! a bad value in a unit file or container definition is found at once.

use tracing_subscriber::EnvFilter;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://./data/akin.db";
/// The shortest secret key accepted.
pub const MIN_SECRET_KEY_LENGTH: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

pub fn parse_database_url(value: &str) -> Result<String, String> {
    let value = value.trim();
    let known = ["sqlite:", "postgres://", "postgresql://"];
    if known.iter().any(|scheme| value.starts_with(scheme)) && value.len() > "sqlite:".len() {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "AKIN_DATABASE_URL must be sqlite://PATH or postgres://USER@HOST:PORT/DB, got {:?}",
            akin_store::redact_url(value)
        ))
    }
}

pub fn parse_log_format(value: &str) -> Result<LogFormat, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => Err(format!(
            "AKIN_LOG_FORMAT must be text or json, got {other:?}"
        )),
    }
}

pub fn parse_log_level(value: &str) -> Result<String, String> {
    EnvFilter::try_new(value.trim())
        .map(|_| value.trim().to_owned())
        .map_err(|e| {
            format!(
                "AKIN_LOG_LEVEL must be a level (error, warn, info, debug, trace) or a tracing \
                 filter, got {value:?}: {e}"
            )
        })
}

pub fn parse_listen(value: &str) -> Result<String, String> {
    let value = value.trim();
    let valid = value
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if valid {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "AKIN_LISTEN must be HOST:PORT, e.g. 127.0.0.1:9000 or [::]:9000, got {value:?}"
        ))
    }
}

pub fn parse_flag(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        other => Err(format!("expected true or false, got {other:?}")),
    }
}

pub fn parse_external_url(value: &str) -> Result<String, String> {
    let value = value.trim().trim_end_matches('/');
    let valid = (value.starts_with("http://") || value.starts_with("https://"))
        && value
            .split("://")
            .nth(1)
            .is_some_and(|rest| !rest.is_empty() && !rest.contains(char::is_whitespace));
    if valid {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "AKIN_EXTERNAL_URL must be http(s)://HOST[:PORT], e.g. https://id.example.com, got {value:?}"
        ))
    }
}

pub fn parse_hibp_url(value: &str) -> Result<String, String> {
    let value = value.trim().trim_end_matches('/');
    if (value.starts_with("http://") || value.starts_with("https://"))
        && !value.contains(char::is_whitespace)
    {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "AKIN_HIBP_URL must be http(s)://HOST[:PORT][/PATH], e.g. {}, got {value:?}",
            akin_pwned::DEFAULT_BASE
        ))
    }
}

pub fn parse_when_unreachable(
    value: &str,
) -> Result<akin_domain::policy::password::WhenUnreachable, String> {
    use akin_domain::policy::password::WhenUnreachable;
    WhenUnreachable::parse(value.trim()).ok_or_else(|| {
        format!(
            "AKIN_HIBP_UNREACHABLE must be one of {}, got {value:?}",
            WhenUnreachable::ALL.join(", ")
        )
    })
}

pub fn parse_templates_dir(value: &str) -> Result<std::path::PathBuf, String> {
    let path = std::path::PathBuf::from(value);
    if path.is_dir() {
        Ok(path)
    } else {
        Err(format!(
            "AKIN_TEMPLATES_DIR must be an existing folder, {value:?} is not one"
        ))
    }
}

pub fn parse_blueprints_dir(value: &str) -> Result<std::path::PathBuf, String> {
    let path = std::path::PathBuf::from(value);
    if path.is_dir() {
        Ok(path)
    } else {
        Err(format!(
            "AKIN_BLUEPRINTS_DIR must be an existing folder, {value:?} is not one"
        ))
    }
}

pub fn parse_secret_key(value: &str) -> Result<String, String> {
    if value.chars().count() >= MIN_SECRET_KEY_LENGTH {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "AKIN_SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters (the value is not shown)"
        ))
    }
}

pub fn parse_bootstrap_password(value: &str) -> Result<String, String> {
    if value.is_empty() {
        Err("AKIN_BOOTSTRAP_PASSWORD must not be empty".to_owned())
    } else {
        Ok(value.to_owned())
    }
}

pub fn parse_bootstrap_token(value: &str) -> Result<String, String> {
    if value.is_empty() || value.chars().any(char::is_whitespace) {
        Err(
            "AKIN_BOOTSTRAP_TOKEN must be non-empty and contain no spaces (the value is not shown)"
                .to_owned(),
        )
    } else {
        Ok(value.to_owned())
    }
}

pub fn parse_bootstrap_email(value: &str) -> Result<String, String> {
    let mut errors = akin_domain::FieldErrors::new();
    akin_domain::user::validate_email(value.trim(), &mut errors);
    if errors.is_empty() {
        Ok(value.trim().to_owned())
    } else {
        Err(format!(
            "AKIN_BOOTSTRAP_EMAIL must be an email address, got {value:?}"
        ))
    }
}

/// When an invitation expires: after a while, or at a moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expiry {
    After(time::Duration),
    At(time::OffsetDateTime),
}

/// `30m`, `12h`, `7d`, `2w`, or an ISO 8601 date-time.
pub fn parse_expiry(value: &str) -> Result<Expiry, String> {
    let value = value.trim();
    if let Some(at) = akin_domain::time_format::parse_datetime(value) {
        return Ok(Expiry::At(at));
    }
    let (number, unit) = value.split_at(value.len().saturating_sub(1));
    let amount: i64 = number
        .parse()
        .map_err(|_| format!("--expires takes 30m, 12h, 7d, 2w or a date-time, got {value:?}"))?;
    let duration = match unit {
        "m" => time::Duration::minutes(amount),
        "h" => time::Duration::hours(amount),
        "d" => time::Duration::days(amount),
        "w" => time::Duration::weeks(amount),
        _ => {
            return Err(format!(
                "--expires takes 30m, 12h, 7d, 2w or a date-time, got {value:?}"
            ));
        }
    };
    if duration.is_positive() {
        Ok(Expiry::After(duration))
    } else {
        Err("--expires must be in the future".to_owned())
    }
}

/// `KEY=VALUE` for `--context`: the value as JSON when it parses, else as text.
pub fn parse_context_pair(value: &str) -> Result<(String, serde_json::Value), String> {
    let (key, raw) = value
        .split_once('=')
        .ok_or_else(|| format!("--context takes KEY=VALUE, got {value:?}"))?;
    if key.trim().is_empty() {
        return Err(format!(
            "--context takes KEY=VALUE with a key, got {value:?}"
        ));
    }
    let parsed =
        serde_json::from_str(raw).unwrap_or_else(|_| serde_json::Value::String(raw.to_owned()));
    Ok((key.trim().to_owned(), parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_variable() {
        assert!(parse_listen("9000").unwrap_err().contains("AKIN_LISTEN"));
        assert!(parse_listen("localhost:99999").is_err());
        assert_eq!(parse_listen("[::]:9000").unwrap(), "[::]:9000");
        assert!(
            parse_database_url("mysql://x")
                .unwrap_err()
                .contains("AKIN_DATABASE_URL")
        );
        assert!(
            parse_log_format("xml")
                .unwrap_err()
                .contains("AKIN_LOG_FORMAT")
        );
        assert!(
            parse_secret_key("short")
                .unwrap_err()
                .contains("AKIN_SECRET_KEY")
        );
        assert!(
            parse_bootstrap_email("nope")
                .unwrap_err()
                .contains("AKIN_BOOTSTRAP_EMAIL")
        );
    }

    #[test]
    fn context_pairs_read_json_or_text() {
        assert_eq!(
            parse_context_pair("a=true").unwrap(),
            ("a".into(), serde_json::json!(true))
        );
        assert_eq!(
            parse_context_pair("slug=my-flow").unwrap(),
            ("slug".into(), serde_json::json!("my-flow"))
        );
        assert_eq!(
            parse_context_pair("n=3").unwrap(),
            ("n".into(), serde_json::json!(3))
        );
        assert!(parse_context_pair("novalue").is_err());
    }

    #[test]
    fn expiry_forms() {
        assert_eq!(
            parse_expiry("7d").unwrap(),
            Expiry::After(time::Duration::days(7))
        );
        assert_eq!(
            parse_expiry("30m").unwrap(),
            Expiry::After(time::Duration::minutes(30))
        );
        assert!(matches!(
            parse_expiry("2030-01-01T00:00:00Z").unwrap(),
            Expiry::At(_)
        ));
        assert!(parse_expiry("soon").is_err());
        assert!(parse_expiry("0d").is_err());
    }

    #[test]
    fn secrets_are_not_echoed() {
        let error = parse_secret_key("hunter2").unwrap_err();
        assert!(!error.contains("hunter2"));
        let error = parse_database_url("mysql://u:pw@h/db").unwrap_err();
        assert!(!error.contains("pw@"));
    }
}
