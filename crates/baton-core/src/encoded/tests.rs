use serde_json::json;

use super::EncodedJson;

#[test]
fn encodes_once_and_gives_the_text_back() {
    let encoded = EncodedJson::encode(&json!({"tasks": [{"id": "a"}]})).unwrap();
    assert_eq!(encoded.as_str(), r#"{"tasks":[{"id":"a"}]}"#);
    assert_eq!(encoded.to_value(), json!({"tasks": [{"id": "a"}]}));
    let copy = encoded.clone();
    assert!(
        std::ptr::eq(copy.as_str(), encoded.as_str()),
        "a clone shares the text"
    );
}

#[test]
fn equal_when_the_values_are_whatever_the_spacing_or_key_order() {
    let compact = EncodedJson::from_text(r#"{"a":1,"b":[true,null]}"#.to_owned()).unwrap();
    let spaced = EncodedJson::from_text(r#"{ "b": [true, null], "a": 1 }"#.to_owned()).unwrap();
    assert_eq!(compact, spaced);
    let other = EncodedJson::from_text(r#"{"a":2,"b":[true,null]}"#.to_owned()).unwrap();
    assert_ne!(compact, other);
}

#[test]
fn text_that_is_not_one_json_value_is_refused() {
    assert!(EncodedJson::from_text("{\"a\":".to_owned()).is_err());
    assert!(EncodedJson::from_text("1 2".to_owned()).is_err());
}

#[test]
fn serializes_as_the_json_it_holds_and_reads_back() {
    let encoded = EncodedJson::from_text(r#"{"b":1,"a":[1,2]}"#.to_owned()).unwrap();
    let text = serde_json::to_string(&json!({"request": encoded})).unwrap();
    assert_eq!(text, r#"{"request":{"a":[1,2],"b":1}}"#);
    let direct = serde_json::to_string(&vec![&encoded]).unwrap();
    assert_eq!(direct, r#"[{"b":1,"a":[1,2]}]"#, "written out as it is");
    let back: Vec<EncodedJson> = serde_json::from_str(&direct).unwrap();
    assert_eq!(back, vec![encoded]);
}
