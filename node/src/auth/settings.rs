//! The `[auth]` section of the node configuration: login throttling,
//! password strength and API token lifetimes (documented, with defaults, in
//! `config/node.example.toml`).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// `[auth]`: account abuse limits.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Reverse proxies (IP addresses or CIDR blocks) whose `X-Forwarded-For`
    /// header names the real client. From any other peer the header is
    /// ignored and the connection's address is the client's.
    pub trusted_proxies: Vec<String>,
    /// Login throttling and lockout.
    pub login: LoginConfig,
    /// Password strength.
    pub passwords: PasswordConfig,
    /// API token lifetimes.
    pub tokens: TokenConfig,
    /// Password reset links sent by e-mail.
    pub password_reset: PasswordResetConfig,
}

/// `[auth.password_reset]`: the links of `POST /api/v1/auth/password-reset`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordResetConfig {
    /// How long a link is valid (minutes).
    pub link_ttl_minutes: u32,
    /// No new link is mailed to an account sooner than this after the
    /// previous one (s): requests keep answering 202 without sending.
    pub resend_after_secs: u32,
}

impl Default for PasswordResetConfig {
    fn default() -> Self {
        PasswordResetConfig {
            link_ttl_minutes: 30,
            resend_after_secs: 60,
        }
    }
}

/// `[auth.login]`: throttling of `POST /api/v1/auth/login` and the web login
/// form.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginConfig {
    /// Attempts one client address may make at once (burst)…
    pub per_address_burst: u32,
    /// …then this many per minute (IPv6 addresses count per /64).
    pub per_address_per_minute: u32,
    /// Attempts on one account (normalised e-mail) at once (burst)…
    pub per_account_burst: u32,
    /// …then this many per minute.
    pub per_account_per_minute: u32,
    /// Consecutive failures on an account before it is locked.
    pub lockout_after_failures: u32,
    /// First lockout duration; each further failure after the lock expires
    /// doubles it, up to `lockout_max_secs`.
    pub lockout_initial_secs: u64,
    /// Longest lockout.
    pub lockout_max_secs: u64,
    /// A failure older than this is forgotten (the count starts again).
    pub failure_memory_secs: u64,
    /// Password verifications (argon2) running at once, node-wide.
    pub max_concurrent_verifications: u32,
}

impl Default for LoginConfig {
    fn default() -> Self {
        LoginConfig {
            per_address_burst: 20,
            per_address_per_minute: 20,
            per_account_burst: 10,
            per_account_per_minute: 5,
            lockout_after_failures: 5,
            lockout_initial_secs: 60,
            lockout_max_secs: 3600,
            failure_memory_secs: 86_400,
            max_concurrent_verifications: 4,
        }
    }
}

/// `[auth.passwords]`: what a new password must be.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordConfig {
    /// Lowest zxcvbn strength score accepted (0–4; 3 = "safely
    /// unguessable": more than 10^8 guesses).
    pub min_score: u8,
    /// Fewest characters accepted, whatever the score.
    pub min_chars: usize,
    /// Longest password accepted, in bytes (bounds the hashing work).
    pub max_bytes: usize,
}

impl Default for PasswordConfig {
    fn default() -> Self {
        PasswordConfig {
            min_score: 3,
            min_chars: 10,
            max_bytes: 1024,
        }
    }
}

/// `[auth.tokens]`: API token lifetimes.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenConfig {
    /// Lifetime of a new API token when the request names none (days).
    pub default_days: u32,
    /// Longest lifetime a request may ask for (days).
    pub max_days: u32,
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig {
            default_days: 90,
            max_days: 365,
        }
    }
}

/// One trusted proxy entry: an address or a CIDR block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxyNet(ipnet::IpNet);

