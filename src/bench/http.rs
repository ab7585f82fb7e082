//! The HTTP workloads: the real server (`baton serve`, this very binary) in a child
//! process on a free loopback port over a fresh database, driven by a small load loop
//! in this process (reqwest over HTTP/1.1 keep-alive connections), so client and
//! server are separate processes as `WORKLOADS.md` asks.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use baton_core::event::Event;
use baton_journal::TestDb;
use futures_util::StreamExt;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinSet;

use crate::bench::db_work::DbCounts;
use crate::bench::harness::{self, fresh_database};
use crate::bench::line::{Rss, cpu_time, mib};
use crate::bench::stats::{Samples, round};
use crate::bench::{Spec, Workload, progress};

/// How long the server may take to say where it listens.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs one HTTP workload against a server of its own.
pub(crate) async fn run(spec: &Spec) -> anyhow::Result<Map<String, Value>> {
    let latency_ms = match spec.workload {
        Workload::HttpEvents => spec.sizes.event_run_ms,
        _ => 0,
    };
    let server = Server::start(spec, latency_ms).await?;
    // Only `POST /run`'s counts divide by runs that are all alike.
    let counted = match spec.workload {
        Workload::HttpRun => server.db_counts(spec).await,
        _ => None,
    };
    let result = match spec.workload {
        Workload::HttpRun => post_run(&server, spec).await,
        Workload::HttpSse => first_sse_byte(&server, spec).await,
        Workload::HttpEvents => event_streams(&server, spec).await,
        _ => Err(anyhow::anyhow!(
            "{} is not an HTTP workload",
            spec.workload.name()
        )),
    };
    let db = server.stop().await;
    let mut figures = match result {
        Ok(figures) => figures,
        Err(err) => {
            db.cleanup().await?;
            return Err(err);
        }
    };
    if let Some((admin_url, before)) = counted {
        db_work(&db, admin_url, before, &mut figures).await;
    }
    db.cleanup()
        .await
        .context("could not remove the server's database")?;
    Ok(figures)
}

/// Adds what PostgreSQL counted of the server's writes, per run (warm-up runs
/// included: the counts cover the server's whole life), once its connections have
/// ended. The counts inform, like every figure: when they cannot be read, the
/// line goes without them.
async fn db_work(db: &TestDb, admin_url: &str, before: DbCounts, figures: &mut Map<String, Value>) {
    let Some(name) = db.postgres_name() else {
        return;
    };
    let runs = ["runs", "warmup_runs"]
        .iter()
        .filter_map(|field| figures.get(*field).and_then(Value::as_u64))
        .sum::<u64>();
    match DbCounts::read_once_ended(admin_url, name).await {
        Ok(after) => after
            .since(before)
            .insert_per_run(usize::try_from(runs).unwrap_or(usize::MAX), figures),
        Err(err) => progress(&format!(
            "{}: PostgreSQL's counts could not be read: {err:#}",
            Workload::HttpRun.name()
        )),
    }
}

/// A `baton serve` child process with the `sim` provider at a fixed latency.
#[derive(Debug)]
struct Server {
    child: Child,
    pid: u32,
    base: String,
    db: TestDb,
}

impl Server {
    async fn start(spec: &Spec, latency_ms: u64) -> anyhow::Result<Server> {
        let db = fresh_database(&spec.setup).await?;
        let exe = std::env::current_exe().context("cannot find this binary to start the server")?;
        let mut command = Command::new(exe);
        command
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--database-url")
            .arg(db.url());
        if let Some(file) = &spec.setup.config_file {
            command.arg("--config").arg(file);
        }
        // A clean environment: no vendor keys (the sim alone answers), no user
        // overrides; only the sim's knobs and a quiet log.
        command
            .env_clear()
            .env("BATON_PROVIDERS__SIM__ENABLED", "true")
            .env("BATON_PROVIDERS__SIM__LATENCY_MS", latency_ms.to_string())
            .env("BATON_PROVIDERS__SIM__LATENCY_JITTER_MS", "0")
            .env("BATON_PROVIDERS__SIM__ERROR_RATE", "0")
            .env("BATON_PROVIDERS__SIM__MALFORMED_RATE", "0")
            .env("BATON_LOG__LEVEL", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = command.spawn().context("could not start `baton serve`")?;
        let pid = child.id().context("the server exited at once")?;
        let stdout = child
            .stdout
            .take()
            .context("the server's output is not piped")?;
        let mut lines = BufReader::new(stdout).lines();
        let address = tokio::time::timeout(START_TIMEOUT, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(address) = line.strip_prefix("listening on http://") {
                    return Ok(address.trim().parse::<SocketAddr>()?);
                }
            }
            bail!("the server stopped before it listened")
        })
        .await
        .context("the server did not start in time")??;
        // Keep reading (and dropping) its output so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Server {
            child,
            pid,
            base: format!("http://{address}"),
            db,
        })
    }

    /// PostgreSQL's counts before the workload, with the server's URL, where the
    /// database is PostgreSQL's (and they can be read).
    async fn db_counts<'a>(&self, spec: &'a Spec) -> Option<(&'a str, DbCounts)> {
        let admin_url = spec.setup.database_url.as_deref()?;
        let name = self.db.postgres_name()?;
        match DbCounts::read(admin_url, name).await {
            Ok(counts) => Some((admin_url, counts)),
            Err(err) => {
                progress(&format!("PostgreSQL's counts could not be read: {err:#}"));
                None
            }
        }
    }

    /// Stops the server (SIGTERM, as an operator would; SIGKILL if it lingers) and
    /// hands back its database.
    async fn stop(mut self) -> TestDb {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status()
            .await;
        match tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await {
            Ok(_) => {}
            Err(_) => {
                progress("the server ignored SIGTERM for 20 s; killing it");
                let _ = self.child.kill().await;
            }
        }
        self.db
    }
}

