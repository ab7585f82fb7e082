use super::*;

#[test]
fn every_code_has_the_wire_name_serde_gives_it() {
    for code in ErrorCode::ALL {
        assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
    }
}
