//! Identifiers, ed25519 keys and key files.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use crate::error::ProtocolError;

/// Raw 64-byte ed25519 signature.
pub type Signature64 = [u8; 64];

/// Encodes bytes as unpadded base64url (the encoding used for keys and
/// envelope signatures).
pub fn b64url_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes strict unpadded base64url (padding and non-zero trailing bits are
/// rejected, so each byte string has exactly one accepted encoding).
pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).ok()
}

/// Identifier of a member node: 2–64 characters, `[a-z0-9][a-z0-9-]*`,
/// e.g. `cd41`, `petr-montlucon`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(String);

impl NodeId {
    /// Validates and wraps a node identifier.
    pub fn parse(s: &str) -> Result<NodeId, ProtocolError> {
        let b = s.as_bytes();
        let ok = (2..=64).contains(&b.len())
            && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-');
        if ok {
            Ok(NodeId(s.to_owned()))
        } else {
            Err(ProtocolError::InvalidNodeId(s.to_owned()))
        }
    }
    /// The identifier as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Identifier of a key of a node or of the operator: `ed25519:<version>`
/// where version is `[A-Za-z0-9_]+` (at most 64 characters in total),
/// e.g. `ed25519:1`, `ed25519:2025_01`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    /// Validates and wraps a key identifier.
    pub fn parse(s: &str) -> Result<KeyId, ProtocolError> {
        let ok = s.len() <= 64
            && s.strip_prefix("ed25519:").is_some_and(|v| {
                !v.is_empty() && v.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
            });
        if ok {
            Ok(KeyId(s.to_owned()))
        } else {
            Err(ProtocolError::InvalidKeyId(s.to_owned()))
        }
    }
    /// The identifier as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_id_impls {
    ($t:ident) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($t), self.0)
            }
        }
        impl FromStr for $t {
            type Err = ProtocolError;
            fn from_str(s: &str) -> Result<Self, ProtocolError> {
                $t::parse(s)
            }
        }
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $t::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}
string_id_impls!(NodeId);
string_id_impls!(KeyId);

/// An ed25519 public key. Serialised as unpadded base64url of its 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Unpadded base64url encoding of the 32 key bytes.
    pub fn to_b64(&self) -> String {
        b64url_encode(self.0.as_bytes())
    }
    /// Decodes an unpadded base64url public key (must be a valid curve point).
    pub fn from_b64(s: &str) -> Result<PublicKey, ProtocolError> {
        let bytes = b64url_decode(s)
            .ok_or_else(|| ProtocolError::InvalidPublicKey("not unpadded base64url".into()))?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| ProtocolError::InvalidPublicKey("not 32 bytes".into()))?;
        Self::from_bytes(&arr)
    }
    /// Builds a public key from its 32 raw bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicKey, ProtocolError> {
        VerifyingKey::from_bytes(bytes)
            .map(PublicKey)
            .map_err(|_| ProtocolError::InvalidPublicKey("not a valid ed25519 point".into()))
    }
    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }
    /// The underlying `ed25519_dalek` key.
    pub fn inner(&self) -> &VerifyingKey {
        &self.0
    }
    /// Verifies a signature with `verify_strict` (rejects small-order keys
    /// and non-canonical signatures). Returns `false` on any failure.
    pub fn verify_strict(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(arr) = <[u8; 64]>::try_from(sig) else {
            return false;
        };
        let sig = ed25519_dalek::Signature::from_bytes(&arr);
        self.0.verify_strict(msg, &sig).is_ok()
    }
    /// Verifies an unpadded base64url signature with `verify_strict`.
    pub fn verify_b64(&self, msg: &[u8], sig_b64: &str) -> bool {
        b64url_decode(sig_b64).is_some_and(|sig| self.verify_strict(msg, &sig))
    }
}

/// One signature to check in [`verify_strict_many`].
#[derive(Clone, Copy)]
pub struct SignedBytes<'a> {
    /// The signer's key.
    pub key: &'a PublicKey,
    /// The signed bytes.
    pub msg: &'a [u8],
    /// The signature.
    pub sig: &'a Signature64,
}

