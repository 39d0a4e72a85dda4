//! The network directory and the document edits.
//!
//! Every edit takes the current document, produces the next one (serial + 1,
//! `issued_at` = now, same validity period as the previous one), signs it
//! with the operator key and checks — with the same rules a node applies
//! (`Trust::accept`) — that a node holding the previous document would accept
//! it, before anything is written.

use std::io;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use vivier_protocol::membership::validate_base_url;
use vivier_protocol::{
    KeyFile, KeyId, Member, MemberKey, MemberKind, MemberStatus, MembershipDocument, NodeId,
    OperatorKey, ProtocolError, PublicKey, SignedMembershipDocument, SigningKeyPair, Territory,
    Trust,
};

use crate::atomic::{create_atomic, write_atomic};
use crate::keystore::{self, KdfParams, LoadedKey, OperatorSecret, PassphraseSource, Protection};

/// One day in ms.
pub const DAY_MS: i64 = 86_400_000;

/// The operator's network directory.
#[derive(Debug, Clone)]
pub struct NetworkDir {
    /// Root of the directory.
    pub root: PathBuf,
    /// Argon2id costs for operator key files encrypted from now on.
    pub kdf: KdfParams,
}

/// Reads a key file, turning errors into messages that name the file and
/// say what to do.
pub fn read_key_file(path: &Path) -> Result<KeyFile> {
    KeyFile::read(path).map_err(|e| match e {
        ProtocolError::Io { ref source, .. } if source.kind() == io::ErrorKind::NotFound => {
            anyhow!("key file {} does not exist", path.display())
        }
        ProtocolError::KeyFilePermissions { mode, .. } => anyhow!(
            "key file {} has mode {mode:o}: it is readable or writable by group or others; \
             secret keys must be private: run `chmod 600 {}`",
            path.display(),
            path.display()
        ),
        other => anyhow!(other),
    })
}

