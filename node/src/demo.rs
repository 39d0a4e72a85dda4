//! The demo network: `vivier-node demo` starts an operator and three
//! members on loopback, each a real `vivier-node serve` process with its own
//! data directory under `./vivier-demo/`, loads them with synthetic data
//! through their HTTP API and prints the URLs and accounts; and the demo
//! mode of a node ([`mode`]: banner, guided tour, loopback peers only).
//!
//! - [`network`]: the members, territories, accounts, offers and referrals;
//! - [`accounts`]: generated passwords and the users created before start;
//! - [`procs`]: the node processes (parent-death signal, clean stop);
//! - [`operator`]: the membership document, with `vivier-admin`'s library;
//! - [`seed`]: the data, through each node's HTTP API, idempotently;
//! - [`run`]: the command itself.

pub mod accounts;
pub mod mode;
pub mod network;
pub mod operator;
pub mod procs;
pub mod run;
pub mod seed;

pub use run::{run, DemoArgs};
