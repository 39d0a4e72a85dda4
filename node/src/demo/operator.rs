//! The demo's network operator, with `vivier-admin`'s library: the network
//! directory (`<dir>/operator`, operator key without passphrase: a demo),
//! the members added from their `/.well-known/vivier` (as `member add
//! --from-node` does), their URLs kept current, and the document published
//! to every node. Blocking (the admin client is synchronous): call from
//! `spawn_blocking`.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use vivier_admin::keystore::{FixedPassphrase, Protection};
use vivier_admin::network::{self, MemberUpdate, NetworkDir};
use vivier_admin::remote::{Client, PublishOutcome};
use vivier_protocol::{Member, MemberStatus, NodeId, SignedMembershipDocument};

use super::network::{MemberSpec, NETWORK_ID};
use crate::util::now_ms;

/// Validity of the demo network's documents (days).
const VALIDITY_DAYS: i64 = 365;

/// The operator's network directory under the demo directory.
pub fn network_dir(dir: &Path) -> NetworkDir {
    NetworkDir::new(dir.join("operator"))
}

/// Creates the network on first start; the operator's public key (and its
/// key id) that the nodes trust.
pub fn ensure_network(dir: &Path) -> anyhow::Result<(String, String)> {
    let nd = network_dir(dir);
    if !nd.document_path().exists() {
        nd.init(NETWORK_ID, VALIDITY_DAYS, &Protection::Plain, now_ms())?;
    }
    let doc = nd.load()?;
    let key = doc
        .document
        .operator_keys
        .first()
        .context("the demo network document lists no operator key")?;
    Ok((key.key_id.to_string(), key.public_key.to_b64()))
}

/// Brings the membership document up to date with the running nodes
/// (`members[i]` answers at `urls[i]`): a member is added from its
/// `/.well-known/vivier` the first time, its URL updated when its port
/// changed; then the document is published to every node. Refuses a node
/// whose key is not the one in the document (its data directory was
/// replaced: start again with `--reset`).
pub fn publish(dir: &Path, members: &[MemberSpec], urls: &[String]) -> anyhow::Result<i64> {
    let nd = network_dir(dir);
    let client = Client::new(None, Duration::from_secs(15))?;
    let current = nd.load()?;
    let now = now_ms();
    let mut added: Vec<Member> = Vec::new();
    let mut moved: Vec<(NodeId, String)> = Vec::new();
    for (spec, url) in members.iter().zip(urls) {
        let node_id = network::parse_node_id(spec.node_id)?;
        let wk = client.well_known(url)?;
        if wk.node_id != spec.node_id {
            anyhow::bail!("{url} is node {:?}, not {}", wk.node_id, spec.node_id);
        }
        let keys = vivier_admin::remote::member_keys(url, &wk, now)?;
        match current.document.member(&node_id) {
            Some(m) => {
                let listed = |k: &vivier_protocol::MemberKey| {
                    m.keys
                        .iter()
                        .any(|d| d.key_id == k.key_id && d.public_key == k.public_key)
                };
                if !keys.iter().all(listed) {
                    anyhow::bail!(
                        "node {} has a key the demo network does not know (its data directory \
                         was replaced?): start again with --reset",
                        spec.node_id
                    );
                }
                if m.base_url != *url {
                    moved.push((node_id, url.clone()));
                }
            }
            None => added.push(Member {
                node_id,
                display_name: spec.display_name.to_string(),
                kind: spec.kind,
                territory: spec.territory(),
                base_url: network::check_base_url(url)?,
                keys,
                status: MemberStatus::Active,
            }),
        }
    }
    let doc = if added.is_empty() && moved.is_empty() {
        current
    } else {
        nd.change(now, &FixedPassphrase::default(), |next| {
            for m in added {
                network::add_member(next, m)?;
            }
            for (node, url) in moved {
                network::update_member(
                    next,
                    &node,
                    MemberUpdate {
                        base_url: Some(url),
                        ..MemberUpdate::default()
                    },
                )?;
            }
            Ok(())
        })?
    };
    push(&client, &nd, &doc)?;
    Ok(doc.document.serial)
}

/// Pushes the current document to every member (a node already holding it
/// is fine).
fn push(client: &Client, nd: &NetworkDir, doc: &SignedMembershipDocument) -> anyhow::Result<()> {
    let bytes = std::fs::read(nd.document_path())
        .with_context(|| format!("reading {}", nd.document_path().display()))?;
    for m in &doc.document.members {
        match client.post_membership(&m.base_url, &bytes) {
            PublishOutcome::Accepted { .. } => {}
            PublishOutcome::Refused { kind, .. } if kind == "same_serial" => {}
            PublishOutcome::Refused {
                status,
                kind,
                detail,
            } => anyhow::bail!(
                "node {} refused the membership document ({status} {kind}): {detail}",
                m.node_id
            ),
            PublishOutcome::Unreachable(e) => {
                anyhow::bail!("node {} is unreachable at {}: {e}", m.node_id, m.base_url)
            }
        }
    }
    Ok(())
}
