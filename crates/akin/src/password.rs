//! Password hashing: Argon2id (OWASP's parameters, the argon2 crate's defaults) for every
//! new hash, and verification of Django's `pbkdf2_sha256$<iterations>$<salt>$<base64>` so
//! users migrated from authentik sign in with their old password (then get an Argon2id
//! hash).

use akin_domain::DomainError;
use akin_domain::ports::PasswordHasher;
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use base64::Engine;
use subtle::ConstantTimeEq;

#[derive(Debug, Default, Clone, Copy)]
pub struct Argon2Hasher;

/// The most PBKDF2 iterations accepted from an imported hash (Django's defaults are far
/// below; this bounds the CPU a crafted hash can cost).
const MAX_DJANGO_ITERATIONS: u32 = 5_000_000;

fn verify_django(password: &str, encoded: &str) -> bool {
    let mut parts = encoded.split('$');
    let (Some("pbkdf2_sha256"), Some(iterations), Some(salt), Some(hash), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let Ok(iterations) = iterations.parse::<u32>() else {
        return false;
    };
    if iterations == 0 || iterations > MAX_DJANGO_ITERATIONS {
        return false;
    }
    let Ok(expected) = base64::engine::general_purpose::STANDARD.decode(hash) else {
        return false;
    };
    if expected.len() != 32 {
        return false;
    }
    let mut derived = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
        password.as_bytes(),
        salt.as_bytes(),
        iterations,
        &mut derived,
    );
    derived.ct_eq(&expected).into()
}

impl PasswordHasher for Argon2Hasher {
    fn hash(&self, password: &str) -> Result<String, DomainError> {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| DomainError::Internal(format!("password hashing failed: {e}")))
    }

    fn verify(&self, password: &str, phc: &str) -> bool {
        if phc.starts_with("pbkdf2_sha256$") {
            return verify_django(password, phc);
        }
        Argon2::default()
            .verify_password(password.as_bytes(), phc)
            .is_ok()
    }

    fn needs_rehash(&self, phc: &str) -> bool {
        !phc.starts_with("$argon2id$")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let phc = Argon2Hasher.hash("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(Argon2Hasher.verify("correct horse", &phc));
        assert!(!Argon2Hasher.verify("wrong", &phc));
        assert!(!Argon2Hasher.verify("correct horse", "not a hash"));
        assert_ne!(phc, Argon2Hasher.hash("correct horse").unwrap(), "salted");
        assert!(!Argon2Hasher.needs_rehash(&phc));
    }

    #[test]
    fn django_hashes_from_authentik_verify() {
        // Made with Python: hashlib.pbkdf2_hmac("sha256", b"hunter2", b"saltsalt", 1000), base64.
        let django = "pbkdf2_sha256$1000$saltsalt$SGostCYuh4jIkZF3T30ZOll3DSwORihSR6ozq+eFeiA=";
        assert!(Argon2Hasher.verify("hunter2", django));
        assert!(!Argon2Hasher.verify("hunter3", django));
        assert!(Argon2Hasher.needs_rehash(django));
        assert!(!Argon2Hasher.verify(
            "hunter2",
            "pbkdf2_sha256$999999999$s$SGostCYuh4jIkZF3T30ZOll3DSwORihSR6ozq+eFeiA="
        ));
        assert!(!Argon2Hasher.verify("hunter2", "pbkdf2_sha256$1000$saltsalt"));
    }
}
