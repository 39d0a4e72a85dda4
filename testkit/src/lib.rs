//! Helpers shared by the node's HTTP tests (`node/tests/`) and the
//! end-to-end tests (`tests/`): see [`smtp`].

pub mod smtp;