/// Verifies many signatures at once; `result[i]` says whether `items[i]`
/// holds. Equivalent to [`PublicKey::verify_strict`] on each, at less than
/// half the cost: the rejections of `verify_strict` that the batch equation
/// does not make (a small-order key or `R`, a non-canonical `R` or `s`) are
/// checked on each signature first, then the others are verified together
/// ([`batch_equation_holds`]: random linear combination). When the batch
/// equation fails, each signature of the batch is verified on its own, so
/// one bad signature costs its neighbours nothing but a second check.
///
/// One difference remains, for the signer itself only: a key holder could
/// craft a signature whose `R` (or a key whose point) carries a small
/// torsion component, which the cofactorless batch equation may accept
/// where `verify_strict` would not. Nobody else can produce any signature
/// that passes either check.
pub fn verify_strict_many(items: &[SignedBytes<'_>]) -> Vec<bool> {
    let mut ok = vec![false; items.len()];
    let batch = precheck(items);
    if batch.len() > 1 && batch_equation_holds(items, &batch) {
        for c in &batch {
            ok[c.i] = true;
        }
        return ok;
    }
    for c in &batch {
        let it = &items[c.i];
        let sig = ed25519_dalek::Signature::from_bytes(it.sig);
        ok[c.i] = it.key.0.verify_strict(it.msg, &sig).is_ok();
    }
    ok
}

/// The signatures that `verify_strict` would not refuse before its
/// equation: a canonical, not small-order `R` (decompressed once, here;
/// `verify_strict` compares encodings, so it refuses a non-canonical one),
/// a canonical `s` (< ℓ), a key that is not weak.
fn precheck(items: &[SignedBytes<'_>]) -> Vec<Checked> {
    use curve25519_dalek::edwards::CompressedEdwardsY;
    let mut batch = Vec::with_capacity(items.len());
    for (i, it) in items.iter().enumerate() {
        let (Ok(r), Ok(s)) = (
            <[u8; 32]>::try_from(&it.sig[..32]),
            <[u8; 32]>::try_from(&it.sig[32..]),
        ) else {
            continue;
        };
        let r_point = canonical_y(&r)
            .then(|| CompressedEdwardsY(r).decompress())
            .flatten()
            .filter(|p| !p.is_small_order());
        let s: Option<curve25519_dalek::Scalar> =
            curve25519_dalek::Scalar::from_canonical_bytes(s).into();
        if let (Some(r_point), Some(s)) = (r_point, s) {
            if !it.key.0.is_weak() {
                batch.push(Checked { i, r_point, s });
            }
        }
    }
    batch
}

/// A signature of [`verify_strict_many`]'s batch: its index, `R`, `s`.
struct Checked {
    i: usize,
    r_point: curve25519_dalek::EdwardsPoint,
    s: curve25519_dalek::Scalar,
}

/// Whether the 32 bytes encode `y` below 2²⁵⁵ − 19 (the sign bit aside).
fn canonical_y(bytes: &[u8; 32]) -> bool {
    // Only 2²⁵⁵ − 19 … 2²⁵⁵ − 1 are non-canonical: 0xED…0xFF, then 30 × 0xFF,
    // then 0x7F.
    !(bytes[0] >= 0xed && bytes[1..31].iter().all(|&b| b == 0xff) && bytes[31] & 0x7f == 0x7f)
}

/// The batch equation `∑ zᵢ·Rᵢ + ∑ₖ (∑ zᵢ·hᵢ)·Aₖ − (∑ zᵢ·sᵢ)·B = 0`
/// (cofactorless, as ed25519-dalek's `verify_batch`), the inner sum over the
/// signatures of key `Aₖ`, with `hᵢ = SHA-512(Rᵢ ‖ Aₖ ‖ Mᵢ)` and random
/// 128-bit `zᵢ` from the operating system. Against ed25519-dalek's batch:
/// each `R` was decompressed once (it decompresses again), and the terms of
/// one key are added before the multiplication, so a batch from one member
/// costs a multiscalar multiplication of `n + 2` points instead of
/// `2n + 1`. `false` also when no randomness could be had: the caller then
/// verifies each signature alone.
fn batch_equation_holds(items: &[SignedBytes<'_>], batch: &[Checked]) -> bool {
    use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
    use curve25519_dalek::{EdwardsPoint, Scalar};
    use rand_core::RngCore;
    use sha2::Digest;
    let mut random = vec![0u8; 16 * batch.len()];
    if rand_core::OsRng.try_fill_bytes(&mut random).is_err() {
        return false;
    }
    let mut scalars = Vec::with_capacity(batch.len() + 2);
    let mut points = Vec::with_capacity(batch.len() + 2);
    // (key, ∑ zᵢ·hᵢ of its signatures): a batch holds few keys.
    let mut keys: Vec<(&VerifyingKey, Scalar)> = Vec::new();
    let mut b = Scalar::ZERO;
    for (c, z) in batch.iter().zip(random.chunks_exact(16)) {
        let mut z16 = [0u8; 16];
        z16.copy_from_slice(z);
        let z = Scalar::from(u128::from_le_bytes(z16));
        let it = &items[c.i];
        let h = Scalar::from_hash(
            sha2::Sha512::new()
                .chain_update(&it.sig[..32])
                .chain_update(it.key.0.as_bytes())
                .chain_update(it.msg),
        );
        b += z * c.s;
        scalars.push(z);
        points.push(c.r_point);
        match keys.iter_mut().find(|(k, _)| *k == &it.key.0) {
            Some((_, sum)) => *sum += z * h,
            None => keys.push((&it.key.0, z * h)),
        }
    }
    scalars.push(-b);
    points.push(curve25519_dalek::constants::ED25519_BASEPOINT_POINT);
    for (key, sum) in keys {
        scalars.push(sum);
        points.push(key.to_edwards());
    }
    EdwardsPoint::vartime_multiscalar_mul(scalars, points).is_identity()
}

impl From<VerifyingKey> for PublicKey {
    fn from(k: VerifyingKey) -> Self {
        PublicKey(k)
    }
}

impl Hash for PublicKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.as_bytes().hash(state)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_b64())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_b64())
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_b64())
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PublicKey::from_b64(&s).map_err(serde::de::Error::custom)
    }
}