impl ProxyNet {
    /// Parse `10.0.0.1`, `10.0.0.0/8`, `::1` or `fd00::/8`.
    pub fn parse(s: &str) -> Result<ProxyNet, String> {
        let s = s.trim();
        if let Ok(net) = s.parse::<ipnet::IpNet>() {
            return Ok(ProxyNet(net.trunc()));
        }
        s.parse::<IpAddr>()
            .map(|ip| ProxyNet(ipnet::IpNet::from(ip)))
            .map_err(|_| format!("{s:?} is neither an IP address nor a CIDR block"))
    }

    /// Whether `ip` is inside.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        self.0.contains(ip)
    }
}

impl AuthConfig {
    /// The trusted proxies, parsed (call after [`AuthConfig::validate`]).
    pub fn proxies(&self) -> Vec<ProxyNet> {
        self.trusted_proxies
            .iter()
            .filter_map(|s| ProxyNet::parse(s).ok())
            .collect()
    }

    /// Checks that do not fit serde's types; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        for p in &self.trusted_proxies {
            ProxyNet::parse(p).map_err(|e| format!("auth.trusted_proxies: {e}"))?;
        }
        let l = &self.login;
        for (name, v) in [
            ("per_address_burst", l.per_address_burst),
            ("per_address_per_minute", l.per_address_per_minute),
            ("per_account_burst", l.per_account_burst),
            ("per_account_per_minute", l.per_account_per_minute),
            ("lockout_after_failures", l.lockout_after_failures),
            (
                "max_concurrent_verifications",
                l.max_concurrent_verifications,
            ),
        ] {
            if v == 0 {
                return Err(format!("auth.login.{name}: must be at least 1"));
            }
        }
        if l.lockout_initial_secs == 0 || l.lockout_max_secs < l.lockout_initial_secs {
            return Err(
                "auth.login: lockout_initial_secs must be at least 1 and at most lockout_max_secs"
                    .into(),
            );
        }
        if self.passwords.min_score > 4 {
            return Err("auth.passwords.min_score: must be between 0 and 4".into());
        }
        if self.passwords.min_chars == 0 || self.passwords.min_chars > 128 {
            return Err("auth.passwords.min_chars: must be between 1 and 128".into());
        }
        if !(64..=65_536).contains(&self.passwords.max_bytes) {
            return Err("auth.passwords.max_bytes: must be between 64 and 65536".into());
        }
        let r = &self.password_reset;
        if r.link_ttl_minutes == 0 || r.link_ttl_minutes > 7 * 24 * 60 {
            return Err(
                "auth.password_reset.link_ttl_minutes: must be between 1 and 10080 (a week)".into(),
            );
        }
        let t = &self.tokens;
        if t.default_days == 0 || t.max_days < t.default_days || t.max_days > 3650 {
            return Err(
                "auth.tokens: need 1 <= default_days <= max_days <= 3650 (ten years)".into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies_parse_addresses_and_blocks() {
        let p = ProxyNet::parse("10.0.0.0/8").expect("cidr");
        assert!(p.contains(&"10.1.2.3".parse().expect("ip")));
        assert!(!p.contains(&"11.1.2.3".parse().expect("ip")));
        let one = ProxyNet::parse("::1").expect("ip");
        assert!(one.contains(&"::1".parse().expect("ip")));
        assert!(ProxyNet::parse("proxy.local").is_err());
    }

    #[test]
    fn defaults_are_valid_and_bad_values_named() {
        AuthConfig::default().validate().expect("defaults");
        let c = AuthConfig {
            trusted_proxies: vec!["nope".into()],
            ..AuthConfig::default()
        };
        assert!(c
            .validate()
            .expect_err("bad proxy")
            .contains("trusted_proxies"));
        let mut c = AuthConfig::default();
        c.passwords.min_score = 5;
        assert!(c.validate().expect_err("score").contains("min_score"));
        let mut c = AuthConfig::default();
        c.tokens.default_days = 400;
        assert!(c.validate().expect_err("days").contains("auth.tokens"));
    }
}
