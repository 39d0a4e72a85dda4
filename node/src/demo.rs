//! The demo network: `vivier-node demo` starts an operator and three
//! members on loopback, each a real `vivier-node serve` process with its own
//! data directory under `./vivier-demo/`, loads them with synthetic data
//! through their HTTP API and prints the URLs and accounts; and the demo
//! mode of a node ([`mode`]: banner, guided tour, loopback peers only).

pub mod mode;
