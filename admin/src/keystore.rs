//! Operator key files: plain (`vivier-key-v1`, the protocol crate's
//! [`KeyFile`]) or encrypted with a passphrase (`vivier-key-v1-encrypted`,
//! owned by this crate).
//!
//! An encrypted key file is a JSON object:
//!
//! ```json
//! {"format":"vivier-key-v1-encrypted",
//!  "kdf":"argon2id","m_cost":65536,"t_cost":3,"p_cost":1,"salt":"<b64url>",
//!  "cipher":"xchacha20poly1305","nonce":"<b64url>",
//!  "ciphertext":"<b64url>",
//!  "key_id":"ed25519:1","public_key":"<b64url>"}
//! ```
//!
//! * the 32-byte cipher key is Argon2id(passphrase, salt) with the stored
//!   costs (`m_cost` in KiB; version 0x13; 16-byte random salt);
//! * `ciphertext` is XChaCha20-Poly1305 (24-byte random nonce) of the plain
//!   `vivier-key-v1` key file JSON, with the associated data
//!   `vivier-key-v1-encrypted\n<key_id>\n<public_key>`;
//! * `key_id` and `public_key` are in clear so that tools can tell which key
//!   a file holds without the passphrase; after decryption the inner key must
//!   match them.
//!
//! A wrong passphrase and an altered file cannot be told apart (the
//! authentication tag fails in both cases): both give
//! `wrong passphrase for <file>`.
//!
//! The file is written like plain key files: a temporary file with mode
//! 0600, fsync, rename; it is read only if group and others have no access.

use std::io::{self, BufRead, IsTerminal};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use vivier_protocol::keys::{b64url_decode, b64url_encode, KEY_FILE_FORMAT, OPERATOR_NODE_ID};
use vivier_protocol::{KeyFile, KeyId, PublicKey, SigningKeyPair};
use zeroize::{Zeroize, Zeroizing};

use crate::atomic::write_atomic_mode;
use crate::network::read_key_file;

/// `format` of encrypted operator key files.
pub const ENCRYPTED_KEY_FORMAT: &str = "vivier-key-v1-encrypted";
/// Environment variable holding the operator key's passphrase.
pub const PASSPHRASE_ENV: &str = "VIVIER_OPERATOR_PASSPHRASE";
/// Environment variable holding the new passphrase for
/// `operator passphrase` (when changing an existing one).
pub const NEW_PASSPHRASE_ENV: &str = "VIVIER_OPERATOR_NEW_PASSPHRASE";

const KDF: &str = "argon2id";
const CIPHER: &str = "xchacha20poly1305";
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 24;
/// Refuse absurd costs read from a file (4 GiB of memory, 100 passes).
const MAX_M_COST: u32 = 4 * 1024 * 1024;
const MAX_T_COST: u32 = 100;
const MAX_P_COST: u32 = 16;

/// Argon2id costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_cost: u32,
    /// Passes.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl KdfParams {
    /// What new files use: 64 MiB, 3 passes, 1 lane (RFC 9106's second
    /// recommended option with one lane).
    pub const DEFAULT: KdfParams = KdfParams {
        m_cost: 64 * 1024,
        t_cost: 3,
        p_cost: 1,
    };
    /// The smallest costs Argon2 allows. For tests only: a key file written
    /// with these is easy to brute-force.
    pub const INSECURE_FOR_TESTS: KdfParams = KdfParams {
        m_cost: 8,
        t_cost: 1,
        p_cost: 1,
    };
}

/// How a key file is (to be) protected on disk.
pub enum Protection {
    /// Plain `vivier-key-v1`.
    Plain,
    /// Encrypted with this passphrase.
    Passphrase(Zeroizing<String>),
}

impl Protection {
    /// Whether the key is encrypted.
    pub fn is_encrypted(&self) -> bool {
        matches!(self, Protection::Passphrase(_))
    }
    /// The passphrase, if any.
    pub fn passphrase(&self) -> Option<&str> {
        match self {
            Protection::Plain => None,
            Protection::Passphrase(p) => Some(p.as_str()),
        }
    }
    /// A copy (the passphrase is copied into a new zeroizing buffer).
    pub fn duplicate(&self) -> Protection {
        match self {
            Protection::Plain => Protection::Plain,
            Protection::Passphrase(p) => Protection::Passphrase(Zeroizing::new(p.to_string())),
        }
    }
}

