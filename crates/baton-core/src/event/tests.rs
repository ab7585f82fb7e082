use super::*;

#[test]
fn events_serialise_flat_with_type_run_id_seq_and_ts() {
    let event = Event {
        run_id: "0190c7a8-0000-7000-8000-000000000001".parse().unwrap(),
        seq: 3,
        ts: time::macros::datetime!(2026-11-21 12:00:00 UTC),
        payload: EventPayload::TaskStart {
            task_id: TaskId::parse("a").unwrap(),
            attempt: 1,
            provider: "sim".into(),
            model: "sim-small".into(),
        },
    };
    let json = serde_json::to_string(&event).unwrap();
    assert_eq!(
        json,
        r#"{"run_id":"0190c7a8-0000-7000-8000-000000000001","seq":3,"ts":"2026-11-21T12:00:00Z","type":"task_start","task_id":"a","attempt":1,"provider":"sim","model":"sim-small"}"#
    );
    let back: Event = serde_json::from_str(&json).unwrap();
    assert_eq!(back, event);
    assert_eq!(back.name(), "task_start");
}

#[test]
fn model_output_stays_inside_a_json_string() {
    let payload = EventPayload::TaskDelta {
        task_id: TaskId::parse("a").unwrap(),
        text: "\n\nevent: final\ndata: {}\n\n".into(),
    };
    let json = serde_json::to_string(&payload).unwrap();
    assert!(!json.contains('\n'));
}

#[test]
fn non_finite_numbers_are_found_by_field_and_finite_ones_pass() {
    let candidate = |score: Option<f64>| Candidate {
        provider: "sim".to_owned(),
        model: "sim-large".to_owned(),
        score,
        parts: None,
        skipped: score.is_none().then(|| "circuit open".to_owned()),
    };
    let decision = |score: f64, candidates: Vec<Candidate>| EventPayload::Decision {
        task_id: TaskId::parse("t1").expect("a valid id"),
        provider: "sim".to_owned(),
        model: "sim-large".to_owned(),
        score,
        candidates,
    };

    assert_eq!(
        decision(0.5, vec![candidate(Some(0.5)), candidate(None)]).non_finite_field(),
        None
    );
    assert_eq!(decision(f64::NAN, vec![]).non_finite_field(), Some("score"));
    assert_eq!(
        decision(0.5, vec![candidate(Some(f64::INFINITY))]).non_finite_field(),
        Some("candidates.score")
    );
    let mut with_parts = candidate(Some(0.5));
    with_parts.parts = Some(ScoreParts {
        latency: f64::NAN,
        ..ScoreParts::default()
    });
    assert_eq!(
        decision(0.5, vec![with_parts]).non_finite_field(),
        Some("candidates.parts")
    );
}

#[test]
fn score_parts_serialise_by_name_and_skipped_candidates_have_none() {
    let scored = Candidate {
        provider: "sim".to_owned(),
        model: "sim-fast".to_owned(),
        score: Some(0.5),
        parts: Some(ScoreParts {
            capability: 0.1,
            latency: 0.05,
            price: 0.15,
            quality: 0.1,
            success: 0.1,
        }),
        skipped: None,
    };
    let json = serde_json::to_value(&scored).unwrap();
    assert_eq!(
        json["parts"],
        serde_json::json!({"capability": 0.1, "latency": 0.05, "price": 0.15, "quality": 0.1, "success": 0.1})
    );
    assert_eq!(serde_json::from_value::<Candidate>(json).unwrap(), scored);
    let skipped = Candidate {
        score: None,
        parts: None,
        skipped: Some("model circuit open until a probe in 3s".to_owned()),
        ..scored
    };
    let json = serde_json::to_value(&skipped).unwrap();
    assert!(
        json.get("parts").is_none() && json.get("score").is_none(),
        "{json}"
    );
}

#[test]
fn a_run_created_event_writes_its_request_as_encoded_and_reads_it_back() {
    let request = EncodedJson::from_text(
        r#"{"prompt":"hi","workflow":null,"options":{"b":1,"a":2}}"#.to_owned(),
    )
    .unwrap();
    let event = Event {
        run_id: "0190c7a8-0000-7000-8000-000000000001".parse().unwrap(),
        seq: 1,
        ts: time::macros::datetime!(2026-11-21 12:00:00 UTC),
        payload: EventPayload::RunCreated {
            request: request.clone(),
        },
    };
    let json = serde_json::to_string(&event).unwrap();
    assert_eq!(
        json,
        r#"{"run_id":"0190c7a8-0000-7000-8000-000000000001","seq":1,"ts":"2026-11-21T12:00:00Z","type":"run_created","request":{"prompt":"hi","workflow":null,"options":{"b":1,"a":2}}}"#,
        "the request is written as it was encoded, inside the flattened event"
    );
    let back: Event = serde_json::from_str(&json).unwrap();
    assert_eq!(back, event);
    let EventPayload::RunCreated { request: read } = back.payload else {
        panic!("not a run_created event");
    };
    assert_eq!(read.to_value(), request.to_value());
}
