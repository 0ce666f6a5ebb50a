//! The migrations are embedded at compile time (`refinery::embed_migrations!`): rebuild when a
//! file is added to or changed in `migrations/`, not only when Rust sources change.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
