//! The node's signing keys and their rotation.
//!
//! A node starts with one key, `node.key` (`ed25519:1`). Rotating it is
//! three steps, in this order (README, "Rotating a node key"):
//! 1. `vivier-node key generate-next` writes the next key
//!    (`node-ed25519-<n>.key`, 0600) and prints its id and public key;
//! 2. the operator adds it to the membership document —
//!    `vivier-admin member rotate-key <node> --key-id … --public-key …
//!    --valid-from-ms <T> --overlap-days <D>` — and publishes, so every
//!    node accepts both keys from `T` on, the old one until the overlap ends;
//! 3. `vivier-node key rotate --at <T> --overlap-days <D>` schedules the
//!    switch (`keyring.json`): from `T` this node signs with the new key
//!    and `/.well-known/vivier` publishes both keys with their validity.
//!    A running node picks the schedule up through the journal, without a
//!    restart; messages signed before `T` still verify during the overlap.
//!
//! The keyring file lists every key with its validity; without it the node
//! has its one key, valid since it was created.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use vivier_protocol::{KeyFile, KeyId, NodeId, SigningKeyPair, WellKnownKey};

use crate::config::Config;

/// Name of the schedule file in the data directory.
pub const KEYRING_FILE: &str = "keyring.json";

/// One of the node's keys with its validity.
#[derive(Clone)]
pub struct NodeKey {
    /// The key pair.
    pub key: SigningKeyPair,
    /// Start of validity (unix ms): the node signs with it from then on.
    pub valid_from: i64,
    /// End of validity (unix ms), once a newer key took over.
    pub valid_until: Option<i64>,
}

/// Every key of the node, oldest first.
#[derive(Clone)]
pub struct KeyRing {
    keys: Vec<NodeKey>,
}

impl KeyRing {
    /// A ring of one key valid since `valid_from`.
    pub fn single(key: SigningKeyPair, valid_from: i64) -> KeyRing {
        KeyRing {
            keys: vec![NodeKey {
                key,
                valid_from,
                valid_until: None,
            }],
        }
    }

    /// The key to sign with at `now_ms`: the newest whose validity has
    /// started (the oldest key before any has).
    pub fn signing_key(&self, now_ms: i64) -> &SigningKeyPair {
        // A ring is never empty (`load` and `single` make sure of it).
        let i = self
            .keys
            .iter()
            .rposition(|k| k.valid_from <= now_ms)
            .unwrap_or(0);
        &self.keys[i].key
    }

    /// Every key, oldest first.
    pub fn keys(&self) -> &[NodeKey] {
        &self.keys
    }

    /// The keys as `/.well-known/vivier` publishes them: those not expired
    /// at `now_ms`.
    pub fn published(&self, now_ms: i64) -> Vec<WellKnownKey> {
        self.keys
            .iter()
            .filter(|k| k.valid_until.is_none_or(|u| u > now_ms))
            .map(|k| WellKnownKey {
                key_id: k.key.key_id().to_string(),
                public_key: k.key.public_key().to_b64(),
                valid_from: k.valid_from,
                valid_until: k.valid_until,
            })
            .collect()
    }
}

/// The schedule file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Schedule {
    keys: Vec<ScheduledKey>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduledKey {
    /// Key file name, in the data directory (or the configured key file
    /// for the first one: `node.key`).
    file: String,
    valid_from: i64,
    #[serde(default)]
    valid_until: Option<i64>,
}

fn key_dir(config: &Config) -> PathBuf {
    config
        .key_file()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| config.data_dir.clone())
}

fn file_path(config: &Config, file: &str) -> PathBuf {
    if file == "node.key" {
        config.key_file()
    } else {
        key_dir(config).join(file)
    }
}

fn read_key(path: &Path, node_id: &NodeId) -> anyhow::Result<SigningKeyPair> {
    let kf = KeyFile::read(path).with_context(|| format!("reading node key {}", path.display()))?;
    if let Some(id) = &kf.node_id {
        if id != node_id {
            anyhow::bail!(
                "node key {} belongs to node {id}, but this node is configured as {node_id}",
                path.display()
            );
        }
    }
    Ok(kf.key)
}

