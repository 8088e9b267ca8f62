//! What the domain needs from the outside world, implemented by the adapters.

use crate::DomainError;

/// Hashes and verifies passwords. Implementations are CPU-heavy by design; async callers
/// run them on a blocking thread.
pub trait PasswordHasher: Send + Sync {
    /// A PHC string for `password` with a fresh salt.
    fn hash(&self, password: &str) -> Result<String, DomainError>;
    /// Whether `password` matches the stored PHC string; false for malformed strings.
    fn verify(&self, password: &str, phc: &str) -> bool;
}
