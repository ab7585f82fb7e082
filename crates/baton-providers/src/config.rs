//! Settings shared by the vendor adapters: validated base URLs and configuration errors.
//!
//! A base URL means what it means to the vendor's official SDK: OpenAI's includes the
//! `/v1` (`https://api.openai.com/v1`), Anthropic's and Gemini's are the host root
//! (`https://api.anthropic.com`). A path prefix in front (a proxy's) is kept; each
//! adapter appends its vendor's path to it.

use std::fmt;

use url::Url;

/// A validated base URL: `http` or `https`, with a host, no credentials, no query and
/// no fragment. The path is kept without its trailing slash.
#[derive(Clone, PartialEq, Eq)]
pub struct BaseUrl {
    url: Url,
}

impl BaseUrl {
    /// Parses and checks `value`, the value of the setting named `setting` (for example
    /// `OPENAI_BASE_URL`); the error names the setting and never repeats the value,
    /// which might hold a password.
    pub fn parse(value: &str, setting: &str) -> Result<Self, ConfigError> {
        let invalid = |reason: &str| ConfigError::InvalidBaseUrl {
            setting: setting.to_owned(),
            reason: reason.to_owned(),
        };
        let mut url = Url::parse(value.trim()).map_err(|_| invalid("it is not a URL"))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(invalid("the scheme must be http or https"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("it has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                "it must not contain credentials; give the key in its own setting",
            ));
        }
        if url.query().is_some() {
            return Err(invalid("it must not have a query string"));
        }
        if url.fragment().is_some() {
            return Err(invalid("it must not have a fragment"));
        }
        let path = url.path().trim_end_matches('/').to_owned();
        url.set_path(&path);
        Ok(Self { url })
    }

    /// The URL as text, without a trailing slash.
    pub fn as_str(&self) -> &str {
        self.url.as_str().trim_end_matches('/')
    }

    /// This base with `segments` appended to its path, each percent-encoded as a path
    /// segment (so a model id cannot escape its segment).
    pub(crate) fn join(&self, segments: &[&str]) -> Url {
        let mut url = self.url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            path.extend(segments);
        }
        url
    }
}

impl fmt::Debug for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Credentials were refused at parse time, so the URL is safe to show.
        f.debug_tuple("BaseUrl").field(&self.as_str()).finish()
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A provider could not be configured; the message says which setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A base URL setting is malformed.
    #[error("{setting} is not a usable base URL: {reason}")]
    InvalidBaseUrl {
        /// The setting's name, e.g. `OPENAI_BASE_URL`.
        setting: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A provider name is empty or has characters other than `[A-Za-z0-9_-]`.
    #[error("provider name {name:?} must be non-empty and use only letters, digits, '-' and '_'")]
    InvalidName {
        /// The name as given.
        name: String,
    },
    /// The HTTP client could not be built (for example, no TLS roots).
    #[error("could not build the HTTP client")]
    HttpClient(#[source] reqwest::Error),
}

/// Checks a provider's configured name.
pub(crate) fn check_name(name: &str) -> Result<(), ConfigError> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(ConfigError::InvalidName {
            name: name.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests;
