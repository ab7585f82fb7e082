//! Model providers: one trait, [`provider::Provider`], and its adapters — the real
//! vendors (OpenAI and every OpenAI-compatible server, Anthropic, Gemini) over one
//! HTTP driver, and `sim`, the built-in simulated model.
//!
//! Invariant: adapters translate and transport; they make exactly the calls they are
//! asked for (no hidden retries), follow no redirects, and never record a stream that
//! was cut short as a success. Retry policy lives in the executor.
//!
//! Modules in reading order: the trait; the settings every adapter shares; the one
//! HTTP driver; the stream accumulator; then the adapters, each a translation
//! (`encode`, `decode`, `decode_event`) between Baton's request and its vendor's wire
//! format.

pub mod provider;

pub mod config;
pub mod http;

mod accumulate;

pub mod anthropic;
pub mod gemini;
pub mod openai;
pub mod sim;
