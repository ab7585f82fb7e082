//! Identifiers: run and attempt ids are UUIDv7 (time-ordered); task ids are short
//! client- or planner-chosen names, parsed once at the boundary.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use smol_str::SmolStr;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered (UUIDv7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps a UUID read back from storage.
            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID inside.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self).map_err(|_| IdError::NotAUuid(s.chars().take(64).collect()))
            }
        }
    };
}

uuid_id!(
    /// The id of a run.
    RunId
);
uuid_id!(
    /// The id of one model call (an attempt), unique across all runs.
    AttemptId
);

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Run and attempt ids are UUIDs.
    #[error("`{0}` is not a UUID")]
    NotAUuid(String),
    /// Task ids are 1 to 64 characters of letters, digits, `_`, `-` and `.`.
    #[error(
        "task id `{0}` is invalid: use 1 to 64 letters, digits, `_`, `-` or `.`, starting with a letter or digit"
    )]
    BadTaskId(String),
}

/// The longest task id accepted.
pub const TASK_ID_MAX_LEN: usize = 64;

/// The id of a task within its run, e.g. `research` or `t001`.
///
/// Kept inline when it is up to 23 bytes long (most are), and shared when longer, so
/// a clone never allocates: a task's id is copied into its records, its events and
/// the graph's index, thousands of times over in a wide run.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(SmolStr);

impl TaskId {
    /// Parses a task id: 1 to 64 ASCII letters, digits, `_`, `-` or `.`, starting with
    /// a letter or digit (so ids are safe in URLs, logs and `{{placeholders}}`).
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let valid = !s.is_empty()
            && s.len() <= TASK_ID_MAX_LEN
            && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if valid {
            Ok(Self(SmolStr::new(s)))
        } else {
            Err(IdError::BadTaskId(
                s.chars().take(TASK_ID_MAX_LEN + 8).collect(),
            ))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl Serialize for TaskId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TaskId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TaskIdVisitor)
    }
}

/// Parses a task id from the text as the deserializer lends it, without a copy.
struct TaskIdVisitor;

impl serde::de::Visitor<'_> for TaskIdVisitor {
    type Value = TaskId;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a task id")
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<TaskId, E> {
        TaskId::parse(s).map_err(E::custom)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for TaskId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests;
