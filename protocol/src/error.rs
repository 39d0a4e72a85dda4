//! Error type for key handling, key files and message signing.

use std::path::PathBuf;

use crate::canonical::CanonicalError;

/// Errors raised while handling identifiers, keys, key files or while
/// producing signed messages.
///
/// Verification errors have their own types ([`crate::VerifyError`],
/// [`crate::HttpSigError`], [`crate::MembershipError`]).
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// A node identifier does not match `[a-z0-9][a-z0-9-]*` (2–64 chars).
    #[error("invalid node id: {0:?}")]
    InvalidNodeId(String),
    /// A key identifier does not match `ed25519:[A-Za-z0-9_]+`.
    #[error("invalid key id: {0:?}")]
    InvalidKeyId(String),
    /// A public key is not valid unpadded base64url of a 32-byte ed25519 point.
    #[error("invalid public key: {0}")]
    InvalidPublicKey(String),
    /// A secret key is not valid unpadded base64url of 32 bytes.
    #[error("invalid secret key")]
    InvalidSecretKey,
    /// File system error while reading or writing a key file.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The key file grants permissions to group or others.
    #[error("key file {path} has mode {mode:o}; it must not be accessible by group or others (chmod 600)")]
    KeyFilePermissions {
        /// The file concerned.
        path: PathBuf,
        /// Its permission bits (e.g. `0o644`).
        mode: u32,
    },
    /// The key file contents are not a valid `vivier-key-v1` document.
    #[error("malformed key file {path}: {reason}")]
    KeyFileMalformed {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A value could not be canonicalised (floats, out of range integers…).
    #[error("canonical JSON error: {0}")]
    Canonical(#[from] CanonicalError),
    /// The payload does not match the schema of the message kind.
    #[error("invalid payload: {0}")]
    InvalidPayload(String),
    /// Invalid arguments (e.g. a non positive TTL, negative timestamp).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The signed message would exceed [`crate::MAX_MESSAGE_BYTES`].
    #[error("message too large: {size} bytes (max {max})")]
    TooLarge {
        /// Size of the signed message.
        size: usize,
        /// Maximum allowed size.
        max: usize,
    },
}

impl ProtocolError {
    /// Stable snake_case code for this error.
    pub fn kind(&self) -> &'static str {
        match self {
            ProtocolError::InvalidNodeId(_) => "invalid_node_id",
            ProtocolError::InvalidKeyId(_) => "invalid_key_id",
            ProtocolError::InvalidPublicKey(_) => "invalid_public_key",
            ProtocolError::InvalidSecretKey => "invalid_secret_key",
            ProtocolError::Io { .. } => "io",
            ProtocolError::KeyFilePermissions { .. } => "key_file_permissions",
            ProtocolError::KeyFileMalformed { .. } => "key_file_malformed",
            ProtocolError::Canonical(_) => "canonical",
            ProtocolError::InvalidPayload(_) => "invalid_payload",
            ProtocolError::InvalidArgument(_) => "invalid_argument",
            ProtocolError::TooLarge { .. } => "too_large",
        }
    }
}
