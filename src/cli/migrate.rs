//! `baton migrate`: create the database if needed and apply every migration.

use crate::cli::output;
use crate::config::{Config, Sources};

/// Applies the migrations and says where.
pub(crate) async fn migrate(sources: &Sources) -> anyhow::Result<()> {
    let config = Config::load(sources)?;
    let store = crate::wiring::open_store(&config).await?;
    output::line(&format!("migrations applied to {}", store.display_url()));
    Ok(())
}
