//! The blueprints akin ships, compiled into the binary so `path` imports and start-up
//! defaults work without files on disk. The sources live in the repository's `blueprints/`.

use crate::blueprint;

/// One shipped blueprint.
#[derive(Debug, Clone, Copy)]
pub struct Shipped {
    /// As given to `path` in an import, e.g. `default/authentication.yaml`.
    pub path: &'static str,
    pub text: &'static str,
    /// Applied at every start (when changed since the last application).
    pub default: bool,
}

pub static SHIPPED: &[Shipped] = &[
    // Before authentication.yaml, whose sign-in page links to it.
    Shipped {
        path: "default/recovery.yaml",
        text: include_str!("../../../blueprints/default/recovery.yaml"),
        default: true,
    },
    Shipped {
        path: "default/authentication.yaml",
        text: include_str!("../../../blueprints/default/authentication.yaml"),
        default: true,
    },
    Shipped {
        path: "default/user-settings.yaml",
        text: include_str!("../../../blueprints/default/user-settings.yaml"),
        default: true,
    },
    Shipped {
        path: "default/password-change.yaml",
        text: include_str!("../../../blueprints/default/password-change.yaml"),
        default: true,
    },
    Shipped {
        path: "default/invalidation.yaml",
        text: include_str!("../../../blueprints/default/invalidation.yaml"),
        default: true,
    },
    Shipped {
        path: "default/initial-setup.yaml",
        text: include_str!("../../../blueprints/default/initial-setup.yaml"),
        default: true,
    },
    Shipped {
        path: "example/invitation-enrollment.yaml",
        text: include_str!("../../../blueprints/example/invitation-enrollment.yaml"),
        default: false,
    },
];

/// The shipped blueprint at `path`, or whose `metadata.name` is `name`.
pub fn find(path: Option<&str>, name: Option<&str>) -> Option<&'static Shipped> {
    SHIPPED.iter().find(|s| {
        path.is_some_and(|p| p == s.path)
            || name.is_some_and(|n| {
                blueprint::load(s.text.as_bytes()).is_ok_and(|b| b.name.as_deref() == Some(n))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_blueprint_loads() {
        for shipped in SHIPPED {
            let loaded = blueprint::load(shipped.text.as_bytes())
                .unwrap_or_else(|e| panic!("{}: {e}", shipped.path));
            assert!(loaded.name.is_some(), "{} has a name", shipped.path);
        }
        assert!(find(Some("default/invalidation.yaml"), None).is_some());
        assert!(find(None, Some("akin default - authentication")).is_some());
        assert!(find(Some("nope.yaml"), None).is_none());
    }
}
