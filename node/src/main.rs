//! `vivier-node`: run a Vivier node and administer it locally.

/// mimalloc: the node makes many small, short-lived allocations per
/// request (JSON, analysis, tantivy) where glibc's malloc spent ~19 % of
/// the inbox's CPU (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    vivier_node::cli::main();
}
