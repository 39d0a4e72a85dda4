//! The real `vivier-node` command, linked into this crate so that the
//! end-to-end tests can start real node processes
//! (`CARGO_BIN_EXE_vivier-node-e2e`).

fn main() {
    vivier_node::cli::main();
}
