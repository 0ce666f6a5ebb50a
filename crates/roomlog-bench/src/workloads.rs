//! The embedded store's workloads: ingest (its own fresh server, then the raw SQLite baseline)
//! and the large room (fill, GetRoomEvent against roomlog and the HTTP baseline, Keyword, RSS,
//! restart); their building blocks serve the other workloads too (`callbacks`, `postgres`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use serde_json::json;
use tokio::sync::Mutex;

use crate::events::{self, KEYWORD};
use crate::http::{count_occurrences, is_api_error, now_ms, now_secs, Conn, Prepared};
use crate::load::{self, LoadResult, LoadSpec, Source};
use crate::rawsql::{self, RawResult};
use crate::server::{proc_status_bytes, start_baseline, Roomlog, RssSampler};
use crate::Plan;

/// Events per ReportRoomEvents call when filling the large room (the API's maximum).
const FILL_BATCH: u64 = 1000;
/// Events per call in the batched ingest workload.
const INGEST_BATCH: u64 = 100;
/// Distinct pre-signed pages cycled through by the random-page read workload.
const RANDOM_PAGES: u64 = 1000;

#[derive(Debug)]
pub struct IngestResults {
    pub batch: LoadResult,
    pub single: LoadResult,
    pub raw_batch: RawResult,
    pub raw_single: RawResult,
}

#[derive(Debug)]
pub struct ReadResults {
    pub events: u64,
    pub deep_page: u64,
    pub fill: Fill,
    pub page1: LoadResult,
    pub deep: LoadResult,
    pub random: LoadResult,
    /// How the server's page cache served each of the three loads above.
    pub cache: [CacheUse; 3],
    /// Page 1 and the deep page again on a server without the page cache: the store's own read.
    pub uncached_page1: LoadResult,
    pub uncached_deep: LoadResult,
    pub base_page1: LoadResult,
    pub base_deep: LoadResult,
    pub page1_body_bytes: usize,
    pub deep_body_bytes: usize,
    pub keyword: Keyword,
    pub rss: Rss,
}

/// Page cache lookups during a load (`roomlog_page_cache_{hits,misses}_total` before and after).
#[derive(Debug, Clone, Copy, Default)]
pub struct CacheUse {
    pub hits: u64,
    pub misses: u64,
}

impl CacheUse {
    pub fn hit_percent(&self) -> f64 {
        self.hits as f64 * 100.0 / (self.hits + self.misses).max(1) as f64
    }
}

/// The server's page cache counters so far.
async fn cache_counters(server: &Roomlog) -> anyhow::Result<CacheUse> {
    let mut conn = Conn::open(server.addr()).await?;
    let request = ::http::Request::get("/metrics")
        .header(::http::header::HOST, server.addr().to_string())
        .body(http_body_util::Full::new(bytes::Bytes::new()))?;
    let (status, body) = conn.send(request).await?;
    anyhow::ensure!(
        status == ::http::StatusCode::OK,
        "GET /metrics: HTTP {status}"
    );
    let text = String::from_utf8_lossy(&body);
    let counter = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok())
            .unwrap_or(0.0) as u64
    };
    Ok(CacheUse {
        hits: counter("roomlog_page_cache_hits_total"),
        misses: counter("roomlog_page_cache_misses_total"),
    })
}

/// A load on `server`, and how its page cache served it.
async fn cached_load(
    server: &Roomlog,
    source: Source,
    spec: LoadSpec,
) -> anyhow::Result<(LoadResult, CacheUse)> {
    let before = cache_counters(server).await?;
    let result = load::run(server.addr(), server.pid(), source, spec).await?;
    let after = cache_counters(server).await?;
    let used = CacheUse {
        hits: after.hits - before.hits,
        misses: after.misses - before.misses,
    };
    eprintln!(
        "  page cache: {:.1}% hits ({} hits, {} misses, warm-up included)",
        used.hit_percent(),
        used.hits,
        used.misses
    );
    Ok((result, used))
}

#[derive(Debug, Clone, Copy)]
pub struct Fill {
    pub events: u64,
    pub elapsed: Duration,
    pub db_bytes: u64,
}

#[derive(Debug, Clone)]
pub struct Keyword {
    pub events: usize,
    pub body_bytes: usize,
    /// Wall time of each run, first byte sent to last byte read.
    pub times: Vec<Duration>,
    /// VmRSS just before each run and the peak VmRSS sampled during it.
    pub rss_before: Vec<u64>,
    pub rss_peak: Vec<u64>,
    pub samples: u64,
}