impl NetworkDir {
    /// A network directory rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> NetworkDir {
        NetworkDir {
            root: root.into(),
            kdf: KdfParams::DEFAULT,
        }
    }
    /// `operator.key`.
    pub fn operator_key_path(&self) -> PathBuf {
        self.root.join("operator.key")
    }
    /// `operator.next.key` (a generated key during an operator rotation).
    pub fn next_key_path(&self) -> PathBuf {
        self.root.join("operator.next.key")
    }
    /// `operator.key.old` (the previous operator key after a rotation).
    pub fn old_key_path(&self) -> PathBuf {
        self.root.join("operator.key.old")
    }
    /// `network.json`.
    pub fn document_path(&self) -> PathBuf {
        self.root.join("network.json")
    }
    /// `documents/`.
    pub fn history_dir(&self) -> PathBuf {
        self.root.join("documents")
    }
    /// `documents/<serial>.json`.
    pub fn history_path(&self, serial: i64) -> PathBuf {
        self.history_dir().join(format!("{serial}.json"))
    }

    /// The checks `init` makes before creating anything: a validity of at
    /// least a day, and no network in this directory yet.
    pub fn check_new(&self, validity_days: i64) -> Result<()> {
        if validity_days < 1 {
            bail!("--validity-days must be at least 1");
        }
        for p in [self.operator_key_path(), self.document_path()] {
            if p.exists() {
                bail!(
                    "{} already exists: this directory already holds a network \
                     (refusing to overwrite it; use another --dir)",
                    p.display()
                );
            }
        }
        Ok(())
    }

    /// Creates a network: operator key `ed25519:1` (written with
    /// `protection`: plain or encrypted with a passphrase) and document
    /// serial 1 with no members. Refuses to touch an existing network.
    pub fn init(
        &self,
        network_id: &str,
        validity_days: i64,
        protection: &Protection,
        now: i64,
    ) -> Result<(SignedMembershipDocument, SigningKeyPair)> {
        self.check_new(validity_days)?;
        std::fs::create_dir_all(&self.root)
            .with_context(|| format!("creating {}", self.root.display()))?;
        let secret = OperatorSecret::generate(KeyId::parse("ed25519:1")?);
        let key = secret.key().clone();
        let doc = MembershipDocument {
            network_id: network_id.to_string(),
            serial: 1,
            issued_at: now,
            expires_at: now
                .checked_add(validity_days.saturating_mul(DAY_MS))
                .ok_or_else(|| anyhow!("--validity-days is too large"))?,
            operator_keys: vec![OperatorKey {
                key_id: key.key_id().clone(),
                public_key: key.public_key(),
            }],
            threshold: 1,
            members: Vec::new(),
            network_search: None,
        };
        let signed = SignedMembershipDocument::sign(doc, &[&key])
            .map_err(|e| anyhow!("cannot build the first document: {e}"))?;
        // The key first: a document without its key would be useless.
        keystore::write(&self.operator_key_path(), &secret, protection, self.kdf)?;
        self.store(None, &signed)?;
        Ok((signed, key))
    }

    /// Reads `network.json` (strict parse).
    pub fn load(&self) -> Result<SignedMembershipDocument> {
        let p = self.document_path();
        let bytes = match std::fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => bail!(
                "{} does not exist: run `vivier-admin init` first (or pass --dir / set VIVIER_NETWORK_DIR)",
                p.display()
            ),
            Err(e) => return Err(e).with_context(|| format!("reading {}", p.display())),
        };
        SignedMembershipDocument::from_bytes(&bytes).map_err(|e| anyhow!("{}: {e}", p.display()))
    }

    /// Reads `operator.key` (asking `source` for the passphrase if it is
    /// encrypted) and checks that it is one of `doc`'s operator keys (the
    /// keys nodes will check the next document against).
    pub fn operator_key(
        &self,
        doc: &MembershipDocument,
        source: &dyn PassphraseSource,
    ) -> Result<LoadedKey> {
        let path = self.operator_key_path();
        // The public part first: a foreign key is refused without asking
        // for a passphrase.
        let info = keystore::read_info(&path)?;
        if let Some(n) = &info.node_id {
            bail!(
                "{} is a node key (node {n}), not an operator key",
                path.display()
            );
        }
        if !is_operator_public_key(doc, &info.key_id, &info.public_key) {
            let next = self.next_key_path();
            if let Ok(n) = keystore::read_info(&next) {
                if n.node_id.is_none() && is_operator_public_key(doc, &n.key_id, &n.public_key) {
                    bail!(
                        "{} is not an operator key of document serial {}, but {} is: an \
                         `operator rotate` was interrupted; finish it with \
                         `mv {} {}`",
                        path.display(),
                        doc.serial,
                        next.display(),
                        next.display(),
                        path.display()
                    );
                }
            }
            bail!(
                "{} ({} {}) is not an operator key of document serial {}",
                path.display(),
                info.key_id,
                info.public_key,
                doc.serial
            );
        }
        let loaded = keystore::load(&path, source, None)?;
        if !is_operator_key(doc, loaded.key()) {
            bail!(
                "{} holds a key other than the one it lists in clear;                  nothing was written",
                path.display()
            );
        }
        Ok(loaded)
    }

    /// Writes a new document: first `documents/<serial>.json` (created, never
    /// replaced: two concurrent runs cannot both issue the same serial), then
    /// `network.json`, each through a temp file, fsync and rename.
    pub fn store(
        &self,
        previous_serial: Option<i64>,
        doc: &SignedMembershipDocument,
    ) -> Result<()> {
        let bytes = doc
            .to_bytes()
            .map_err(|e| anyhow!("cannot serialise the document: {e}"))?;
        if let Some(prev) = previous_serial {
            let on_disk = self.load()?.document.serial;
            if on_disk != prev {
                bail!(
                    "network.json changed while this command ran (serial {on_disk}, expected {prev}); \
                     nothing was written, run the command again"
                );
            }
        }
        let hist = self.history_dir();
        std::fs::create_dir_all(&hist).with_context(|| format!("creating {}", hist.display()))?;
        let hp = self.history_path(doc.document.serial);
        match create_atomic(&hp, &bytes) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // Either a concurrent run, or a network.json older than the
                // history (restored from a backup): say which.
                let newest = std::fs::read_dir(&hist)
                    .ok()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| {
                        e.ok()?
                            .file_name()
                            .to_str()?
                            .strip_suffix(".json")?
                            .parse::<i64>()
                            .ok()
                    })
                    .max()
                    .unwrap_or(doc.document.serial);
                let on_disk = self.load().map(|d| d.document.serial).unwrap_or(newest);
                // A concurrent run is at most one serial ahead.
                if newest > on_disk + 1 {
                    bail!(
                        "network.json is at serial {on_disk} but the history already holds serial \
                         {newest} ({}): network.json looks restored from an older copy; nothing \
                         was changed. Restore the newest document (copy {} over network.json), \
                         then run the command again",
                        hist.display(),
                        self.history_path(newest).display()
                    );
                }
                bail!(
                    "{} already exists: another vivier-admin run issued serial {} \
                     at the same time; nothing was changed, run the command again (if no other \
                     run is active, network.json was restored from an older copy: copy {} over \
                     it)",
                    hp.display(),
                    doc.document.serial,
                    self.history_path(newest).display()
                )
            }
            Err(e) => return Err(e).with_context(|| format!("writing {}", hp.display())),
        }
        let p = self.document_path();
        write_atomic(&p, &bytes).with_context(|| format!("writing {}", p.display()))?;
        Ok(())
    }

    /// Loads the current document, applies `edit` to the next one, signs it
    /// with the operator key (unlocked through `source` if it is
    /// encrypted), checks it and stores it.
    pub fn change(
        &self,
        now: i64,
        source: &dyn PassphraseSource,
        edit: impl FnOnce(&mut MembershipDocument) -> Result<()>,
    ) -> Result<SignedMembershipDocument> {
        let current = self.load()?;
        let mut next = next_document(&current.document, now)?;
        // Edit errors (unknown member, bad URL…) come before the passphrase.
        edit(&mut next)?;
        let key = self.operator_key(&current.document, source)?;
        let signed = sign_checked(&current, next, &[key.key()], now)?;
        self.store(Some(current.document.serial), &signed)?;
        Ok(signed)
    }

    /// Operator key rotation: the next document lists only `new_key` as
    /// operator key and is signed by both the current and the new key; then
    /// `operator.key` becomes the new key and the old one is kept as
    /// `operator.key.old` (byte for byte: encrypted if it was).
    ///
    /// `new_key`: a key file (plain or encrypted); otherwise
    /// `operator.next.key` is used if it exists (an interrupted rotation),
    /// else a key is generated into it.
    ///
    /// The new `operator.key` (and a generated `operator.next.key`) is
    /// encrypted with the current key's passphrase if the current key is
    /// encrypted, else with the new key file's passphrase if that one is,
    /// else with a new passphrase from `source` if `encrypt`; otherwise it
    /// is plain.
    pub fn rotate_operator(
        &self,
        new_key: Option<&Path>,
        encrypt: bool,
        source: &dyn PassphraseSource,
        now: i64,
    ) -> Result<(SignedMembershipDocument, SigningKeyPair, SigningKeyPair)> {
        let current = self.load()?;
        let old = self.operator_key(&current.document, source)?;
        let known = old.protection.passphrase();
        let next_path = self.next_key_path();
        let loaded_new = match new_key {
            Some(p) => Some(keystore::load(p, source, known)?),
            None if next_path.exists() => Some(keystore::load(&next_path, source, known)?),
            None => None,
        };
        let protection = match (&old.protection, loaded_new.as_ref().map(|l| &l.protection)) {
            (Protection::Passphrase(_), _) => old.protection.duplicate(),
            (Protection::Plain, Some(p @ Protection::Passphrase(_))) => p.duplicate(),
            (Protection::Plain, _) if encrypt => {
                Protection::Passphrase(source.choose(&self.operator_key_path())?)
            }
            (Protection::Plain, _) => Protection::Plain,
        };
        let new = match loaded_new {
            Some(l) => l.secret,
            None => {
                let secret =
                    OperatorSecret::generate(next_key_id(&current.document, old.key().key_id()));
                keystore::write(&next_path, &secret, &protection, self.kdf)?;
                secret
            }
        };
        let new_pair = new.key().clone();
        if current
            .document
            .operator_keys
            .iter()
            .any(|k| k.key_id == *new_pair.key_id() || k.public_key == new_pair.public_key())
        {
            bail!(
                "the new operator key ({} {}) must differ from the current operator keys \
                 in both key id and public key",
                new_pair.key_id(),
                new_pair.public_key()
            );
        }
        let mut next = next_document(&current.document, now)?;
        next.operator_keys = vec![OperatorKey {
            key_id: new_pair.key_id().clone(),
            public_key: new_pair.public_key(),
        }];
        next.threshold = 1;
        let signed = sign_checked(&current, next, &[old.key(), &new_pair], now)?;
        self.store(Some(current.document.serial), &signed)?;
        keystore::copy_bytes(&self.old_key_path(), &old.file_bytes)?;
        keystore::write(&self.operator_key_path(), &new, &protection, self.kdf)?;
        if next_path.exists() {
            let _ = std::fs::remove_file(&next_path);
        }
        Ok((signed, old.key().clone(), new_pair))
    }

    /// Sets or changes (`remove == false`: the new passphrase comes from
    /// `source.choose`) or removes the passphrase of `operator.key`. The
    /// current passphrase, if any, comes from `source.unlock`. Returns
    /// whether the key was encrypted before.
    pub fn set_passphrase(&self, remove: bool, source: &dyn PassphraseSource) -> Result<bool> {
        let path = self.operator_key_path();
        let info = keystore::read_info(&path)?;
        if let Some(n) = &info.node_id {
            bail!(
                "{} is a node key (node {n}), not an operator key",
                path.display()
            );
        }
        if remove && !info.encrypted {
            bail!(
                "{} is not encrypted: there is no passphrase to remove",
                path.display()
            );
        }
        let loaded = keystore::load(&path, source, None)?;
        let protection = if remove {
            Protection::Plain
        } else {
            Protection::Passphrase(source.choose(&path)?)
        };
        keystore::write(&path, &loaded.secret, &protection, self.kdf)?;
        Ok(loaded.protection.is_encrypted())
    }
}

