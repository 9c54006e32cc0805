//! Password hashing (argon2, default parameters: 19 MiB and two passes per hash) on a
//! dedicated pool of one thread per core, never on the async workers. However many logins
//! arrive at once, at most that many hashes run and hold their 19 MiB; the rest wait in
//! the pool's queue. A check for an account with no password hash (a missing user) hashes
//! against a dummy of the same cost, so the answer takes as long as for a real account.
//! The hashing threads run at a lower priority than the async workers.

use std::{
    cell::RefCell,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, OnceLock,
    },
};

use argon2::{
    password_hash::{Output, ParamsString, PasswordHash, SaltString},
    Algorithm, Argon2, Block, Params, Version,
};
use tokio::sync::oneshot;

/// Hashing failed (the pool is gone, or argon2 refused its input).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub(crate) struct PasswordError(String);

/// The password pool.
pub(crate) struct Passwords {
    pool: rayon::ThreadPool,
    dummy: Arc<Dummy>,
}

/// The stand-in hash for accounts without one, made on first use, and how often it ran.
#[derive(Default)]
struct Dummy {
    hash: OnceLock<Option<String>>,
    checks: AtomicU64,
}

/// The largest argon2 memory a stored hash may ask for (4x the default's 19 MiB); a hash
/// asking for more is refused rather than allowed to grow a thread's buffer.
const MAX_BLOCKS: usize = 4 * 19 * 1024;

thread_local! {
    /// Each pool thread's argon2 memory, allocated on its first hash and reused: the
    /// pool's memory is its thread count times one hash's, whatever the allocator keeps.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

fn hash_with_memory(argon2: &Argon2<'_>, params: &Params, password: &[u8], salt: &[u8], out: &mut [u8]) -> bool {
    let blocks = params.block_count();
    if blocks > MAX_BLOCKS {
        return false;
    }
    MEMORY.with_borrow_mut(|memory| {
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        argon2.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks]).is_ok()
    })
}

