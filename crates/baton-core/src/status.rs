//! The lifecycles of runs, tasks and attempts, as closed sets with their wire names.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in lifecycle order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire (and database) name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownStatus;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($wire => Ok($name::$variant),)+
                    _ => Err(UnknownStatus {
                        kind: stringify!($name),
                        value: s.chars().take(64).collect(),
                        expected: &[$($wire),+],
                    }),
                }
            }
        }
    };
}

/// A string that names no status of its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a {kind}; expected one of {expected:?}")]
pub struct UnknownStatus {
    /// The kind of status that was expected.
    pub kind: &'static str,
    /// The value that was given.
    pub value: String,
    /// The accepted values.
    pub expected: &'static [&'static str],
}

wire_enum!(
    /// Where a run is in its life: `queued` → `running` → (`awaiting_input` ↔ `running`)
    /// → `succeeded` | `partial` | `failed` | `cancelled`.
    RunStatus {
        /// Stored, not yet picked up by the engine.
        Queued => "queued",
        /// The engine is working on it.
        Running => "running",
        /// Paused until a client answers the clarification questions.
        AwaitingInput => "awaiting_input",
        /// Every task succeeded and the answer was assembled.
        Succeeded => "succeeded",
        /// A non-critical task failed; the answer was assembled from the rest.
        Partial => "partial",
        /// A critical task, the plan or the assembly failed, or a limit was hit.
        Failed => "failed",
        /// A client cancelled it.
        Cancelled => "cancelled",
    }
);

impl RunStatus {
    /// Whether the run has ended and will not change again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Partial | Self::Failed | Self::Cancelled
        )
    }
}

wire_enum!(
    /// Where a task is in its life: `pending` → `ready` → `running` →
    /// `succeeded` | `failed` | `skipped` | `cancelled`.
    TaskStatus {
        /// Waiting for its dependencies.
        Pending => "pending",
        /// All dependencies succeeded; waiting for a slot.
        Ready => "ready",
        /// A call for it is in flight (or being retried).
        Running => "running",
        /// Its output passed verification.
        Succeeded => "succeeded",
        /// Every attempt and fallback failed.
        Failed => "failed",
        /// Never run because a dependency failed.
        Skipped => "skipped",
        /// Stopped by a cancellation, a run timeout or fail-fast.
        Cancelled => "cancelled",
    }
);

impl TaskStatus {
    /// Whether the task has ended and will not change again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Skipped | Self::Cancelled
        )
    }
}

wire_enum!(
    /// The outcome of one model call.
    AttemptStatus {
        /// Written before the call; its worst-case cost is reserved.
        InFlight => "in_flight",
        /// The call returned output (verification is recorded separately).
        Succeeded => "succeeded",
        /// The call failed; `error` says why.
        Failed => "failed",
        /// The process stopped while the call was in flight.
        Interrupted => "interrupted",
        /// The call was stopped by a cancellation.
        Cancelled => "cancelled",
    }
);

wire_enum!(
    /// What a model call is for; the sim provider and the router use it to answer
    /// and to route each kind of call.
    CallKind {
        /// Scoring how clear and feasible the request is.
        Assess => "assess",
        /// Turning the request into a task graph.
        Plan => "plan",
        /// Carrying out one task.
        Task => "task",
        /// Judging a task's output against its success criteria.
        Judge => "judge",
        /// Merging the task outputs into one answer.
        Synthesis => "synthesis",
    }
);

#[cfg(test)]
mod tests;
