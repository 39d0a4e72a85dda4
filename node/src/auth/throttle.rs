//! Login throttling: who is asking (client address, trusted proxies), how
//! fast (governor limiters per address and per account, in memory), and
//! the persisted lockout after consecutive failures on an account.
//!
//! - Per client address (IPv6 counted per /64) and per account (the
//!   normalised e-mail, hashed), each attempt takes a cell from a governor
//!   token bucket with a small burst; an empty bucket answers 429.
//! - After `lockout_after_failures` consecutive failures on an account it
//!   is locked for `lockout_initial_secs`, doubled by each further failure
//!   after a lock expired, capped at `lockout_max_secs`. During a lock no
//!   password is checked, so the right one does not get through either.
//!   A success clears the count; a failure older than
//!   `failure_memory_secs` is forgotten. The count lives in the database
//!   (`login_failures`, keyed by the SHA-256 of the normalised e-mail), so a
//!   restart does not reset it, and it is kept for addresses that match no
//!   account too: answers never tell whether an account exists.
//! - Password verification (argon2) runs at most
//!   `max_concurrent_verifications` at a time node-wide.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

use crate::auth::settings::{LoginConfig, ProxyNet};
use crate::clock::{GovernorClock, SharedClock};
use crate::config::Config;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::server::AppState;
use crate::util::sha256_hex;

type KeyedLimiter<K> = RateLimiter<
    K,
    DashMapStateStore<K>,
    GovernorClock,
    governor::middleware::NoOpMiddleware<governor::nanos::Nanos>,
>;

/// How often (in checks) the limiters forget idle keys.
const HOUSEKEEPING_EVERY: u64 = 1024;

/// The login limiters of a node (one per node, in [`AppState`]).
pub struct LoginThrottle {
    clock: SharedClock,
    config: LoginConfig,
    proxies: Vec<ProxyNet>,
    by_address: KeyedLimiter<IpAddr>,
    by_account: KeyedLimiter<String>,
    verifications: tokio::sync::Semaphore,
    checks: AtomicU64,
}

impl std::fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginThrottle")
            .field("config", &self.config)
            .field("addresses", &self.by_address.len())
            .field("accounts", &self.by_account.len())
            .finish_non_exhaustive()
    }
}

fn quota(burst: u32, per_minute: u32) -> Quota {
    let one = std::num::NonZeroU32::MIN;
    let burst = std::num::NonZeroU32::new(burst).unwrap_or(one);
    let per_minute = std::num::NonZeroU32::new(per_minute).unwrap_or(one);
    Quota::per_minute(per_minute).allow_burst(burst)
}

impl LoginThrottle {
    /// The limiters for `config` (validated), reading time from `clock`.
    pub fn new(config: &Config, clock: SharedClock) -> LoginThrottle {
        let l = config.auth.login.clone();
        let gclock = GovernorClock(clock.clone());
        LoginThrottle {
            by_address: RateLimiter::dashmap_with_clock(
                quota(l.per_address_burst, l.per_address_per_minute),
                gclock.clone(),
            ),
            by_account: RateLimiter::dashmap_with_clock(
                quota(l.per_account_burst, l.per_account_per_minute),
                gclock,
            ),
            verifications: tokio::sync::Semaphore::new(
                usize::try_from(l.max_concurrent_verifications.max(1)).unwrap_or(1),
            ),
            proxies: config.auth.proxies(),
            checks: AtomicU64::new(0),
            config: l,
            clock,
        }
    }

    /// The configured limits.
    pub fn config(&self) -> &LoginConfig {
        &self.config
    }

    /// The trusted reverse proxies.
    pub fn proxies(&self) -> &[ProxyNet] {
        &self.proxies
    }

