//! Helpers: requests, timeouts and providers pointed at a fake.

use std::time::Duration;

use baton_core::status::CallKind;
use baton_providers::anthropic::{AnthropicConfig, AnthropicProvider};
use baton_providers::gemini::{GeminiConfig, GeminiProvider};
use baton_providers::http::Timeouts;
use baton_providers::openai::{OpenAiConfig, OpenAiProvider};
use baton_providers::provider::{Completion, CompletionRequest, Message, Provider, ProviderError};
use baton_testkit::FakeVendor;
use secrecy::SecretString;

/// The key every test provider is configured with; it must never leak.
pub(crate) const KEY: &str = "sk-test-4f9c2b7e1d-SECRET";

/// A one-message request.
pub(crate) fn request(stream: bool) -> CompletionRequest {
    CompletionRequest {
        model: "test-model".to_owned(),
        kind: CallKind::Task,
        system: Some("You are terse.".into()),
        messages: vec![Message::user("Say hello.")],
        max_output_tokens: 64,
        temperature: Some(0.2),
        json_schema: None,
        seed: None,
        stream,
    }
}

/// Timeouts with generous margins over what the fakes script.
pub(crate) fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(5),
        first_token: Duration::from_secs(10),
        idle: Duration::from_secs(10),
        total: Duration::from_secs(30),
    }
}

pub(crate) fn openai(fake: &FakeVendor, timeouts: Timeouts) -> OpenAiProvider {
    let config = OpenAiConfig::new(
        "openai",
        &fake.base_url(),
        "OPENAI_BASE_URL",
        Some(SecretString::from(KEY)),
    )
    .unwrap()
    .with_timeouts(timeouts);
    OpenAiProvider::new(config).unwrap()
}

pub(crate) fn anthropic(fake: &FakeVendor, timeouts: Timeouts) -> AnthropicProvider {
    let config = AnthropicConfig::new(
        &fake.base_url(),
        "ANTHROPIC_BASE_URL",
        Some(SecretString::from(KEY)),
    )
    .unwrap()
    .with_timeouts(timeouts);
    AnthropicProvider::new(config).unwrap()
}

pub(crate) fn gemini(fake: &FakeVendor, timeouts: Timeouts) -> GeminiProvider {
    let config = GeminiConfig::new(
        &fake.base_url(),
        "GEMINI_BASE_URL",
        Some(SecretString::from(KEY)),
    )
    .unwrap()
    .with_timeouts(timeouts);
    GeminiProvider::new(config).unwrap()
}

/// One call, no delta channel.
pub(crate) async fn call(
    provider: &dyn Provider,
    stream: bool,
) -> Result<Completion, ProviderError> {
    provider.complete(&request(stream), None).await
}

/// Asserts that an error and its debug form hold no trace of the key.
pub(crate) fn assert_no_key(err: &ProviderError) {
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(KEY), "{shown}");
    assert!(!shown.contains("SECRET"), "{shown}");
}
