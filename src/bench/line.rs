//! The JSON line each workload prints, and what it says about where it ran: the
//! machine, the runtime, the build, and the process's CPU time and memory (read from
//! `/proc`, since `getrusage` would need `unsafe`, which the workspace forbids).

use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

/// One workload's figures with the context needed to compare them: printed as one
/// line of JSON.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Line {
    /// The workload's name: `w1`, `w2`, `w3`, `w4`, `w4runs`, `http-run`, `http-sse`,
    /// `http-events`.
    pub(crate) workload: String,
    /// The journal: `sqlite` or `postgres`.
    pub(crate) backend: String,
    /// The tokio runtime that ran the engine.
    pub(crate) runtime: RuntimeInfo,
    /// The machine.
    pub(crate) machine: Machine,
    /// The build: the git commit, with `-dirty` when the tree had changes.
    pub(crate) version: String,
    /// The command that measures this workload alone, the same way.
    pub(crate) command: String,
    /// Whether these are the small `--quick` sizes (smoke checks, not figures).
    pub(crate) quick: bool,
    /// The workload's own figures, named as in `WORKLOADS.md`.
    #[serde(flatten)]
    pub(crate) figures: Map<String, Value>,
}

/// A tokio runtime's flavour and worker count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct RuntimeInfo {
    /// `multi_thread` or `current_thread`.
    pub(crate) flavour: String,
    /// How many worker threads run tasks (1 for `current_thread`).
    pub(crate) workers: usize,
}

/// The machine the figures come from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Machine {
    /// Logical cores available to the process.
    pub(crate) cores: usize,
    /// Total memory, in MiB.
    pub(crate) memory_mib: u64,
    /// The CPU model, from `/proc/cpuinfo`.
    pub(crate) cpu: String,
}

impl Machine {
    /// This machine.
    pub(crate) fn current() -> Machine {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let memory_mib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| kib_field(&text, "MemTotal:"))
            .map_or(0, |kib| kib / 1024);
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|line| line.starts_with("model name"))
                    .and_then(|line| line.split_once(':'))
                    .map(|(_, model)| model.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        Machine {
            cores,
            memory_mib,
            cpu,
        }
    }
}

/// The build's git commit (with `-dirty` when its tree had changes), as `build.rs`
/// recorded it at build time, or `unknown`.
pub(crate) fn version() -> String {
    option_env!("BATON_GIT_COMMIT")
        .unwrap_or("unknown")
        .to_owned()
}

/// CPU time (user + system) a process has used so far, from `/proc/<pid>/stat`, in
/// clock ticks of 10 ms (Linux's fixed `USER_HZ` of 100).
pub(crate) fn cpu_time(pid: Option<u32>) -> Option<Duration> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    // The command name may hold spaces; the fields after its closing parenthesis do not.
    let (_, after) = text.rsplit_once(')')?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime) of proc(5), counted from 3 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// A process's resident memory now (`VmRSS`) and at its peak (`VmHWM`, the same
/// figure as `getrusage`'s `ru_maxrss`), in KiB, from `/proc/<pid>/status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Rss {
    /// Resident now.
    pub(crate) now_kib: u64,
    /// The most ever resident.
    pub(crate) peak_kib: u64,
}

impl Rss {
    /// The memory of `pid`, or of this process.
    pub(crate) fn read(pid: Option<u32>) -> Option<Rss> {
        let path = match pid {
            Some(pid) => format!("/proc/{pid}/status"),
            None => "/proc/self/status".to_owned(),
        };
        let text = std::fs::read_to_string(path).ok()?;
        Some(Rss {
            now_kib: kib_field(&text, "VmRSS:")?,
            peak_kib: kib_field(&text, "VmHWM:")?,
        })
    }
}

/// The number of a `Name:   1234 kB` line.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
}

/// KiB as MiB, to one decimal.
pub(crate) fn mib(kib: u64) -> f64 {
    crate::bench::stats::round(kib as f64 / 1024.0, 1)
}
