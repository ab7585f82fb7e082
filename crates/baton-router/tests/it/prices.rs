//! The shipped catalogue's prices, context windows and output limits match the
//! shared price list (LiteLLM's `model_prices.json`).

use std::path::Path;

use baton_router::Catalogue;
use serde_json::Value;

const SHIPPED: &str = include_str!("../../../../config/models.toml");

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn every_real_model_matches_the_shared_price_list() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/model_prices.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        // The shared folder sits beside the repository here and in CI; a bare
        // checkout without it cannot check prices.
        eprintln!("skipping the price check: {} is absent", path.display());
        return;
    };
    let prices: serde_json::Map<String, Value> = serde_json::from_str(&text).unwrap();
    let catalogue = Catalogue::from_toml(SHIPPED).unwrap();
    let mut checked = 0;
    let mut mismatches = Vec::new();
    for spec in catalogue.models().iter().filter(|m| m.provider != "sim") {
        let prefixed = format!("{}/{}", spec.provider, spec.model);
        let entry = prices.get(&prefixed).or_else(|| {
            prices
                .get(&spec.model)
                .filter(|e| e["litellm_provider"] == spec.provider.as_str())
        });
        let Some(entry) = entry else {
            mismatches.push(format!("{prefixed}: not in the price list"));
            continue;
        };
        let per_mtok = |field: &str| entry[field].as_f64().map(|per_token| per_token * 1e6);
        let expected = [
            (
                "input_per_mtok",
                per_mtok("input_cost_per_token"),
                Some(spec.price.input_per_mtok),
            ),
            (
                "output_per_mtok",
                per_mtok("output_cost_per_token"),
                Some(spec.price.output_per_mtok),
            ),
            (
                "cached_input_per_mtok",
                per_mtok("cache_read_input_token_cost"),
                spec.price.cached_input_per_mtok,
            ),
            (
                "context_window",
                entry["max_input_tokens"].as_f64(),
                Some(spec.context_window as f64),
            ),
            (
                "max_output_tokens",
                entry["max_output_tokens"].as_f64(),
                Some(f64::from(spec.max_output_tokens)),
            ),
        ];
        for (field, listed, ours) in expected {
            let same = match (listed, ours) {
                (Some(listed), Some(ours)) => close(listed, ours),
                (None, None) => true,
                _ => false,
            };
            if !same {
                mismatches.push(format!(
                    "{prefixed}.{field}: list {listed:?}, catalogue {ours:?}"
                ));
            }
        }
        checked += 1;
    }
    assert!(
        mismatches.is_empty(),
        "catalogue differs from the price list:\n{}",
        mismatches.join("\n")
    );
    assert!(checked >= 10, "only {checked} real models were checked");
}

#[test]
fn the_catalogue_lists_models_of_every_real_vendor() {
    let catalogue = Catalogue::from_toml(SHIPPED).unwrap();
    for (provider, model) in [
        ("openai", "gpt-4o"),
        ("openai", "gpt-4o-mini"),
        ("openai", "gpt-4.1"),
        ("openai", "gpt-4.1-mini"),
        ("openai", "o4-mini"),
        ("anthropic", "claude-sonnet-4-5"),
        ("anthropic", "claude-haiku-4-5"),
        ("gemini", "gemini-2.5-flash"),
        ("gemini", "gemini-2.5-pro"),
    ] {
        assert!(
            catalogue
                .models()
                .iter()
                .any(|m| m.provider == provider && m.model == model),
            "{provider}/{model} is missing"
        );
    }
}
