//! The ready queue: which ready task runs next, by strategy. Pure, so the order is
//! tested without running anything.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use baton_core::graph::TaskGraph;
use baton_core::request::Strategy;

/// Tasks whose dependencies have all succeeded, ordered by the run's strategy.
#[derive(Debug)]
pub(crate) struct ReadyQueue {
    /// Max-heap on (priority, earlier plan position first).
    heap: BinaryHeap<(i32, Reverse<usize>)>,
    strategy: Strategy,
}

impl ReadyQueue {
    pub(crate) fn new(strategy: Strategy) -> Self {
        Self {
            heap: BinaryHeap::new(),
            strategy,
        }
    }

    pub(crate) fn push(&mut self, graph: &TaskGraph, position: usize) {
        let priority = match self.strategy {
            Strategy::Parallel | Strategy::Greedy => graph.task(position).priority,
            // Sequential runs in plan order, whatever the priorities say.
            Strategy::Sequential => 0,
        };
        self.heap.push((priority, Reverse(position)));
    }

    pub(crate) fn pop(&mut self) -> Option<usize> {
        self.heap.pop().map(|(_, Reverse(position))| position)
    }

    /// How many tasks may run at once under this strategy.
    pub(crate) fn concurrency(&self, max_concurrency: u32) -> usize {
        match self.strategy {
            Strategy::Parallel => max_concurrency.max(1) as usize,
            Strategy::Greedy | Strategy::Sequential => 1,
        }
    }
}

/// Dependency bookkeeping: how many unfinished dependencies each task still waits for.
#[derive(Debug)]
pub(crate) struct Dependencies {
    waiting_on: Vec<usize>,
}

impl Dependencies {
    pub(crate) fn new(graph: &TaskGraph) -> Self {
        Self {
            waiting_on: (0..graph.len())
                .map(|p| graph.dependencies(p).len())
                .collect(),
        }
    }

    /// Whether the task waits for nothing.
    pub(crate) fn is_free(&self, position: usize) -> bool {
        self.waiting_on[position] == 0
    }

    /// Marks `position` as succeeded and returns the dependents that became ready.
    pub(crate) fn succeed(&mut self, graph: &TaskGraph, position: usize) -> Vec<usize> {
        let mut ready = Vec::new();
        for &dependent in graph.dependents(position) {
            self.waiting_on[dependent] = self.waiting_on[dependent].saturating_sub(1);
            if self.waiting_on[dependent] == 0 {
                ready.push(dependent);
            }
        }
        ready
    }
}

/// Every task that depends, directly or not, on `position` (to skip after a failure).
pub(crate) fn descendants(graph: &TaskGraph, position: usize) -> Vec<usize> {
    let mut seen = vec![false; graph.len()];
    let mut stack = vec![position];
    let mut found = Vec::new();
    while let Some(node) = stack.pop() {
        for &dependent in graph.dependents(node) {
            if !seen[dependent] {
                seen[dependent] = true;
                found.push(dependent);
                stack.push(dependent);
            }
        }
    }
    found.sort_unstable();
    found
}

#[cfg(test)]
mod tests;
