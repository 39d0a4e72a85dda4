//! The HTTP client used to talk to member nodes (blocking, rustls).

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use serde::Deserialize;
use vivier_protocol::MemberKey;

use crate::network::{parse_key_id, parse_public_key};

pub use vivier_protocol::{WellKnown, WellKnownKey};

/// Result of pushing a document to a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishOutcome {
    /// 200: the node adopted the document.
    Accepted {
        /// Serial now held.
        serial: i64,
        /// Active members.
        active_members: i64,
    },
    /// The node refused it with a problem document.
    Refused {
        /// HTTP status.
        status: u16,
        /// Problem kind (`rollback`, `same_serial`, `expired`, …).
        kind: String,
        /// Detail.
        detail: String,
    },
    /// No HTTP answer (connection, TLS, timeout).
    Unreachable(String),
}

#[derive(Deserialize)]
struct Accepted {
    serial: i64,
    active_members: i64,
}

#[derive(Deserialize)]
struct Problem {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    detail: String,
}

/// The keys `wk` (fetched from `from`) publishes, as member keys of a
/// membership document; keys already expired at `now` are left out, and a
/// node publishing no valid key is an error.
pub fn member_keys(from: &str, wk: &WellKnown, now: i64) -> Result<Vec<MemberKey>> {
    let mut keys = Vec::new();
    for k in &wk.keys {
        keys.push(MemberKey {
            key_id: parse_key_id(&k.key_id).with_context(|| format!("key published by {from}"))?,
            public_key: parse_public_key(&k.public_key)
                .with_context(|| format!("key published by {from}"))?,
            valid_from: k.valid_from,
            valid_until: k.valid_until,
        });
    }
    keys.retain(|k| !matches!(k.valid_until, Some(u) if u <= now));
    if keys.is_empty() {
        anyhow::bail!("{from} publishes no currently valid key");
    }
    Ok(keys)
}

/// A client for member nodes.
pub struct Client {
    http: reqwest::blocking::Client,
}

/// `base` + `path`, without a double slash.
pub fn join(base: &str, path: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path)
}

/// An error and its causes on one line (reqwest hides the useful part —
/// "certificate not trusted", "connection refused" — in the sources).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

impl Client {
    /// A client trusting the web PKI plus, optionally, the CA certificates
    /// of a PEM file (a private CA).
    pub fn new(ca_cert: Option<&Path>, timeout: Duration) -> Result<Client> {
        let mut b = reqwest::blocking::Client::builder()
            .use_rustls_tls()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("vivier-admin/", env!("CARGO_PKG_VERSION")));
        if let Some(p) = ca_cert {
            let pem =
                std::fs::read(p).with_context(|| format!("reading --ca-cert {}", p.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                anyhow!("--ca-cert {}: not a PEM certificate file: {e}", p.display())
            })?;
            if certs.is_empty() {
                return Err(anyhow!(
                    "--ca-cert {}: no certificate found in the file",
                    p.display()
                ));
            }
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        Ok(Client {
            http: b.build().context("building the HTTP client")?,
        })
    }

    /// Fetches `base_url/.well-known/vivier`.
    pub fn well_known(&self, base_url: &str) -> Result<WellKnown> {
        let url = join(base_url, "/.well-known/vivier");
        let r = self
            .http
            .get(&url)
            .send()
            .map_err(|e| anyhow!("GET {url}: {}", error_chain(&e.without_url())))?;
        let status = r.status();
        if !status.is_success() {
            return Err(anyhow!("GET {url}: HTTP {status}"));
        }
        r.json::<WellKnown>().map_err(|e| {
            anyhow!(
                "GET {url}: not a Vivier node description: {}",
                error_chain(&e.without_url())
            )
        })
    }

    /// `GET base_url` + [`vivier_protocol::OPERATOR_STATUS_PATH`], signed
    /// with the operator key `key` for node `node` at `now_s`.
    pub fn operator_report(
        &self,
        base_url: &str,
        node: &vivier_protocol::NodeId,
        key: &vivier_protocol::SigningKeyPair,
        now_s: i64,
    ) -> Result<vivier_protocol::NodeReport> {
        let path = vivier_protocol::OPERATOR_STATUS_PATH;
        let url = join(base_url, path);
        let operator = vivier_protocol::NodeId::parse(vivier_protocol::keys::OPERATOR_NODE_ID)
            .map_err(|e| anyhow!("{e}"))?;
        let signed = vivier_protocol::sign_request("GET", path, node, b"", &operator, key, now_s);
        let mut req = self.http.get(&url);
        for (name, value) in signed.pairs() {
            req = req.header(name, value);
        }
        let r = req
            .send()
            .map_err(|e| anyhow!("GET {url}: {}", error_chain(&e.without_url())))?;
        let status = r.status();
        if !status.is_success() {
            let text = r.text().unwrap_or_default();
            let detail = serde_json::from_str::<Problem>(&text)
                .map(|p| p.detail)
                .unwrap_or_else(|_| text.chars().take(200).collect());
            return Err(anyhow!("GET {url}: HTTP {status}: {detail}"));
        }
        r.json::<vivier_protocol::NodeReport>().map_err(|e| {
            anyhow!(
                "GET {url}: not a node report: {}",
                error_chain(&e.without_url())
            )
        })
    }

    /// `POST base_url/federation/v1/membership` with the document bytes.
    pub fn post_membership(&self, base_url: &str, bytes: &[u8]) -> PublishOutcome {
        let url = join(base_url, "/federation/v1/membership");
        let r = match self
            .http
            .post(&url)
            .header("content-type", "application/json")
            .body(bytes.to_vec())
            .send()
        {
            Ok(r) => r,
            Err(e) => return PublishOutcome::Unreachable(error_chain(&e.without_url())),
        };
        let status = r.status().as_u16();
        let text = r.text().unwrap_or_default();
        if (200..300).contains(&status) {
            return match serde_json::from_str::<Accepted>(&text) {
                Ok(a) => PublishOutcome::Accepted {
                    serial: a.serial,
                    active_members: a.active_members,
                },
                Err(_) => PublishOutcome::Refused {
                    status,
                    kind: "unexpected_answer".into(),
                    detail: text.chars().take(200).collect(),
                },
            };
        }
        match serde_json::from_str::<Problem>(&text) {
            Ok(p) => {
                let kind = p
                    .kind
                    .strip_prefix("urn:vivier:problem:")
                    .unwrap_or(&p.kind)
                    .to_string();
                // The node's detail may repeat the kind (`rollback:
                // rollback: …`): said once.
                let prefix = format!("{kind}: ");
                let mut detail = p.detail.as_str();
                while let Some(rest) = detail.strip_prefix(&prefix) {
                    detail = rest;
                }
                PublishOutcome::Refused {
                    status,
                    detail: detail.to_string(),
                    kind,
                }
            }
            Err(_) => PublishOutcome::Refused {
                status,
                kind: format!("http_{status}"),
                detail: text.chars().take(200).collect(),
            },
        }
    }
}
