//! StreamRoomEvents: a signed GET answered as Server-Sent Events, resumable with Last-Event-ID.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::sse::{open, open_resuming_from, open_with, read_events, read_events_within};
use support::{call, create_room, TestServer};

fn mic(id: &str) -> Value {
    json!({"EventId": id, "EventType": "MicOn", "UserId": "u"})
}

/// The sequence numbers of streamed events.
fn seqs(events: &[(u64, Value)]) -> Vec<u64> {
    events.iter().map(|(seq, _)| *seq).collect()
}

#[tokio::test]
async fn live_stream_resumes_without_gaps_and_ends_with_the_class() {
    let server = TestServer::start(&[]);
    let client = server.client();
    let app = server.sdk_app_id();
    let room = create_room(&client, app).await;
    call(&client, "StartRoom", json!({"RoomId": room})).await;
    let report = |ids: &[&str]| {
        let events: Vec<Value> = ids.iter().map(|id| mic(id)).collect();
        json!({"SdkAppId": app, "RoomId": room, "Events": events})
    };
    call(&client, "ReportRoomEvents", report(&["a", "b"])).await;

    let mut stream = open(&server, json!({"SdkAppId": app, "RoomId": room}), None).await;
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let mut buffer = String::new();
    let first = read_events(&mut stream, &mut buffer, 3).await;
    assert_eq!(seqs(&first), [1, 2, 3]);
    assert_eq!(first[0].1["EventType"], "RoomStart");
    assert_eq!(first[1].1["EventId"], "a");
    assert_eq!(
        first[1].1["EventData"],
        json!({"RoomId": room, "UserId": "u"})
    );

    // New events arrive live.
    call(&client, "ReportRoomEvents", report(&["c"])).await;
    let live = read_events(&mut stream, &mut buffer, 1).await;
    assert_eq!(live[0].0, 4);
    drop(stream);

    // While disconnected, more happens; the client resumes from the last id it saw.
    call(&client, "ReportRoomEvents", report(&["d", "e"])).await;
    let mut resumed = open(&server, json!({"SdkAppId": app, "RoomId": room}), Some(4)).await;
    let mut buffer = String::new();
    let caught_up = read_events(&mut resumed, &mut buffer, 2).await;
    assert_eq!(seqs(&caught_up), [5, 6]);
    call(&client, "EndRoom", json!({"RoomId": room})).await;
    let tail = read_events(&mut resumed, &mut buffer, 10).await;
    assert_eq!(tail.last().unwrap().1["EventType"], "RoomEnd", "{tail:?}");
    assert!(
        resumed.chunk().await.unwrap().is_none(),
        "the stream ends with the class"
    );

    // AfterSeq works the same way, and errors before streaming keep the JSON envelope.
    let after = json!({"SdkAppId": app, "RoomId": room, "AfterSeq": 6});
    let mut late = open(&server, after, None).await;
    let mut buffer = String::new();
    let rest = read_events(&mut late, &mut buffer, 10).await;
    assert_eq!(rest.first().unwrap().0, 7);
    let missing = open(&server, json!({"SdkAppId": app, "RoomId": 1}), None).await;
    assert_eq!(missing.headers()["content-type"], "application/json");
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["Response"]["Error"]["Code"], "ResourceNotFound.Room");
}

