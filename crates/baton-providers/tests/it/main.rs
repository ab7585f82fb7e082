//! Integration tests: the real adapters over real HTTP against the test kit's fake
//! vendor servers — headers, URLs, one request per call, redirects, timeouts, cut and
//! broken streams, framing faults, retry hints and redaction.

// `cfg(test)` marks the helpers as test code, where clippy allows `unwrap`.
#[cfg(test)]
mod support;

#[cfg(test)]
mod anthropic;
#[cfg(test)]
mod driver;
#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod gemini;
#[cfg(test)]
mod openai;
