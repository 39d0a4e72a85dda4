//! End-to-end tests, the synthetic data generator and the benchmark harness
//! for Vivier. The tests themselves live in `tests/` and start real node
//! processes (see `tests/support/mod.rs`); [`browser`] drives headless
//! Chromium (browser journeys, axe-core accessibility checks, screenshots)
//! against a [`webnode`]: an in-process node with seeded accounts and data.

pub mod bench;
pub mod browser;
pub mod gen;
pub mod webnode;
