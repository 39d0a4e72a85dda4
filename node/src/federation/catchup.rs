//! Catch-up: the leader reads every active peer's broadcast log after the
//! cursor it keeps for it (`peers.log_cursor`), through the inbox, and
//! fetches newer membership documents first.

use std::time::Duration;

use tracing::Instrument;
use vivier_protocol::{LogPage, MessageStatus};

use super::{process_messages, signed_request, store};
use crate::error::{Error, Result};
use crate::server::AppState;

async fn catch_up_from(state: &AppState, member: &vivier_protocol::Member) -> Result<u64> {
    let node = member.node_id.as_str();
    let mut cursor = store::log_cursor(&state.db, node).await?;
    let mut total = 0u64;
    loop {
        let path = format!("/federation/v1/log?after={cursor}&limit=500");
        let resp = signed_request(state, member, reqwest::Method::GET, &path, Vec::new()).await?;
        if !resp.status().is_success() {
            return Err(Error::Peer(format!("log: HTTP {}", resp.status())));
        }
        let page: LogPage = resp
            .json()
            .await
            .map_err(|e| Error::Peer(format!("log page: {e}")))?;
        let raws: Vec<&[u8]> = page.messages.iter().map(|m| m.get().as_bytes()).collect();
        let results = process_messages(state, &raws).await?;
        total += results
            .iter()
            .filter(|(_, r)| r.status == MessageStatus::Accepted)
            .count() as u64;
        for (id, r) in &results {
            if r.status == MessageStatus::Refused {
                tracing::info!(peer = node, message_id = %id, error = ?r.error, "catch-up message refused");
            }
        }
        cursor = page.last_seq;
        store::set_log_cursor(&state.db, node, cursor, state.clock.now_ms()).await?;
        if !page.more {
            break;
        }
    }
    Ok(total)
}

/// One round of catch-up with every active peer: newer membership
/// documents first, then missed broadcasts.
pub async fn catch_up_round(state: &AppState) -> u64 {
    let Some(doc) = state.federation.membership() else {
        return 0;
    };
    if super::lifecycle::self_departed(state, &doc.document) {
        // Left the network: every member refuses its reads (and logs each
        // one). A reactivation reaches it from the operator's `publish`.
        return 0;
    }
    let peers: Vec<_> = doc
        .document
        .active_members()
        .filter(|m| m.node_id != state.identity.node_id)
        .cloned()
        .collect();
    let mut total = 0;
    for m in peers {
        let span = tracing::info_span!("catch_up", peer = %m.node_id);
        async {
            if let Err(e) = super::membership::fetch_from(state, &m.node_id).await {
                tracing::debug!(error = %e, "membership fetch");
            }
            match catch_up_from(state, &m).await {
                Ok(n) => {
                    if n > 0 {
                        tracing::info!(messages = n, "caught up");
                    }
                    total += n;
                }
                Err(e) => tracing::info!(error = %e, "catch-up failed; will retry"),
            }
        }
        .instrument(span)
        .await;
    }
    total
}

/// The catch-up task (leader only): a round every
/// `catch_up_interval_secs`, or at once after a new membership document.
pub(super) async fn run(state: AppState) {
    let mut shutdown = state.shutdown.clone();
    let every = Duration::from_secs(state.config.federation.catch_up_interval_secs.max(1));
    loop {
        if !state.leader.wait(&mut shutdown).await {
            break;
        }
        catch_up_round(&state).await;
        tokio::select! {
            _ = state.federation.catch_up_now.notified() => {},
            _ = tokio::time::sleep(every) => {},
            _ = shutdown.changed() => {},
        }
    }
}