fn is_operator_public_key(
    doc: &MembershipDocument,
    key_id: &KeyId,
    public_key: &PublicKey,
) -> bool {
    doc.operator_keys
        .iter()
        .any(|k| k.key_id == *key_id && k.public_key == *public_key)
}

fn is_operator_key(doc: &MembershipDocument, key: &SigningKeyPair) -> bool {
    doc.operator_keys
        .iter()
        .any(|k| k.key_id == *key.key_id() && k.public_key == key.public_key())
}

/// `ed25519:<n+1>` after `ed25519:<n>`, skipping ids already in use.
pub fn next_key_id(doc: &MembershipDocument, current: &KeyId) -> KeyId {
    let start = current
        .as_str()
        .strip_prefix("ed25519:")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let mut n = start.saturating_add(1);
    loop {
        if let Ok(id) = KeyId::parse(&format!("ed25519:{n}")) {
            if !doc.operator_keys.iter().any(|k| k.key_id == id) {
                return id;
            }
        }
        n = n.saturating_add(1);
    }
}

/// The next document: serial + 1, issued now, expiring after the same
/// validity period as `prev`.
pub fn next_document(prev: &MembershipDocument, now: i64) -> Result<MembershipDocument> {
    let validity = prev.expires_at.saturating_sub(prev.issued_at).max(DAY_MS);
    let mut next = prev.clone();
    next.serial = prev
        .serial
        .checked_add(1)
        .ok_or_else(|| anyhow!("serial overflow"))?;
    next.issued_at = now.max(prev.issued_at);
    next.expires_at = next.issued_at.saturating_add(validity);
    Ok(next)
}

/// Signs `next` and checks that a node holding `current` would accept it.
pub fn sign_checked(
    current: &SignedMembershipDocument,
    next: MembershipDocument,
    keys: &[&SigningKeyPair],
    now: i64,
) -> Result<SignedMembershipDocument> {
    let signed = SignedMembershipDocument::sign(next, keys)
        .map_err(|e| anyhow!("the new document would be {}: {e}", e.kind()))?;
    Trust::from_document(&current.document)
        .accept(Some(current.document.serial), &signed, now)
        .map_err(|e| {
            anyhow!(
                "nodes would refuse the new document ({}): {e}; nothing was written",
                e.kind()
            )
        })?;
    Ok(signed)
}

/// Checks a département code: `01`–`95`, `2A`, `2B`, `971`–`976`.
pub fn check_departement(code: &str) -> Result<()> {
    let ok = match code.len() {
        2 => code.chars().all(|c| c.is_ascii_digit()) || code == "2A" || code == "2B",
        3 => code.starts_with("97") && code.chars().all(|c| c.is_ascii_digit()),
        _ => false,
    };
    if ok && code != "00" && code != "20" {
        Ok(())
    } else {
        bail!("invalid département code {code:?} (expected e.g. 41, 2A, 974)")
    }
}

/// Checks an INSEE commune code: five characters, digits, or `2A`/`2B`
/// followed by three digits.
pub fn check_commune(code: &str) -> Result<()> {
    let b = code.as_bytes();
    let ok = b.len() == 5
        && (b[..2].iter().all(u8::is_ascii_digit) || &b[..2] == b"2A" || &b[..2] == b"2B")
        && b[2..].iter().all(u8::is_ascii_digit);
    if ok {
        Ok(())
    } else {
        bail!("invalid INSEE commune code {code:?} (expected five characters, e.g. 41018, 2A004)")
    }
}

/// Checks a member base URL (https, or http on a loopback host) and
/// normalises it (no trailing slash).
pub fn check_base_url(url: &str) -> Result<String> {
    let trimmed = url.trim().trim_end_matches('/');
    validate_base_url(trimmed).map_err(|e| anyhow!("invalid URL {e}"))?;
    Ok(trimmed.to_string())
}

/// Parses a member node id.
pub fn parse_node_id(s: &str) -> Result<NodeId> {
    if s == "operator" {
        bail!("node id \"operator\" is reserved for the network operator");
    }
    NodeId::parse(s).map_err(|_| {
        anyhow!("invalid node id {s:?}: 2-64 characters, lower-case letters, digits and '-', starting with a letter or digit")
    })
}

