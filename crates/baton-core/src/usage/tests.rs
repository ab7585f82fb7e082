use super::*;

#[test]
fn cost_prices_cached_tokens_at_the_cached_rate() {
    let price = Price {
        input_per_mtok: 2.0,
        output_per_mtok: 8.0,
        cached_input_per_mtok: Some(0.5),
    };
    let usage = Usage {
        input_tokens: 1_000_000,
        output_tokens: 500_000,
        cached_input_tokens: 400_000,
        ..Usage::default()
    };
    let cost = price.cost(&usage);
    assert!(
        (cost - (0.6 * 2.0 + 0.4 * 0.5 + 0.5 * 8.0)).abs() < 1e-9,
        "{cost}"
    );
}

#[test]
fn worst_case_is_never_below_the_real_cost() {
    let price = Price {
        input_per_mtok: 3.0,
        output_per_mtok: 15.0,
        cached_input_per_mtok: None,
    };
    let usage = Usage {
        input_tokens: 1200,
        output_tokens: 300,
        ..Usage::default()
    };
    assert!(price.worst_case_cost(1200, 300) >= price.cost(&usage));
}

#[test]
fn estimates_round_up() {
    assert_eq!(estimate_tokens(""), 0);
    assert_eq!(estimate_tokens("abcde"), 2);
}
