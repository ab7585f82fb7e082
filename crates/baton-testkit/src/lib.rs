//! Baton's test kit (`publish = false`, a dev-dependency only): fake vendor servers that
//! speak the OpenAI, Anthropic and Gemini wire formats over real HTTP on a free local
//! port, replay the recorded fixtures in `shared/fixtures` with the framing and timing
//! faults real servers produce, and record every request they receive.
//!
//! A typical test:
//!
//! ```text
//! let fake = FakeVendor::start(Vendor::OpenAi).await;
//! fake.enqueue(Response::fixture_stream("openai/chat/stream-text-with-usage.sse").split_every(7));
//! // point OPENAI_BASE_URL at fake.base_url(), make the call …
//! assert_eq!(fake.request_count(), 1);
//! ```
//!
//! It also holds [`MemoryJournal`], an in-memory store for engine and HTTP tests.
//!
//! Modules in reading order: the fake server, the scripted responses, the fixtures,
//! how default answers are rendered per vendor, and the in-memory journal.

mod fake;
pub mod fixtures;
pub mod memory;
mod render;
pub mod response;

pub use fake::{FakeVendor, RecordedRequest, Responder, Vendor};
pub use memory::{MemoryJournal, Mode};
pub use response::{Answer, Response, StreamEnd};
