//! `[mail]`: the outgoing mail server, the sender and the retry policy
//! (documented, with defaults, in `config/node.example.toml`). The SMTP
//! user name and password come from the environment only
//! ([`Credentials::from_env`]) and are never logged.

use serde::{Deserialize, Serialize};

/// Environment variable holding the SMTP user name.
pub const USERNAME_ENV: &str = "VIVIER_SMTP_USERNAME";
/// Environment variable holding the SMTP password.
pub const PASSWORD_ENV: &str = "VIVIER_SMTP_PASSWORD";

/// How the connection to the SMTP server is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, strum::Display)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Security {
    /// Plain connection upgraded with STARTTLS, which is required (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only towards a server on a loopback address (a local
    /// relay, tests).
    None,
}

/// `[mail]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// Send e-mail at all. Off by default: the node then writes nothing to
    /// the mail outbox and says so at start.
    pub enabled: bool,
    /// SMTP server host name (or address).
    pub host: String,
    /// SMTP server port.
    pub port: u16,
    /// `starttls`, `tls` or `none` (loopback hosts only).
    pub security: Security,
    /// Sender address (`From:`).
    pub from_address: String,
    /// Sender name (`From:`).
    pub from_name: String,
    /// Base of the links put in messages (`https://vivier.cd41.fr`);
    /// default: the node's `public_url`.
    pub base_url: Option<String>,
    /// Time allowed for one delivery, connection included (s).
    pub timeout_secs: u64,
    /// Attempts before a message is given up (marked failed).
    pub max_attempts: u32,
    /// First delay after a transient failure (s), doubled after each
    /// further failure up to `backoff_max_secs`.
    pub backoff_initial_secs: u64,
    /// Longest delay between two attempts (s).
    pub backoff_max_secs: u64,
    /// How often the worker looks for due messages when nobody wakes it (s).
    pub poll_interval_secs: u64,
    /// Sent and failed rows are deleted from the outbox after this many
    /// days (their bodies are emptied at once).
    pub keep_days: u32,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            enabled: false,
            host: "localhost".into(),
            port: 587,
            security: Security::Starttls,
            from_address: "vivier@localhost".into(),
            from_name: "Vivier".into(),
            base_url: None,
            timeout_secs: 30,
            max_attempts: 10,
            backoff_initial_secs: 60,
            backoff_max_secs: 3600,
            poll_interval_secs: 30,
            keep_days: 30,
        }
    }
}

/// Whether `host` names this machine (plain SMTP is refused elsewhere).
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl MailConfig {
    /// Checks that do not fit serde's types; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.timeout_secs == 0
            || self.poll_interval_secs == 0
            || self.max_attempts == 0
            || self.keep_days == 0
        {
            return Err(
                "mail: timeout_secs, poll_interval_secs, max_attempts and keep_days must be at least 1"
                    .into(),
            );
        }
        if self.backoff_initial_secs == 0 || self.backoff_max_secs < self.backoff_initial_secs {
            return Err(
                "mail: backoff_initial_secs must be at least 1 and at most backoff_max_secs".into(),
            );
        }
        if let Some(url) = &self.base_url {
            match url::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                _ => return Err(format!("mail.base_url: {url:?} is not an http(s) URL")),
            }
        }
        if !self.enabled {
            return Ok(());
        }
        if self.host.trim().is_empty() || self.port == 0 {
            return Err("mail: host and port are required when enabled".into());
        }
        if self.from_address.parse::<lettre::Address>().is_err() {
            return Err(format!(
                "mail.from_address: {:?} is not an e-mail address",
                self.from_address
            ));
        }
        if self.from_name.chars().any(char::is_control) {
            return Err("mail.from_name: must not contain control characters".into());
        }
        if self.security == Security::None && !is_loopback_host(&self.host) {
            return Err(format!(
                "mail.security: \"none\" (no encryption) is accepted only towards a loopback \
                 host, not {:?}; use \"starttls\" or \"tls\"",
                self.host
            ));
        }
        Ok(())
    }
}

/// SMTP credentials, from [`USERNAME_ENV`] and [`PASSWORD_ENV`].
#[derive(Clone)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(***)")
    }
}

impl Credentials {
    /// Both variables, neither (no authentication), or an error naming the
    /// missing one.
    pub fn from_env() -> Result<Option<Credentials>, String> {
        Credentials::from_values(
            std::env::var(USERNAME_ENV).ok(),
            std::env::var(PASSWORD_ENV).ok(),
        )
    }

    fn from_values(
        username: Option<String>,
        password: Option<String>,
    ) -> Result<Option<Credentials>, String> {
        let username = username.filter(|v| !v.is_empty());
        let password = password.filter(|v| !v.is_empty());
        match (username, password) {
            (Some(username), Some(password)) => Ok(Some(Credentials { username, password })),
            (None, None) => Ok(None),
            (Some(_), None) => Err(format!("{USERNAME_ENV} is set but {PASSWORD_ENV} is not")),
            (None, Some(_)) => Err(format!("{PASSWORD_ENV} is set but {USERNAME_ENV} is not")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_valid_and_plain_smtp_only_on_loopback() {
        MailConfig::default().validate().expect("defaults");
        let mut c = MailConfig {
            enabled: true,
            security: Security::None,
            host: "smtp.example.fr".into(),
            ..MailConfig::default()
        };
        assert!(c.validate().expect_err("plain").contains("loopback"));
        for host in ["127.0.0.1", "localhost", "::1", "[::1]"] {
            c.host = host.into();
            c.validate().expect("loopback");
        }
        c.from_address = "pas une adresse".into();
        assert!(c.validate().expect_err("from").contains("from_address"));
        let c = MailConfig {
            base_url: Some("ftp://x".into()),
            ..MailConfig::default()
        };
        assert!(c.validate().expect_err("url").contains("base_url"));
        let c = MailConfig {
            backoff_initial_secs: 10,
            backoff_max_secs: 5,
            ..MailConfig::default()
        };
        assert!(c.validate().is_err());
    }

    #[test]
    fn credentials_come_in_pairs_and_never_print() {
        assert!(Credentials::from_values(None, None)
            .expect("none")
            .is_none());
        let c = Credentials::from_values(Some("u".into()), Some("secret".into()))
            .expect("pair")
            .expect("some");
        assert!(!format!("{c:?}").contains("secret"));
        assert!(Credentials::from_values(Some("u".into()), None)
            .expect_err("half")
            .contains(PASSWORD_ENV));
        assert!(Credentials::from_values(None, Some("p".into()))
            .expect_err("half")
            .contains(USERNAME_ENV));
    }
}