/// A signing key together with its key identifier.
///
/// The secret is zeroised on drop and never printed by `Debug`.
#[derive(Clone)]
pub struct SigningKeyPair {
    key_id: KeyId,
    secret: SigningKey,
}

impl SigningKeyPair {
    /// Generates a fresh key from the operating system's RNG.
    pub fn generate(key_id: KeyId) -> SigningKeyPair {
        SigningKeyPair {
            key_id,
            secret: SigningKey::generate(&mut OsRng),
        }
    }
    /// Builds a key pair from a 32-byte ed25519 seed (secret key).
    /// Useful for deterministic tests and test vectors.
    pub fn from_seed(key_id: KeyId, seed: &[u8; 32]) -> SigningKeyPair {
        SigningKeyPair {
            key_id,
            secret: SigningKey::from_bytes(seed),
        }
    }
    /// Decodes an unpadded base64url 32-byte secret key.
    pub fn from_secret_b64(
        key_id: KeyId,
        secret_b64: &str,
    ) -> Result<SigningKeyPair, ProtocolError> {
        let bytes =
            Zeroizing::new(b64url_decode(secret_b64).ok_or(ProtocolError::InvalidSecretKey)?);
        let arr: &[u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| ProtocolError::InvalidSecretKey)?;
        Ok(Self::from_seed(key_id, arr))
    }
    /// The key identifier.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }
    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.secret.verifying_key())
    }
    /// Signs `msg` (pure ed25519, deterministic).
    pub fn sign(&self, msg: &[u8]) -> Signature64 {
        self.secret.sign(msg).to_bytes()
    }
    /// Signs `msg` and returns the unpadded base64url signature.
    pub fn sign_b64(&self, msg: &[u8]) -> String {
        b64url_encode(&self.sign(msg))
    }
    fn secret_b64(&self) -> Zeroizing<String> {
        Zeroizing::new(b64url_encode(self.secret.as_bytes()))
    }
}

