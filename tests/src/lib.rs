//! End-to-end tests, the synthetic data generator and the benchmark harness
//! for Vivier. The tests themselves live in `tests/` and start real node
//! processes (see `tests/support/mod.rs`).

pub mod bench;
pub mod gen;
