use std::collections::BTreeMap;

use super::*;

fn task(id: &str, deps: &[&str]) -> TaskSpec {
    let mut spec = TaskSpec::new(TaskId::parse(id).unwrap(), format!("do {id}"));
    spec.depends_on = deps.iter().map(|d| TaskId::parse(d).unwrap()).collect();
    spec
}

fn check(tasks: Vec<TaskSpec>, expected: &str) {
    let result = TaskGraph::new(Workflow { tasks }, &GraphLimits::default());
    let actual = match result {
        Ok(graph) => format!(
            "ok order={:?} depth={}",
            graph
                .topological_order()
                .iter()
                .map(|&p| graph.task(p).id.as_str())
                .collect::<Vec<_>>(),
            graph.depth()
        ),
        Err(errors) => format!("err {errors}"),
    };
    assert_eq!(actual, expected);
}

#[test]
fn valid_graphs_order_dependencies_first_and_keep_plan_order_among_peers() {
    check(vec![task("a", &[])], r#"ok order=["a"] depth=1"#);
    check(
        vec![
            task("e", &["b", "c"]),
            task("b", &["a"]),
            task("c", &["a"]),
            task("a", &[]),
        ],
        r#"ok order=["a", "b", "c", "e"] depth=3"#,
    );
}

#[test]
fn invalid_graphs_report_every_problem_in_words() {
    check(vec![], "err the graph has no tasks: give at least one");
    check(
        vec![task("a", &["zzz"]), task("a", &[])],
        "err task id `a` is used more than once: ids must be unique; task `a` depends on `zzz`, which is not a task in this graph",
    );
    check(vec![task("a", &["a"])], "err task `a` depends on itself");
    check(
        vec![task("a", &["c"]), task("b", &["a"]), task("c", &["b"])],
        "err the dependencies form a cycle: a -> b -> c -> a",
    );
}

#[test]
fn limits_are_enforced() {
    let limits = GraphLimits {
        max_tasks: 2,
        max_instructions_bytes: 4,
        max_dependencies: 1,
    };
    let too_many = Workflow {
        tasks: vec![task("a", &[]), task("b", &[]), task("c", &[])],
    };
    assert!(matches!(
        TaskGraph::new(too_many, &limits).unwrap_err().0[0],
        GraphError::TooManyTasks { count: 3, max: 2 }
    ));
    let mut long = task("a", &[]);
    long.instructions = "12345".into();
    assert!(matches!(
        TaskGraph::new(Workflow { tasks: vec![long] }, &limits)
            .unwrap_err()
            .0[0],
        GraphError::InstructionsTooLong { .. }
    ));
}

#[test]
fn a_long_chain_validates_without_recursion() {
    let tasks: Vec<_> = (0..5000)
        .map(|i| {
            let id = format!("t{i}");
            let prev = format!("t{}", i.max(1) - 1);
            if i == 0 {
                task(&id, &[])
            } else {
                task(&id, &[prev.as_str()])
            }
        })
        .collect();
    let graph = TaskGraph::new(Workflow { tasks }, &GraphLimits::default()).unwrap();
    assert_eq!(graph.depth(), 5000);
}

#[test]
fn placeholders_are_replaced_by_dependency_outputs() {
    let outputs = BTreeMap::from([("research", "FACTS"), ("b", "B")]);
    assert_eq!(
        fill_placeholders(
            "Use {{research}} and {{ b }}; keep {{unknown}} and {{open",
            &outputs
        ),
        "Use FACTS and B; keep {{unknown}} and {{open"
    );
}

#[test]
fn task_spec_defaults_are_those_of_the_design() {
    let spec: TaskSpec = serde_json::from_str(r#"{"id":"a","instructions":"x"}"#).unwrap();
    assert_eq!(spec.priority, 0);
    assert!(spec.critical);
    assert_eq!(spec.capability, Capability::General);
    let unknown = serde_json::from_str::<TaskSpec>(r#"{"id":"a","instructions":"x","colour":1}"#);
    assert!(
        unknown
            .unwrap_err()
            .to_string()
            .contains("unknown field `colour`")
    );
}