/// Parses a key id (`ed25519:<version>`).
pub fn parse_key_id(s: &str) -> Result<KeyId> {
    KeyId::parse(s).map_err(|_| anyhow!("invalid key id {s:?} (expected e.g. ed25519:1)"))
}

/// Parses an unpadded base64url ed25519 public key.
pub fn parse_public_key(s: &str) -> Result<PublicKey> {
    PublicKey::from_b64(s.trim()).map_err(|e| anyhow!("bad key {s:?}: {e}"))
}

/// Builds a territory from département and commune codes (checked,
/// de-duplicated, order kept).
pub fn territory(departements: &[String], communes: &[String]) -> Result<Territory> {
    let mut t = Territory::default();
    for d in departements {
        let d = d.trim().to_ascii_uppercase();
        check_departement(&d)?;
        if !t.departements.contains(&d) {
            t.departements.push(d);
        }
    }
    for c in communes {
        let c = c.trim().to_ascii_uppercase();
        check_commune(&c)?;
        if !t.communes.contains(&c) {
            t.communes.push(c);
        }
    }
    Ok(t)
}

fn member_mut<'a>(doc: &'a mut MembershipDocument, node: &NodeId) -> Result<&'a mut Member> {
    let known = doc
        .members
        .iter()
        .map(|m| m.node_id.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    doc.members
        .iter_mut()
        .find(|m| &m.node_id == node)
        .ok_or_else(|| {
            anyhow!(
                "unknown member {node} (members: {})",
                if known.is_empty() { "none" } else { &known }
            )
        })
}

/// Adds a member (refusing a duplicate node id, a blank name, a bad URL or
/// a duplicate key id).
/// Refuse a public key another member has (or had), or the base URL of
/// another member still in the network: a copied line would let one node
/// speak as two.
fn check_not_anothers(
    doc: &MembershipDocument,
    node: &NodeId,
    keys: &[MemberKey],
    base_url: Option<&str>,
) -> Result<()> {
    for other in doc.members.iter().filter(|o| &o.node_id != node) {
        if let Some(k) = keys
            .iter()
            .find(|k| other.keys.iter().any(|o| o.public_key == k.public_key))
        {
            bail!(
                "public key {} of {node} is already {}'s key: each member has its own key \
                 (was it copied from the wrong node?)",
                k.key_id,
                other.node_id
            );
        }
        let leaving = matches!(other.status, vivier_protocol::MemberStatus::Revoked { .. });
        if let Some(url) = base_url {
            if !leaving && other.base_url.trim_end_matches('/') == url.trim_end_matches('/') {
                bail!(
                    "{url} is already the address of {}: each member has its own node",
                    other.node_id
                );
            }
        }
    }
    Ok(())
}

pub fn add_member(doc: &mut MembershipDocument, member: Member) -> Result<()> {
    if doc.member(&member.node_id).is_some() {
        bail!(
            "duplicate node id: {} is already a member (use `member update`)",
            member.node_id
        );
    }
    check_not_anothers(doc, &member.node_id, &member.keys, Some(&member.base_url))?;
    if member.display_name.trim().is_empty() {
        bail!("the display name must not be empty");
    }
    check_base_url(&member.base_url)?;
    if member.keys.is_empty() {
        bail!("member {} has no key", member.node_id);
    }
    for (i, k) in member.keys.iter().enumerate() {
        if member.keys[..i].iter().any(|o| o.key_id == k.key_id) {
            bail!("member {}: duplicate key id {}", member.node_id, k.key_id);
        }
    }
    doc.members.push(member);
    Ok(())
}

/// Changes to a member's description.
#[derive(Debug, Clone, Default)]
pub struct MemberUpdate {
    /// New display name.
    pub display_name: Option<String>,
    /// New base URL.
    pub base_url: Option<String>,
    /// New kind.
    pub kind: Option<MemberKind>,
    /// New département codes (replace the list).
    pub departements: Option<Vec<String>>,
    /// New commune codes (replace the list).
    pub communes: Option<Vec<String>>,
}

/// Updates a member's name, URL, kind or territory.
pub fn update_member(doc: &mut MembershipDocument, node: &NodeId, u: MemberUpdate) -> Result<()> {
    let m = member_mut(doc, node)?;
    if u.display_name.is_none()
        && u.base_url.is_none()
        && u.kind.is_none()
        && u.departements.is_none()
        && u.communes.is_none()
    {
        bail!("nothing to change: give at least one of --name, --url, --kind, --departement, --commune");
    }
    if let Some(n) = u.display_name {
        if n.trim().is_empty() {
            bail!("the display name must not be empty");
        }
        m.display_name = n;
    }
    if let Some(url) = u.base_url {
        let url = check_base_url(&url)?;
        check_not_anothers(doc, node, &[], Some(&url))?;
        member_mut(doc, node)?.base_url = url;
    }
    let m = member_mut(doc, node)?;
    if let Some(k) = u.kind {
        m.kind = k;
    }
    if let Some(d) = u.departements {
        m.territory.departements = territory(&d, &[])?.departements;
    }
    if let Some(c) = u.communes {
        m.territory.communes = territory(&[], &c)?.communes;
    }
    Ok(())
}

fn reason_ok(reason: &str) -> Result<String> {
    let r = reason.trim();
    if r.is_empty() {
        bail!("--reason must not be empty");
    }
    Ok(r.to_string())
}

/// Suspends an active member.
pub fn suspend_member(
    doc: &mut MembershipDocument,
    node: &NodeId,
    reason: &str,
    now: i64,
) -> Result<()> {
    let reason = reason_ok(reason)?;
    let m = member_mut(doc, node)?;
    match m.status {
        MemberStatus::Active => {}
        MemberStatus::Suspended { .. } => bail!("member {node} is already suspended"),
        MemberStatus::Revoked { .. } => bail!("member {node} is revoked"),
    }
    m.status = MemberStatus::Suspended { reason, since: now };
    Ok(())
}