impl Keyword {
    pub fn median_time(&self) -> Duration {
        let mut times = self.times.clone();
        times.sort();
        times.get(times.len() / 2).copied().unwrap_or_default()
    }

    /// The largest growth over the VmRSS before the run, in bytes.
    pub fn max_growth(&self) -> u64 {
        self.rss_before
            .iter()
            .zip(&self.rss_peak)
            .map(|(before, peak)| peak.saturating_sub(*before))
            .max()
            .unwrap_or(0)
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Rss {
    /// Fresh server, empty store.
    pub idle: u64,
    /// Right after filling the room.
    pub after_fill: u64,
    pub hwm_after_fill: u64,
    /// After the read workloads (64 connections, baselines) and the Keyword runs.
    pub after_reads: u64,
    pub hwm_after_reads: u64,
    /// A restarted server after a few page queries and one Keyword query.
    pub after_restart: u64,
    pub hwm_after_restart: u64,
}

fn spec(plan: &Plan, concurrency: usize) -> LoadSpec {
    LoadSpec {
        concurrency,
        warmup: plan.warmup,
        duration: plan.duration,
    }
}

fn check(name: &str, result: &LoadResult) -> anyhow::Result<()> {
    if result.errors > 0 {
        bail!(
            "{name}: {} requests failed; first: {}",
            result.errors,
            result.first_error.as_deref().unwrap_or("?")
        );
    }
    if result.requests == 0 {
        bail!("{name}: no request completed in the measured window");
    }
    Ok(())
}

fn progress(name: &str, result: &LoadResult) {
    eprintln!(
        "  {name}: {:.0} req/s, {:.0} units/s, p50 {:.2} ms, p99 {:.2} ms ({} requests in {:.2} s; \
         CPU: server {:.2} cores, {:.0} us/request, load generator {:.2}, others {:.2}{})",
        result.rps(),
        result.units_per_sec(),
        result.p50_ms(),
        result.p99_ms(),
        result.requests,
        result.elapsed.as_secs_f64(),
        result.cpu.server,
        result.server_cpu_us_per_request(),
        result.cpu.client,
        result.cpu.other,
        if result.exhausted {
            ", pre-signed pool exhausted"
        } else {
            ""
        }
    );
}

/// Creates and starts a room whose class runs for a day (no scheduled transition interferes).
pub(crate) async fn create_room(server: &Roomlog, conn: &mut Conn) -> anyhow::Result<u64> {
    let now = now_secs();
    let params = json!({
        "SdkAppId": server.sdk_app_id, "Name": "Benchmark class", "StartTime": now,
        "EndTime": now + 86_400, "Resolution": 1, "MaxMicNumber": 6, "SubType": "videodoc",
    });
    let created = conn
        .call(&server.signer.prepare_json("CreateRoom", &params, 0))
        .await
        .context("CreateRoom")?;
    let room_id = created["RoomId"]
        .as_u64()
        .ok_or_else(|| anyhow!("CreateRoom answered no RoomId: {created}"))?;
    conn.call(
        &server
            .signer
            .prepare_json("StartRoom", &json!({ "RoomId": room_id }), 0),
    )
    .await
    .context("StartRoom")?;
    Ok(room_id)
}

/// Pre-signs, per worker (one room each), `per_worker` reports of `batch` events.
fn ingest_queues(
    server: &Roomlog,
    rooms: &[u64],
    stream: &str,
    batch: u64,
    per_worker: u64,
) -> Vec<Vec<Prepared>> {
    let timestamp = now_ms();
    rooms
        .iter()
        .enumerate()
        .map(|(w, room)| {
            let stream = format!("{stream}{w}");
            (0..per_worker)
                .map(|i| {
                    events::report(
                        &server.signer,
                        server.sdk_app_id,
                        *room,
                        &stream,
                        i * batch,
                        batch,
                        timestamp,
                    )
                })
                .collect()
        })
        .collect()
}

pub(crate) async fn ingest(plan: &Plan) -> anyhow::Result<IngestResults> {
    let options = &plan.options;
    eprintln!("ingest: starting a fresh roomlog");
    let server = Roomlog::start(&plan.roomlog_bin, &plan.run_dir.join("ingest"))?;
    let (batch, single) = report_loads(plan, &server).await?;
    server.stop()?;

    eprintln!("ingest baseline: raw SQLite, one transaction per {INGEST_BATCH} rows");
    let (warmup, duration) = (plan.warmup, plan.duration);
    let raw_dir = plan.run_dir.join("raw");
    std::fs::create_dir_all(&raw_dir)?;
    let rooms = options.batch_concurrency as u64;
    let path = raw_dir.join("batch.db");
    let raw_batch = tokio::task::spawn_blocking(move || {
        rawsql::run(&path, INGEST_BATCH, rooms, warmup, duration)
    })
    .await??;
    eprintln!("  raw batch: {:.0} events/s", raw_batch.events_per_sec());
    eprintln!("ingest baseline: raw SQLite, one transaction per row");
    let rooms = options.single_concurrency as u64;
    let path = raw_dir.join("single.db");
    let raw_single =
        tokio::task::spawn_blocking(move || rawsql::run(&path, 1, rooms, warmup, duration))
            .await??;
    eprintln!("  raw single: {:.0} events/s", raw_single.events_per_sec());
    Ok(IngestResults {
        batch,
        single,
        raw_batch,
        raw_single,
    })
}

/// ReportRoomEvents against `server`: batches of [`INGEST_BATCH`] (one room per connection),
/// then single events. Returns (batch, single).
pub(crate) async fn report_loads(
    plan: &Plan,
    server: &Roomlog,
) -> anyhow::Result<(LoadResult, LoadResult)> {
    let options = &plan.options;
    let mut conn = Conn::open(server.addr()).await?;

    let mut batch_rooms = Vec::new();
    for _ in 0..options.batch_concurrency {
        batch_rooms.push(create_room(server, &mut conn).await?);
    }
    let mut single_rooms = Vec::new();
    for _ in 0..options.single_concurrency {
        single_rooms.push(create_room(server, &mut conn).await?);
    }

    let per_worker = options
        .batch_pool_events
        .div_ceil(INGEST_BATCH * options.batch_concurrency as u64);
    let queues = ingest_queues(server, &batch_rooms, "b", INGEST_BATCH, per_worker);
    eprintln!(
        "ingest: ReportRoomEvents, {INGEST_BATCH} events per call, c={}",
        options.batch_concurrency
    );
    let batch = load::run(
        server.addr(),
        server.pid(),
        Source::Queues(queues),
        spec(plan, options.batch_concurrency),
    )
    .await?;
    progress("batch", &batch);
    check("ReportRoomEvents batch", &batch)?;

    let per_worker = options
        .single_pool_events
        .div_ceil(options.single_concurrency as u64);
    let queues = ingest_queues(server, &single_rooms, "s", 1, per_worker);
    eprintln!(
        "ingest: ReportRoomEvents, 1 event per call, c={}",
        options.single_concurrency
    );
    let single = load::run(
        server.addr(),
        server.pid(),
        Source::Queues(queues),
        spec(plan, options.single_concurrency),
    )
    .await?;
    progress("single", &single);
    check("ReportRoomEvents single", &single)?;
    Ok((batch, single))
}

/// Fills `room_id` with `count` events (after its RoomStart) in batches of [`FILL_BATCH`]:
/// a thread signs the batches ahead of the workers, which only send them.
pub(crate) async fn fill(
    server: &Roomlog,
    room_id: u64,
    count: u64,
    concurrency: usize,
) -> anyhow::Result<Duration> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Prepared>(2 * concurrency);
    let signer = server.signer.clone();
    let sdk_app_id = server.sdk_app_id;
    let producer = std::thread::spawn(move || {
        let timestamp = now_ms();
        let mut first = 0;
        while first < count {
            let n = FILL_BATCH.min(count - first);
            let prepared =
                events::report(&signer, sdk_app_id, room_id, "fill", first, n, timestamp);
            if tx.blocking_send(prepared).is_err() {
                return;
            }
            first += n;
        }
    });
    let rx = Arc::new(Mutex::new(rx));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let rx = Arc::clone(&rx);
        let mut conn = Conn::open(server.addr()).await?;
        workers.push(tokio::spawn(async move {
            let mut sent = 0u64;
            loop {
                let next = rx.lock().await.recv().await;
                let Some(prepared) = next else {
                    return anyhow::Ok(sent);
                };
                let units = prepared.units;
                let answer = conn
                    .call(&prepared)
                    .await
                    .context("filling the room: ReportRoomEvents")?;
                if answer["Accepted"].as_u64() != Some(units) {
                    bail!("filling the room: unexpected answer {answer}");
                }
                sent += units;
                let before = sent - units;
                if before / 100_000 != sent / 100_000 {
                    eprint!(".");
                }
            }
        }));
    }
    let mut filled = 0;
    for worker in workers {
        filled += worker.await??;
    }
    let elapsed = started.elapsed();
    eprintln!();
    producer
        .join()
        .map_err(|_| anyhow!("the fill producer panicked"))?;
    anyhow::ensure!(filled == count, "filled {filled} events, expected {count}");
    Ok(elapsed)
}