impl std::fmt::Debug for Protection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Protection::Plain => f.write_str("Plain"),
            Protection::Passphrase(_) => f.write_str("Passphrase(<redacted>)"),
        }
    }
}

/// An operator key together with its 32-byte secret seed, so that it can be
/// written again (encrypted or not).
#[derive(Clone)]
pub struct OperatorSecret {
    key: SigningKeyPair,
    seed: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for OperatorSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.key.fmt(f)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlainJson {
    format: String,
    #[serde(default)]
    node_id: Option<String>,
    key_id: String,
    secret_key: String,
    public_key: String,
}

impl OperatorSecret {
    /// A fresh key from the operating system's RNG.
    pub fn generate(key_id: KeyId) -> OperatorSecret {
        let mut seed = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(seed.as_mut());
        OperatorSecret {
            key: SigningKeyPair::from_seed(key_id, &seed),
            seed,
        }
    }

    /// The key pair.
    pub fn key(&self) -> &SigningKeyPair {
        &self.key
    }

    /// The plain `vivier-key-v1` JSON of this operator key (the same text
    /// [`KeyFile::write`] produces).
    fn plain_json(&self) -> Result<Zeroizing<Vec<u8>>> {
        let mut json = PlainJson {
            format: KEY_FILE_FORMAT.into(),
            node_id: Some(OPERATOR_NODE_ID.into()),
            key_id: self.key.key_id().to_string(),
            secret_key: b64url_encode(self.seed.as_ref()),
            public_key: self.key.public_key().to_b64(),
        };
        let text = serde_json::to_vec_pretty(&json);
        json.secret_key.zeroize();
        let mut text = Zeroizing::new(text?);
        text.push(b'\n');
        Ok(text)
    }

    /// Parses plain `vivier-key-v1` JSON of an operator key.
    fn from_plain_json(bytes: &[u8], path: &Path) -> Result<OperatorSecret> {
        let bad = |why: String| anyhow!("key file {} is malformed: {why}", path.display());
        let mut json: PlainJson = serde_json::from_slice(bytes).map_err(|e| bad(format!("{e}")))?;
        let secret = Zeroizing::new(std::mem::take(&mut json.secret_key));
        if json.format != KEY_FILE_FORMAT {
            return Err(bad(format!("unsupported format {:?}", json.format)));
        }
        match json.node_id.as_deref() {
            None | Some(OPERATOR_NODE_ID) => {}
            Some(n) => bail!(
                "{} is a node key (node {n}), not an operator key",
                path.display()
            ),
        }
        let key_id = KeyId::parse(&json.key_id).map_err(|e| bad(e.to_string()))?;
        let raw = Zeroizing::new(b64url_decode(&secret).unwrap_or_default());
        let mut seed = Zeroizing::new([0u8; 32]);
        if raw.len() != 32 {
            return Err(bad(
                "secret_key is not unpadded base64url of 32 bytes".into()
            ));
        }
        seed.copy_from_slice(&raw);
        let key = SigningKeyPair::from_seed(key_id, &seed);
        if key.public_key().to_b64() != json.public_key {
            return Err(bad("public_key does not match secret_key".into()));
        }
        Ok(OperatorSecret { key, seed })
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EncryptedJson {
    format: String,
    kdf: String,
    m_cost: u32,
    t_cost: u32,
    p_cost: u32,
    salt: String,
    cipher: String,
    nonce: String,
    ciphertext: String,
    key_id: String,
    public_key: String,
}

#[derive(Deserialize)]
struct FormatOnly {
    format: Option<String>,
}

fn associated_data(key_id: &str, public_key: &str) -> Vec<u8> {
    format!("{ENCRYPTED_KEY_FORMAT}\n{key_id}\n{public_key}").into_bytes()
}

fn derive_key(passphrase: &str, salt: &[u8], kdf: KdfParams) -> Result<Zeroizing<[u8; 32]>> {
    let params = Params::new(kdf.m_cost, kdf.t_cost, kdf.p_cost, Some(32))
        .map_err(|e| anyhow!("invalid argon2id parameters: {e}"))?;
    let mut out = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, out.as_mut())
        .map_err(|e| anyhow!("argon2id: {e}"))?;
    Ok(out)
}

/// Encrypts `secret` with `passphrase`: the text of an encrypted key file.
pub fn encrypt(secret: &OperatorSecret, passphrase: &str, kdf: KdfParams) -> Result<Vec<u8>> {
    let mut salt = [0u8; SALT_LEN];
    OsRng.fill_bytes(&mut salt);
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    let key = derive_key(passphrase, &salt, kdf)?;
    let key_id = secret.key.key_id().to_string();
    let public_key = secret.key.public_key().to_b64();
    let plain = secret.plain_json()?;
    let aad = associated_data(&key_id, &public_key);
    let ciphertext = XChaCha20Poly1305::new(Key::from_slice(key.as_ref()))
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &plain,
                aad: &aad,
            },
        )
        .map_err(|_| anyhow!("encryption failed"))?;
    let json = EncryptedJson {
        format: ENCRYPTED_KEY_FORMAT.into(),
        kdf: KDF.into(),
        m_cost: kdf.m_cost,
        t_cost: kdf.t_cost,
        p_cost: kdf.p_cost,
        salt: b64url_encode(&salt),
        cipher: CIPHER.into(),
        nonce: b64url_encode(&nonce),
        ciphertext: b64url_encode(&ciphertext),
        key_id,
        public_key,
    };
    let mut text = serde_json::to_vec_pretty(&json)?;
    text.push(b'\n');
    Ok(text)
}

