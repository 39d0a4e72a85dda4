//! `vivier-node`: run a Vivier node and administer it locally.

fn main() {
    vivier_node::cli::main();
}
