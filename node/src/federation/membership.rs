//! The membership document: accepted from the operator, a peer's push or
//! a peer that holds a newer one (checked against the trust anchor or the
//! document held), stored with its departures applied in one transaction,
//! reloaded by the other processes on the database through the journal.

use anyhow::Context as _;
use axum::http::StatusCode;
use serde::Serialize;
use vivier_protocol::{NodeId, SignedMembershipDocument};

use super::{check_peer_url, store, wake};
use crate::error::{Error, Result};
use crate::server::AppState;

/// What happened to an offered membership document.
#[derive(Debug, Serialize)]
pub struct MembershipAccepted {
    /// The new serial.
    pub serial: i64,
    /// Number of active members.
    pub active_members: usize,
}

/// Check and adopt a membership document (from the operator or a peer).
pub async fn accept_membership(
    state: &AppState,
    bytes: &[u8],
    source: &str,
) -> Result<MembershipAccepted> {
    let doc = SignedMembershipDocument::from_bytes(bytes).map_err(membership_error)?;
    let current = state.federation.membership_serial();
    state
        .federation
        .trust()
        .accept(current, &doc, state.clock.now_ms())
        .map_err(membership_error)?;
    crate::demo::mode::check_membership(&state.config, &doc.document)?;
    let canonical = doc.to_bytes().map_err(membership_error)?;
    let text = String::from_utf8(canonical).map_err(|e| Error::Internal(e.into()))?;
    let serial = doc.document.serial;
    let mut tx = state.db.begin().await?;
    // The serial guard makes concurrent updates safe: only a higher serial wins.
    let now = state.clock.now_ms();
    if !store::update_membership(&mut tx, serial, &text, now).await? {
        if let Some(s) = store::membership_serial(&mut tx).await? {
            return Err(membership_error(
                vivier_protocol::MembershipError::Rollback {
                    current: s,
                    offered: serial,
                },
            ));
        }
        store::insert_membership(&mut tx, serial, &text, now).await?;
    }
    for m in doc.document.active_members() {
        if m.node_id != state.identity.node_id {
            store::add_peer(&mut tx, m.node_id.as_str()).await?;
        }
    }
    let departures = super::lifecycle::apply(state, &mut tx, &doc.document).await?;
    // Other processes on this database reload the document from the journal.
    crate::journal::append(
        &mut tx,
        crate::journal::Kind::Membership,
        "1",
        state.clock.now_ms(),
    )
    .await?;
    tx.commit().await?;
    let active = doc.document.active_members().count();
    tracing::info!(
        serial,
        active,
        source,
        ?departures,
        "membership document accepted"
    );
    if departures.profiles_purged > 0 {
        if let Err(e) = state.db.scrub().await {
            tracing::warn!(error = %e, "scrubbing the store after a purge failed");
        }
    }
    crate::notifications::wake(state);
    crate::journal::wake(state);
    state.federation.set_membership(doc);
    state.federation.catch_up_now.notify_one();
    wake(state);
    Ok(MembershipAccepted {
        serial,
        active_members: active,
    })
}

fn membership_error(e: vivier_protocol::MembershipError) -> Error {
    use vivier_protocol::MembershipError as M;
    let status = match e {
        M::Rollback { .. } | M::SameSerial(_) => StatusCode::CONFLICT,
        _ => StatusCode::BAD_REQUEST,
    };
    Error::Federation {
        status,
        code: e.kind(),
        message: e.to_string(),
    }
}

/// Reload the stored document when another process on this database
/// accepted a newer one (a `membership` journal entry).
pub async fn reload_membership(state: &AppState) -> Result<()> {
    if let Some(stored) = store::stored_membership(&state.db).await? {
        let serial = stored.serial;
        if Some(serial) > state.federation.membership_serial() {
            let doc = SignedMembershipDocument::from_bytes(stored.document.as_bytes())
                .map_err(|e| Error::Internal(anyhow::anyhow!("stored membership document: {e}")))?;
            tracing::info!(
                serial,
                "membership document reloaded (accepted by another process)"
            );
            state.federation.set_membership(doc);
            wake(state);
        }
    }
    Ok(())
}

/// At start-up: the stored document, or the configured file's.
pub(super) async fn load(state: &AppState) -> anyhow::Result<()> {
    if let Some(stored) = store::stored_membership(&state.db).await? {
        let doc = SignedMembershipDocument::from_bytes(stored.document.as_bytes())
            .map_err(|e| anyhow::anyhow!("stored membership document: {e}"))?;
        state.federation.set_membership(doc);
    } else if let Some(path) = &state.config.federation.membership_file {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        accept_membership(state, &bytes, "config")
            .await
            .map_err(|e| anyhow::anyhow!("federation.membership_file {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Fetch `node`'s membership document and accept it if it is newer.
pub(super) async fn fetch_from(state: &AppState, node: &NodeId) -> Result<()> {
    let Some(doc) = state.federation.membership() else {
        return Ok(());
    };
    let Some(member) = doc.document.member(node).cloned() else {
        return Ok(());
    };
    let base = check_peer_url(state, &member.base_url)?;
    let url = format!(
        "{}/federation/v1/membership",
        base.as_str().trim_end_matches('/')
    );
    let resp = state
        .federation
        .client
        .get(&url)
        .send()
        .await
        .map_err(|e| Error::Peer(e.to_string()))?;
    if !resp.status().is_success() {
        return Ok(());
    }
    let bytes = resp.bytes().await.map_err(|e| Error::Peer(e.to_string()))?;
    match accept_membership(state, &bytes, node.as_str()).await {
        Ok(_)
        | Err(Error::Federation {
            code: "same_serial",
            ..
        })
        | Err(Error::Federation {
            code: "rollback", ..
        }) => Ok(()),
        Err(e) => Err(e),
    }
}
