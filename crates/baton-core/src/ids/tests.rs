use super::*;

#[test]
fn task_ids_accept_plain_names_and_reject_the_rest() {
    for ok in ["a", "research", "t001", "step_2", "a.b-c", &"x".repeat(64)] {
        assert!(TaskId::parse(ok).is_ok(), "{ok} should be valid");
    }
    for bad in ["", "-a", "_a", "a b", "a/b", "{{a}}", "é", &"x".repeat(65)] {
        assert!(TaskId::parse(bad).is_err(), "{bad} should be invalid");
    }
}

#[test]
fn run_ids_are_time_ordered_and_round_trip() {
    let first = RunId::new();
    let second = RunId::new();
    assert!(first < second);
    assert_eq!(first.to_string().parse::<RunId>().unwrap(), first);
    assert!(matches!("nope".parse::<RunId>(), Err(IdError::NotAUuid(_))));
}

#[test]
fn task_ids_round_trip_through_json_short_or_long() {
    // 23 bytes are kept inline, longer ids are shared: both read and write the same.
    for text in ["t001", &"a".repeat(23), &"b".repeat(24), &"c".repeat(64)] {
        let id = TaskId::parse(text).unwrap();
        assert_eq!(id.as_str(), text);
        assert_eq!(id.clone(), id);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{text}\""));
        // From borrowed text (`from_str`) and from an owned string (`from_value`).
        assert_eq!(serde_json::from_str::<TaskId>(&json).unwrap(), id);
        assert_eq!(
            serde_json::from_value::<TaskId>(serde_json::Value::from(text)).unwrap(),
            id
        );
    }
}

#[test]
fn a_task_id_that_is_not_one_fails_to_read_with_the_reason() {
    let bad = serde_json::from_str::<TaskId>("\"a b\"").unwrap_err();
    assert!(
        bad.to_string().contains("task id `a b` is invalid"),
        "{bad}"
    );
    let not_text = serde_json::from_str::<TaskId>("5").unwrap_err();
    assert!(
        not_text.to_string().contains("expected a task id"),
        "{not_text}"
    );
}