fn parse_encrypted(bytes: &[u8], path: &Path) -> Result<EncryptedJson> {
    let json: EncryptedJson = serde_json::from_slice(bytes)
        .map_err(|e| anyhow!("encrypted key file {} is malformed: {e}", path.display()))?;
    let bad = |why: String| anyhow!("encrypted key file {} is malformed: {why}", path.display());
    if json.format != ENCRYPTED_KEY_FORMAT {
        return Err(bad(format!("unsupported format {:?}", json.format)));
    }
    if json.kdf != KDF {
        return Err(bad(format!(
            "unsupported kdf {:?} (expected {KDF})",
            json.kdf
        )));
    }
    if json.cipher != CIPHER {
        return Err(bad(format!(
            "unsupported cipher {:?} (expected {CIPHER})",
            json.cipher
        )));
    }
    if json.m_cost > MAX_M_COST || json.t_cost > MAX_T_COST || json.p_cost > MAX_P_COST {
        return Err(bad(format!(
            "unreasonable argon2id costs m_cost={} t_cost={} p_cost={}",
            json.m_cost, json.t_cost, json.p_cost
        )));
    }
    KeyId::parse(&json.key_id).map_err(|e| bad(e.to_string()))?;
    PublicKey::from_b64(&json.public_key).map_err(|e| bad(format!("public_key: {e}")))?;
    Ok(json)
}

/// Decrypts the text of an encrypted key file. A wrong passphrase (or an
/// altered file) gives `wrong passphrase for <path>`.
pub fn decrypt(bytes: &[u8], passphrase: &str, path: &Path) -> Result<OperatorSecret> {
    let json = parse_encrypted(bytes, path)?;
    let bad = |why: &str| anyhow!("encrypted key file {} is malformed: {why}", path.display());
    let salt = b64url_decode(&json.salt).ok_or_else(|| bad("salt is not base64url"))?;
    if salt.len() != SALT_LEN {
        return Err(bad("salt must be 16 bytes"));
    }
    let nonce = b64url_decode(&json.nonce).ok_or_else(|| bad("nonce is not base64url"))?;
    if nonce.len() != NONCE_LEN {
        return Err(bad("nonce must be 24 bytes"));
    }
    let ciphertext =
        b64url_decode(&json.ciphertext).ok_or_else(|| bad("ciphertext is not base64url"))?;
    let kdf = KdfParams {
        m_cost: json.m_cost,
        t_cost: json.t_cost,
        p_cost: json.p_cost,
    };
    let key = derive_key(passphrase, &salt, kdf)
        .with_context(|| format!("encrypted key file {}", path.display()))?;
    let aad = associated_data(&json.key_id, &json.public_key);
    let plain = Zeroizing::new(
        XChaCha20Poly1305::new(Key::from_slice(key.as_ref()))
            .decrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| {
                anyhow!(
                    "wrong passphrase for {} (or the file was altered)",
                    path.display()
                )
            })?,
    );
    let secret = OperatorSecret::from_plain_json(&plain, path)?;
    if secret.key.key_id().as_str() != json.key_id
        || secret.key.public_key().to_b64() != json.public_key
    {
        return Err(bad("the encrypted key does not match key_id / public_key"));
    }
    Ok(secret)
}