/// Issue 11 item 10: `AfterSeq` or `Last-Event-ID` past the sequence range (u64::MAX used to
/// wrap to 0 and replay the whole room) is an InvalidParameterValue, as is a `Last-Event-ID`
/// that is no sequence number at all (it used to be ignored: a replay from the start). Large
/// values within the range are fine: nothing follows them yet.
#[tokio::test]
async fn resume_points_past_the_sequence_range_are_refused_not_replayed() {
    const U64_MAX: &str = "18446744073709551615";
    const I64_MAX_PLUS_1: &str = "9223372036854775808";
    let server = TestServer::start(&["--rate-limit-default", "0"]);
    let client = server.client();
    let app = server.sdk_app_id();
    let room = create_room(&client, app).await;
    call(&client, "StartRoom", json!({"RoomId": room})).await;
    let report = |events: Value| json!({"SdkAppId": app, "RoomId": room, "Events": events});
    let params = report(json!([mic("a"), mic("b")]));
    call(&client, "ReportRoomEvents", params).await;

    async fn refused(what: &str, mut response: reqwest::Response) {
        if response.headers()["content-type"] != "application/json" {
            // A stream (which does not end by itself): show what it sent first.
            let first = tokio::time::timeout(Duration::from_secs(2), response.chunk()).await;
            panic!(
                "{what}: a stream ({}), not an error; it sent {first:?}",
                response.status()
            );
        }
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["Response"]["Error"]["Code"], "InvalidParameterValue",
            "{what}: {body}"
        );
    }
    for after in [U64_MAX, I64_MAX_PLUS_1, "18446744073709551614"] {
        let params = json!({"SdkAppId": app, "RoomId": room, "AfterSeq": after});
        let what = format!("AfterSeq={after}");
        refused(&what, open(&server, params, None).await).await;
    }
    for last in [U64_MAX, I64_MAX_PLUS_1, "-1", "3x", "1e3", "abc"] {
        let params = json!({"SdkAppId": app, "RoomId": room});
        let what = format!("Last-Event-ID: {last}");
        refused(&what, open_resuming_from(&server, params, last).await).await;
        // Also when AfterSeq is valid: the header is what a reconnecting client relies on.
        let params = json!({"SdkAppId": app, "RoomId": room, "AfterSeq": 1});
        refused(&what, open_resuming_from(&server, params, last).await).await;
    }

    // The largest resume points in range: a stream, with nothing (yet) to send.
    let max = i64::MAX.to_string();
    let max_minus_1 = (i64::MAX - 1).to_string();
    let mut streams = Vec::new();
    for after in [max.as_str(), max_minus_1.as_str(), "1000000"] {
        let params = json!({"SdkAppId": app, "RoomId": room, "AfterSeq": after});
        let stream = open(&server, params, None).await;
        streams.push((format!("AfterSeq={after}"), stream));
        let params = json!({"SdkAppId": app, "RoomId": room});
        let stream = open_resuming_from(&server, params, after).await;
        streams.push((format!("Last-Event-ID: {after}"), stream));
    }
    call(&client, "ReportRoomEvents", report(json!([mic("c")]))).await;
    for (what, mut stream) in streams {
        assert_eq!(stream.status(), 200, "{what}");
        let content_type = &stream.headers()["content-type"];
        assert_eq!(content_type, "text/event-stream", "{what}");
        let sent = tokio::time::timeout(Duration::from_millis(500), stream.chunk()).await;
        assert!(sent.is_err(), "{what}: nothing to send, got {sent:?}");
    }
    // An empty Last-Event-ID is no resume point (a stream from the start), and a valid one
    // still resumes.
    let params = json!({"SdkAppId": app, "RoomId": room});
    let mut all = open_resuming_from(&server, params.clone(), "").await;
    let events = read_events(&mut all, &mut String::new(), 4).await;
    assert_eq!(seqs(&events), [1, 2, 3, 4]);
    let mut resumed = open_resuming_from(&server, params, " 3 ").await;
    let events = read_events(&mut resumed, &mut String::new(), 1).await;
    assert_eq!(seqs(&events), [4]);
}

/// `/proc/PID/status` field (Linux), e.g. `Threads`.
fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// CPU time (user + system) the process has used, in clock ticks (Linux).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("proc stat");
    let rest = stat.rsplit_once(')').expect("stat format").1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command name: field 3 (state) is fields[0]; utime is field 14, stime 15.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Several hundred live streams over a few rooms: every stream gets every event of its room, in
