//! `baton serve`: the HTTP/SSE server.

use anyhow::{Context, bail};
use baton_server::AppState;
use tokio::net::TcpListener;

use crate::cli::output;
use crate::config::{Config, LogFormat, Sources};

/// Starts the server and runs until ctrl-c or SIGTERM.
pub(crate) async fn serve(sources: &Sources) -> anyhow::Result<()> {
    let config = Config::load(sources)?;
    init_logging(config.log.format, &config.log.level);
    if !config.listen.ip().is_loopback() && !config.auth.allow_unauthenticated {
        bail!(
            "refusing to listen on {} without authentication: API keys are not built yet, so Baton only serves loopback; set auth.allow_unauthenticated = true (BATON_AUTH__ALLOW_UNAUTHENTICATED=true) to serve a trusted network anyway",
            config.listen
        );
    }
    let app = crate::wiring::build(&config).await?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("could not listen on {}", config.listen))?;
    let address = listener.local_addr()?;
    let auth = if config.listen.ip().is_loopback() {
        "off (loopback)"
    } else {
        "off (allow_unauthenticated on a non-loopback address)"
    };
    tracing::info!(
        database = %app.store.display_url(),
        backend = app.store.backend_name(),
        providers = %app.provider_names.join(","),
        auth,
        "baton starting: database {}, providers [{}], auth {}",
        app.store.display_url(),
        app.provider_names.join(", "),
        auth,
    );
    let resumed = app
        .engine
        .resume_unfinished()
        .await
        .context("could not resume unfinished runs")?;
    if resumed > 0 {
        tracing::info!(resumed, "resumed runs interrupted by the last stop");
    }
    output::line(&format!("listening on http://{address}"));

    let state = AppState::new(config.server.clone(), app.engine.clone());
    baton_server::serve(listener, state, shutdown_signal()).await?;
    app.engine.shutdown().await;
    tracing::info!("baton stopped");
    Ok(())
}

/// Resolves on ctrl-c or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// Logs to standard error; `RUST_LOG` overrides the configured level.
pub(crate) fn init_logging(format: LogFormat, level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!("{level},sqlx=warn,hyper=warn,tower_http=info"))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