/// GetRoomEvent's figures on a filled room: the requests and answers for page 1 and a deep
/// page, and the loads on page 1, the deep page and random pages.
pub(crate) struct PageLoads {
    pub deep_page: u64,
    pub page1: Prepared,
    pub deep: Prepared,
    pub page1_body: bytes::Bytes,
    pub deep_body: bytes::Bytes,
    pub page1_result: LoadResult,
    pub deep_result: LoadResult,
    pub random_result: LoadResult,
    /// Page cache use during the page-1, deep-page and random-page loads.
    pub cache: [CacheUse; 3],
}

/// Runs the GetRoomEvent loads on `room_id` (filled with `plan.events` events), checking the
/// answers first.
pub(crate) async fn page_loads(
    plan: &Plan,
    server: &Roomlog,
    conn: &mut Conn,
    room_id: u64,
) -> anyhow::Result<PageLoads> {
    let options = &plan.options;
    let limit = options.limit;
    let sdk = server.sdk_app_id;
    let deep_page = (plan.events * 9 / 10 / limit).max(2);
    let page1 = events::get_page(&server.signer, sdk, room_id, 1, limit);
    let deep = events::get_page(&server.signer, sdk, room_id, deep_page, limit);
    let page1_body = capture(conn, &page1).await?;
    let deep_body = capture(conn, &deep).await?;
    let total_marker = format!(r#""Total":{}"#, plan.events);
    for (name, body) in [("page 1", &page1_body), ("deep page", &deep_body)] {
        let events = count_occurrences(body, br#""EventType""#);
        if events as u64 != limit || count_occurrences(body, total_marker.as_bytes()) != 1 {
            bail!(
                "GetRoomEvent {name}: expected {limit} events of {}, got {}",
                plan.events,
                String::from_utf8_lossy(&body[..body.len().min(300)])
            );
        }
    }

    let read_spec = spec(plan, options.read_concurrency);
    eprintln!(
        "read: GetRoomEvent page 1, Limit {limit}, c={}",
        options.read_concurrency
    );
    let (page1_result, page1_cache) =
        cached_load(server, Source::Fixed(page1.clone()), read_spec).await?;
    progress("page 1", &page1_result);
    check("GetRoomEvent page 1", &page1_result)?;
    eprintln!("read: GetRoomEvent page {deep_page}");
    let (deep_result, deep_cache) =
        cached_load(server, Source::Fixed(deep.clone()), read_spec).await?;
    progress("deep page", &deep_result);
    check("GetRoomEvent deep page", &deep_result)?;

    eprintln!("read: GetRoomEvent, {RANDOM_PAGES} random pages across the room");
    let pages = plan.events.div_ceil(limit);
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let random: Vec<Prepared> = (0..RANDOM_PAGES)
        .map(|_| {
            // xorshift: a fixed, repeatable spread of pages
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            events::get_page(&server.signer, sdk, room_id, 1 + state % pages, limit)
        })
        .collect();
    let (random_result, random_cache) =
        cached_load(server, Source::Cycle(Arc::new(random)), read_spec).await?;
    progress("random pages", &random_result);
    check("GetRoomEvent random pages", &random_result)?;

    Ok(PageLoads {
        deep_page,
        page1,
        deep,
        page1_body,
        deep_body,
        page1_result,
        deep_result,
        random_result,
        cache: [page1_cache, deep_cache, random_cache],
    })
}

async fn capture(conn: &mut Conn, prepared: &Prepared) -> anyhow::Result<bytes::Bytes> {
    let (status, body) = conn.send(prepared.to_request()).await?;
    if status != ::http::StatusCode::OK || is_api_error(&body) {
        bail!("HTTP {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(body)
}

async fn keyword_run(
    server: &Roomlog,
    prepared: &Prepared,
    keyword: &mut Keyword,
) -> anyhow::Result<()> {
    let mut conn = Conn::open(server.addr()).await?;
    let pid = server.pid();
    let before = proc_status_bytes(pid, "VmRSS")?;
    let sampler = RssSampler::start(pid, Duration::from_millis(2));
    let started = Instant::now();
    let body = capture(&mut conn, prepared).await;
    let elapsed = started.elapsed();
    let (peak, samples) = sampler.finish();
    let body = body.context("Keyword query")?;
    let found = count_occurrences(&body, format!(r#""EventType":"{KEYWORD}""#).as_bytes());
    keyword.events = found;
    keyword.body_bytes = body.len();
    keyword.times.push(elapsed);
    keyword.rss_before.push(before);
    keyword.rss_peak.push(peak.max(before));
    keyword.samples += samples;
    eprintln!(
        "  Keyword={KEYWORD}: {found} events, {:.1} MB in {:.3} s; VmRSS {:.1} MB before, peak {:.1} MB ({samples} samples)",
        body.len() as f64 / 1e6,
        elapsed.as_secs_f64(),
        mb(before),
        mb(peak)
    );
    Ok(())
}

pub fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn db_bytes(dir: &std::path::Path) -> u64 {
    ["roomlog.db", "roomlog.db-wal"]
        .iter()
        .filter_map(|name| std::fs::metadata(dir.join(name)).ok())
        .map(|m| m.len())
        .sum()
}

pub(crate) async fn read(plan: &Plan) -> anyhow::Result<ReadResults> {
    let options = &plan.options;
    let limit = options.limit;
    let data_dir = plan.run_dir.join("read");
    eprintln!("read: starting a fresh roomlog");
    let mut server = Roomlog::start(&plan.roomlog_bin, &data_dir)?;
    let mut rss = Rss {
        idle: proc_status_bytes(server.pid(), "VmRSS")?,
        ..Rss::default()
    };
    let mut conn = Conn::open(server.addr()).await?;
    let room_id = create_room(&server, &mut conn).await?;

    // StartRoom recorded event 1 (RoomStart); the fill brings the room to `plan.events`.
    let fill_count = plan.events - 1;
    eprint!(
        "read: filling room {room_id} with {fill_count} events, {FILL_BATCH} per call, c={} ",
        options.fill_concurrency
    );
    let fill_time = fill(&server, room_id, fill_count, options.fill_concurrency).await?;
    let fill = Fill {
        events: fill_count,
        elapsed: fill_time,
        db_bytes: db_bytes(&data_dir),
    };
    eprintln!(
        "  filled in {:.1} s ({:.0} events/s); database {:.0} MB",
        fill_time.as_secs_f64(),
        fill_count as f64 / fill_time.as_secs_f64(),
        mb(fill.db_bytes)
    );
    rss.after_fill = proc_status_bytes(server.pid(), "VmRSS")?;
    rss.hwm_after_fill = proc_status_bytes(server.pid(), "VmHWM")?;
    eprintln!(
        "  server VmRSS {:.1} MB (VmHWM {:.1} MB)",
        mb(rss.after_fill),
        mb(rss.hwm_after_fill)
    );

    let PageLoads {
        deep_page,
        page1,
        deep,
        page1_body,
        deep_body,
        page1_result,
        deep_result,
        random_result,
        cache,
    } = page_loads(plan, &server, &mut conn, room_id).await?;
    let read_spec = spec(plan, options.read_concurrency);
    let (sdk, pages) = (server.sdk_app_id, plan.events.div_ceil(limit));

    // The HTTP baseline: same requests, byte-identical answers, nothing else.
    let files = plan.run_dir.join("baseline");
    std::fs::create_dir_all(&files)?;
    let mut routes = Vec::new();
    for (name, request, body) in [("page1", &page1, &page1_body), ("deep", &deep, &deep_body)] {
        let request_file = files.join(format!("{name}.request.json"));
        let response_file = files.join(format!("{name}.response.json"));
        std::fs::write(&request_file, &request.body)?;
        std::fs::write(&response_file, body)?;
        routes.push((request_file, response_file));
    }
    let baseline = start_baseline(&routes)?;
    let mut base_conn = Conn::open(baseline.addr).await?;
    anyhow::ensure!(
        capture(&mut base_conn, &page1).await? == page1_body
            && capture(&mut base_conn, &deep).await? == deep_body,
        "the baseline server does not answer the captured bodies"
    );
    drop(base_conn);
    eprintln!("baseline: page 1");
    let base_page1 = load::run(
        baseline.addr,
        baseline.pid(),
        Source::Fixed(page1.clone()),
        read_spec,
    )
    .await?;
    progress("baseline page 1", &base_page1);
    check("baseline page 1", &base_page1)?;
    eprintln!("baseline: page {deep_page}");
    let base_deep = load::run(
        baseline.addr,
        baseline.pid(),
        Source::Fixed(deep.clone()),
        read_spec,
    )
    .await?;
    progress("baseline deep page", &base_deep);
    check("baseline deep page", &base_deep)?;
    // Dropping it kills it.
    drop(baseline);

    eprintln!(
        "keyword: GetRoomEvent Keyword={KEYWORD}, {} runs",
        options.keyword_runs
    );
    let prepared = events::get_keyword(&server.signer, sdk, room_id, KEYWORD);
    let mut keyword = Keyword {
        events: 0,
        body_bytes: 0,
        times: Vec::new(),
        rss_before: Vec::new(),
        rss_peak: Vec::new(),
        samples: 0,
    };
    for _ in 0..options.keyword_runs.max(1) {
        keyword_run(&server, &prepared, &mut keyword).await?;
    }
    let expected = plan.events.saturating_sub(1).div_ceil(10);
    anyhow::ensure!(
        keyword.events as u64 == expected,
        "Keyword={KEYWORD} returned {} events, expected {expected}",
        keyword.events
    );
    rss.after_reads = proc_status_bytes(server.pid(), "VmRSS")?;
    rss.hwm_after_reads = proc_status_bytes(server.pid(), "VmHWM")?;

    eprintln!("restart: SIGTERM, start again on the same data, a few queries");
    drop(conn);
    server.restart()?;
    let mut conn = Conn::open(server.addr()).await?;
    let signer = server.signer.clone();
    for page in [1, 2, deep_page, pages / 2, pages, pages / 3, pages / 5, 7] {
        let prepared = events::get_page(&signer, sdk, room_id, page.max(1), limit);
        capture(&mut conn, &prepared).await?;
    }
    capture(
        &mut conn,
        &events::get_keyword(&signer, sdk, room_id, KEYWORD),
    )
    .await?;
    rss.after_restart = proc_status_bytes(server.pid(), "VmRSS")?;
    rss.hwm_after_restart = proc_status_bytes(server.pid(), "VmHWM")?;
    eprintln!(
        "  server VmRSS {:.1} MB (VmHWM {:.1} MB)",
        mb(rss.after_restart),
        mb(rss.hwm_after_restart)
    );
    drop(conn);

    // The same pages without the page cache: every request reads and renders its page from
    // the store (the deep page's index seek against page 1's).
    eprintln!("read: page 1 and page {deep_page} again, page cache off (--page-cache-mib 0)");
    server.restart_with(&["--page-cache-mib", "0"])?;
    let signer = server.signer.clone();
    let mut uncached = Vec::new();
    for (name, page) in [("page 1", 1), ("deep page", deep_page)] {
        let prepared = events::get_page(&signer, sdk, room_id, page, limit);
        let (result, used) = cached_load(&server, Source::Fixed(prepared), read_spec).await?;
        progress(&format!("{name}, page cache off"), &result);
        check(&format!("GetRoomEvent {name}, page cache off"), &result)?;
        anyhow::ensure!(used.hits == 0, "the page cache was off, yet it hit");
        uncached.push(result);
    }
    let uncached_deep = uncached.pop().expect("two loads");
    let uncached_page1 = uncached.pop().expect("two loads");
    server.stop()?;

    Ok(ReadResults {
        events: plan.events,
        deep_page,
        fill,
        page1: page1_result,
        deep: deep_result,
        random: random_result,
        cache,
        uncached_page1,
        uncached_deep,
        base_page1,
        base_deep,
        page1_body_bytes: page1_body.len(),
        deep_body_bytes: deep_body.len(),
        keyword,
        rss,
    })
}
