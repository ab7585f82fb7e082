use super::*;

#[test]
fn every_status_round_trips_through_its_wire_name() {
    for status in RunStatus::ALL {
        assert_eq!(status.as_str().parse::<RunStatus>().unwrap(), *status);
        assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
    }
    for status in TaskStatus::ALL {
        assert_eq!(status.as_str().parse::<TaskStatus>().unwrap(), *status);
    }
    for status in AttemptStatus::ALL {
        assert_eq!(status.as_str().parse::<AttemptStatus>().unwrap(), *status);
    }
}

#[test]
fn unknown_status_names_the_accepted_values() {
    let err = "done".parse::<RunStatus>().unwrap_err();
    assert!(err.to_string().contains("succeeded"), "{err}");
}

#[test]
fn terminal_statuses_are_exactly_the_end_states() {
    let terminal: Vec<_> = RunStatus::ALL.iter().filter(|s| s.is_terminal()).collect();
    assert_eq!(terminal.len(), 4);
    assert!(!RunStatus::AwaitingInput.is_terminal());
}