#[expect(
    clippy::disallowed_methods,
    reason = "the bench is a client of Baton's own API, not of a vendor"
)]
fn client(connections: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(connections.max(1))
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120))
        .build()?)
}

/// `POST /run` of a 5-task diamond under `connections` concurrent connections.
async fn post_run(server: &Server, spec: &Spec) -> anyhow::Result<Map<String, Value>> {
    let connections = spec.sizes.http_connections;
    let seconds = spec.sizes.http_seconds;
    let warmup = (seconds / 10.0).max(0.5);
    let client = client(connections)?;
    let url = format!("{}/run", server.base);
    let body = serde_json::to_vec(&harness::diamond())?;
    progress(&format!(
        "http-run: {connections} connections, {warmup} s warm-up, {seconds} s timed"
    ));
    let warmed = load(&client, &url, &body, connections, warmup).await;
    let cpu_server = cpu_time(Some(server.pid));
    let cpu_client = cpu_time(None);
    let began = Instant::now();
    let outcome = load(&client, &url, &body, connections, seconds).await;
    let elapsed = began.elapsed().as_secs_f64();
    let server_cpu = cpu_time(Some(server.pid))
        .zip(cpu_server)
        .map(|(a, b)| a.saturating_sub(b));
    let client_cpu = cpu_time(None)
        .zip(cpu_client)
        .map(|(a, b)| a.saturating_sub(b));
    let latencies: Vec<Duration> = outcome.answered.iter().map(|a| a.latency).collect();
    let latency = Samples::millis(&latencies);
    let p99_per_second = p99_per_second(&outcome);
    let rss = Rss::read(Some(server.pid)).unwrap_or_default();
    let mut figures = Map::new();
    figures.insert("connections".into(), json!(connections));
    figures.insert("duration_s".into(), json!(round(elapsed, 2)));
    figures.insert("runs".into(), json!(latency.len()));
    figures.insert("warmup_runs".into(), json!(warmed.answered.len()));
    figures.insert("errors".into(), json!(outcome.errors));
    figures.insert(
        "runs_per_s".into(),
        json!(round(latency.len() as f64 / elapsed, 1)),
    );
    figures.insert(
        "latency_ms_p50".into(),
        json!(round(latency.percentile(50.0), 2)),
    );
    figures.insert(
        "latency_ms_p99".into(),
        json!(round(latency.percentile(99.0), 2)),
    );
    figures.insert("latency_ms_max".into(), json!(round(latency.max(), 2)));
    figures.insert("latency_ms_p99_per_s".into(), json!(p99_per_second));
    figures.insert(
        "server_cpu_s".into(),
        json!(server_cpu.map(|c| round(c.as_secs_f64(), 2))),
    );
    figures.insert(
        "client_cpu_s".into(),
        json!(client_cpu.map(|c| round(c.as_secs_f64(), 2))),
    );
    figures.insert("server_peak_rss_mib".into(), json!(mib(rss.peak_kib)));
    figures.insert("load_tool".into(), json!("baton bench's own reqwest loop"));
    Ok(figures)
}

/// What a load phase saw.
#[derive(Debug, Default)]
pub(crate) struct Load {
    pub(crate) answered: Vec<Answered>,
    pub(crate) errors: u64,
}

