//! `vivier-admin`: the network operator's tool for membership.
//!
//! The operator keeps a *network directory* (default `./vivier-network`):
//!
//! * `operator.key` — the operator's signing key (mode 0600): plain
//!   `vivier-key-v1`, or `vivier-key-v1-encrypted` with a passphrase (see
//!   [`keystore`]);
//! * `network.json` — the current signed membership document (canonical bytes);
//! * `documents/<serial>.json` — every document ever issued.
//!
//! * [`network`] — the network directory and the pure document edits
//!   (add / update / suspend / revoke / rotate-key / reactivate / operator
//!   rotation), each producing the next signed document;
//! * [`keystore`] — operator key files, plain or passphrase-encrypted
//!   (Argon2id + XChaCha20-Poly1305), and where passphrases come from;
//! * [`atomic`] — crash-safe file writes (temp file, fsync, rename);
//! * [`remote`] — the blocking HTTP client used by `member add --from-node`,
//!   `publish` and `status`;
//! * [`status`] — the network overview of `status` (table and HTML page);
//! * [`display`] — dates and tables;
//! * [`cli`] — the command line (clap).

pub mod atomic;
pub mod cli;
pub mod display;
pub mod keystore;
pub mod network;
pub mod remote;
pub mod status;
