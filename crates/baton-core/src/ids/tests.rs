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
