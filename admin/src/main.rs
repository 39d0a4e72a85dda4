//! The `vivier-admin` command (see `vivier_admin::cli`).

fn main() {
    vivier_admin::cli::main();
}