/// Lowers the calling (hashing) thread's priority to nice 10, so that on a busy machine
/// the async workers answering requests get the CPU first and a login flood slows
/// logins, not everything else.
#[cfg(target_os = "linux")]
#[allow(
    unsafe_code,
    reason = "setpriority takes no pointers; with PRIO_PROCESS and who = 0 Linux applies it to the calling thread only"
)]
fn yield_to_requests() {
    // SAFETY: a plain system call on the current thread; failure only leaves the priority as it was.
    let changed = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) };
    if changed != 0 {
        tracing::debug!("cannot lower the password hashing thread's priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn yield_to_requests() {}

/// An argon2id PHC string for `password` with the default parameters and a random salt.
fn hash_now(password: &[u8]) -> Result<String, PasswordError> {
    let failed = |error: &dyn std::fmt::Display| PasswordError(error.to_string());
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| failed(&e))?;
    let params = Params::default();
    let argon2 = Argon2::new(Algorithm::default(), Version::default(), params.clone());
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    if !hash_with_memory(&argon2, &params, password, &salt_bytes, &mut out) {
        return Err(PasswordError("argon2 refused the password".to_owned()));
    }
    let hash = PasswordHash {
        algorithm: Algorithm::default().ident(),
        version: Some(Version::default().into()),
        params: ParamsString::try_from(&params).map_err(|e| failed(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
    };
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `stored` (compared in constant time).
fn matches_now(password: &[u8], stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else { return false };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else { return false };
    let version = parsed.version.map_or(Ok(Version::default()), Version::try_from);
    let (Ok(algorithm), Ok(version), Ok(params)) =
        (Algorithm::try_from(parsed.algorithm), version, Params::try_from(&parsed))
    else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else { return false };
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let mut out = vec![0u8; expected.len()];
    // `Output`'s equality is constant-time.
    hash_with_memory(&argon2, &params, password, salt, &mut out) && Output::new(&out).is_ok_and(|out| out == expected)
}

impl Passwords {
    /// A pool of `threads` hashing threads (at least one).
    pub(crate) fn new(threads: usize) -> Result<Self, PasswordError> {
        let threads = threads.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|n| format!("mxmod-argon2-{n}"))
            .start_handler(|_| yield_to_requests())
            .panic_handler(|_| tracing::error!("a password hashing job panicked"))
            .build()
            .map_err(|error| PasswordError(error.to_string()))?;
        Ok(Self { pool, dummy: Arc::default() })
    }

    /// A pool with one thread per core.
    pub(crate) fn per_core() -> Result<Self, PasswordError> {
        Self::new(std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
    }

    /// How many hashes can run at once.
    pub(crate) fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    async fn run<T: Send + 'static>(&self, job: impl FnOnce() -> T + Send + 'static) -> Result<T, PasswordError> {
        let (answer, answered) = oneshot::channel();
        self.pool.spawn(move || {
            let _ = answer.send(job());
        });
        answered.await.map_err(|_| PasswordError("the hashing job did not finish".to_owned()))
    }

    /// A new argon2 PHC string for `password`.
    pub(crate) async fn hash(&self, password: String) -> Result<String, PasswordError> {
        self.run(move || hash_now(password.as_bytes())).await?
    }

    /// Whether `password` matches `stored`. With no stored hash the password is checked
    /// against the dummy, at the same cost, and the answer is `false`.
    pub(crate) async fn verify(&self, password: String, stored: Option<String>) -> bool {
        let dummy = self.dummy.clone();
        let checked = self.run(move || match stored {
            Some(hash) => matches_now(password.as_bytes(), &hash),
            None => {
                let hash = dummy.hash.get_or_init(|| hash_now(b"no account has this password").ok());
                if let Some(hash) = hash {
                    let _ = matches_now(password.as_bytes(), hash);
                }
                dummy.checks.fetch_add(1, Ordering::Relaxed);
                false
            }
        });
        checked.await.unwrap_or(false)
    }

    /// How many checks ran against the dummy hash.
    pub(crate) fn dummy_checks(&self) -> u64 {
        self.dummy.checks.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_and_a_wrong_password_does_not() {
        let passwords = Passwords::new(1).unwrap();
        let hash = passwords.hash("right".to_owned()).await.unwrap();
        assert!(passwords.verify("right".to_owned(), Some(hash.clone())).await);
        assert!(!passwords.verify("wrong".to_owned(), Some(hash)).await);
        assert_eq!(passwords.dummy_checks(), 0);
    }

    #[tokio::test]
    async fn no_stored_hash_runs_the_dummy_of_equal_cost() {
        let passwords = Passwords::new(1).unwrap();
        assert!(!passwords.verify("anything".to_owned(), None).await);
        assert!(!passwords.verify("anything".to_owned(), None).await);
        assert_eq!(passwords.dummy_checks(), 2);
        let dummy = passwords.dummy.hash.get().cloned().flatten().unwrap();
        let real = passwords.hash("x".to_owned()).await.unwrap();
        let params = |phc: &str| PasswordHash::new(phc).unwrap().params.to_string();
        assert_eq!(params(&dummy), params(&real), "the dummy costs what a real hash costs");
    }

    #[test]
    fn hashes_made_before_the_pool_still_verify() {
        use argon2::password_hash::PasswordHasher;
        // What registration stored until now: argon2's own `hash_password`.
        let salt = SaltString::encode_b64(b"sixteen byte salt").unwrap();
        let earlier = Argon2::default().hash_password(b"old password", &salt).unwrap().to_string();
        assert!(matches_now(b"old password", &earlier));
        assert!(!matches_now(b"other", &earlier));
        assert!(!matches_now(b"old password", "not a hash"));
    }

    #[test]
    fn the_pool_is_sized_to_the_cores() {
        let cores = std::thread::available_parallelism().unwrap().get();
        assert_eq!(Passwords::per_core().unwrap().threads(), cores);
    }
}