/// A request of a load phase that was answered.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Answered {
    /// When it was sent, from the phase's start.
    pub(crate) sent_at: Duration,
    /// How long until its whole answer was read.
    pub(crate) latency: Duration,
}

/// The p99 latency of the requests sent in each second of a load phase, in order
/// (`None` for a second in which none was sent): whether a tail is spread over the
/// run or comes from a few bad seconds (a PostgreSQL checkpoint, say).
pub(crate) fn p99_per_second(load: &Load) -> Vec<Option<f64>> {
    let mut seconds: Vec<Vec<Duration>> = Vec::new();
    for &Answered { sent_at, latency } in &load.answered {
        let Ok(second) = usize::try_from(sent_at.as_secs()) else {
            continue;
        };
        if second >= seconds.len() {
            seconds.resize_with(second + 1, Vec::new);
        }
        seconds[second].push(latency);
    }
    seconds
        .iter()
        .map(|latencies| {
            (!latencies.is_empty()).then(|| round(Samples::millis(latencies).percentile(99.0), 1))
        })
        .collect()
}

/// `connections` clients that each post `body` one request after another until
/// `seconds` have passed; requests in flight at the deadline are waited for.
async fn load(
    client: &reqwest::Client,
    url: &str,
    body: &[u8],
    connections: usize,
    seconds: f64,
) -> Load {
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let mut clients = JoinSet::new();
    for _ in 0..connections {
        let client = client.clone();
        let url = url.to_owned();
        let body = body.to_vec();
        clients.spawn(async move {
            let mut seen = Load::default();
            while Instant::now() < deadline {
                let began = Instant::now();
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                let ok = match response {
                    Ok(response) if response.status().is_success() => {
                        response.bytes().await.is_ok()
                    }
                    _ => false,
                };
                if ok {
                    seen.answered.push(Answered {
                        sent_at: began - start,
                        latency: began.elapsed(),
                    });
                } else {
                    seen.errors += 1;
                }
            }
            seen
        });
    }
    let mut total = Load::default();
    while let Some(joined) = clients.join_next().await {
        match joined {
            Ok(seen) => {
                total.answered.extend(seen.answered);
                total.errors += seen.errors;
            }
            Err(_) => total.errors += 1,
        }
    }
    total
}

/// The time from sending `POST /stream/run` to the first byte of its event stream,
/// one request after another.
async fn first_sse_byte(server: &Server, spec: &Spec) -> anyhow::Result<Map<String, Value>> {
    let (warmup, timed) = spec.sizes.sse_requests;
    let client = client(1)?;
    let url = format!("{}/stream/run", server.base);
    let body = serde_json::to_vec(&harness::diamond())?;
    progress(&format!(
        "http-sse: {warmup} warm-up and {timed} timed streams, one at a time"
    ));
    let mut first_bytes = Vec::with_capacity(timed);
    let mut whole = Vec::with_capacity(timed);
    let mut errors = 0;
    for index in 0..warmup + timed {
        let began = Instant::now();
        let response = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
        let Ok(response) = response.map_err(|_| ()).and_then(|r| {
            if r.status().is_success() {
                Ok(r)
            } else {
                Err(())
            }
        }) else {
            errors += 1;
            continue;
        };
        let mut stream = response.bytes_stream();
        let first = match stream.next().await {
            Some(Ok(_)) => began.elapsed(),
            _ => {
                errors += 1;
                continue;
            }
        };
        let mut broken = false;
        while let Some(chunk) = stream.next().await {
            broken |= chunk.is_err();
        }
        if broken {
            errors += 1;
        }
        if index >= warmup {
            first_bytes.push(first);
            whole.push(began.elapsed());
        }
    }
    let first = Samples::millis(&first_bytes);
    let whole = Samples::millis(&whole);
    let mut figures = Map::new();
    figures.insert("streams".into(), json!(first.len()));
    figures.insert("errors".into(), json!(errors));
    figures.insert(
        "first_byte_ms_p50".into(),
        json!(round(first.percentile(50.0), 3)),
    );
    figures.insert(
        "first_byte_ms_p99".into(),
        json!(round(first.percentile(99.0), 3)),
    );
    figures.insert("first_byte_ms_max".into(), json!(round(first.max(), 3)));
    figures.insert(
        "whole_stream_ms_p50".into(),
        json!(round(whole.percentile(50.0), 3)),
    );
    figures.insert("load_tool".into(), json!("baton bench's own reqwest loop"));
    Ok(figures)
}

