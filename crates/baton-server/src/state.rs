//! The state every handler shares: the engine, the journal it writes to, the
//! configuration and the shutdown signal.

use std::sync::Arc;

use baton_core::journal::Journal;
use baton_executor::engine::Engine;
use tokio_util::sync::CancellationToken;

use crate::config::ServerConfig;

/// The shared state of the HTTP app. Cheap to clone: clones share one `App`.
#[derive(Clone, Debug)]
pub struct AppState(Arc<App>);

/// What [`AppState`] holds. Auth (API keys) will add its key store here, beside the
/// engine, and the `Caller` extractor will read it.
#[derive(Debug)]
pub(crate) struct App {
    config: ServerConfig,
    engine: Engine,
    /// Cancelled once, by [`AppState::begin_shutdown`] (which `serve` calls when its
    /// shutdown future completes). Event streams and `POST /run` waits listen to it and
    /// end, so a graceful shutdown never waits on a client that keeps a stream open.
    shutdown: CancellationToken,
}

impl AppState {
    /// The state of an app serving `engine` with `config`.
    pub fn new(config: ServerConfig, engine: Engine) -> AppState {
        AppState(Arc::new(App {
            config,
            engine,
            shutdown: CancellationToken::new(),
        }))
    }

    /// The configuration in force.
    pub fn config(&self) -> &ServerConfig {
        &self.0.config
    }

    /// The run engine.
    pub fn engine(&self) -> &Engine {
        &self.0.engine
    }

    /// The store the engine writes to; the server reads runs from it.
    pub fn journal(&self) -> &Arc<dyn Journal> {
        self.0.engine.journal()
    }

    /// Ends every open event stream and every `POST /run` still waiting (it answers
    /// 503). New requests are still answered; `serve` stops accepting them.
    pub fn begin_shutdown(&self) {
        self.0.shutdown.cancel();
    }

    /// Whether [`AppState::begin_shutdown`] was called.
    pub fn is_shutting_down(&self) -> bool {
        self.0.shutdown.is_cancelled()
    }

    /// The token that is cancelled on shutdown.
    pub(crate) fn shutdown_token(&self) -> &CancellationToken {
        &self.0.shutdown
    }
}