impl fmt::Debug for SigningKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyPair")
            .field("key_id", &self.key_id)
            .field("public_key", &self.public_key())
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// `format` value of key files.
pub const KEY_FILE_FORMAT: &str = "vivier-key-v1";
/// `node_id` value written in key files for network-operator keys.
pub const OPERATOR_NODE_ID: &str = "operator";

/// A key file on disk:
/// `{"format":"vivier-key-v1","node_id":"cd41","key_id":"ed25519:1","secret_key":"<b64url>","public_key":"<b64url>"}`.
///
/// Operator keys have `node_id: None`, written as `"node_id":"operator"`.
#[derive(Debug, Clone)]
pub struct KeyFile {
    /// Owner node, or `None` for a network-operator key.
    pub node_id: Option<NodeId>,
    /// The key pair.
    pub key: SigningKeyPair,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFileJson {
    format: String,
    #[serde(default)]
    node_id: Option<String>,
    key_id: String,
    secret_key: String,
    public_key: String,
}

impl KeyFile {
    /// Writes the key file atomically: a temporary file with mode 0600 in the
    /// same directory, fsync, rename over `path`, fsync of the directory.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<(), ProtocolError> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = path.as_ref();
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |source| ProtocolError::Io { path: p, source }
        };
        let json = KeyFileJson {
            format: KEY_FILE_FORMAT.into(),
            node_id: Some(
                self.node_id
                    .as_ref()
                    .map_or(OPERATOR_NODE_ID.to_owned(), |n| n.to_string()),
            ),
            key_id: self.key.key_id.to_string(),
            secret_key: self.key.secret_b64().to_string(),
            public_key: self.key.public_key().to_b64(),
        };
        let mut text = Zeroizing::new(
            serde_json::to_string_pretty(&json)
                .map_err(|e| ProtocolError::InvalidArgument(e.to_string()))?,
        );
        text.push('\n');
        drop(Zeroizing::new(json.secret_key));

        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let file_name = path.file_name().ok_or_else(|| {
            ProtocolError::InvalidArgument(format!("{} is not a file path", path.display()))
        })?;
        let mut rnd = [0u8; 8];
        OsRng.fill_bytes(&mut rnd);
        let tmp = dir.join(format!(
            ".{}.tmp-{}",
            file_name.to_string_lossy(),
            b64url_encode(&rnd)
        ));
        let result = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(io(&tmp))?;
            f.write_all(text.as_bytes()).map_err(io(&tmp))?;
            f.sync_all().map_err(io(&tmp))?;
            drop(f);
            std::fs::rename(&tmp, path).map_err(io(path))?;
            if let Ok(d) = std::fs::File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// Reads a key file, refusing files readable/writable by group or
    /// others ([`ProtocolError::KeyFilePermissions`]) and malformed contents
    /// ([`ProtocolError::KeyFileMalformed`], including a `public_key` that
    /// does not match `secret_key`).
    pub fn read(path: impl AsRef<Path>) -> Result<KeyFile, ProtocolError> {
        use std::os::unix::fs::PermissionsExt;
        let path = path.as_ref();
        let io = |source| ProtocolError::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(ProtocolError::KeyFilePermissions {
                path: path.to_path_buf(),
                mode,
            });
        }
        let bytes = Zeroizing::new(std::fs::read(path).map_err(io)?);
        let bad = |reason: String| ProtocolError::KeyFileMalformed {
            path: path.to_path_buf(),
            reason,
        };
        let json: KeyFileJson = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        let secret = Zeroizing::new(json.secret_key);
        if json.format != KEY_FILE_FORMAT {
            return Err(bad(format!("unsupported format {:?}", json.format)));
        }
        let node_id = match json.node_id.as_deref() {
            None | Some(OPERATOR_NODE_ID) => None,
            Some(n) => Some(NodeId::parse(n).map_err(|e| bad(e.to_string()))?),
        };
        let key_id = KeyId::parse(&json.key_id).map_err(|e| bad(e.to_string()))?;
        let key = SigningKeyPair::from_secret_b64(key_id, &secret)
            .map_err(|_| bad("secret_key is not unpadded base64url of 32 bytes".into()))?;
        if key.public_key().to_b64() != json.public_key {
            return Err(bad("public_key does not match secret_key".into()));
        }
        Ok(KeyFile { node_id, key })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// `n` messages signed round-robin by `keys`: (key index, message, signature).
    fn signed(keys: &[SigningKeyPair], n: usize) -> Vec<(usize, Vec<u8>, Signature64)> {
        (0..n)
            .map(|i| {
                let k = i % keys.len();
                let msg = format!("message {i} of key {k}").into_bytes();
                let sig = keys[k].sign(&msg);
                (k, msg, sig)
            })
            .collect()
    }

