//! Configuration: the shipped `config/baton.toml`, then a user file, then a profile,
//! then `BATON_*` environment variables, then the vendors' own variables. This is the
//! only module that reads the environment.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use baton_core::request::{RequestLimits, RunOptions};
use baton_executor::retry::RetryPolicy;
use figment::Figment;
use figment::providers::{Format, Toml};
use secrecy::SecretString;
use serde::Deserialize;

/// The shipped defaults, embedded so the binary runs with no files around it.
const SHIPPED: &str = include_str!("../config/baton.toml");

/// The shipped model catalogue.
pub(crate) const SHIPPED_MODELS: &str = include_str!("../config/models.toml");

/// Profiles shipped with Baton, by name.
const PROFILES: &[(&str, &str)] = &[
    (
        "development",
        include_str!("../config/profiles/development.toml"),
    ),
    ("local", include_str!("../config/profiles/local.toml")),
    ("fast", include_str!("../config/profiles/fast.toml")),
    ("accurate", include_str!("../config/profiles/accurate.toml")),
];

/// Everything the binary needs to start.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// Where the HTTP server listens.
    pub(crate) listen: SocketAddr,
    /// The journal's database.
    pub(crate) database: baton_journal::JournalConfig,
    /// Logging.
    pub(crate) log: LogSection,
    /// HTTP server settings.
    pub(crate) server: baton_server::ServerConfig,
    /// Access control.
    #[serde(default)]
    pub(crate) auth: AuthSection,
    /// Engine settings.
    pub(crate) engine: EngineSection,
    /// Routing weights, breakers and limits.
    #[serde(default)]
    pub(crate) router: baton_router::RouterConfig,
    /// Model providers.
    pub(crate) providers: ProvidersSection,
    /// A model catalogue file to use instead of the shipped one.
    #[serde(default)]
    pub(crate) models_file: Option<PathBuf>,
}

/// `[log]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogSection {
    /// `text` or `json`.
    pub(crate) format: LogFormat,
    /// The default level filter.
    pub(crate) level: String,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LogFormat {
    /// For people.
    Text,
    /// One JSON object per line.
    Json,
}

/// `[auth]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuthSection {
    /// Serve a non-loopback address without authentication (API keys are not built
    /// yet, so this is the only way to serve a trusted network).
    #[serde(default)]
    pub(crate) allow_unauthenticated: bool,
}

/// `[engine]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EngineSection {
    /// Output allowance of a task call.
    pub(crate) task_max_output_tokens: u32,
    /// Output allowance of a synthesis call.
    pub(crate) synthesis_max_output_tokens: u32,
    /// Plan repair rounds before the one-task fallback.
    pub(crate) plan_repair_limit: u32,
    /// The most model calls in flight at once over every run (absent: no cap).
    #[serde(default)]
    pub(crate) max_calls_in_flight: Option<u32>,
    /// Retry policy.
    pub(crate) retry: RetryPolicy,
    /// Run option defaults.
    pub(crate) defaults: RunOptions,
    /// Request limits.
    pub(crate) limits: RequestLimits,
}

/// `[providers]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProvidersSection {
    /// The simulated model.
    pub(crate) sim: SimSection,
    /// The four timeouts of every real provider's calls.
    #[serde(default)]
    pub(crate) timeouts: TimeoutsSection,
    /// Named OpenAI-compatible servers (`[providers.compatible.ollama]`).
    #[serde(default)]
    pub(crate) compatible: BTreeMap<String, CompatibleSection>,
    /// What the vendors' own variables say (`OPENAI_API_KEY`, …); read from the
    /// environment, never from a file.
    #[serde(skip)]
    pub(crate) vendors: VendorEnv,
}

/// `[providers.timeouts]`, in seconds.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct TimeoutsSection {
    /// Opening a connection.
    pub(crate) connect_s: f64,
    /// Until the first token (or the response head of a plain call).
    pub(crate) first_token_s: f64,
    /// The longest silence between two stream events.
    pub(crate) idle_s: f64,
    /// A whole call.
    pub(crate) total_s: f64,
}

impl Default for TimeoutsSection {
    fn default() -> Self {
        let timeouts = baton_providers::http::Timeouts::default();
        Self {
            connect_s: timeouts.connect.as_secs_f64(),
            first_token_s: timeouts.first_token.as_secs_f64(),
            idle_s: timeouts.idle.as_secs_f64(),
            total_s: timeouts.total.as_secs_f64(),
        }
    }
}

impl TimeoutsSection {
    /// The timeouts, checked.
    pub(crate) fn to_timeouts(&self) -> anyhow::Result<baton_providers::http::Timeouts> {
        let seconds = |key: &str, value: f64| {
            std::time::Duration::try_from_secs_f64(value)
                .ok()
                .filter(|d| !d.is_zero())
                .with_context(|| {
                    format!(
                        "providers.timeouts.{key} must be a positive number of seconds, got {value}"
                    )
                })
        };
        Ok(baton_providers::http::Timeouts {
            connect: seconds("connect_s", self.connect_s)?,
            first_token: seconds("first_token_s", self.first_token_s)?,
            idle: seconds("idle_s", self.idle_s)?,
            total: seconds("total_s", self.total_s)?,
        })
    }
}

