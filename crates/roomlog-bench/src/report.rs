//! The final report: the machine, then one Markdown table of figures, same-run baselines,
//! ratios and goals (goals are informative: nothing fails on time).

use crate::load::LoadResult;
use crate::server::Machine;
use crate::suite::Results;
use crate::workloads::mb;
use crate::Plan;

/// Goals from the product issue.
const READ_RATIO_GOAL: f64 = 0.40;
const DEEP_P99_GOAL: f64 = 1.5;
const BATCH_RATIO_GOAL: f64 = 0.50;
const SINGLE_EVENTS_GOAL: f64 = 10_000.0;
const KEYWORD_RSS_GOAL_MB: f64 = 50.0;
const RSS_GOAL_MB: f64 = 100.0;

/// 1234567.8 -> "1,234,568".
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn met(ok: bool) -> String {
    if ok { "yes" } else { "**no**" }.into()
}

fn requests(result: &LoadResult) -> String {
    format!(
        "{} req/s; p50 {:.2} ms, p99 {:.2} ms",
        thousands(result.rps()),
        result.p50_ms(),
        result.p99_ms()
    )
}

fn events(result: &LoadResult) -> String {
    format!(
        "{} events/s ({} req/s; p50 {:.2} ms, p99 {:.2} ms){}",
        thousands(result.units_per_sec()),
        thousands(result.rps()),
        result.p50_ms(),
        result.p99_ms(),
        if result.exhausted {
            " (pre-signed pool ran out: measured until then)"
        } else {
            ""
        }
    )
}

type Row = [String; 6];

fn row(cells: [&str; 6]) -> Row {
    cells.map(str::to_owned)
}

