//! The real `vivier-node` command, linked into this crate so that the
//! end-to-end tests can start real node processes
//! (`CARGO_BIN_EXE_vivier-node-e2e`).

/// mimalloc: the node makes many small, short-lived allocations per
/// request (JSON, analysis, tantivy) where glibc's malloc spent ~19 % of
/// the inbox's CPU (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    vivier_node::cli::main();
}
