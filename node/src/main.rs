//! `vivier-node`: run a Vivier node and administer it locally.

/// mimalloc rather than glibc's malloc: a node allocates and frees many
/// small buffers per received message (parsed JSON, rows), and glibc's
/// arenas cost it about a sixth of its CPU under a federation burst
/// (BENCHMARKS.md, issue 14). SQLite keeps the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    vivier_node::cli::main();
}