/// What one event stream saw.
#[derive(Debug)]
struct Watched {
    /// Wall-clock nanoseconds when the response head arrived.
    connected_ns: i128,
    /// How long after the `stats` event was stamped it arrived here.
    lag: Option<Duration>,
    /// The `stats` event's own stamp, in wall-clock nanoseconds.
    stats_ts_ns: Option<i128>,
}

/// 1,000 concurrent `GET /runs/{id}/events` streams on one running run: the server's
/// peak memory and the delivery lag of the run's last event.
async fn event_streams(server: &Server, spec: &Spec) -> anyhow::Result<Map<String, Value>> {
    let streams = spec.sizes.event_streams;
    let client = client(streams)?;
    let body = harness::body(vec![harness::task("slow", &[])], 1);
    let rss_before = Rss::read(Some(server.pid)).unwrap_or_default();
    progress(&format!(
        "http-events: {streams} streams on one run of {} ms",
        spec.sizes.event_run_ms
    ));
    let response = client
        .post(format!("{}/runs", server.base))
        .json(&body)
        .send()
        .await
        .context("POST /runs failed")?;
    if !response.status().is_success() {
        bail!("POST /runs answered {}", response.status());
    }
    let created: Value = response.json().await?;
    let run_id = created
        .get("id")
        .and_then(Value::as_str)
        .context("POST /runs answered without an id")?
        .to_owned();
    let url = format!("{}/runs/{run_id}/events", server.base);
    let mut watchers = JoinSet::new();
    for _ in 0..streams {
        let client = client.clone();
        let url = url.clone();
        watchers.spawn(async move { watch(&client, &url).await });
    }
    let mut watched = Vec::with_capacity(streams);
    let mut errors = 0;
    while let Some(joined) = watchers.join_next().await {
        match joined {
            Ok(Ok(seen)) => watched.push(seen),
            _ => errors += 1,
        }
    }
    let rss_after = Rss::read(Some(server.pid)).unwrap_or_default();
    let lags: Vec<Duration> = watched.iter().filter_map(|w| w.lag).collect();
    let lag = Samples::millis(&lags);
    let before_end = watched
        .iter()
        .filter(|w| w.stats_ts_ns.is_some_and(|ts| w.connected_ns < ts))
        .count();
    let delta_kib = rss_after.peak_kib.saturating_sub(rss_before.now_kib);
    let mut figures = Map::new();
    figures.insert("streams".into(), json!(streams));
    figures.insert("streams_connected_before_end".into(), json!(before_end));
    figures.insert("streams_with_last_event".into(), json!(lags.len()));
    figures.insert("errors".into(), json!(errors));
    figures.insert("run_ms".into(), json!(spec.sizes.event_run_ms));
    figures.insert(
        "server_rss_before_mib".into(),
        json!(mib(rss_before.now_kib)),
    );
    figures.insert("server_peak_rss_mib".into(), json!(mib(rss_after.peak_kib)));
    figures.insert("delta_mib".into(), json!(mib(delta_kib)));
    figures.insert(
        "per_stream_kib".into(),
        json!(round(delta_kib as f64 / streams.max(1) as f64, 2)),
    );
    figures.insert(
        "last_event_lag_ms_p50".into(),
        json!(round(lag.percentile(50.0), 2)),
    );
    figures.insert("last_event_lag_ms_max".into(), json!(round(lag.max(), 2)));
    figures.insert("load_tool".into(), json!("baton bench's own reqwest loop"));
    Ok(figures)
}

/// Follows one event stream to its `stats` event.
async fn watch(client: &reqwest::Client, url: &str) -> anyhow::Result<Watched> {
    let response = client.get(url).send().await?;
    if !response.status().is_success() {
        bail!("GET events answered {}", response.status());
    }
    let connected_ns = wall_clock_ns();
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    let mut seen = Watched {
        connected_ns,
        lag: None,
        stats_ts_ns: None,
    };
    while let Some(chunk) = stream.next().await {
        buffer.push_str(&String::from_utf8_lossy(&chunk?));
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            if !frame.lines().any(|line| line.trim_end() == "event: stats") {
                continue;
            }
            let arrived = wall_clock_ns();
            let data: String = frame
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .map(str::trim_start)
                .collect();
            let event: Event = serde_json::from_str(&data)?;
            let stamped = event.ts.unix_timestamp_nanos();
            seen.stats_ts_ns = Some(stamped);
            seen.lag = Some(Duration::from_nanos(
                u64::try_from(arrived.saturating_sub(stamped)).unwrap_or(0),
            ));
        }
    }
    Ok(seen)
}

fn wall_clock_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i128::try_from(d.as_nanos()).unwrap_or(i128::MAX))
}