/// What a key file holds, readable without any passphrase.
#[derive(Debug, Clone)]
pub struct KeyFileInfo {
    /// Whether it is passphrase-encrypted.
    pub encrypted: bool,
    /// `None` for an operator key, else the node it belongs to.
    pub node_id: Option<vivier_protocol::NodeId>,
    /// Key id.
    pub key_id: KeyId,
    /// Public key.
    pub public_key: PublicKey,
}

fn check_mode(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            bail!("key file {} does not exist", path.display())
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        bail!(
            "key file {} has mode {mode:o}: it is readable or writable by group or others; \
             secret keys must be private: run `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
    Ok(())
}

fn read_private(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    check_mode(path)?;
    Ok(Zeroizing::new(
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
    ))
}

fn is_encrypted_text(bytes: &[u8]) -> bool {
    serde_json::from_slice::<FormatOnly>(bytes)
        .ok()
        .and_then(|f| f.format)
        .is_some_and(|f| f == ENCRYPTED_KEY_FORMAT)
}

/// Whether `path` is an encrypted key file (false if it cannot be read).
pub fn is_encrypted(path: &Path) -> bool {
    std::fs::read(path)
        .map(|b| is_encrypted_text(&Zeroizing::new(b)))
        .unwrap_or(false)
}

/// The public part of a key file, plain or encrypted, without the
/// passphrase (and with the same permission check as for using it).
pub fn read_info(path: &Path) -> Result<KeyFileInfo> {
    let bytes = read_private(path)?;
    if is_encrypted_text(&bytes) {
        let json = parse_encrypted(&bytes, path)?;
        Ok(KeyFileInfo {
            encrypted: true,
            node_id: None,
            key_id: KeyId::parse(&json.key_id)?,
            public_key: PublicKey::from_b64(&json.public_key)?,
        })
    } else {
        let kf = read_key_file(path)?;
        Ok(KeyFileInfo {
            encrypted: false,
            node_id: kf.node_id,
            key_id: kf.key.key_id().clone(),
            public_key: kf.key.public_key(),
        })
    }
}

/// Where passphrases come from.
pub trait PassphraseSource {
    /// The passphrase that unlocks the encrypted key file `path`.
    fn unlock(&self, path: &Path) -> Result<Zeroizing<String>>;
    /// A new passphrase to encrypt `path` with (never empty).
    fn choose(&self, path: &Path) -> Result<Zeroizing<String>>;
}

/// Fixed passphrases (tests, library callers).
#[derive(Default)]
pub struct FixedPassphrase {
    /// Returned by `unlock` (an error if `None`).
    pub current: Option<String>,
    /// Returned by `choose` (an error if `None`).
    pub new: Option<String>,
}

impl PassphraseSource for FixedPassphrase {
    fn unlock(&self, path: &Path) -> Result<Zeroizing<String>> {
        self.current.clone().map(Zeroizing::new).ok_or_else(|| {
            anyhow!(
                "{} is encrypted and no passphrase was given",
                path.display()
            )
        })
    }
    fn choose(&self, path: &Path) -> Result<Zeroizing<String>> {
        let p = self
            .new
            .clone()
            .ok_or_else(|| anyhow!("no new passphrase was given for {}", path.display()))?;
        if p.is_empty() {
            bail!("the passphrase must not be empty");
        }
        Ok(Zeroizing::new(p))
    }
}

/// The command line's source: the environment, else the terminal (no echo),
/// else one line of standard input.
///
/// * `unlock`: `VIVIER_OPERATOR_PASSPHRASE`, else a prompt;
/// * `choose`: `VIVIER_OPERATOR_NEW_PASSPHRASE`, else (if
///   `new_from_current_env`) `VIVIER_OPERATOR_PASSPHRASE`, else a prompt
///   (asked twice on a terminal).
#[derive(Debug, Clone, Copy)]
pub struct TerminalPassphrase {
    /// Whether `choose` may take `VIVIER_OPERATOR_PASSPHRASE` (true when no
    /// current passphrase is involved, e.g. `init --passphrase`).
    pub new_from_current_env: bool,
}

fn env_passphrase(name: &str) -> Option<Zeroizing<String>> {
    std::env::var(name).ok().map(Zeroizing::new)
}

/// One line of standard input; `missing` is the error when there is none.
fn read_line_stdin(missing: impl FnOnce() -> String) -> Result<Zeroizing<String>> {
    let mut line = Zeroizing::new(String::new());
    let n = io::stdin()
        .lock()
        .read_line(&mut line)
        .with_context(|| "reading the passphrase from standard input")?;
    if n == 0 {
        bail!("{}", missing());
    }
    let trimmed = line.trim_end_matches(['\n', '\r']).len();
    line.truncate(trimmed);
    Ok(line)
}

fn prompt(text: &str) -> Result<Zeroizing<String>> {
    rpassword::prompt_password(text)
        .map(Zeroizing::new)
        .with_context(|| "reading the passphrase from the terminal")
}

impl PassphraseSource for TerminalPassphrase {
    fn unlock(&self, path: &Path) -> Result<Zeroizing<String>> {
        if let Some(p) = env_passphrase(PASSPHRASE_ENV) {
            return Ok(p);
        }
        if io::stdin().is_terminal() {
            prompt(&format!("Passphrase for {}: ", path.display()))
        } else {
            read_line_stdin(|| {
                format!(
                    "{} is encrypted: set {PASSPHRASE_ENV} or run on a terminal to type \
                     the passphrase",
                    path.display()
                )
            })
        }
    }

    fn choose(&self, path: &Path) -> Result<Zeroizing<String>> {
        let from_env = env_passphrase(NEW_PASSPHRASE_ENV).or_else(|| {
            self.new_from_current_env
                .then(|| env_passphrase(PASSPHRASE_ENV))
                .flatten()
        });
        let p = match from_env {
            Some(p) => p,
            None if io::stdin().is_terminal() => {
                let p = prompt(&format!("New passphrase for {}: ", path.display()))?;
                let again = prompt("Repeat the new passphrase: ")?;
                if *p != *again {
                    bail!("the two passphrases differ; nothing was changed");
                }
                p
            }
            None => read_line_stdin(|| {
                format!(
                    "no new passphrase for {}: set {NEW_PASSPHRASE_ENV} or run on a terminal \
                     to type it",
                    path.display()
                )
            })?,
        };
        if p.is_empty() {
            bail!("the passphrase must not be empty");
        }
        Ok(p)
    }
}

/// A key read from disk, with how it was protected and the file's exact
/// bytes (to keep a copy elsewhere without re-encrypting it).
#[derive(Debug)]
pub struct LoadedKey {
    /// The key.
    pub secret: OperatorSecret,
    /// How the file was protected.
    pub protection: Protection,
    /// The file's bytes.
    pub file_bytes: Zeroizing<Vec<u8>>,
}

impl LoadedKey {
    /// The key pair.
    pub fn key(&self) -> &SigningKeyPair {
        self.secret.key()
    }
}

/// Reads an operator key file, plain or encrypted. For an encrypted file,
/// `known` (a passphrase already typed in this run) is tried first, then
/// `source` is asked.
pub fn load(path: &Path, source: &dyn PassphraseSource, known: Option<&str>) -> Result<LoadedKey> {
    let bytes = read_private(path)?;
    if is_encrypted_text(&bytes) {
        if let Some(k) = known {
            if let Ok(secret) = decrypt(&bytes, k, path) {
                return Ok(LoadedKey {
                    secret,
                    protection: Protection::Passphrase(Zeroizing::new(k.to_string())),
                    file_bytes: bytes,
                });
            }
        }
        // Checks the file's structure before asking for anything.
        parse_encrypted(&bytes, path)?;
        let pass = source.unlock(path)?;
        let secret = decrypt(&bytes, &pass, path)?;
        Ok(LoadedKey {
            secret,
            protection: Protection::Passphrase(pass),
            file_bytes: bytes,
        })
    } else {
        // The protocol crate's checks and messages first.
        let kf = read_key_file(path)?;
        let secret = OperatorSecret::from_plain_json(&bytes, path)?;
        if kf.key.public_key() != secret.key.public_key() {
            bail!("{} changed while it was read", path.display());
        }
        Ok(LoadedKey {
            secret,
            protection: Protection::Plain,
            file_bytes: bytes,
        })
    }
}

/// Writes an operator key file atomically with mode 0600: plain
/// (`vivier-key-v1`) or encrypted with the passphrase.
pub fn write(
    path: &Path,
    secret: &OperatorSecret,
    protection: &Protection,
    kdf: KdfParams,
) -> Result<()> {
    match protection {
        Protection::Plain => KeyFile {
            node_id: None,
            key: secret.key.clone(),
        }
        .write(path)
        .with_context(|| format!("writing {}", path.display())),
        Protection::Passphrase(p) => {
            let text = encrypt(secret, p, kdf)?;
            write_atomic_mode(path, &text, 0o600)
                .with_context(|| format!("writing {}", path.display()))
        }
    }
}

/// Writes bytes read from a key file (see [`LoadedKey::file_bytes`]) to
/// another path, atomically with mode 0600.
pub fn copy_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_mode(path, bytes, 0o600).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const FAST: KdfParams = KdfParams::INSECURE_FOR_TESTS;

    fn secret() -> OperatorSecret {
        OperatorSecret::generate(KeyId::parse("ed25519:1").unwrap())
    }

    fn pass(p: &str) -> FixedPassphrase {
        FixedPassphrase {
            current: Some(p.into()),
            new: None,
        }
    }

    fn protected(p: &str) -> Protection {
        Protection::Passphrase(Zeroizing::new(p.into()))
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn round_trip_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("operator.key");
        let s = secret();
        write(&p, &s, &protected("correct horse"), FAST).unwrap();
        assert_eq!(mode(&p), 0o600);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(ENCRYPTED_KEY_FORMAT), "{text}");
        assert!(text.contains("\"kdf\": \"argon2id\""), "{text}");
        assert!(text.contains("\"cipher\": \"xchacha20poly1305\""), "{text}");
        assert!(
            !text.contains(&b64url_encode(s.seed.as_ref())),
            "secret in clear"
        );
        let back = load(&p, &pass("correct horse"), None).unwrap();
        assert_eq!(back.key().public_key(), s.key().public_key());
        assert_eq!(back.key().key_id(), s.key().key_id());
        assert_eq!(back.protection.passphrase(), Some("correct horse"));
        // Signatures agree.
        assert_eq!(back.key().sign(b"m"), s.key().sign(b"m"));
        // Back to plain: the protocol crate reads it.
        write(&p, &back.secret, &Protection::Plain, FAST).unwrap();
        assert_eq!(mode(&p), 0o600);
        let kf = KeyFile::read(&p).unwrap();
        assert_eq!(kf.key.public_key(), s.key().public_key());
        assert!(kf.node_id.is_none());
        let again = load(&p, &FixedPassphrase::default(), None).unwrap();
        assert!(!again.protection.is_encrypted());
        assert_eq!(again.key().public_key(), s.key().public_key());
    }

    #[test]
    fn plain_json_matches_the_protocol_format() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        let s = secret();
        KeyFile {
            node_id: None,
            key: s.key().clone(),
        }
        .write(&p)
        .unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), *s.plain_json().unwrap());
    }

    #[test]
    fn wrong_passphrase_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("operator.key");
        write(&p, &secret(), &protected("right"), FAST).unwrap();
        let e = load(&p, &pass("wrong"), None).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("wrong passphrase for {}", p.display())),
            "{e}"
        );
        let e = load(&p, &FixedPassphrase::default(), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no passphrase"), "{e}");
        // A known passphrase that does not fit falls back to the source.
        assert!(load(&p, &pass("right"), Some("wrong")).is_ok());
    }

    #[test]
    fn public_key_readable_without_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("operator.key");
        let s = secret();
        write(&p, &s, &protected("pw"), FAST).unwrap();
        assert!(is_encrypted(&p));
        let info = read_info(&p).unwrap();
        assert!(info.encrypted);
        assert!(info.node_id.is_none());
        assert_eq!(info.public_key, s.key().public_key());
        assert_eq!(info.key_id.as_str(), "ed25519:1");
        // And for a plain file.
        write(&p, &s, &Protection::Plain, FAST).unwrap();
        assert!(!is_encrypted(&p));
        let info = read_info(&p).unwrap();
        assert!(!info.encrypted);
        assert_eq!(info.public_key, s.key().public_key());
    }

    #[test]
    fn tampered_files_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("operator.key");
        let s = secret();
        write(&p, &s, &protected("pw"), FAST).unwrap();
        let original: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        let set = |field: &str, value: serde_json::Value| {
            let mut v = original.clone();
            v[field] = value;
            std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        };
        // One bit of the ciphertext flipped.
        let mut ct = b64url_decode(original["ciphertext"].as_str().unwrap()).unwrap();
        ct[10] ^= 1;
        set("ciphertext", b64url_encode(&ct).into());
        let e = load(&p, &pass("pw"), None).unwrap_err().to_string();
        assert!(e.contains("wrong passphrase"), "{e}");
        // Public key swapped for another one (bound as associated data).
        let other = secret();
        set("public_key", other.key().public_key().to_b64().into());
        let e = load(&p, &pass("pw"), None).unwrap_err().to_string();
        assert!(e.contains("wrong passphrase"), "{e}");
        // Key id changed.
        set("key_id", "ed25519:2".into());
        assert!(load(&p, &pass("pw"), None).is_err());
        // Another nonce.
        set("nonce", b64url_encode(&[0u8; 24]).into());
        assert!(load(&p, &pass("pw"), None).is_err());
        // Truncated nonce, unknown cipher, unknown field: malformed.
        set("nonce", b64url_encode(&[0u8; 12]).into());
        let e = load(&p, &pass("pw"), None).unwrap_err().to_string();
        assert!(e.contains("malformed"), "{e}");
        set("cipher", "aes-256-gcm".into());
        let e = load(&p, &pass("pw"), None).unwrap_err().to_string();
        assert!(e.contains("unsupported cipher"), "{e}");
        set("m_cost", u32::MAX.into());
        let e = load(&p, &pass("pw"), None).unwrap_err().to_string();
        assert!(e.contains("unreasonable"), "{e}");
        set("extra", 1.into());
        assert!(load(&p, &pass("pw"), None).is_err());
        // The untouched file still opens.
        std::fs::write(&p, serde_json::to_vec(&original).unwrap()).unwrap();
        assert_eq!(
            load(&p, &pass("pw"), None).unwrap().key().public_key(),
            s.key().public_key()
        );
    }

    #[test]
    fn group_readable_encrypted_file_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("operator.key");
        write(&p, &secret(), &protected("pw"), FAST).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = load(&p, &pass("pw"), None).unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
        assert!(read_info(&p).is_err());
    }

    #[test]
    fn node_keys_are_not_operator_keys() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("node.key");
        KeyFile {
            node_id: Some(vivier_protocol::NodeId::parse("cd41").unwrap()),
            key: SigningKeyPair::generate(KeyId::parse("ed25519:1").unwrap()),
        }
        .write(&p)
        .unwrap();
        let e = load(&p, &FixedPassphrase::default(), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a node key (node cd41)"), "{e}");
        assert_eq!(read_info(&p).unwrap().node_id.unwrap().as_str(), "cd41");
    }

    #[test]
    fn empty_new_passphrase_refused() {
        let f = FixedPassphrase {
            current: None,
            new: Some(String::new()),
        };
        assert!(f.choose(Path::new("k")).is_err());
    }

    #[test]
    fn default_costs_are_accepted_by_argon2() {
        let d = KdfParams::DEFAULT;
        assert!(Params::new(d.m_cost, d.t_cost, d.p_cost, Some(32)).is_ok());
        let t = KdfParams::INSECURE_FOR_TESTS;
        assert!(Params::new(t.m_cost, t.t_cost, t.p_cost, Some(32)).is_ok());
    }
}
