use super::*;

fn check(text: &str, expected: Option<&str>) {
    assert_eq!(extract_json(text), expected, "input: {text:?}");
}

#[test]
fn plain_json_is_found_as_it_is() {
    check(r#"{"a": 1}"#, Some(r#"{"a": 1}"#));
    check("  [1, 2]\n", Some("[1, 2]"));
    check(
        r#"{"tasks": [{"id": "a"}]}"#,
        Some(r#"{"tasks": [{"id": "a"}]}"#),
    );
}

#[test]
fn fenced_json_is_found_inside_the_fence() {
    check("```json\n{\"a\": 1}\n```", Some(r#"{"a": 1}"#));
    check("```\n[true]\n```", Some("[true]"));
    check(
        "Here you go:\n```json\n{\"a\": {\"b\": [1]}}\n```\nHope it helps.",
        Some(r#"{"a": {"b": [1]}}"#),
    );
}

#[test]
fn json_surrounded_by_prose_is_found() {
    check(
        r#"Sure! The plan is {"tasks": []} as requested."#,
        Some(r#"{"tasks": []}"#),
    );
    // A bracket in prose that is not JSON is skipped.
    check(
        r#"See [the notes] below: {"passed": true}"#,
        Some(r#"{"passed": true}"#),
    );
}

#[test]
fn brackets_and_quotes_inside_strings_do_not_confuse_the_scan() {
    check(
        r#"{"text": "a } b ] c { d", "q": "say \"}\""} trailing }"#,
        Some(r#"{"text": "a } b ] c { d", "q": "say \"}\""}"#),
    );
}

#[test]
fn text_without_complete_json_gives_none() {
    check("", None);
    check("no json here", None);
    check(r#"{"tasks": [{"id": "a""#, None);
    check("{ not json }", None);
    check("{]", None);
    check("```json\n{\"cut\": \n```", None);
}

#[test]
fn strip_code_fence_removes_one_fence_and_its_language_tag() {
    let cases = [
        ("```json\n{\"a\": 1}\n```", "{\"a\": 1}"),
        ("```\n[1]\n```", "[1]"),
        ("  {\"a\": 1}  ", "{\"a\": 1}"),
        ("```{\"a\": 1}```", "{\"a\": 1}"),
        ("```json\n{\"a\": 1}", "```json\n{\"a\": 1}"),
    ];
    for (input, expected) in cases {
        assert_eq!(strip_code_fence(input), expected, "input: {input:?}");
    }
}