    #[test]
    fn the_batch_equation_holds_for_good_signatures_of_one_or_several_keys() {
        let keys: Vec<SigningKeyPair> = (0..3)
            .map(|_| SigningKeyPair::generate(KeyId::parse("ed25519:1").unwrap()))
            .collect();
        let publics: Vec<PublicKey> = keys.iter().map(SigningKeyPair::public_key).collect();
        for (nkeys, n) in [(1, 2), (1, 50), (3, 3), (3, 50)] {
            let msgs = signed(&keys[..nkeys], n);
            let items: Vec<SignedBytes<'_>> = msgs
                .iter()
                .map(|(k, msg, sig)| SignedBytes {
                    key: &publics[*k],
                    msg,
                    sig,
                })
                .collect();
            let batch = precheck(&items);
            assert_eq!(batch.len(), n);
            assert!(batch_equation_holds(&items, &batch), "{nkeys} keys, {n}");
            assert!(verify_strict_many(&items).iter().all(|&ok| ok));

            // One signature given to the wrong key, another message's
            // signature, one bit of `s` flipped: the equation fails, and
            // each verdict is `verify_strict`'s.
            let mut bad = items.clone();
            bad[1].key = &publics[(msgs[1].0 + 1) % 3];
            let mut flipped = *bad[n - 1].sig;
            flipped[40] ^= 1;
            bad[n - 1].sig = &flipped;
            if n > 2 {
                bad[0].sig = items[2].sig;
            }
            let batch = precheck(&bad);
            assert!(!batch_equation_holds(&bad, &batch), "{nkeys} keys, {n}");
            let verdicts = verify_strict_many(&bad);
            for (i, it) in bad.iter().enumerate() {
                assert_eq!(verdicts[i], it.key.verify_strict(it.msg, it.sig), "{i}");
            }
            assert!(!verdicts[1] && !verdicts[n - 1]);
            let mut spoiled = std::collections::BTreeSet::from([1, n - 1]);
            if n > 2 {
                spoiled.insert(0);
            }
            assert_eq!(verdicts.iter().filter(|&&ok| ok).count(), n - spoiled.len());
        }
    }

    #[test]
    fn only_encodings_of_y_below_p_are_canonical() {
        // p = 2²⁵⁵ − 19: little-endian 0xED, 30 × 0xFF, 0x7F.
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        let mut below = p;
        below[0] = 0xec;
        let mut top = p;
        top[0] = 0xff;
        let mut p_negative = p;
        p_negative[31] = 0xff;
        assert!(canonical_y(&below));
        assert!(canonical_y(&[0u8; 32]));
        assert!(!canonical_y(&p));
        assert!(!canonical_y(&top));
        assert!(!canonical_y(&p_negative));
        let mut lower_byte = p;
        lower_byte[17] = 0xfe;
        assert!(canonical_y(&lower_byte));
    }

