//! Which environment variables `!Env` may read.
//!
//! A blueprint file the operator put on the server (the CLI, the blueprints folder) reads
//! any, as in authentik. One uploaded through the API or the admin pages comes from whoever
//! holds an administrator's session or token, and what it reads ends up in stored objects
//! (a flow's title is shown to anonymous visitors): it reads only the variables the
//! operator allowed, and never akin's own settings, whose values are its secrets.

/// akin's own settings (`AKIN_SECRET_KEY`, `AKIN_DATABASE_URL`, …): never read by an
/// uploaded blueprint, whatever the allow list says.
const OWN_PREFIX: &str = "AKIN_";

/// What `!Env` may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvAccess {
    /// Every variable: blueprints from the operator's own files.
    All,
    /// Uploaded blueprints: variables named by the allow list, none starting `AKIN_`.
    Allowed(EnvAllowList),
}

/// Names and name prefixes (`ORG_*`), from `AKIN_BLUEPRINT_ENV_ALLOW`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvAllowList {
    names: Vec<String>,
    prefixes: Vec<String>,
}

/// How `!Env` reads a variable: its value (`None` when unset), or a refusal.
pub type EnvReader<'a> = dyn Fn(&str) -> Result<Option<String>, EnvRefused> + Sync + 'a;

/// `!Env` named a variable the blueprint may not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvRefused;

impl EnvAllowList {
    /// Comma-separated names, each exact or ending in `*` (a prefix). Blanks are skipped;
    /// a `*` anywhere but at the end is refused, as is a lone `*` (everything).
    pub fn parse(list: &str) -> Result<EnvAllowList, String> {
        let mut allowed = EnvAllowList::default();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (stem, prefix) = match entry.strip_suffix('*') {
                Some(stem) => (stem, true),
                None => (entry, false),
            };
            if stem.is_empty() || stem.contains('*') {
                return Err(format!(
                    "{entry:?}: give a name or a prefix ending in * (ORG_*), not a pattern"
                ));
            }
            if prefix {
                allowed.prefixes.push(stem.to_owned());
            } else {
                allowed.names.push(stem.to_owned());
            }
        }
        Ok(allowed)
    }

    fn permits(&self, name: &str) -> bool {
        !name.starts_with(OWN_PREFIX)
            && (self.names.iter().any(|n| n == name)
                || self.prefixes.iter().any(|p| name.starts_with(p.as_str())))
    }
}

impl EnvAccess {
    /// The variable's value (`None` when unset), or why it may not be read.
    pub fn read(&self, name: &str) -> Result<Option<String>, EnvRefused> {
        match self {
            EnvAccess::Allowed(list) if !list.permits(name) => Err(EnvRefused),
            _ => Ok(std::env::var(name).ok()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_read_only_what_was_allowed_and_never_akins_own() {
        let list = EnvAllowList::parse(" ORG_*, SMTP_HOST ,,AKIN_*").unwrap();
        let uploaded = EnvAccess::Allowed(list);
        for (name, permitted) in [
            ("ORG_NAME", true),
            ("ORG_", true),
            ("SMTP_HOST", true),
            ("SMTP_HOSTNAME", false),
            ("HOME", false),
            ("AKIN_SECRET_KEY", false),
            ("AKIN_DATABASE_URL", false),
        ] {
            assert_eq!(uploaded.read(name).is_ok(), permitted, "{name}");
        }
        assert!(
            EnvAccess::Allowed(EnvAllowList::default())
                .read("HOME")
                .is_err()
        );
        assert!(EnvAccess::All.read("AKIN_ANYTHING").is_ok());
    }

    #[test]
    fn patterns_other_than_prefixes_are_refused() {
        for bad in ["*", "*_KEY", "A*B", "ORG_**"] {
            assert!(EnvAllowList::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(EnvAllowList::parse("").unwrap(), EnvAllowList::default());
    }
}
