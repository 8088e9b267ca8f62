//! Argon2id password hashing (OWASP's parameters, the argon2 crate's defaults).

use akin_domain::DomainError;
use akin_domain::ports::PasswordHasher;
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};

#[derive(Debug, Default, Clone, Copy)]
pub struct Argon2Hasher;

impl PasswordHasher for Argon2Hasher {
    fn hash(&self, password: &str) -> Result<String, DomainError> {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| DomainError::Internal(format!("password hashing failed: {e}")))
    }

    fn verify(&self, password: &str, phc: &str) -> bool {
        Argon2::default()
            .verify_password(password.as_bytes(), phc)
            .is_ok()
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
    }
}
