//! Tests of the catalogue: the shipped file, and the errors that name the key to fix.

use baton_core::graph::Capability;

use super::*;

const SHIPPED: &str = include_str!("../../../../config/models.toml");

fn one_model(body: &str) -> String {
    format!(
        "[[models]]\nprovider = \"p\"\nmodel = \"m\"\ncontext_window = 1000\nmax_output_tokens = 100\n\
         price = {{ input_per_mtok = 1.0, output_per_mtok = 2.0 }}\n{body}\n"
    )
}

fn invalid_key(text: &str) -> String {
    match Catalogue::from_toml(text) {
        Err(RouterError::InvalidCatalogue { key, .. }) => key,
        other => panic!("expected an invalid entry, got {other:?}"),
    }
}

#[test]
fn shipped_catalogue_parses_with_sim_models() {
    let catalogue = Catalogue::from_toml(SHIPPED).unwrap();
    let sim: Vec<&str> = catalogue
        .models()
        .iter()
        .filter(|m| m.provider == "sim")
        .map(|m| m.model.as_str())
        .collect();
    assert_eq!(sim, ["sim-fast", "sim-smart"]);
    for spec in catalogue.models() {
        assert!(
            spec.price.input_per_mtok > 0.0,
            "{} has no price",
            spec.model
        );
    }
}

#[test]
fn shipped_catalogue_covers_every_capability_for_every_provider() {
    let catalogue = Catalogue::from_toml(SHIPPED).unwrap();
    for provider in ["sim", "openai", "anthropic", "gemini"] {
        for capability in [
            Capability::General,
            Capability::Reasoning,
            Capability::Writing,
            Capability::Coding,
            Capability::Research,
            Capability::Extraction,
        ] {
            assert!(
                catalogue
                    .models()
                    .iter()
                    .any(|m| m.provider == provider && m.capabilities.contains_key(&capability)),
                "{provider} has no model for {capability:?}"
            );
        }
    }
}

#[test]
fn sim_smart_is_better_and_dearer_than_sim_fast() {
    let catalogue = Catalogue::from_toml(SHIPPED).unwrap();
    let find = |id: &str| {
        catalogue
            .models()
            .iter()
            .find(|m| m.model == id)
            .unwrap()
            .clone()
    };
    let (fast, smart) = (find("sim-fast"), find("sim-smart"));
    assert!(smart.tier_for(Capability::Reasoning) > fast.tier_for(Capability::Reasoning));
    assert!(smart.price.output_per_mtok > fast.price.output_per_mtok);
}

#[test]
fn capabilities_are_read_by_their_snake_case_names() {
    let catalogue =
        Catalogue::from_toml(&one_model("capabilities = { coding = 5, general = 2 }")).unwrap();
    let spec = &catalogue.models()[0];
    assert_eq!(spec.capabilities.get(&Capability::Coding), Some(&5));
    assert_eq!(spec.capabilities.get(&Capability::General), Some(&2));
}

#[test]
fn unknown_capability_is_refused() {
    let result = Catalogue::from_toml(&one_model("capabilities = { juggling = 3 }"));
    assert!(
        matches!(result, Err(RouterError::CatalogueSyntax(_))),
        "{result:?}"
    );
}

#[test]
fn tier_outside_one_to_five_names_the_capability() {
    let key = invalid_key(&one_model("capabilities = { writing = 6 }"));
    assert_eq!(key, "models[0].capabilities.writing");
    let key = invalid_key(&one_model("capabilities = { writing = 0 }"));
    assert_eq!(key, "models[0].capabilities.writing");
}

#[test]
fn model_without_capabilities_is_refused() {
    let key = invalid_key(&one_model("capabilities = {}"));
    assert_eq!(key, "models[0].capabilities");
}

#[test]
fn negative_price_names_the_price_field() {
    let text = one_model("capabilities = { general = 3 }")
        .replace("output_per_mtok = 2.0", "output_per_mtok = -2.0");
    assert_eq!(invalid_key(&text), "models[0].price.output_per_mtok");
}

#[test]
fn zero_context_window_is_refused() {
    let text = one_model("capabilities = { general = 3 }")
        .replace("context_window = 1000", "context_window = 0");
    assert_eq!(invalid_key(&text), "models[0].context_window");
}

#[test]
fn duplicate_model_is_refused_naming_the_second_entry() {
    let entry = one_model("capabilities = { general = 3 }");
    let key = invalid_key(&format!("{entry}\n{entry}"));
    assert_eq!(key, "models[1]");
}

#[test]
fn unknown_field_is_refused() {
    let result = Catalogue::from_toml(&one_model(
        "capabilities = { general = 3 }\ncolour = \"red\"",
    ));
    assert!(
        matches!(result, Err(RouterError::CatalogueSyntax(_))),
        "{result:?}"
    );
}

#[test]
fn missing_tier_falls_back_to_one_below_general() {
    let catalogue =
        Catalogue::from_toml(&one_model("capabilities = { general = 4, coding = 5 }")).unwrap();
    let spec = &catalogue.models()[0];
    assert_eq!(spec.tier_for(Capability::Coding), 5);
    assert_eq!(spec.tier_for(Capability::Writing), 3);
    let catalogue = Catalogue::from_toml(&one_model("capabilities = { coding = 5 }")).unwrap();
    assert_eq!(
        catalogue.models()[0].tier_for(Capability::Writing),
        MIN_TIER
    );
}

#[test]
fn extend_replaces_a_listed_model_in_place_and_appends_new_ones() {
    let mut base = Catalogue::from_toml(&one_model("capabilities = { general = 3 }")).unwrap();
    let other_text = format!(
        "{}\n{}",
        one_model("capabilities = { general = 5 }"),
        one_model("capabilities = { general = 1 }").replace("model = \"m\"", "model = \"n\"")
    );
    base.extend(Catalogue::from_toml(&other_text).unwrap());
    let models: Vec<(&str, u8)> = base
        .models()
        .iter()
        .map(|m| (m.model.as_str(), m.tier_for(Capability::General)))
        .collect();
    assert_eq!(models, [("m", 5), ("n", 1)]);
}

#[test]
fn model_ref_displays_as_provider_slash_model() {
    assert_eq!(
        ModelRef::new("openai", "gpt-4o").to_string(),
        "openai/gpt-4o"
    );
}

#[test]
fn an_unknown_price_field_is_refused() {
    let text = one_model("capabilities = { general = 3 }").replace(
        "output_per_mtok = 2.0",
        "output_per_mtok = 2.0, input_per_token = 1.0",
    );
    let result = Catalogue::from_toml(&text);
    assert!(
        matches!(result, Err(RouterError::CatalogueSyntax(_))),
        "{result:?}"
    );
}
