//! Records the git commit the binary is built from, for the `version` field of
//! `baton bench`'s lines: `BATON_GIT_COMMIT` when the build sets it, else what git says
//! about the source tree now (with `-dirty` when a file of the build has uncommitted
//! changes, a new file not yet added to git included), else
//! nothing (a tree without git, such as the Docker build's), and the bench says
//! `unknown`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The files and folders the binary is built from.
const BUILD_INPUTS: [&str; 8] = [
    ".cargo",
    "src",
    "crates",
    "migrations",
    "config",
    "Cargo.toml",
    "Cargo.lock",
    "build.rs",
];

fn main() {
    println!("cargo:rerun-if-env-changed=BATON_GIT_COMMIT");
    if std::env::var_os("BATON_GIT_COMMIT").is_some() {
        return;
    }
    // Any file of the build changing may make the tree dirty or clean (a folder is
    // watched with every file in it, new ones included).
    for input in BUILD_INPUTS {
        println!("cargo:rerun-if-changed={input}");
    }
    let Some(git_dir) = git(&["rev-parse", "--git-dir"]).map(PathBuf::from) else {
        return;
    };
    // A commit or a checkout moves HEAD or the branch it names (whose ref lives in
    // the common git folder, which a worktree shares).
    watch(&git_dir.join("HEAD"));
    let common_dir = git(&["rev-parse", "--git-common-dir"]).map_or(git_dir, PathBuf::from);
    watch(&common_dir.join("packed-refs"));
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch(&common_dir.join(branch));
    }
    let Some(commit) = git(&["rev-parse", "--short=12", "HEAD"]) else {
        return;
    };
    // A new source file not yet added to git is built too, so it makes the tree
    // dirty; untracked files elsewhere (notes, scratch folders) do not.
    let status = ["status", "--porcelain", "--untracked-files=all", "--"];
    let dirty =
        git(&[&status[..], &BUILD_INPUTS[..]].concat()).is_some_and(|changes| !changes.is_empty());
    let suffix = if dirty { "-dirty" } else { "" };
    println!("cargo:rustc-env=BATON_GIT_COMMIT={commit}{suffix}");
}

/// What a git command prints, trimmed, if it succeeds and prints something.
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    (output.status.success() && !text.is_empty()).then_some(text)
}

fn watch(path: &Path) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}