    #[test]
    fn node_ids() {
        for ok in ["cd41", "petr-montlucon", "a1", "0x", "a-", &"a".repeat(64)] {
            assert!(NodeId::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a",
            "-ab",
            "Cd41",
            "cd_41",
            "cd 41",
            "cd41é",
            &"a".repeat(65),
            "*",
        ] {
            assert!(NodeId::parse(bad).is_err(), "{bad}");
        }
        let n: NodeId = serde_json::from_str("\"cd41\"").unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"cd41\"");
        assert!(serde_json::from_str::<NodeId>("\"CD41\"").is_err());
    }

    #[test]
    fn key_ids() {
        for ok in ["ed25519:1", "ed25519:abc_DEF_9"] {
            assert!(KeyId::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ed25519:",
            "ed25519",
            "rsa:1",
            "ed25519:a-b",
            "ed25519:1/2",
            "ED25519:1",
        ] {
            assert!(KeyId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn public_key_b64() {
        let k = SigningKeyPair::from_seed(KeyId::parse("ed25519:1").unwrap(), &[7; 32]);
        let pk = k.public_key();
        let s = pk.to_b64();
        assert_eq!(s.len(), 43);
        assert_eq!(PublicKey::from_b64(&s).unwrap(), pk);
        assert!(PublicKey::from_b64(&format!("{s}=")).is_err());
        assert!(PublicKey::from_b64("abc").is_err());
        let sig = k.sign(b"hello");
        assert!(pk.verify_strict(b"hello", &sig));
        assert!(!pk.verify_strict(b"hellO", &sig));
        assert!(pk.verify_b64(b"hello", &k.sign_b64(b"hello")));
        let dbg = format!("{k:?}");
        assert!(dbg.contains("redacted"));
        assert!(!dbg.contains(&*k.secret_b64()));
    }

    #[test]
    fn key_file_round_trip_and_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        let kf = KeyFile {
            node_id: Some(NodeId::parse("cd41").unwrap()),
            key: SigningKeyPair::generate(KeyId::parse("ed25519:1").unwrap()),
        };
        kf.write(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = KeyFile::read(&path).unwrap();
        assert_eq!(back.node_id, kf.node_id);
        assert_eq!(back.key.public_key(), kf.key.public_key());
        assert_eq!(back.key.key_id(), kf.key.key_id());
        // no temp files left behind
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        match KeyFile::read(&path) {
            Err(e @ ProtocolError::KeyFilePermissions { mode: 0o644, .. }) => {
                assert_eq!(e.kind(), "key_file_permissions")
            }
            other => panic!("{other:?}"),
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(
            KeyFile::read(&path),
            Err(ProtocolError::KeyFilePermissions { .. })
        ));
        // overwrite keeps 0600
        kf.write(&path).unwrap();
        assert!(KeyFile::read(&path).is_ok());
    }

    #[test]
    fn operator_key_file_and_malformed() {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("op.key");
        let kf = KeyFile {
            node_id: None,
            key: SigningKeyPair::generate(KeyId::parse("ed25519:op1").unwrap()),
        };
        kf.write(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"node_id\": \"operator\""));
        assert!(KeyFile::read(&path).unwrap().node_id.is_none());

        let write = |name: &str, content: &str| {
            let p = dir.path().join(name);
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&p)
                .unwrap();
            f.write_all(content.as_bytes()).unwrap();
            p
        };
        let p = write("garbage", "{not json");
        assert!(matches!(
            KeyFile::read(&p),
            Err(ProtocolError::KeyFileMalformed { .. })
        ));
        let other = SigningKeyPair::generate(KeyId::parse("ed25519:1").unwrap());
        let mismatched = text.replace(&kf.key.public_key().to_b64(), &other.public_key().to_b64());
        let p = write("mismatch", &mismatched);
        assert!(matches!(
            KeyFile::read(&p),
            Err(ProtocolError::KeyFileMalformed { .. })
        ));
        let p = write("format", &text.replace("vivier-key-v1", "vivier-key-v9"));
        assert!(matches!(
            KeyFile::read(&p),
            Err(ProtocolError::KeyFileMalformed { .. })
        ));
        assert!(matches!(
            KeyFile::read(dir.path().join("missing")),
            Err(ProtocolError::Io { .. })
        ));
    }
}