    /// Take one attempt from the address's and the account's buckets, or
    /// say how long to wait.
    pub fn admit(&self, client: IpAddr, account: &str) -> Result<()> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % HOUSEKEEPING_EVERY
            == HOUSEKEEPING_EVERY - 1
        {
            self.by_address.retain_recent();
            self.by_address.shrink_to_fit();
            self.by_account.retain_recent();
            self.by_account.shrink_to_fit();
        }
        let now = governor::clock::Clock::now(&GovernorClock(self.clock.clone()));
        let key = address_key(client);
        if let Err(not_until) = self.by_address.check_key(&key) {
            metrics::counter!("vivier_login_throttled_total", "by" => "address").increment(1);
            tracing::warn!(client = %client, "login attempts throttled for this address");
            return Err(too_many(not_until.wait_time_from(now)));
        }
        if let Err(not_until) = self.by_account.check_key(&account.to_string()) {
            metrics::counter!("vivier_login_throttled_total", "by" => "account").increment(1);
            tracing::warn!(client = %client, "login attempts throttled for an account");
            return Err(too_many(not_until.wait_time_from(now)));
        }
        Ok(())
    }

    /// Wait for a password-verification slot.
    pub async fn verification_slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>> {
        self.verifications
            .acquire()
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("verification slots closed: {e}")))
    }

    /// The lock duration after `failures` consecutive failures, if any.
    pub fn lock_duration_ms(&self, failures: i64) -> Option<i64> {
        let threshold = i64::from(self.config.lockout_after_failures);
        if failures < threshold {
            return None;
        }
        let doublings = u32::try_from(failures - threshold)
            .unwrap_or(u32::MAX)
            .min(30);
        let secs = self
            .config
            .lockout_initial_secs
            .saturating_mul(1u64 << doublings)
            .min(self.config.lockout_max_secs);
        Some(i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX))
    }
}

fn too_many(wait: std::time::Duration) -> Error {
    Error::TooManyAttempts {
        retry_after_secs: ceil_secs(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX)),
    }
}

/// Milliseconds to whole seconds, rounded up, at least 1.
pub fn ceil_secs(ms: i64) -> u64 {
    u64::try_from(ms.max(1).saturating_add(999) / 1000).unwrap_or(1)
}

/// The limiter key of an address: IPv4 as is (IPv4-mapped IPv6 too), IPv6
/// by its /64 (one subscriber usually holds a whole /64).
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The normalised form of a login e-mail (as stored: trimmed, lower case).
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The key an account is throttled and locked under: SHA-256 of the
/// normalised e-mail (also for e-mails that match no account).
pub fn account_key(email: &str) -> String {
    sha256_hex(normalise_email(email).as_bytes())
}

/// The client's address: the connection's peer, or, when the peer is a
/// trusted proxy, the nearest address in `X-Forwarded-For` that is not one.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, proxies: &[ProxyNet]) -> IpAddr {
    let trusted = |ip: &IpAddr| proxies.iter().any(|p| p.contains(ip));
    if !trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut ip = peer;
    for hop in hops.iter().rev() {
        if !trusted(&ip) {
            break;
        }
        match parse_hop(hop) {
            Some(h) => ip = h,
            None => break,
        }
    }
    ip
}

fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// The client address of a request (see [`client_ip`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> std::result::Result<Self, Self::Rejection> {
        // Served with connect info; a router driven without it (in-process
        // tower tests) counts as one unspecified client.
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        Ok(ClientAddr(client_ip(
            peer,
            &parts.headers,
            state.login.proxies(),
        )))
    }
}

/// An account's persisted failure state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailureState {
    /// Consecutive failures remembered.
    pub failures: i64,
    /// Locked until (unix ms); `None` when not locked at `now`.
    pub locked_until: Option<i64>,
}

/// Whether `key` is locked at `now`: the lock's end.
pub async fn locked_until(db: &Db, key: &str, now: i64) -> Result<Option<i64>> {
    let mut conn = db.pool.acquire().await?;
    Ok(super::store::locked_until(&mut conn, key)
        .await?
        .filter(|u| *u > now))
}

