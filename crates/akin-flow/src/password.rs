//! Password hashing: Argon2id (OWASP's parameters, the argon2 crate's defaults) for every
//! new hash, and verification of Django's `pbkdf2_sha256$<iterations>$<salt>$<base64>` so
//! users migrated from authentik sign in with their old password (then get an Argon2id
//! hash).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use akin_domain::DomainError;
use akin_domain::ports::PasswordHasher;
use argon2::password_hash::phc::{Output, ParamsString, Salt};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
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

/// The most Argon2 memory a stored hash may ask for when verified (256 MiB; new hashes use
/// 19 MiB): an imported hash cannot make a login allocate without bound.
const MAX_VERIFY_BLOCKS: usize = 256 * 1024;

/// Argon2's working memory (19 MiB with the default parameters), kept between hashes while
/// they keep coming: allocating and faulting it in afresh for every hash cost about half as
/// much again as the hash itself. A buffer unused for [`MEMORY_IDLE`] is freed
/// ([`release_idle_memory`], which the server calls periodically), so an idle server holds
/// none.
static ARGON2_MEMORY: Mutex<Vec<(Vec<Block>, Instant)>> = Mutex::new(Vec::new());

/// How long an unused Argon2 buffer is kept.
pub const MEMORY_IDLE: Duration = Duration::from_secs(10);

/// Frees the Argon2 buffers unused for `idle` or longer (all of them with zero).
pub fn release_idle_memory(idle: Duration) {
    let mut pool = ARGON2_MEMORY.lock().unwrap_or_else(|e| e.into_inner());
    pool.retain(|(_, returned)| returned.elapsed() < idle);
}

/// Runs Argon2 `argon2` over reusable memory: `Some(output)`, or `None` when the inputs
/// are out of Argon2's bounds.
fn argon2_output(
    argon2: &Argon2<'_>,
    params: &Params,
    password: &[u8],
    salt: &[u8],
) -> Option<Output> {
    let blocks = params.block_count();
    let len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let mut out = [0u8; Output::MAX_LENGTH];
    let out = out.get_mut(..len)?;
    let taken = {
        let mut pool = ARGON2_MEMORY.lock().unwrap_or_else(|e| e.into_inner());
        pool.iter()
            .position(|(buffer, _)| buffer.len() >= blocks)
            .map(|i| pool.swap_remove(i).0)
    };
    let mut memory = taken.unwrap_or_default();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let hashed = argon2
        .hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
        .ok();
    ARGON2_MEMORY
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((memory, Instant::now()));
    hashed?;
    Output::new(out).ok()
}

impl PasswordHasher for Argon2Hasher {
    fn hash(&self, password: &str) -> Result<String, DomainError> {
        let failed = |e: &dyn std::fmt::Display| {
            DomainError::Internal(format!("password hashing failed: {e}"))
        };
        let params = Params::default();
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let mut salt = [0u8; Salt::RECOMMENDED_LENGTH];
        rand::fill(&mut salt);
        let output = argon2_output(&argon2, &params, password.as_bytes(), &salt)
            .ok_or_else(|| failed(&"the password is too long"))?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(|e| failed(&e))?,
            salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
            hash: Some(output),
        };
        Ok(phc.to_string())
    }

    fn verify(&self, password: &str, phc: &str) -> bool {
        if phc.starts_with("pbkdf2_sha256$") {
            return verify_django(password, phc);
        }
        let Ok(parsed) = PasswordHash::new(phc) else {
            return false;
        };
        let (Ok(algorithm), Ok(params), Some(salt), Some(expected)) = (
            Algorithm::try_from(parsed.algorithm.as_str()),
            Params::try_from(&parsed),
            parsed.salt,
            parsed.hash,
        ) else {
            return false;
        };
        let version = match parsed.version.map(Version::try_from) {
            None => Version::default(),
            Some(Ok(version)) => version,
            Some(Err(_)) => return false,
        };
        if params.block_count() > MAX_VERIFY_BLOCKS {
            return false;
        }
        let argon2 = Argon2::new(algorithm, version, params.clone());
        argon2_output(&argon2, &params, password.as_bytes(), salt.as_ref())
            .is_some_and(|actual| actual.as_bytes().ct_eq(expected.as_bytes()).into())
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
    fn hashes_from_the_argon2_crate_and_other_parameters_verify() {
        use argon2::password_hash::PasswordHasher as _;
        // What akin wrote before it kept Argon2's memory, and what another tool may write
        // (argon2i, smaller memory): both verify through the reused memory, in either order.
        let standard = Argon2::default()
            .hash_password(b"pa55")
            .unwrap()
            .to_string();
        let small = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(1024, 3, 1, None).unwrap(),
        )
        .hash_password(b"pa55")
        .unwrap()
        .to_string();
        for phc in [&standard, &small, &standard] {
            assert!(Argon2Hasher.verify("pa55", phc), "{phc}");
            assert!(!Argon2Hasher.verify("pa56", phc), "{phc}");
        }
        // akin's own hashes verify with the crate's verifier too.
        let ours = Argon2Hasher.hash("pa55").unwrap();
        assert!(
            argon2::password_hash::PasswordVerifier::verify_password(
                &Argon2::default(),
                b"pa55",
                ours.as_str()
            )
            .is_ok()
        );
        // A hash demanding more memory than a login may take is refused, not computed.
        let greedy = "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert!(!Argon2Hasher.verify("pa55", greedy));
    }

    #[test]
    fn idle_argon2_memory_is_released() {
        Argon2Hasher.hash("a").unwrap();
        Argon2Hasher.hash("b").unwrap();
        let held = || ARGON2_MEMORY.lock().unwrap().len();
        assert!(held() >= 1, "kept between hashes");
        release_idle_memory(MEMORY_IDLE);
        assert!(held() >= 1, "not idle long enough to go");
        let released = Instant::now();
        release_idle_memory(Duration::ZERO);
        // Other tests may hash meanwhile; nothing from before the release is left.
        assert!(
            ARGON2_MEMORY
                .lock()
                .unwrap()
                .iter()
                .all(|(_, returned)| *returned > released)
        );
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
