//! The subcommands.

pub(crate) mod bench;
pub(crate) mod migrate;
pub(crate) mod output;
pub(crate) mod run;
pub(crate) mod runs;
pub(crate) mod serve;