/// order, and the server neither adds threads per stream nor works while they wait (each room
/// has one change notification that its streams wait on; nothing polls).
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_streams_each_get_every_event_in_order() {
    const ROOMS: usize = 3;
    const STREAMS: usize = 300;
    const BATCHES: usize = 8;
    const PER_BATCH: usize = 3;
    // Generous: nothing here depends on the machine's speed within these.
    const STALL: Duration = Duration::from_secs(120);

    // No rate limits: 300 StreamRoomEvents calls in a burst would exceed the default; and 300
    // streams of one account, more than the default 100 per account.
    let server = TestServer::start(&[
        "--rate-limit-default",
        "0",
        "--max-streams-per-account",
        "1000",
    ]);
    let client = server.client();
    let app = server.sdk_app_id();
    let pid = server.child.id();
    let mut rooms = Vec::new();
    for _ in 0..ROOMS {
        let room = create_room(&client, app).await;
        call(&client, "StartRoom", json!({"RoomId": room})).await;
        rooms.push(room);
    }
    let threads_before = proc_status(pid, "Threads");

    // Every stream from the start of its room's log (RoomStart is seq 1).
    let http = roomlog::client::http_client();
    let mut readers = Vec::new();
    for i in 0..STREAMS {
        let room = rooms[i % ROOMS];
        let params = json!({"SdkAppId": app, "RoomId": room});
        let mut stream = open_with(&http, &server, params, None).await;
        assert_eq!(stream.status(), 200);
        assert_eq!(stream.headers()["content-type"], "text/event-stream");
        readers.push(tokio::spawn(async move {
            let mut buffer = String::new();
            let events =
                read_events_within(&mut stream, &mut buffer, 1 + BATCHES * PER_BATCH, STALL).await;
            // Returned to keep the stream open until the end of the test.
            (room, events, stream)
        }));
    }
    let threads_open = proc_status(pid, "Threads");

    for batch in 0..BATCHES {
        for &room in &rooms {
            let ids: Vec<String> = (0..PER_BATCH)
                .map(|i| format!("r{room}-b{batch}-{i}"))
                .collect();
            let events: Vec<Value> = ids.iter().map(|id| mic(id)).collect();
            let params = json!({"SdkAppId": app, "RoomId": room, "Events": events});
            let answer = call(&client, "ReportRoomEvents", params).await;
            assert_eq!(answer["Accepted"], PER_BATCH);
        }
    }

    // Streams wake on the commit notification, not by polling: the last events must reach
    // every stream well before the 15 s keep-alive (after which a stream re-reads the store
    // anyway, which would hide a missing notification).
    let reported = std::time::Instant::now();
    let mut streams = Vec::new();
    for reader in readers {
        let (room, events, stream) = reader.await.expect("a stream reader panicked");
        let expected: Vec<u64> = (1..=(1 + BATCHES * PER_BATCH) as u64).collect();
        assert_eq!(
            seqs(&events),
            expected,
            "room {room}: every event, in order, once"
        );
        assert_eq!(events[0].1["EventType"], "RoomStart");
        for (n, (_, data)) in events[1..].iter().enumerate() {
            let (batch, i) = (n / PER_BATCH, n % PER_BATCH);
            assert_eq!(
                data["EventId"],
                format!("r{room}-b{batch}-{i}"),
                "room {room}"
            );
            assert_eq!(data["EventData"]["RoomId"], room);
        }
        streams.push(stream);
    }
    assert!(
        reported.elapsed() < Duration::from_secs(10),
        "the last events took {:?} to reach every stream: woken by the keep-alive, not by the \
         commit",
        reported.elapsed()
    );

    // Idle: 300 open streams and nothing happening. A design that polled the store per stream
    // would show here; waiting on a notification costs nothing. (Keep-alives are every 15 s.)
    let idle_from = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_ticks = cpu_ticks(pid) - idle_from;
    let threads_idle = proc_status(pid, "Threads");
    eprintln!(
        "{STREAMS} streams: server threads {threads_before} before, {threads_open} with the \
         streams open, {threads_idle} idle; {idle_ticks} CPU ticks (1/100 s) in 2 s idle"
    );
    assert!(
        idle_ticks <= 25,
        "the server used {idle_ticks}/100 s of CPU in 2 s while {STREAMS} streams waited"
    );
    // Reads run on tokio's blocking pool, whose threads come and go with the load (at most
    // `max_readers` reads at once); none is tied to a stream.
    for threads in [threads_open, threads_idle] {
        assert!(
            threads <= threads_before + 64,
            "threads grew from {threads_before} to {threads} with {STREAMS} streams"
        );
    }
    drop(streams);
}
