//! Rate limits of the node-to-node endpoints (GCRA from `governor`).
//!
//! Work done before a request's signature is verified (reading the body,
//! hashing it, parsing headers, one ed25519 verification) is limited per
//! client address, in a middleware that runs before the body is read; a
//! peer's own quota is charged only once its signature has verified, keyed
//! by the verified node id. A flood of requests that merely *claim* to come
//! from a member (`keyid="ml-tours/…"`, signed with another key) therefore
//! costs that member nothing. Pushing a membership document (verified
//! against the operator keys, not a member key) has its own, lower, limit
//! per address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::FederationConfig;
use crate::error::Error;
use crate::server::AppState;

/// Keys kept before idle ones are forgotten (an idle key's bucket is full
/// again, so forgetting it changes nothing).
const HOUSEKEEPING_KEYS: usize = 10_000;

/// The limiters of one node.
pub struct Limits {
    by_address: DefaultKeyedRateLimiter<IpAddr>,
    by_peer: DefaultKeyedRateLimiter<String>,
    membership_push: DefaultKeyedRateLimiter<IpAddr>,
}

/// `per_sec` requests per second with a burst of twice that.
fn quota(per_sec: u32) -> Quota {
    let rate = NonZeroU32::new(per_sec.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = rate.saturating_mul(NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN));
    Quota::per_second(rate).allow_burst(burst)
}

fn housekeep<K: std::hash::Hash + Eq + Clone>(l: &DefaultKeyedRateLimiter<K>) {
    if l.len() > HOUSEKEEPING_KEYS {
        l.retain_recent();
        l.shrink_to_fit();
    }
}

impl Limits {
    /// From the `[federation]` settings.
    pub fn new(cfg: &FederationConfig) -> Limits {
        Limits::with_quotas(
            quota(cfg.address_rate_per_sec),
            quota(cfg.inbox_rate_per_sec),
            quota(cfg.membership_push_rate_per_sec),
        )
    }

    fn with_quotas(address: Quota, peer: Quota, push: Quota) -> Limits {
        Limits {
            by_address: RateLimiter::keyed(address),
            by_peer: RateLimiter::keyed(peer),
            membership_push: RateLimiter::keyed(push),
        }
    }

    /// One unauthenticated request from `ip`.
    pub fn allow_address(&self, ip: IpAddr) -> bool {
        housekeep(&self.by_address);
        self.by_address.check_key(&ip).is_ok()
    }

    /// One request whose signature verified as `node`'s.
    pub fn allow_peer(&self, node: &str) -> bool {
        housekeep(&self.by_peer);
        self.by_peer.check_key(&node.to_string()).is_ok()
    }

    /// One membership document pushed from `ip`.
    pub fn allow_membership_push(&self, ip: IpAddr) -> bool {
        housekeep(&self.membership_push);
        self.membership_push.check_key(&ip).is_ok()
    }
}

/// Middleware for the node-to-node routes: charge the client address before
/// anything else is done (the body is not read yet). Membership pushes are
/// charged to their own limiter.
pub async fn limit_by_address(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let limits = &state.federation.limits;
    let push = req.method() == Method::POST && req.uri().path() == "/federation/v1/membership";
    let (allowed, stage) = if push {
        (limits.allow_membership_push(ip), "membership_push")
    } else {
        (limits.allow_address(ip), "address")
    };
    if !allowed {
        metrics::counter!("vivier_requests_rate_limited_total", "stage" => stage).increment(1);
        tracing::debug!(%ip, stage, "federation request rate-limited");
        return Error::TooManyRequests.into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_allow_a_burst_of_twice_the_rate() {
        let q = quota(200);
        assert_eq!(q.burst_size().get(), 400);
        assert_eq!(q.replenish_interval(), std::time::Duration::from_millis(5));
        assert_eq!(quota(0).burst_size().get(), 2, "at least one per second");
    }

    #[test]
    fn each_key_has_its_own_budget() {
        // Hourly quotas: nothing refills while the test runs.
        let per_hour = |n: u32| {
            let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
            Quota::per_hour(n).allow_burst(n)
        };
        let l = Limits::with_quotas(per_hour(4), per_hour(6), per_hour(2));
        let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let other = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
        assert_eq!((0..10).filter(|_| l.allow_peer("ml-tours")).count(), 6);
        assert!(l.allow_peer("cd41"), "another peer is not affected");
        assert_eq!((0..10).filter(|_| l.allow_address(ip)).count(), 4);
        assert!(l.allow_address(other), "another address is not affected");
        assert!(l.allow_peer("cd41"), "addresses and peers are separate");
        assert_eq!((0..10).filter(|_| l.allow_membership_push(ip)).count(), 2);
    }
}
