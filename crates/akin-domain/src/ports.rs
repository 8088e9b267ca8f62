//! What the domain needs from the outside world, implemented by the adapters.

use crate::DomainError;

/// Hashes and verifies passwords. Implementations are CPU-heavy by design; async callers
/// run them on a blocking thread.
pub trait PasswordHasher: Send + Sync {
    /// A PHC string for `password` with a fresh salt.
    fn hash(&self, password: &str) -> Result<String, DomainError>;
    /// Whether `password` matches the stored hash; false for malformed strings. Hashes
    /// imported from authentik (Django's `pbkdf2_sha256$…`) verify too.
    fn verify(&self, password: &str, phc: &str) -> bool;
    /// Whether a hash that verified should be replaced by a fresh one (an imported Django
    /// hash, or weaker parameters than today's).
    fn needs_rehash(&self, phc: &str) -> bool;
}
