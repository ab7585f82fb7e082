//! The one place the CLI writes to the terminal.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the CLI's user-facing output"
)]

use std::io::Write;

/// A line on standard output.
pub(crate) fn line(text: &str) {
    println!("{text}");
}

/// Text on standard output with no newline, flushed (streamed tokens).
pub(crate) fn text(text: &str) {
    print!("{text}");
    let _ = std::io::stdout().flush();
}

/// An error on standard error.
pub(crate) fn error(text: &str) {
    eprintln!("error: {text}");
}
