//! The real `vivier-node` command, linked into this crate so that the
//! end-to-end tests can start real node processes
//! (`CARGO_BIN_EXE_vivier-node-e2e`).

/// The node's allocator, as in `node/src/main.rs`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    vivier_node::cli::main();
}
