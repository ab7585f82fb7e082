use baton_core::graph::{TaskSpec, Workflow};
use baton_core::ids::TaskId;

use super::*;

fn graph(tasks: &[(&str, i32, &[&str])]) -> TaskGraph {
    let tasks = tasks
        .iter()
        .map(|(id, priority, deps)| {
            let mut spec = TaskSpec::new(TaskId::parse(id).unwrap(), "x");
            spec.priority = *priority;
            spec.depends_on = deps.iter().map(|d| TaskId::parse(d).unwrap()).collect();
            spec
        })
        .collect();
    TaskGraph::new(Workflow { tasks }, &Default::default()).unwrap()
}

fn drain(queue: &mut ReadyQueue) -> Vec<usize> {
    std::iter::from_fn(|| queue.pop()).collect()
}

#[test]
fn parallel_and_greedy_take_priority_then_plan_order() {
    let g = graph(&[("a", 0, &[]), ("b", 5, &[]), ("c", 5, &[]), ("d", -1, &[])]);
    for strategy in [Strategy::Parallel, Strategy::Greedy] {
        let mut queue = ReadyQueue::new(strategy);
        for p in [3, 2, 1, 0] {
            queue.push(&g, p);
        }
        assert_eq!(drain(&mut queue), vec![1, 2, 0, 3]);
    }
}

#[test]
fn sequential_ignores_priority_and_runs_one_at_a_time() {
    let g = graph(&[("a", 0, &[]), ("b", 5, &[])]);
    let mut queue = ReadyQueue::new(Strategy::Sequential);
    queue.push(&g, 1);
    queue.push(&g, 0);
    assert_eq!(queue.concurrency(8), 1);
    assert_eq!(drain(&mut queue), vec![0, 1]);
}

#[test]
fn a_task_becomes_ready_when_its_last_dependency_succeeds() {
    let g = graph(&[
        ("a", 0, &[]),
        ("b", 0, &[]),
        ("c", 0, &["a", "b"]),
        ("d", 0, &["c"]),
    ]);
    let mut deps = Dependencies::new(&g);
    assert!(deps.is_free(0) && deps.is_free(1) && !deps.is_free(2));
    assert_eq!(deps.succeed(&g, 0), Vec::<usize>::new());
    assert_eq!(deps.succeed(&g, 1), vec![2]);
    assert_eq!(descendants(&g, 0), vec![2, 3]);
}