/// Revokes a member (active or suspended). Revocation is permanent.
pub fn revoke_member(
    doc: &mut MembershipDocument,
    node: &NodeId,
    reason: &str,
    now: i64,
) -> Result<()> {
    let reason = reason_ok(reason)?;
    let m = member_mut(doc, node)?;
    if let MemberStatus::Revoked { .. } = m.status {
        bail!("member {node} is already revoked");
    }
    m.status = MemberStatus::Revoked { reason, at: now };
    Ok(())
}

/// Reactivates a suspended member. A revoked member cannot come back.
pub fn reactivate_member(doc: &mut MembershipDocument, node: &NodeId) -> Result<()> {
    let m = member_mut(doc, node)?;
    match m.status {
        MemberStatus::Suspended { .. } => {}
        MemberStatus::Active => bail!("member {node} is already active"),
        MemberStatus::Revoked { .. } => bail!(
            "member {node} is revoked, and revocation is permanent \
             (messages it signed after revocation must never become valid); \
             suspend members you may want back"
        ),
    }
    m.status = MemberStatus::Active;
    Ok(())
}

/// Adds a new key to a member; its keys without an end get
/// `valid_until = now + overlap_ms` (or their end is brought forward to it).
pub fn rotate_member_key(
    doc: &mut MembershipDocument,
    node: &NodeId,
    new_key: MemberKey,
    overlap_ms: i64,
    now: i64,
) -> Result<()> {
    if overlap_ms < 0 {
        bail!("--overlap-days must not be negative");
    }
    check_not_anothers(doc, node, std::slice::from_ref(&new_key), None)?;
    let m = member_mut(doc, node)?;
    if m.keys.iter().any(|k| k.key_id == new_key.key_id) {
        bail!(
            "member {node} already has a key {}; choose a new key id (e.g. the next number)",
            new_key.key_id
        );
    }
    if m.keys.iter().any(|k| k.public_key == new_key.public_key) {
        bail!("member {node} already has this public key");
    }
    // The overlap runs from the switch (the new key's start, or now if
    // that is past), as `vivier-node key rotate --at T --overlap-days D`
    // counts it: the member always has a valid key.
    let end = new_key.valid_from.max(now).saturating_add(overlap_ms);
    for k in &mut m.keys {
        let ends_later = !matches!(k.valid_until, Some(u) if u <= end);
        if ends_later {
            if k.valid_from >= end {
                bail!(
                    "key {} of {node} only becomes valid at {}, after the end of the overlap",
                    k.key_id,
                    crate::display::format_ms(k.valid_from)
                );
            }
            k.valid_until = Some(end);
        }
    }
    m.keys.push(new_key);
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::keystore::FixedPassphrase;

    const NOPASS: FixedPassphrase = FixedPassphrase {
        current: None,
        new: None,
    };

    const NOW: i64 = 1_750_000_000_000;

    fn member(id: &str, key: &SigningKeyPair) -> Member {
        Member {
            node_id: NodeId::parse(id).unwrap(),
            display_name: format!("Mission {id}"),
            kind: MemberKind::CityMission,
            territory: territory(&["41".into()], &["41018".into()]).unwrap(),
            base_url: format!("https://{id}.example.fr"),
            keys: vec![MemberKey {
                key_id: key.key_id().clone(),
                public_key: key.public_key(),
                valid_from: 0,
                valid_until: None,
            }],
            status: MemberStatus::Active,
        }
    }

    fn node_key() -> SigningKeyPair {
        SigningKeyPair::generate(KeyId::parse("ed25519:1").unwrap())
    }

    fn init(dir: &Path) -> NetworkDir {
        let nd = NetworkDir::new(dir.join("net"));
        nd.init("vivier-test", 30, &Protection::Plain, NOW).unwrap();
        nd
    }

    /// Adds members `ids` (a fresh key each), one document per member.
    fn add_members(nd: &NetworkDir, ids: &[&str]) {
        for id in ids {
            let k = node_key();
            nd.change(NOW, &NOPASS, |d| add_member(d, member(id, &k)))
                .unwrap();
        }
    }

    #[test]
    fn init_creates_key_document_and_history() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let nd = init(tmp.path());
        let doc = nd.load().unwrap();
        assert_eq!(doc.document.serial, 1);
        assert_eq!(
            doc.document.expires_at - doc.document.issued_at,
            30 * DAY_MS
        );
        assert!(doc.document.members.is_empty());
        let mode = std::fs::metadata(nd.operator_key_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::read(nd.history_path(1)).unwrap(),
            std::fs::read(nd.document_path()).unwrap()
        );
        let key = nd.operator_key(&doc.document, &NOPASS).unwrap();
        assert_eq!(
            doc.document.operator_keys[0].public_key,
            key.key().public_key()
        );
        // A node configured with that key accepts it.
        let trust = Trust::from_document(&doc.document);
        trust.accept(None, &doc, NOW + 1).unwrap();
        // Refuses to overwrite.
        let e = nd
            .init("other", 30, &Protection::Plain, NOW)
            .unwrap_err()
            .to_string();
        assert!(e.contains("already exists"), "{e}");
        assert_eq!(nd.load().unwrap(), doc);
    }

    #[test]
    fn changes_increment_serial_and_keep_validity() {
        let tmp = tempfile::tempdir().unwrap();
        let nd = init(tmp.path());
        let k = node_key();
        let d2 = nd
            .change(NOW + 1000, &NOPASS, |d| add_member(d, member("cd41", &k)))
            .unwrap();
        assert_eq!(d2.document.serial, 2);
        assert_eq!(d2.document.issued_at, NOW + 1000);
        assert_eq!(d2.document.expires_at, NOW + 1000 + 30 * DAY_MS);
        assert_eq!(nd.load().unwrap(), d2);
        assert!(nd.history_path(2).exists());
        // Duplicate: nothing written.
        let e = nd
            .change(NOW + 2000, &NOPASS, |d| add_member(d, member("cd41", &k)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("duplicate node id"), "{e}");
        assert_eq!(nd.load().unwrap().document.serial, 2);
        assert!(!nd.history_path(3).exists());
        // Unknown member.
        let e = nd
            .change(NOW + 2000, &NOPASS, |d| {
                suspend_member(d, &NodeId::parse("cd18").unwrap(), "x", NOW)
            })
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown member cd18"), "{e}");
    }

    #[test]
    fn invalid_urls_and_codes() {
        assert!(check_base_url("http://vivier.cd41.fr").is_err());
        assert!(check_base_url("ftp://vivier.cd41.fr").is_err());
        assert!(check_base_url("not a url").is_err());
        assert_eq!(
            check_base_url("https://vivier.cd41.fr/").unwrap(),
            "https://vivier.cd41.fr"
        );
        assert!(check_base_url("http://127.0.0.1:8080").is_ok());
        assert!(check_base_url("http://localhost:8080").is_ok());
        for ok in ["41", "2A", "2b", "974", "03"] {
            assert!(territory(&[ok.into()], &[]).is_ok(), "{ok}");
        }
        for bad in ["4", "410", "2C", "00", "ab"] {
            assert!(territory(&[bad.into()], &[]).is_err(), "{bad}");
        }
        assert!(territory(&[], &["41018".into(), "2A004".into()]).is_ok());
        assert!(territory(&[], &["4101".into()]).is_err());
        assert!(parse_node_id("operator").is_err());
        assert!(parse_node_id("CD41").is_err());
        assert!(parse_public_key("abc").is_err());
    }

    #[test]
    fn suspend_revoke_reactivate() {
        let mut d = next_document(
            &MembershipDocument {
                network_id: "n".into(),
                serial: 1,
                issued_at: NOW,
                expires_at: NOW + DAY_MS,
                operator_keys: vec![],
                threshold: 1,
                members: vec![],
                network_search: None,
            },
            NOW,
        )
        .unwrap();
        let k = node_key();
        add_member(&mut d, member("cd41", &k)).unwrap();
        let n = NodeId::parse("cd41").unwrap();
        assert!(reactivate_member(&mut d, &n).is_err());
        suspend_member(&mut d, &n, "audit", NOW).unwrap();
        assert!(suspend_member(&mut d, &n, "again", NOW).is_err());
        reactivate_member(&mut d, &n).unwrap();
        assert!(d.member(&n).unwrap().is_active());
        assert!(revoke_member(&mut d, &n, " ", NOW).is_err());
        revoke_member(&mut d, &n, "left the network", NOW).unwrap();
        assert!(matches!(
            d.member(&n).unwrap().status,
            MemberStatus::Revoked { at: NOW, .. }
        ));
        assert!(reactivate_member(&mut d, &n)
            .unwrap_err()
            .to_string()
            .contains("permanent"));
    }

    #[test]
    fn member_key_rotation_sets_overlap() {
        let tmp = tempfile::tempdir().unwrap();
        let nd = init(tmp.path());
        let k1 = node_key();
        nd.change(NOW, &NOPASS, |d| add_member(d, member("cd41", &k1)))
            .unwrap();
        let k2 = SigningKeyPair::generate(KeyId::parse("ed25519:2").unwrap());
        let n = NodeId::parse("cd41").unwrap();
        let nk = MemberKey {
            key_id: k2.key_id().clone(),
            public_key: k2.public_key(),
            valid_from: NOW,
            valid_until: None,
        };
        let d = nd
            .change(NOW, &NOPASS, |d| {
                rotate_member_key(d, &n, nk.clone(), 7 * DAY_MS, NOW)
            })
            .unwrap();
        let m = d.document.member(&n).unwrap();
        assert_eq!(m.keys[0].valid_until, Some(NOW + 7 * DAY_MS));
        assert_eq!(m.keys[1], nk);
        // Same key id again → refused.
        assert!(nd
            .change(NOW, &NOPASS, |d| rotate_member_key(
                d,
                &n,
                nk.clone(),
                0,
                NOW
            ))
            .is_err());
    }

    /// network.json restored from an older copy: the next change says so
    /// and names the document to restore, and writes nothing.
    #[test]
    fn an_older_network_json_is_named_as_such() {
        let tmp = tempfile::tempdir().unwrap();
        let nd = init(tmp.path());
        add_members(&nd, &["aa41", "bb41"]);
        assert_eq!(nd.load().unwrap().document.serial, 3);
        std::fs::copy(nd.history_path(1), nd.document_path()).unwrap();
        let k = node_key();
        let err = nd
            .change(NOW, &NOPASS, |d| add_member(d, member("cc41", &k)))
            .unwrap_err();
        let said = format!("{err:#}");
        assert!(said.contains("restored from an older copy"), "{said}");
        assert!(said.contains("3.json"), "{said}");
        assert_eq!(nd.load().unwrap().document.serial, 1);
    }

    /// A member added (or rotated, or moved) with another member's public
    /// key or address is refused: one node could speak as two.
    #[test]
    fn another_members_key_or_address_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let nd = init(tmp.path());
        let k1 = node_key();
        nd.change(NOW, &NOPASS, |d| add_member(d, member("cd41", &k1)))
            .unwrap();
        // Same key under another id.
        let err = nd
            .change(NOW, &NOPASS, |d| add_member(d, member("cd41-bis", &k1)))
            .unwrap_err();
        assert!(format!("{err:#}").contains("already cd41's key"), "{err:#}");
        // Own key, another member's address.
        let k2 = node_key();
        let mut m = member("ml37", &k2);
        m.base_url = "https://cd41.example.fr/".into();
        let err = nd
            .change(NOW, &NOPASS, |d| add_member(d, m.clone()))
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("already the address of cd41"),
            "{err:#}"
        );
        nd.change(NOW, &NOPASS, |d| add_member(d, member("ml37", &k2)))
            .unwrap();
        // Rotating to another member's key, moving to its address.
        let n = NodeId::parse("ml37").unwrap();
        let stolen = MemberKey {
            key_id: KeyId::parse("ed25519:2").unwrap(),
            public_key: k1.public_key(),
            valid_from: NOW,
            valid_until: None,
        };
        assert!(nd
            .change(NOW, &NOPASS, |d| rotate_member_key(
                d,
                &n,
                stolen.clone(),
                0,
                NOW
            ))
            .is_err());
        assert!(nd
            .change(NOW, &NOPASS, |d| update_member(
                d,
                &n,
                MemberUpdate {
                    base_url: Some("https://cd41.example.fr".into()),
                    ..MemberUpdate::default()
                }
            ))
            .is_err());
        assert_eq!(nd.load().unwrap().document.members.len(), 2);
    }

    /// `vivier-admin status` counts as problems a member whose report
    /// could not be read (nothing known is no pass) and one whose document
    /// has expired; a healthy one is not.
    #[test]
    fn status_counts_unread_reports_and_expired_documents() {
        use vivier_protocol::{NodeReport, WellKnown};
        let tmp = tempfile::tempdir().unwrap();
        let nd = init(tmp.path());
        add_members(&nd, &["aa41", "bb41", "cc41"]);
        let doc = nd.load().unwrap();
        let serial = doc.document.serial;
        let well_known = |id: &str| WellKnown {
            node_id: id.into(),
            display_name: String::new(),
            base_url: String::new(),
            protocol_versions: vec![1],
            keys: Vec::new(),
            membership_serial: Some(serial),
            software: String::new(),
        };
        let report = |id: &str, expires_at: i64| NodeReport {
            node_id: id.into(),
            membership_expires_at: Some(expires_at),
            ..NodeReport::default()
        };
        let now = NOW + DAY_MS;
        let answers = vec![
            crate::status::Answer {
                well_known: Ok(well_known("aa41")),
                report: Some(Ok(report("aa41", now + 100 * DAY_MS))),
            },
            crate::status::Answer {
                well_known: Ok(well_known("bb41")),
                report: Some(Err(anyhow::anyhow!("HTTP 401 Unauthorized: stale"))),
            },
            crate::status::Answer {
                well_known: Ok(well_known("cc41")),
                report: Some(Ok(report("cc41", now - 1_000))),
            },
        ];
        let o = crate::status::overview(
            &doc,
            &answers,
            |_, _| (true, "yes".into()),
            |_| "active",
            now,
        );
        assert_eq!(o.problems, 2, "{:?}", o.rows);
        let notes = |i: usize| o.rows[i].last().unwrap().clone();
        assert!(!notes(0).contains("EXPIRED"), "{}", notes(0));
        assert!(notes(1).contains("not read"), "{}", notes(1));
        assert!(notes(2).contains("EXPIRED"), "{}", notes(2));
    }

    /// A new key that starts later (`--valid-from-ms T`): the old keys stay
    /// valid until T plus the overlap, never leaving the member without a
    /// valid key, with a zero overlap too.
    #[test]
    fn a_later_switch_keeps_the_old_key_until_the_switch_plus_the_overlap() {
        for overlap in [0, 7 * DAY_MS] {
            let tmp = tempfile::tempdir().unwrap();
            let nd = init(tmp.path());
            let k1 = node_key();
            nd.change(NOW, &NOPASS, |d| add_member(d, member("cd41", &k1)))
                .unwrap();
            let k2 = SigningKeyPair::generate(KeyId::parse("ed25519:2").unwrap());
            let n = NodeId::parse("cd41").unwrap();
            let switch = NOW + 10 * DAY_MS;
            let nk = MemberKey {
                key_id: k2.key_id().clone(),
                public_key: k2.public_key(),
                valid_from: switch,
                valid_until: None,
            };
            let d = nd
                .change(NOW, &NOPASS, |d| {
                    rotate_member_key(d, &n, nk.clone(), overlap, NOW)
                })
                .unwrap();
            let m = d.document.member(&n).unwrap();
            assert_eq!(m.keys[0].valid_until, Some(switch + overlap));
            // Every instant from now on has a valid key.
            for t in [
                NOW,
                switch - 1,
                switch,
                switch + overlap,
                switch + 100 * DAY_MS,
            ] {
                assert!(
                    m.keys
                        .iter()
                        .any(|k| k.valid_from <= t && k.valid_until.is_none_or(|u| t < u)),
                    "no valid key at {t}"
                );
            }
        }
    }

    #[test]
    fn operator_rotation_signed_by_both() {
        let tmp = tempfile::tempdir().unwrap();
        let nd = init(tmp.path());
        let before = nd.load().unwrap();
        let (doc, old, new) = nd.rotate_operator(None, false, &NOPASS, NOW + 5).unwrap();
        assert_eq!(new.key_id().as_str(), "ed25519:2");
        assert_eq!(doc.signatures.len(), 2);
        assert_eq!(doc.document.operator_keys.len(), 1);
        assert_eq!(doc.document.operator_keys[0].public_key, new.public_key());
        Trust::from_document(&before.document)
            .accept(Some(1), &doc, NOW + 10)
            .unwrap();
        // Key files moved into place.
        let cur = read_key_file(&nd.operator_key_path()).unwrap();
        assert_eq!(cur.key.public_key(), new.public_key());
        let o = read_key_file(&nd.old_key_path()).unwrap();
        assert_eq!(o.key.public_key(), old.public_key());
        assert!(!nd.next_key_path().exists());
        // Next change signed by the new key only, accepted after the rotation.
        let d3 = nd.change(NOW + 20, &NOPASS, |_| Ok(())).unwrap();
        assert_eq!(d3.signatures.len(), 1);
        Trust::from_document(&doc.document)
            .accept(Some(2), &d3, NOW + 30)
            .unwrap();
    }

    #[test]
    fn wrong_key_file_permissions_are_explained() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let nd = init(tmp.path());
        std::fs::set_permissions(
            nd.operator_key_path(),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let e = nd.change(NOW, &NOPASS, |_| Ok(())).unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
        assert!(e.contains("operator.key"), "{e}");
        assert_eq!(nd.load().unwrap().document.serial, 1);
    }

    #[test]
    fn foreign_operator_key_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let nd = init(tmp.path());
        KeyFile {
            node_id: None,
            key: SigningKeyPair::generate(KeyId::parse("ed25519:1").unwrap()),
        }
        .write(nd.operator_key_path())
        .unwrap();
        let e = nd.change(NOW, &NOPASS, |_| Ok(())).unwrap_err().to_string();
        assert!(e.contains("is not an operator key"), "{e}");
    }

    #[test]
    fn concurrent_serial_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let nd = init(tmp.path());
        // Simulate another run that already created documents/2.json.
        std::fs::write(nd.history_path(2), b"{}").unwrap();
        let e = nd.change(NOW, &NOPASS, |_| Ok(())).unwrap_err().to_string();
        assert!(e.contains("already exists"), "{e}");
        assert_eq!(nd.load().unwrap().document.serial, 1);
    }

    fn pass(current: &str) -> FixedPassphrase {
        FixedPassphrase {
            current: Some(current.into()),
            new: None,
        }
    }

    fn init_encrypted(dir: &Path, passphrase: &str) -> NetworkDir {
        let mut nd = NetworkDir::new(dir.join("net"));
        nd.kdf = KdfParams::INSECURE_FOR_TESTS;
        let p = Protection::Passphrase(zeroize::Zeroizing::new(passphrase.into()));
        nd.init("vivier-test", 30, &p, NOW).unwrap();
        nd
    }

    #[test]
    fn encrypted_operator_key_signs_only_with_its_passphrase() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let nd = init_encrypted(tmp.path(), "s3cret");
        let path = nd.operator_key_path();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(keystore::is_encrypted(&path));
        // The protocol crate's reader does not take it for a plain key.
        assert!(KeyFile::read(&path).is_err());
        let doc = nd.load().unwrap();
        let info = keystore::read_info(&path).unwrap();
        assert_eq!(doc.document.operator_keys[0].public_key, info.public_key);
        let before = std::fs::read(&path).unwrap();
        // No passphrase, wrong passphrase: nothing written.
        let e = nd.change(NOW, &NOPASS, |_| Ok(())).unwrap_err().to_string();
        assert!(e.contains("no passphrase"), "{e}");
        let e = nd
            .change(NOW, &pass("wrong"), |_| Ok(()))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!("wrong passphrase for {}", path.display())),
            "{e}"
        );
        assert_eq!(nd.load().unwrap().document.serial, 1);
        assert!(!nd.history_path(2).exists());
        // The right one signs; the key file is not rewritten.
        let k = node_key();
        let d2 = nd
            .change(NOW, &pass("s3cret"), |d| add_member(d, member("cd41", &k)))
            .unwrap();
        assert_eq!(d2.document.serial, 2);
        Trust::from_document(&doc.document)
            .accept(Some(1), &d2, NOW + 1)
            .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn encrypted_rotation_keeps_the_passphrase() {
        let tmp = tempfile::tempdir().unwrap();
        let nd = init_encrypted(tmp.path(), "pw");
        // Wrong passphrase: nothing at all is written.
        assert!(nd
            .rotate_operator(None, false, &pass("nope"), NOW + 1)
            .is_err());
        assert_eq!(nd.load().unwrap().document.serial, 1);
        assert!(!nd.next_key_path().exists());
        assert!(!nd.old_key_path().exists());
        let (doc, old, new) = nd
            .rotate_operator(None, false, &pass("pw"), NOW + 5)
            .unwrap();
        assert_eq!(doc.signatures.len(), 2);
        assert!(keystore::is_encrypted(&nd.operator_key_path()));
        assert!(keystore::is_encrypted(&nd.old_key_path()));
        assert!(!nd.next_key_path().exists());
        let cur = keystore::load(&nd.operator_key_path(), &pass("pw"), None).unwrap();
        assert_eq!(cur.key().public_key(), new.public_key());
        let o = keystore::load(&nd.old_key_path(), &pass("pw"), None).unwrap();
        assert_eq!(o.key().public_key(), old.public_key());
        let d3 = nd.change(NOW + 20, &pass("pw"), |_| Ok(())).unwrap();
        Trust::from_document(&doc.document)
            .accept(Some(2), &d3, NOW + 30)
            .unwrap();
    }

    #[test]
    fn plain_rotation_can_encrypt_the_new_key() {
        let tmp = tempfile::tempdir().unwrap();
        let mut nd = init(tmp.path());
        nd.kdf = KdfParams::INSECURE_FOR_TESTS;
        let source = FixedPassphrase {
            current: None,
            new: Some("fresh".into()),
        };
        nd.rotate_operator(None, true, &source, NOW + 5).unwrap();
        assert!(keystore::is_encrypted(&nd.operator_key_path()));
        assert!(!keystore::is_encrypted(&nd.old_key_path()));
        nd.change(NOW + 20, &pass("fresh"), |_| Ok(())).unwrap();
    }

    #[test]
    fn set_change_and_remove_the_passphrase() {
        let tmp = tempfile::tempdir().unwrap();
        let mut nd = init(tmp.path());
        nd.kdf = KdfParams::INSECURE_FOR_TESTS;
        let path = nd.operator_key_path();
        let public = keystore::read_info(&path).unwrap().public_key;
        let e = nd.set_passphrase(true, &NOPASS).unwrap_err().to_string();
        assert!(e.contains("not encrypted"), "{e}");
        // Set.
        let set = FixedPassphrase {
            current: None,
            new: Some("a".into()),
        };
        assert!(!nd.set_passphrase(false, &set).unwrap());
        assert!(keystore::is_encrypted(&path));
        nd.change(NOW, &pass("a"), |_| Ok(())).unwrap();
        // Change: needs the current one.
        let bad = FixedPassphrase {
            current: Some("x".into()),
            new: Some("b".into()),
        };
        assert!(nd.set_passphrase(false, &bad).is_err());
        let change = FixedPassphrase {
            current: Some("a".into()),
            new: Some("b".into()),
        };
        assert!(nd.set_passphrase(false, &change).unwrap());
        assert!(nd.change(NOW, &pass("a"), |_| Ok(())).is_err());
        nd.change(NOW, &pass("b"), |_| Ok(())).unwrap();
        // Remove.
        assert!(nd.set_passphrase(true, &pass("a")).is_err());
        assert!(keystore::is_encrypted(&path));
        assert!(nd.set_passphrase(true, &pass("b")).unwrap());
        assert!(!keystore::is_encrypted(&path));
        assert_eq!(KeyFile::read(&path).unwrap().key.public_key(), public);
        nd.change(NOW, &NOPASS, |_| Ok(())).unwrap();
        assert_eq!(nd.load().unwrap().document.serial, 4);
    }
}