/// Count a failure on `key` at `now` in `conn` (the caller's transaction,
/// where its audit row goes too); lock the account when the count reaches
/// the threshold. Also forgets failures older than the memory.
pub async fn record_failure_in(
    conn: &mut sqlx::AnyConnection,
    throttle: &LoginThrottle,
    key: &str,
    now: i64,
) -> Result<FailureState> {
    let memory_ms =
        i64::try_from(throttle.config.failure_memory_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let forget_before = now.saturating_sub(memory_ms);
    let failures = super::store::bump_failures(conn, key, now, forget_before).await?;
    let locked_until = match throttle.lock_duration_ms(failures) {
        Some(ms) => {
            let until = now.saturating_add(ms);
            super::store::lock_account(conn, key, until).await?;
            Some(until)
        }
        None => None,
    };
    // Housekeeping: rows neither locked nor remembered any more.
    super::store::prune_failures(conn, forget_before, now).await?;
    Ok(FailureState {
        failures,
        locked_until,
    })
}

/// Forget the failures of `key` (after a successful login, or when an
/// administrator unlocks the account). Returns whether there were any.
pub async fn clear_failures(db: &Db, key: &str) -> Result<bool> {
    let mut conn = db.pool.acquire().await?;
    super::store::clear_failures(&mut conn, key).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use axum::http::HeaderValue;
    use std::time::Duration;

    fn throttle(clock: &ManualClock, tweak: impl FnOnce(&mut LoginConfig)) -> LoginThrottle {
        let mut config = Config::default();
        tweak(&mut config.auth.login);
        LoginThrottle::new(&config, clock.shared())
    }

    #[test]
    fn address_bucket_empties_then_refills_with_the_clock() {
        let clock = ManualClock::at(1_000_000);
        let t = throttle(&clock, |l| {
            l.per_address_burst = 3;
            l.per_address_per_minute = 6;
            l.per_account_burst = 100;
        });
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        for i in 0..3 {
            t.admit(ip, &format!("acct{i}")).expect("within burst");
        }
        match t.admit(ip, "acct9") {
            Err(Error::TooManyAttempts { retry_after_secs }) => assert_eq!(retry_after_secs, 10),
            other => panic!("expected throttling, got {other:?}"),
        }
        // Another address is not affected.
        t.admit("192.0.2.2".parse().expect("ip"), "acct9")
            .expect("other address");
        clock.advance(Duration::from_secs(10));
        t.admit(ip, "acct9").expect("one cell back after 10 s");
    }

    #[test]
    fn account_bucket_is_shared_across_addresses() {
        let clock = ManualClock::at(5_000_000);
        let t = throttle(&clock, |l| {
            l.per_account_burst = 2;
            l.per_account_per_minute = 1;
        });
        t.admit("192.0.2.1".parse().expect("ip"), "k").expect("1");
        t.admit("192.0.2.2".parse().expect("ip"), "k").expect("2");
        assert!(matches!(
            t.admit("192.0.2.3".parse().expect("ip"), "k"),
            Err(Error::TooManyAttempts {
                retry_after_secs: 60
            })
        ));
        t.admit("192.0.2.3".parse().expect("ip"), "other")
            .expect("other account");
    }

    #[test]
    fn lockout_doubles_and_is_capped() {
        let clock = ManualClock::at(0);
        let t = throttle(&clock, |l| {
            l.lockout_after_failures = 5;
            l.lockout_initial_secs = 60;
            l.lockout_max_secs = 300;
        });
        assert_eq!(t.lock_duration_ms(4), None);
        assert_eq!(t.lock_duration_ms(5), Some(60_000));
        assert_eq!(t.lock_duration_ms(6), Some(120_000));
        assert_eq!(t.lock_duration_ms(7), Some(240_000));
        assert_eq!(t.lock_duration_ms(8), Some(300_000));
        assert_eq!(t.lock_duration_ms(1_000_000), Some(300_000));
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let proxies = vec![ProxyNet::parse("10.0.0.0/8").expect("net")];
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.9, 198.51.100.7, 10.0.0.2"),
        );
        let peer: IpAddr = "10.0.0.1".parse().expect("ip");
        // Walk from the right past trusted hops: the first untrusted one.
        assert_eq!(
            client_ip(peer, &h, &proxies),
            "198.51.100.7".parse::<IpAddr>().expect("ip")
        );
        // Not from a proxy: the header is a lie and is ignored.
        let stranger: IpAddr = "198.51.100.50".parse().expect("ip");
        assert_eq!(client_ip(stranger, &h, &proxies), stranger);
        assert_eq!(client_ip(peer, &h, &[]), peer);
        // Garbage stops the walk at the last good hop.
        let mut g = HeaderMap::new();
        g.insert("x-forwarded-for", HeaderValue::from_static("nonsense"));
        assert_eq!(client_ip(peer, &g, &proxies), peer);
    }

    #[test]
    fn keys_normalise() {
        assert_eq!(
            account_key("  Claire@Mission-Emploi.FR "),
            account_key("claire@mission-emploi.fr")
        );
        assert_eq!(
            address_key("2001:db8:1:2:3:4:5:6".parse().expect("ip")),
            "2001:db8:1:2::".parse::<IpAddr>().expect("ip")
        );
        assert_eq!(
            address_key("::ffff:192.0.2.1".parse().expect("ip")),
            "192.0.2.1".parse::<IpAddr>().expect("ip")
        );
        assert_eq!(ceil_secs(1), 1);
        assert_eq!(ceil_secs(60_000), 60);
        assert_eq!(ceil_secs(60_001), 61);
    }
}