/// `[providers.compatible.<name>]`: an OpenAI-compatible server.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CompatibleSection {
    /// A known server's quirks and default base URL: ollama, lmstudio, vllm, groq,
    /// deepseek, xai, perplexity, openrouter, together, mistral. Defaults to the
    /// entry's name when that is a preset.
    #[serde(default)]
    pub(crate) preset: Option<String>,
    /// The base URL, `/v1` included; the preset's when left out.
    #[serde(default)]
    pub(crate) base_url: Option<String>,
    /// The environment variable that holds the key (keys never live in files).
    #[serde(default)]
    pub(crate) api_key_env: Option<String>,
    /// The models it serves, added to the catalogue (free, general-purpose, with
    /// `context_window` tokens of context).
    #[serde(default)]
    pub(crate) models: Vec<String>,
    /// The context window of those models.
    #[serde(default = "default_context_window")]
    pub(crate) context_window: u64,
    /// The key, looked up from `api_key_env` at load time.
    #[serde(skip)]
    pub(crate) api_key: Option<SecretString>,
}

fn default_context_window() -> u64 {
    8192
}

/// One vendor as its own variables configure it.
#[derive(Debug, Default)]
pub(crate) struct Vendor {
    /// `…_API_KEY`, when set and not empty.
    pub(crate) api_key: Option<SecretString>,
    /// `…_BASE_URL`, when set and not empty.
    pub(crate) base_url: Option<String>,
}

impl Vendor {
    fn from_env(env: &Environment, key: &str, base_url: &str) -> Self {
        let non_empty = |name: &str| env.get(name).filter(|value| !value.trim().is_empty());
        Self {
            api_key: non_empty(key).map(SecretString::from),
            base_url: non_empty(base_url),
        }
    }

    /// Configured when it has a key or a base URL (a local server may need no key).
    pub(crate) fn is_configured(&self) -> bool {
        self.api_key.is_some() || self.base_url.is_some()
    }
}

/// The vendors' own variables.
#[derive(Debug, Default)]
pub(crate) struct VendorEnv {
    /// `OPENAI_API_KEY`, `OPENAI_BASE_URL`.
    pub(crate) openai: Vendor,
    /// `ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL`.
    pub(crate) anthropic: Vendor,
    /// `GEMINI_API_KEY`, `GEMINI_BASE_URL`.
    pub(crate) gemini: Vendor,
}

/// `[providers.sim]`.
#[derive(Debug, Deserialize)]
pub(crate) struct SimSection {
    /// Force the sim on (`true`) or off (`false`); by default it is on only when no
    /// real provider is configured.
    #[serde(default)]
    pub(crate) enabled: Option<bool>,
    /// The simulator's knobs.
    #[serde(flatten)]
    pub(crate) knobs: baton_providers::sim::SimConfig,
}

/// Where configuration may come from, besides the environment.
#[derive(Debug, Default)]
pub(crate) struct Sources {
    /// A user file (`--config`).
    pub(crate) file: Option<PathBuf>,
    /// `--listen`, which beats every other source.
    pub(crate) listen: Option<SocketAddr>,
    /// `--database-url`, which beats every other source.
    pub(crate) database_url: Option<String>,
}

impl Config {
    /// Loads the configuration from every source, in order of precedence.
    pub(crate) fn load(sources: &Sources) -> anyhow::Result<Config> {
        Self::load_from(sources, &Environment::from_process())
    }

