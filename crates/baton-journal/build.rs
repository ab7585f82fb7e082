//! Rebuilds the crate when a migration changes, so the embedded migrators stay current.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
