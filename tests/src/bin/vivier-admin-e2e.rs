//! The real `vivier-admin` command, linked into this crate so that the
//! end-to-end tests can run it (`CARGO_BIN_EXE_vivier-admin-e2e`).

fn main() {
    vivier_admin::cli::main();
}
