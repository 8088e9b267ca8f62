//! authentik's global email settings (`AKIN_EMAIL__HOST`, …).

use std::time::Duration;

/// How to reach the SMTP server. The defaults are authentik's: `localhost:25`, no TLS.
#[derive(Clone, PartialEq, Eq)]
pub struct EmailSettings {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    /// STARTTLS after connecting.
    pub use_tls: bool,
    /// TLS from the first byte (usually port 465).
    pub use_ssl: bool,
    pub timeout: Duration,
    /// The `From` of every message, `akin@example.com` or `akin <akin@example.com>`.
    pub from: String,
}

impl Default for EmailSettings {
    fn default() -> Self {
        EmailSettings {
            host: "localhost".into(),
            port: 25,
            username: None,
            password: None,
            use_tls: false,
            use_ssl: false,
            timeout: Duration::from_secs(10),
            from: "akin@localhost".into(),
        }
    }
}

/// Never prints the password.
impl std::fmt::Debug for EmailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "(set)"))
            .field("use_tls", &self.use_tls)
            .field("use_ssl", &self.use_ssl)
            .field("timeout", &self.timeout)
            .field("from", &self.from)
            .finish()
    }
}

impl EmailSettings {
    /// What makes the settings unusable, naming the variable to fix.
    pub fn check(&self) -> Result<(), String> {
        if self.use_tls && self.use_ssl {
            return Err(
                "AKIN_EMAIL__USE_TLS and AKIN_EMAIL__USE_SSL cannot both be set: STARTTLS or TLS from the start, not both"
                    .into(),
            );
        }
        if self.host.trim().is_empty() {
            return Err("AKIN_EMAIL__HOST must not be empty".into());
        }
        if self.username.is_some() != self.password.is_some() {
            return Err("AKIN_EMAIL__USERNAME and AKIN_EMAIL__PASSWORD go together".into());
        }
        self.from.parse::<lettre::message::Mailbox>().map_err(|e| {
            format!(
                "AKIN_EMAIL__FROM must be an address, {:?} is not: {e}",
                self.from
            )
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicting_or_broken_settings_name_the_variable() {
        assert!(EmailSettings::default().check().is_ok());
        let both = EmailSettings {
            use_tls: true,
            use_ssl: true,
            ..EmailSettings::default()
        };
        assert!(both.check().unwrap_err().contains("AKIN_EMAIL__USE_SSL"));
        let bad_from = EmailSettings {
            from: "not an address".into(),
            ..EmailSettings::default()
        };
        assert!(bad_from.check().unwrap_err().contains("AKIN_EMAIL__FROM"));
        let secret = EmailSettings {
            username: Some("u".into()),
            password: Some("hunter2".into()),
            ..EmailSettings::default()
        };
        assert!(!format!("{secret:?}").contains("hunter2"));
    }
}
