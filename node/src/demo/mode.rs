//! Demo mode: `[demo] enabled = true`, which `vivier-node demo` sets on the
//! nodes it starts.
//!
//! A node in demo mode
//! - shows a French banner on every web page (« Démonstration : les
//!   personnes et les entreprises sont fictives ») and a guided tour on the
//!   dashboard;
//! - federates with loopback peers only: it listens on loopback (checked
//!   with the configuration), refuses to contact a peer whose URL is not on
//!   loopback ([`check_peer`], also for HTTPS), and refuses a membership
//!   document that names such a member ([`check_membership`], 422
//!   `demo_loopback_only`);
//! - says so in its log at start ([`announce`]).

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use vivier_protocol::membership::is_loopback_url;
use vivier_protocol::MembershipDocument;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::server::AppState;

/// Machine code of a membership document refused in demo mode.
pub const LOOPBACK_ONLY: &str = "demo_loopback_only";

/// The banner shown on every web page of a node in demo mode.
pub const BANNER_FR: &str = "Démonstration : les personnes et les entreprises sont fictives";

/// `[demo]`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DemoConfig {
    /// Demo mode: banner and guided tour in the web UI, federation with
    /// loopback peers only.
    pub enabled: bool,
}

/// The configuration checks of demo mode: the node listens on loopback and
/// its public URL, if set, is on loopback.
pub fn validate(config: &Config) -> std::result::Result<(), String> {
    if !config.demo.enabled {
        return Ok(());
    }
    if !config.listen.ip().is_loopback() {
        return Err(format!(
            "demo.enabled: a demo node listens on loopback only, not on {}",
            config.listen
        ));
    }
    if let Some(url) = &config.public_url {
        if !is_loopback_url(url) {
            return Err(format!(
                "demo.enabled: a demo node's public_url must be on loopback, not {url}"
            ));
        }
    }
    Ok(())
}

/// In demo mode, refuse a peer URL that is not on loopback.
pub fn check_peer(config: &Config, url: &str) -> Result<()> {
    if config.demo.enabled && !is_loopback_url(url) {
        return Err(Error::Peer(format!(
            "demo mode: refusing peer URL {url} (a demo node federates with loopback peers only)"
        )));
    }
    Ok(())
}

/// In demo mode, refuse a membership document naming a member off
/// loopback (before anything is stored).
pub fn check_membership(config: &Config, doc: &MembershipDocument) -> Result<()> {
    if !config.demo.enabled {
        return Ok(());
    }
    let off: Vec<String> = doc
        .members
        .iter()
        .filter(|m| !is_loopback_url(&m.base_url))
        .map(|m| format!("{} ({})", m.node_id, m.base_url))
        .collect();
    if off.is_empty() {
        return Ok(());
    }
    Err(Error::Federation {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        code: LOOPBACK_ONLY,
        message: format!(
            "this node runs in demo mode and federates with loopback peers only; \
             the document names members off loopback: {}",
            off.join(", ")
        ),
    })
}

/// Logs, at start, that the node runs in demo mode and what that means.
pub fn announce(config: &Config) {
    if config.demo.enabled {
        tracing::warn!(
            "demo mode: fictional people and companies; federation restricted to loopback \
             peers (any peer or membership document off loopback is refused)"
        );
    }
}

tokio::task_local! {
    /// Whether the page being rendered belongs to a node in demo mode.
    static DEMO_PAGE: bool;
}

/// Middleware: pages rendered while handling this request know whether the
/// node runs in demo mode ([`page_in_demo`]), without every handler
/// passing the configuration to the templates.
pub async fn scope(State(state): State<AppState>, req: Request, next: Next) -> Response {
    DEMO_PAGE
        .scope(state.config.demo.enabled, next.run(req))
        .await
}

/// Whether the page being rendered belongs to a node in demo mode.
pub fn page_in_demo() -> bool {
    DEMO_PAGE.try_with(|d| *d).unwrap_or(false)
}

/// One other node of the demo network, for the guided tour.
#[derive(Debug, Clone, Serialize)]
pub struct TourPeer {
    /// Display name from the membership document.
    pub name: String,
    /// Its web interface.
    pub url: String,
}

/// What the dashboard's guided tour needs: the other nodes of the network.
#[derive(Debug, Clone, Serialize)]
pub struct Tour {
    /// Active members other than this node, in the document's order.
    pub peers: Vec<TourPeer>,
}

/// The guided tour of the dashboard (`None` outside demo mode).
pub fn tour(state: &AppState) -> Option<Tour> {
    if !state.config.demo.enabled {
        return None;
    }
    let peers = state
        .federation
        .membership()
        .map(|doc| {
            doc.document
                .active_members()
                .filter(|m| m.node_id != state.identity.node_id)
                .map(|m| TourPeer {
                    name: m.display_name.clone(),
                    url: format!("{}/ui/", m.base_url.trim_end_matches('/')),
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Tour { peers })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo_config() -> Config {
        let mut c = Config::default();
        c.demo.enabled = true;
        c
    }

    #[test]
    fn demo_nodes_listen_and_publish_on_loopback_only() {
        let mut c = demo_config();
        assert!(validate(&c).is_ok());
        c.listen = "10.0.0.5:8080".parse().expect("addr");
        let e = validate(&c).expect_err("off loopback");
        assert!(e.contains("loopback") && e.contains("10.0.0.5"), "{e}");
        let mut c = demo_config();
        c.public_url = Some("https://vivier.cd41.fr".into());
        assert!(validate(&c).expect_err("public url").contains("public_url"));
        c.public_url = Some("http://localhost:8081".into());
        assert!(validate(&c).is_ok());
        // Outside demo mode none of this applies.
        let c = Config {
            public_url: Some("https://vivier.cd41.fr".into()),
            ..Config::default()
        };
        assert!(validate(&c).is_ok());
    }

    #[test]
    fn peers_off_loopback_are_refused_in_demo_mode_only() {
        let c = demo_config();
        for ok in [
            "http://127.0.0.1:8081",
            "https://127.0.0.2:9000",
            "http://[::1]:8081",
            "http://localhost:8082",
        ] {
            assert!(check_peer(&c, ok).is_ok(), "{ok}");
        }
        for bad in [
            "https://vivier.cd41.fr",
            "http://192.168.1.10:8081",
            "https://[2001:db8::1]",
            "not a url",
        ] {
            let e = check_peer(&c, bad).expect_err(bad);
            assert!(e.to_string().contains("demo mode"), "{e}");
        }
        assert!(check_peer(&Config::default(), "https://vivier.cd41.fr").is_ok());
    }
}