    /// Loads with an explicit environment (tests pass their own).
    pub(crate) fn load_from(sources: &Sources, env: &Environment) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Toml::string(SHIPPED));
        let file = sources
            .file
            .clone()
            .or_else(|| env.get("BATON_CONFIG").map(PathBuf::from));
        if let Some(file) = &file {
            if !file.exists() {
                bail!(
                    "the config file {} does not exist (from --config or BATON_CONFIG)",
                    file.display()
                );
            }
            figment = figment.merge(Toml::file(file));
        }
        if let Some(profile) = env.get("BATON_PROFILE") {
            let Some((_, text)) = PROFILES.iter().find(|(name, _)| *name == profile) else {
                let names: Vec<_> = PROFILES.iter().map(|(name, _)| *name).collect();
                bail!("BATON_PROFILE={profile} is not a profile; use one of {names:?}");
            };
            figment = figment.merge(Toml::string(text));
        }
        figment = figment.merge(env.baton_provider());
        if let Some(listen) = sources.listen {
            figment = figment.merge(("listen", listen.to_string()));
        }
        if let Some(url) = &sources.database_url {
            figment = figment.merge(("database.url", url.clone()));
        }
        let mut config: Config = figment.extract().map_err(|err| {
            anyhow::anyhow!("invalid configuration: {}", describe_figment_error(&err))
        })?;
        config.providers.vendors = VendorEnv {
            openai: Vendor::from_env(env, "OPENAI_API_KEY", "OPENAI_BASE_URL"),
            anthropic: Vendor::from_env(env, "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
            gemini: Vendor::from_env(env, "GEMINI_API_KEY", "GEMINI_BASE_URL"),
        };
        for (name, entry) in &mut config.providers.compatible {
            if let Some(variable) = &entry.api_key_env {
                entry.api_key = env
                    .get(variable)
                    .filter(|v| !v.is_empty())
                    .map(SecretString::from);
                if entry.api_key.is_none() {
                    tracing::warn!(provider = %name, variable = %variable, "the key variable of a compatible provider is not set");
                }
            }
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        let connections = self.database.max_connections;
        if connections == 0 {
            bail!("database.max_connections must be at least 1");
        }
        match self.database.writers {
            Some(0) => bail!(
                "database.writers must be at least 1 (or left out: half the pool, at most the machine's cores)"
            ),
            Some(writers) if writers > 1 && writers >= connections => bail!(
                "database.writers ({writers}) must be below database.max_connections ({connections}), so that reads keep a connection"
            ),
            _ => {}
        }
        self.server.validate()?;
        self.engine
            .defaults
            .max_concurrency
            .checked_sub(1)
            .context("engine.defaults.max_concurrency must be at least 1")?;
        if self.engine.max_calls_in_flight == Some(0) {
            bail!("engine.max_calls_in_flight must be at least 1 (or left out for no cap)");
        }
        Ok(())
    }

    /// The model catalogue's text: the configured file or the shipped one.
    pub(crate) fn models_toml(&self) -> anyhow::Result<String> {
        match &self.models_file {
            Some(path) => read_file(path),
            None => Ok(SHIPPED_MODELS.to_owned()),
        }
    }

    /// The engine's configuration.
    pub(crate) fn engine_config(&self) -> baton_executor::engine::EngineConfig {
        let planner = baton_planner::PlannerConfig {
            plan_repair_limit: self.engine.plan_repair_limit,
            limits: self.engine.limits.graph,
            ..baton_planner::PlannerConfig::default()
        };
        baton_executor::engine::EngineConfig {
            defaults: self.engine.defaults.clone(),
            limits: self.engine.limits.clone(),
            retry: self.engine.retry.clone(),
            planner,
            verify: baton_verifier::VerifyConfig::default(),
            task_max_output_tokens: self.engine.task_max_output_tokens,
            synthesis_max_output_tokens: self.engine.synthesis_max_output_tokens,
            max_calls_in_flight: self.engine.max_calls_in_flight,
        }
    }
}

fn read_file(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("could not read {}", path.display()))
}

/// Names the key and the source of a configuration error.
fn describe_figment_error(err: &figment::Error) -> String {
    let mut text = err.to_string();
    if let Some(source) = &err.metadata.as_ref().and_then(|m| m.source.as_ref()) {
        text.push_str(&format!(" (from {source})"));
    }
    if !err.path.is_empty() {
        text = format!("{}: {text}", err.path.join("."));
    }
    text
}

/// The process environment, read once, so tests can substitute their own.
#[derive(Clone, Debug, Default)]
pub(crate) struct Environment {
    vars: Vec<(String, String)>,
}

impl Environment {
    fn from_process() -> Self {
        Self {
            vars: std::env::vars().collect(),
        }
    }

    /// An environment with just these variables.
    #[cfg(test)]
    pub(crate) fn of(vars: &[(&str, &str)]) -> Self {
        Self {
            vars: vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    /// A variable's value.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    /// `BATON_*` variables as a figment provider: `__` separates nested keys, and
    /// `BATON_DATABASE_URL` is the documented shorthand for `database.url`.
    fn baton_provider(&self) -> figment::providers::Serialized<figment::value::Dict> {
        let mut dict = figment::value::Dict::new();
        for (name, value) in &self.vars {
            let Some(key) = name.strip_prefix("BATON_") else {
                continue;
            };
            // BATON_CONFIG and BATON_PROFILE pick sources; BATON_TEST_* belong to the tests.
            if matches!(key, "CONFIG" | "PROFILE") || key.starts_with("TEST_") {
                continue;
            }
            let key = match key {
                "DATABASE_URL" => "database.url".to_owned(),
                other => other.to_ascii_lowercase().replace("__", "."),
            };
            insert_path(&mut dict, &key, parse_env_value(value));
        }
        figment::providers::Serialized::defaults(dict)
    }
}

fn parse_env_value(value: &str) -> figment::value::Value {
    // Env values are typed like TOML scalars (numbers, booleans), else strings.
    let parsed: Result<figment::value::Value, _> = value.parse();
    match parsed {
        Ok(value) => value,
        Err(_) => figment::value::Value::from(value.to_owned()),
    }
}

fn insert_path(dict: &mut figment::value::Dict, path: &str, value: figment::value::Value) {
    let mut parts = path.splitn(2, '.');
    let head = parts.next().unwrap_or_default().to_owned();
    match parts.next() {
        None => {
            dict.insert(head, value);
        }
        Some(rest) => {
            let entry = dict
                .entry(head)
                .or_insert_with(|| figment::value::Value::from(figment::value::Dict::new()));
            if let figment::value::Value::Dict(_, inner) = entry {
                insert_path(inner, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests;
