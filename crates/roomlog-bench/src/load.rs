//! The closed-loop load generator: N workers, each with its own keep-alive HTTP/1.1 connection,
//! each sending its next request as soon as the previous answer is fully read. A warm-up period
//! runs first and is not counted; then requests completing within the measured window are.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use http::StatusCode;

use crate::http::{is_api_error, Conn, Prepared};
use crate::server::{CpuMeter, CpuUse};

/// What each worker sends.
pub enum Source {
    /// The same pre-signed request, over and over.
    Fixed(Prepared),
    /// Pre-signed requests taken in turn, cycling (worker `w` starts at offset `w`).
    Cycle(Arc<Vec<Prepared>>),
    /// One queue per worker, each request sent once (ingest: every event id is new). A worker
    /// whose queue runs dry stops; the result then says the pool was exhausted.
    Queues(Vec<Vec<Prepared>>),
}

impl Source {
    fn into_workers(self, concurrency: usize) -> Vec<WorkerSource> {
        match self {
            Source::Fixed(prepared) => (0..concurrency)
                .map(|_| WorkerSource::Fixed(prepared.clone()))
                .collect(),
            Source::Cycle(all) => (0..concurrency)
                .map(|w| WorkerSource::Cycle(Arc::clone(&all), w))
                .collect(),
            Source::Queues(queues) => {
                assert_eq!(queues.len(), concurrency, "one queue per worker");
                queues
                    .into_iter()
                    .map(|mut queue| {
                        // Popped from the end: reverse so requests go out in the order made.
                        queue.reverse();
                        WorkerSource::Queue(queue)
                    })
                    .collect()
            }
        }
    }
}

enum WorkerSource {
    Fixed(Prepared),
    Cycle(Arc<Vec<Prepared>>, usize),
    Queue(Vec<Prepared>),
}

impl WorkerSource {
    fn next(&mut self) -> Option<(http::Request<http_body_util::Full<bytes::Bytes>>, u64)> {
        match self {
            WorkerSource::Fixed(prepared) => Some((prepared.to_request(), prepared.units)),
            WorkerSource::Cycle(all, at) => {
                let prepared = &all[*at % all.len()];
                *at += 1;
                Some((prepared.to_request(), prepared.units))
            }
            WorkerSource::Queue(queue) => queue.pop().map(|p| {
                let units = p.units;
                (p.into_request(), units)
            }),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct LoadSpec {
    pub concurrency: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

/// What one run measured.
#[derive(Debug, Clone, Default)]
pub struct LoadResult {
    /// Requests completed in the measured window.
    pub requests: u64,
    /// Units (events) those requests carried.
    pub units: u64,
    /// The measured window (shorter than asked if a request pool ran dry).
    pub elapsed: Duration,
    /// Latencies of the measured requests, microseconds, sorted.
    pub latencies_us: Vec<u32>,
    /// Non-200 answers and API errors, over the whole run (warm-up included).
    pub errors: u64,
    pub first_error: Option<String>,
    pub exhausted: bool,
    /// Cores used during the run (warm-up included) by the server, the load generator and
    /// anything else running on the machine.
    pub cpu: CpuUse,
}

impl LoadResult {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn units_per_sec(&self) -> f64 {
        self.units as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `q` quantile (0..=1) of latency, milliseconds (nearest rank).
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let n = self.latencies_us.len();
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        f64::from(self.latencies_us[rank - 1]) / 1000.0
    }

    pub fn p50_ms(&self) -> f64 {
        self.quantile_ms(0.50)
    }

    pub fn p99_ms(&self) -> f64 {
        self.quantile_ms(0.99)
    }

    /// Server CPU time per request, microseconds (from the cores it used over the run).
    pub fn server_cpu_us_per_request(&self) -> f64 {
        self.cpu.server / self.rps().max(1e-9) * 1e6
    }
}

struct WorkerOut {
    requests: u64,
    units: u64,
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
    exhausted: bool,
    last_done: Option<Instant>,
}

/// Runs the load against `addr` (served by process `pid`) and returns what the measured window
/// saw, with the CPU the server and the load generator used meanwhile.
pub async fn run(
    addr: SocketAddr,
    pid: u32,
    source: Source,
    spec: LoadSpec,
) -> anyhow::Result<LoadResult> {
    let meter = CpuMeter::start(pid)?;
    let mut result = run_load(addr, source, spec).await?;
    result.cpu = meter.finish()?;
    Ok(result)
}

async fn run_load(addr: SocketAddr, source: Source, spec: LoadSpec) -> anyhow::Result<LoadResult> {
    // Connect everyone first, so connection setup is not part of the warm-up either.
    let mut conns = Vec::with_capacity(spec.concurrency);
    for _ in 0..spec.concurrency {
        conns.push(Conn::open(addr).await?);
    }
    let started = Instant::now();
    let measure_from = started + spec.warmup;
    let measure_until = measure_from + spec.duration;
    let handles: Vec<_> = conns
        .into_iter()
        .zip(source.into_workers(spec.concurrency))
        .map(|(conn, source)| tokio::spawn(worker(conn, source, measure_from, measure_until)))
        .collect();
    let mut result = LoadResult::default();
    let mut last_done: Option<Instant> = None;
    for handle in handles {
        let out = handle.await.context("a load worker panicked")??;
        result.requests += out.requests;
        result.units += out.units;
        result.latencies_us.extend(out.latencies_us);
        result.errors += out.errors;
        result.exhausted |= out.exhausted;
        if result.first_error.is_none() {
            result.first_error = out.first_error;
        }
        last_done = last_done.max(out.last_done);
    }
    let window_end = if result.exhausted {
        last_done.unwrap_or(measure_until).min(measure_until)
    } else {
        measure_until
    };
    result.elapsed = window_end.saturating_duration_since(measure_from);
    result.latencies_us.sort_unstable();
    Ok(result)
}

async fn worker(
    mut conn: Conn,
    mut source: WorkerSource,
    measure_from: Instant,
    measure_until: Instant,
) -> anyhow::Result<WorkerOut> {
    let mut out = WorkerOut {
        requests: 0,
        units: 0,
        latencies_us: Vec::with_capacity(64 * 1024),
        errors: 0,
        first_error: None,
        exhausted: false,
        last_done: None,
    };
    while Instant::now() < measure_until {
        let Some((request, units)) = source.next() else {
            out.exhausted = true;
            break;
        };
        let sent = Instant::now();
        let (status, body) = conn.send(request).await?;
        let done = Instant::now();
        if status != StatusCode::OK || is_api_error(&body) {
            out.errors += 1;
            if out.first_error.is_none() {
                out.first_error = Some(format!(
                    "HTTP {status}: {}",
                    String::from_utf8_lossy(&body[..body.len().min(400)])
                ));
            }
            continue;
        }
        if done > measure_from && done <= measure_until {
            out.requests += 1;
            out.units += units;
            let micros = done.duration_since(sent).as_micros();
            out.latencies_us
                .push(u32::try_from(micros).unwrap_or(u32::MAX));
            out.last_done = Some(done);
        }
    }
    Ok(out)
}
