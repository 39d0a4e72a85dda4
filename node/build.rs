//! `sqlx::migrate!` embeds `migrations/` at compile time; without this, a
//! new migration file alone would not rebuild the node (sqlx's documented
//! build script, `sqlx migrate build-script`).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