pub fn print(plan: &Plan, results: &Results) {
    let machine = Machine::describe();
    let mut rows: Vec<Row> = Vec::new();

    if let Some(read) = &results.read {
        let c = plan.options.read_concurrency;
        let limit = plan.options.limit;
        let deep_name = format!("page {}", thousands(read.deep_page as f64));
        for (name, ours, base, bytes, cache) in [
            (
                "page 1".to_owned(),
                &read.page1,
                &read.base_page1,
                read.page1_body_bytes,
                Some(read.cache[0]),
            ),
            (
                deep_name.clone(),
                &read.deep,
                &read.base_deep,
                read.deep_body_bytes,
                Some(read.cache[1]),
            ),
            (
                "page 1".to_owned(),
                &read.uncached_page1,
                &read.base_page1,
                read.page1_body_bytes,
                None,
            ),
            (
                deep_name.clone(),
                &read.uncached_deep,
                &read.base_deep,
                read.deep_body_bytes,
                None,
            ),
        ] {
            let ratio = ours.rps() / base.rps();
            // The goal is the service's as shipped (page cache on); without it, information.
            let (cache, off, goal, met) = match cache {
                Some(cache) => (
                    format!("; page cache {:.0}% hits", cache.hit_percent()),
                    "",
                    format!(">= {:.0}%", READ_RATIO_GOAL * 100.0),
                    met(ratio >= READ_RATIO_GOAL),
                ),
                None => (
                    String::new(),
                    ", page cache off",
                    "(info)".to_owned(),
                    String::new(),
                ),
            };
            rows.push([
                format!(
                    "GetRoomEvent {name} of {} events (Limit {limit}, c={c}, signed; {} B answer){off}",
                    thousands(read.events as f64),
                    thousands(bytes as f64)
                ),
                format!("{}{cache}", requests(ours)),
                format!("HTTP baseline: {}", requests(base)),
                format!("{:.0}% of baseline", ratio * 100.0),
                goal,
                met,
            ]);
        }
        for (name, page1, deep) in [
            ("", &read.page1, &read.deep),
            (
                ", page cache off",
                &read.uncached_page1,
                &read.uncached_deep,
            ),
        ] {
            let p99_ratio = deep.p99_ms() / page1.p99_ms();
            rows.push([
                format!("GetRoomEvent deep-page p99 / page-1 p99{name}"),
                format!("{:.2} ms / {:.2} ms", deep.p99_ms(), page1.p99_ms()),
                String::new(),
                format!("{p99_ratio:.2}x"),
                format!("<= {DEEP_P99_GOAL}x"),
                met(p99_ratio <= DEEP_P99_GOAL),
            ]);
        }
        rows.push([
            format!("GetRoomEvent 1,000 random pages (info, c={c})"),
            format!(
                "{}; page cache {:.0}% hits",
                requests(&read.random),
                read.cache[2].hit_percent()
            ),
            String::new(),
            format!(
                "{:.0}% of page-1 rate",
                read.random.rps() / read.page1.rps() * 100.0
            ),
            String::new(),
            String::new(),
        ]);
    }

    if let Some(ingest) = &results.ingest {
        let batch_raw = ingest.raw_batch.events_per_sec();
        let batch_ratio = ingest.batch.units_per_sec() / batch_raw;
        rows.push([
            format!(
                "ReportRoomEvents, 100 events/call, c={}, durable",
                plan.options.batch_concurrency
            ),
            events(&ingest.batch),
            format!(
                "raw SQLite, 1 txn per 100 rows: {} events/s",
                thousands(batch_raw)
            ),
            format!("{:.0}% of raw", batch_ratio * 100.0),
            format!(">= {:.0}%", BATCH_RATIO_GOAL * 100.0),
            met(batch_ratio >= BATCH_RATIO_GOAL),
        ]);
        let single = ingest.single.units_per_sec();
        let single_raw = ingest.raw_single.events_per_sec();
        rows.push([
            format!(
                "ReportRoomEvents, 1 event/call, c={}, durable",
                plan.options.single_concurrency
            ),
            events(&ingest.single),
            format!(
                "raw SQLite, 1 txn per row: {} events/s",
                thousands(single_raw)
            ),
            format!(
                "{:.1}x raw (group commit); {:.0}% of raw batched",
                single / single_raw,
                single / batch_raw * 100.0
            ),
            format!(">= {} events/s", thousands(SINGLE_EVENTS_GOAL)),
            met(single >= SINGLE_EVENTS_GOAL),
        ]);
    }

    if let Some(callbacks) = &results.callbacks {
        let steady = &callbacks.steady;
        let ingest_rate = steady.events_per_sec();
        rows.push([
            format!(
                "Callbacks, steady: ReportRoomEvents 1 event/call at {} events/s over {} rooms \
                 for {:.1} s; receiver answers 204",
                thousands(callbacks.rate),
                callbacks.rooms,
                steady.elapsed.as_secs_f64()
            ),
            format!(
                "{} deliveries/s ({} of {} events delivered); lag (ack to receipt) p50 {:.2} ms, \
                 p99 {:.2} ms, max {:.2} ms; last callback {:.0} ms after the last ack",
                thousands(steady.deliveries_per_sec),
                thousands(steady.delivered as f64),
                thousands(steady.events as f64),
                steady.lag_ms(0.50),
                steady.lag_ms(0.99),
                steady.lag_ms(1.0),
                steady.tail.as_secs_f64() * 1000.0
            ),
            format!("ingest acknowledged: {} events/s", thousands(ingest_rate)),
            format!(
                "{:.0}% of the ingest rate",
                steady.deliveries_per_sec / ingest_rate.max(1e-9) * 100.0
            ),
            String::new(),
            String::new(),
        ]);
        let backlog = &callbacks.backlog;
        let drain = backlog.deliveries_per_sec();
        let (baseline, ratio) = match &results.ingest {
            Some(ingest) => {
                let single = ingest.single.units_per_sec();
                (
                    format!(
                        "single-event ingest (above): {} events/s",
                        thousands(single)
                    ),
                    format!("{:.0}% of single-event ingest", drain / single * 100.0),
                )
            }
            None => (String::new(), String::new()),
        };
        rows.push([
            format!(
                "Callbacks, backlog drained: {} events reported over {} rooms (100 per call, \
                 {:.2} s), then delivered",
                thousands(backlog.events as f64),
                callbacks.rooms,
                backlog.ingest.as_secs_f64()
            ),
            format!(
                "{} deliveries/s sustained ({} in {:.2} s, first to last callback)",
                thousands(drain),
                thousands(backlog.events as f64),
                backlog.drain.as_secs_f64()
            ),
            baseline,
            ratio,
            String::new(),
            String::new(),
        ]);
    }

    if let Some(read) = &results.read {
        let keyword = &read.keyword;
        let growth = mb(keyword.max_growth());
        rows.push([
            format!(
                "GetRoomEvent Keyword=MicOn: {} events ({:.1} MB answer)",
                thousands(keyword.events as f64),
                keyword.body_bytes as f64 / 1e6
            ),
            format!(
                "{:.2} s (median of {}; {})",
                keyword.median_time().as_secs_f64(),
                keyword.times.len(),
                keyword
                    .times
                    .iter()
                    .map(|t| format!("{:.2}", t.as_secs_f64()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ]);
        rows.push([
            "server peak VmRSS growth during the Keyword query".into(),
            format!(
                "+{growth:.1} MB (largest of {} runs, {} samples at 2 ms)",
                keyword.times.len(),
                keyword.samples
            ),
            String::new(),
            String::new(),
            format!("< {KEYWORD_RSS_GOAL_MB:.0} MB"),
            met(growth < KEYWORD_RSS_GOAL_MB),
        ]);
        let rss = &read.rss;
        for (name, value, hwm) in [
            (
                format!(
                    "server VmRSS, {} events stored, after the fill",
                    thousands(read.events as f64)
                ),
                rss.after_fill,
                rss.hwm_after_fill,
            ),
            (
                "server VmRSS after the read workloads".to_owned(),
                rss.after_reads,
                rss.hwm_after_reads,
            ),
            (
                "server VmRSS after a restart + 9 queries".to_owned(),
                rss.after_restart,
                rss.hwm_after_restart,
            ),
        ] {
            let value_mb = mb(value);
            rows.push([
                name,
                format!("{value_mb:.1} MB (VmHWM {:.1} MB)", mb(hwm)),
                String::new(),
                String::new(),
                format!("< {RSS_GOAL_MB:.0} MB"),
                met(value_mb < RSS_GOAL_MB),
            ]);
        }
        rows.push(row([
            "fill (info): ReportRoomEvents, 1000 events/call",
            &format!(
                "{} events/s ({} events in {:.1} s, c={}); database {:.0} MB; fresh server VmRSS {:.1} MB",
                thousands(read.fill.events as f64 / read.fill.elapsed.as_secs_f64()),
                thousands(read.fill.events as f64),
                read.fill.elapsed.as_secs_f64(),
                plan.options.fill_concurrency,
                mb(read.fill.db_bytes),
                mb(rss.idle)
            ),
            "",
            "",
            "",
            "",
        ]));
    }

    println!();
    println!("## roomlog benchmark results");
    println!();
    println!(
        "- machine: {} CPUs ({}), {} RAM, {}; data on {}",
        machine.cpus, machine.model, machine.memory, machine.kernel, results.data_fs
    );
    println!("- date: {}", machine.date);
    println!(
        "- other processes used {:.2} cores in the second before the run (see the CPU table for \
         each load)",
        results.other_before
    );
    println!(
        "- the load generator, the server under test and the baselines share these {} cores \
         (nothing is pinned)",
        machine.cpus
    );
    println!(
        "- each load: {:.1} s measured after {:.1} s warm-up; closed loop, one keep-alive \
         HTTP/1.1 connection per worker; requests pre-signed (TC3-HMAC-SHA256)",
        plan.duration.as_secs_f64(),
        plan.warmup.as_secs_f64()
    );
    println!();
    let header = row([
        "workload",
        "roomlog",
        "baseline (same run)",
        "ratio",
        "goal",
        "met",
    ]);
    print_table(&header, &rows);
    print_cpu(&machine, results);
    print_postgres(plan, results);
}

/// The same workloads on PostgreSQL beside the embedded store: what scaling out costs per node.
fn print_postgres(plan: &Plan, results: &Results) {
    let Some(pg) = &results.postgres else {
        return;
    };
    let limit = plan.options.limit;
    let embedded_ingest = results.ingest.as_ref();
    let embedded_read = results.read.as_ref();
    let versus = |ours: f64, embedded: Option<f64>| match embedded {
        Some(e) if e > 0.0 => format!("{:.0}%", ours / e * 100.0),
        _ => "-".into(),
    };
    let mut rows: Vec<[String; 4]> = Vec::new();
    let mut push = |name: String, ours: &LoadResult, embedded: Option<&LoadResult>, units: bool| {
        let show = |r: &LoadResult| if units { events(r) } else { requests(r) };
        let rate = |r: &LoadResult| if units { r.units_per_sec() } else { r.rps() };
        rows.push([
            name,
            show(ours),
            embedded.map(show).unwrap_or_else(|| "(not run)".into()),
            versus(rate(ours), embedded.map(rate)),
        ]);
    };
    push(
        format!(
            "ReportRoomEvents, 100 events per call, c={}",
            plan.options.batch_concurrency
        ),
        &pg.batch,
        embedded_ingest.map(|i| &i.batch),
        true,
    );
    push(
        format!(
            "ReportRoomEvents, 1 event per call, c={}",
            plan.options.single_concurrency
        ),
        &pg.single,
        embedded_ingest.map(|i| &i.single),
        true,
    );
    let c = plan.options.read_concurrency;
    push(
        format!("GetRoomEvent page 1 (Limit {limit}, c={c})"),
        &pg.page1,
        embedded_read.map(|r| &r.page1),
        false,
    );
    push(
        format!("GetRoomEvent page {}", thousands(pg.deep_page as f64)),
        &pg.deep,
        embedded_read.map(|r| &r.deep),
        false,
    );
    push(
        "GetRoomEvent random pages".into(),
        &pg.random,
        embedded_read.map(|r| &r.random),
        false,
    );
    let pg_fill = pg.fill_events as f64 / pg.fill_time.as_secs_f64();
    let embedded_fill = embedded_read.map(|r| r.fill.events as f64 / r.fill.elapsed.as_secs_f64());
    rows.push([
        format!(
            "filling one room, 1000 events per call, c={}",
            plan.options.fill_concurrency
        ),
        format!("{} events/s", thousands(pg_fill)),
        embedded_fill
            .map(|e| format!("{} events/s", thousands(e)))
            .unwrap_or_else(|| "(not run)".into()),
        versus(pg_fill, embedded_fill),
    ]);
    println!();
    println!(
        "### Scale-out: the same workloads on PostgreSQL (one node; `serve --store`, server on \
         this machine)"
    );
    println!();
    let header = [
        "workload".to_owned(),
        "roomlog on PostgreSQL".to_owned(),
        "roomlog embedded (same run)".to_owned(),
        "PostgreSQL / embedded".to_owned(),
    ];
    print_table(&header, &rows);
}

/// Where the CPU went during each load: the figures above are shaped by how the 2 cores were
/// split between the server and the load generator.
fn print_cpu(machine: &Machine, results: &Results) {
    let mut loads: Vec<(String, &LoadResult)> = Vec::new();
    if let Some(ingest) = &results.ingest {
        loads.push((
            "roomlog ReportRoomEvents, 100 events/call".into(),
            &ingest.batch,
        ));
        loads.push((
            "roomlog ReportRoomEvents, 1 event/call".into(),
            &ingest.single,
        ));
    }
    if let Some(read) = &results.read {
        loads.push(("roomlog GetRoomEvent page 1".into(), &read.page1));
        loads.push((
            format!(
                "roomlog GetRoomEvent page {}",
                thousands(read.deep_page as f64)
            ),
            &read.deep,
        ));
        loads.push(("roomlog GetRoomEvent random pages".into(), &read.random));
        loads.push((
            "roomlog GetRoomEvent page 1, page cache off".into(),
            &read.uncached_page1,
        ));
        loads.push((
            format!(
                "roomlog GetRoomEvent page {}, page cache off",
                thousands(read.deep_page as f64)
            ),
            &read.uncached_deep,
        ));
        loads.push(("HTTP baseline, page-1 body".into(), &read.base_page1));
        loads.push(("HTTP baseline, deep-page body".into(), &read.base_deep));
    }
    // Callback phases: per event (steady: its ingest and its delivery) and per delivery (drain).
    let mut extra: Vec<[String; 6]> = Vec::new();
    if let Some(callbacks) = &results.callbacks {
        let steady = &callbacks.steady;
        let backlog = &callbacks.backlog;
        for (name, rate, cpu) in [
            (
                "roomlog callbacks, steady (ingest + delivery, per event)",
                steady.events_per_sec(),
                steady.cpu,
            ),
            (
                "roomlog callbacks, backlog (ingest + delivery, per event)",
                backlog.events as f64 / (backlog.ingest.max(backlog.drain)).as_secs_f64().max(1e-9),
                backlog.cpu,
            ),
        ] {
            extra.push([
                name.to_owned(),
                thousands(rate),
                format!("{:.2}", cpu.server),
                format!("{:.0} us", cpu.server / rate.max(1e-9) * 1e6),
                format!("{:.2}", cpu.client),
                format!("{:.2}", cpu.other),
            ]);
        }
    }
    if loads.is_empty() && extra.is_empty() {
        return;
    }
    println!();
    println!(
        "CPU during each load (warm-up included; {} cores shared by server and load generator):",
        machine.cpus
    );
    println!();
    let mut rows: Vec<[String; 6]> = loads
        .into_iter()
        .map(|(name, load)| {
            [
                name,
                thousands(load.rps()),
                format!("{:.2}", load.cpu.server),
                format!("{:.0} us", load.server_cpu_us_per_request()),
                format!("{:.2}", load.cpu.client),
                format!("{:.2}", load.cpu.other),
            ]
        })
        .collect();
    rows.extend(extra);
    let header = [
        "load",
        "req/s",
        "server cores",
        "server CPU per request",
        "load generator cores",
        "other processes, cores",
    ]
    .map(str::to_owned);
    print_table(&header, &rows);
}

fn print_table<const N: usize>(header: &[String; N], rows: &[[String; N]]) {
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String; N]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("| {} |", padded.join(" | "));
    };
    line(header);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    println!("|-{}-|", rule.join("-|-"));
    for row in rows {
        line(row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1_234_567.8), "1,234,568");
    }
}