/// The key ring: `node.key` valid since `first_valid_from`, and what
/// `keyring.json` schedules.
pub fn load(config: &Config, node_id: &NodeId, first_valid_from: i64) -> anyhow::Result<KeyRing> {
    let path = key_dir(config).join(KEYRING_FILE);
    if !path.exists() {
        return Ok(KeyRing::single(
            read_key(&config.key_file(), node_id)?,
            first_valid_from,
        ));
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let schedule: Schedule =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let mut keys = Vec::new();
    for s in &schedule.keys {
        keys.push(NodeKey {
            key: read_key(&file_path(config, &s.file), node_id)?,
            valid_from: s.valid_from,
            valid_until: s.valid_until,
        });
    }
    if keys.is_empty() {
        anyhow::bail!("{} lists no key", path.display());
    }
    keys.sort_by_key(|k| k.valid_from);
    Ok(KeyRing { keys })
}

fn key_number(id: &KeyId) -> Option<u32> {
    id.as_str().strip_prefix("ed25519:")?.parse().ok()
}

fn next_file_name(n: u32) -> String {
    format!("node-ed25519-{n}.key")
}

/// What `key generate-next` made.
#[derive(Debug, Serialize)]
pub struct NextKey {
    /// Key id (`ed25519:2`).
    pub key_id: String,
    /// Unpadded base64url public key.
    pub public_key: String,
    /// Where it was written.
    pub file: PathBuf,
}

fn current_schedule(
    config: &Config,
    node_id: &NodeId,
    first_valid_from: i64,
) -> anyhow::Result<Schedule> {
    let path = key_dir(config).join(KEYRING_FILE);
    if path.exists() {
        let text = std::fs::read_to_string(&path)?;
        Ok(serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?)
    } else {
        // Checks that node.key is readable and ours.
        read_key(&config.key_file(), node_id)?;
        Ok(Schedule {
            keys: vec![ScheduledKey {
                file: "node.key".into(),
                valid_from: first_valid_from,
                valid_until: None,
            }],
        })
    }
}

fn highest_number(config: &Config, node_id: &NodeId, s: &Schedule) -> anyhow::Result<u32> {
    let mut n = 0;
    for k in &s.keys {
        let key = read_key(&file_path(config, &k.file), node_id)?;
        n = n.max(key_number(key.key_id()).unwrap_or(1));
    }
    Ok(n)
}

/// `key generate-next`: write the next key (0600) unless one is waiting.
pub fn generate_next(
    config: &Config,
    node_id: &NodeId,
    first_valid_from: i64,
) -> anyhow::Result<NextKey> {
    let schedule = current_schedule(config, node_id, first_valid_from)?;
    let n = highest_number(config, node_id, &schedule)? + 1;
    let file = key_dir(config).join(next_file_name(n));
    if file.exists() {
        anyhow::bail!(
            "the next key already exists ({}): give its public key to the operator, then run \
             `vivier-node key rotate --at …`",
            file.display()
        );
    }
    let key_id = KeyId::parse(&format!("ed25519:{n}")).context("key id")?;
    let key = SigningKeyPair::generate(key_id);
    KeyFile {
        node_id: Some(node_id.clone()),
        key: key.clone(),
    }
    .write(&file)
    .with_context(|| format!("writing {}", file.display()))?;
    Ok(NextKey {
        key_id: key.key_id().to_string(),
        public_key: key.public_key().to_b64(),
        file,
    })
}

/// What `key rotate` scheduled.
#[derive(Debug, Serialize)]
pub struct Rotation {
    /// The key that takes over.
    pub key_id: String,
    /// From when (unix ms).
    pub active_from: i64,
    /// The key it replaces.
    pub previous_key_id: String,
    /// Until when the replaced key stays published (unix ms).
    pub previous_valid_until: i64,
}

/// `key rotate`: schedule the waiting next key from `at_ms`, the current
/// key staying valid until `at_ms + overlap_ms`, once `check` accepts the
/// next key (the membership document lists it). Writes `keyring.json`
/// atomically.
pub fn rotate(
    config: &Config,
    node_id: &NodeId,
    first_valid_from: i64,
    at_ms: i64,
    overlap_ms: i64,
    check: impl FnOnce(&SigningKeyPair) -> anyhow::Result<()>,
) -> anyhow::Result<Rotation> {
    if overlap_ms < 0 {
        anyhow::bail!("the overlap cannot be negative");
    }
    let mut schedule = current_schedule(config, node_id, first_valid_from)?;
    let n = highest_number(config, node_id, &schedule)? + 1;
    let name = next_file_name(n);
    let path = key_dir(config).join(&name);
    if !path.exists() {
        anyhow::bail!(
            "no next key to rotate to ({} does not exist): run `vivier-node key generate-next` \
             first and have the operator add it to the membership document",
            path.display()
        );
    }
    let next = read_key(&path, node_id)?;
    check(&next)?;
    let Some(last) = schedule.keys.iter_mut().max_by_key(|k| k.valid_from) else {
        anyhow::bail!("the key ring is empty");
    };
    if at_ms <= last.valid_from {
        anyhow::bail!(
            "the new key must start after the current one (valid from {} ms)",
            last.valid_from
        );
    }
    let previous = read_key(&file_path(config, &last.file), node_id)?;
    last.valid_until = Some(at_ms + overlap_ms);
    schedule.keys.push(ScheduledKey {
        file: name,
        valid_from: at_ms,
        valid_until: None,
    });
    let target = key_dir(config).join(KEYRING_FILE);
    let tmp = key_dir(config).join(format!("{KEYRING_FILE}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec_pretty(&schedule)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, &target).with_context(|| format!("writing {}", target.display()))?;
    Ok(Rotation {
        key_id: next.key_id().to_string(),
        active_from: at_ms,
        previous_key_id: previous.key_id().to_string(),
        previous_valid_until: at_ms + overlap_ms,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn key(n: u32) -> SigningKeyPair {
        SigningKeyPair::generate(KeyId::parse(&format!("ed25519:{n}")).unwrap())
    }

    #[test]
    fn signs_with_the_newest_started_key_and_publishes_the_unexpired() {
        let ring = KeyRing {
            keys: vec![
                NodeKey {
                    key: key(1),
                    valid_from: 0,
                    valid_until: Some(2_000),
                },
                NodeKey {
                    key: key(2),
                    valid_from: 1_000,
                    valid_until: None,
                },
            ],
        };
        assert_eq!(ring.signing_key(999).key_id().as_str(), "ed25519:1");
        assert_eq!(ring.signing_key(1_000).key_id().as_str(), "ed25519:2");
        assert_eq!(ring.published(1_500).len(), 2);
        let after = ring.published(2_000);
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].key_id, "ed25519:2");
    }

    #[test]
    fn generate_then_rotate_schedules_the_next_key() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            node_id: "cd41".into(),
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let node = NodeId::parse("cd41").unwrap();
        KeyFile {
            node_id: Some(node.clone()),
            key: key(1),
        }
        .write(config.key_file())
        .unwrap();
        // No next key yet: rotate says what to do.
        let e = rotate(&config, &node, 100, 5_000, 1_000, |_| Ok(())).unwrap_err();
        assert!(e.to_string().contains("generate-next"), "{e}");
        let next = generate_next(&config, &node, 100).unwrap();
        assert_eq!(next.key_id, "ed25519:2");
        assert!(
            generate_next(&config, &node, 100).is_err(),
            "one waiting key at a time"
        );
        // Not before the current key.
        assert!(rotate(&config, &node, 100, 50, 0, |_| Ok(())).is_err());
        let r = rotate(&config, &node, 100, 5_000, 1_000, |_| Ok(())).unwrap();
        assert_eq!(
            (r.key_id.as_str(), r.previous_key_id.as_str()),
            ("ed25519:2", "ed25519:1")
        );
        let ring = load(&config, &node, 100).unwrap();
        assert_eq!(ring.signing_key(4_999).key_id().as_str(), "ed25519:1");
        assert_eq!(ring.signing_key(5_000).key_id().as_str(), "ed25519:2");
        let published = ring.published(5_500);
        assert_eq!(published.len(), 2);
        assert_eq!(published[0].valid_until, Some(6_000));
        assert_eq!(published[1].valid_from, 5_000);
        // The next rotation goes to ed25519:3.
        assert_eq!(
            generate_next(&config, &node, 100).unwrap().key_id,
            "ed25519:3"
        );
    }
}
