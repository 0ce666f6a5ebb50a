//! `roomlog simulate`: plays classes through the public API — the README's demo, and a simple
//! load generator (`--rooms`, `--students`).
//!
//! Every call is paced to the server's rate limits (its defaults unless told otherwise with the
//! same flags `serve` takes), so a run never trips them; if the server refuses anyway, the run
//! says which flag to change and removes the rooms it created.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use roomlog_server::config::RateLimits;
use serde_json::{json, Value};

use super::ClientArgs;
use crate::client::{ApiFailure, Client};

/// BatchCreateRoom's limit, and so the most classes one run plays.
const MAX_ROOMS: usize = 1000;
/// GetRooms' largest page.
const ROOMS_PAGE: u64 = 100;
/// GetRoomEvent's largest page.
const EVENTS_PAGE: u64 = 200;
/// simulate calls at this share of each limit: the server's clock sees each call a little
/// earlier or later than it was sent, and a limit of 1/s leaves no burst to absorb that.
const PACE_SHARE: f64 = 0.9;
/// The share of the class over which the scripted events are spread; the rest leaves room for
/// the class to end by its schedule with the last members still in.
const PLAYING_SHARE: f64 = 0.7;

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// Students in each class (plus one teacher).
    #[arg(long, default_value_t = 5)]
    pub students: usize,
    /// Classes played at the same time (1 to 1000).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=MAX_ROOMS as u64))]
    pub rooms: u64,
    /// How long each class is scheduled for; it starts and ends by schedule (EnableAutoStart,
    /// no overtime). The events are spread over it. Lengthened when the rate limits need it.
    #[arg(long, default_value = "12s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// The app to create rooms in [default: the only app of the key's account].
    #[arg(long)]
    pub sdk_app_id: Option<u64>,
    /// The server's default per-action rate limit (requests/s per account), to pace calls by;
    /// as `serve --rate-limit-default`. `0` = unlimited.
    #[arg(long, value_name = "N")]
    pub rate_limit_default: Option<u32>,
    /// The server's limit for one action, as `serve --rate-limit ACTION=N` (repeatable).
    #[arg(long = "rate-limit", value_name = "ACTION=N", value_parser = super::serve::parse_action_limit)]
    pub rate_limits: Vec<(String, u32)>,
    #[command(flatten)]
    pub client: ClientArgs,
}

pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let client = args.client.client()?;
    let sdk_app_id = match args.sdk_app_id {
        Some(id) => id,
        None => client.own_sdk_app_id().await?,
    };
    let mut limits = RateLimits::default();
    if let Some(default) = args.rate_limit_default {
        limits.default = default;
    }
    limits.actions.extend(args.rate_limits.iter().cloned());
    let api = Paced {
        client,
        limits,
        next: Default::default(),
    };

    let plan = Plan::new(&args, &api.limits);
    if plan.duration > args.duration {
        println!(
            "note: {} reports at {}/s need more than {}: each class is scheduled for {} instead",
            plan.report_calls(),
            api.limits.for_action("ReportRoomEvents"),
            humantime::format_duration(args.duration),
            humantime::format_duration(plan.duration),
        );
    }
    let progress = Progress::new();
    let mut created = Vec::new();
    let played = async {
        let outcome = play(&api, sdk_app_id, &plan, &progress, &mut created).await?;
        report(&api, sdk_app_id, &plan, &outcome, &progress).await
    }
    .await;
    progress.finish();
    let err = match played {
        Ok(true) => return Ok(()),
        // Kept for inspection: the rooms are what shows the discrepancy.
        Ok(false) => bail!("the log does not hold exactly what was reported: see the tables above"),
        Err(err) => err,
    };
    eprintln!("simulate failed: {err:#}");
    if let Some(failure) = err.downcast_ref::<ApiFailure>() {
        if failure.code == "RequestLimitExceeded" {
            eprintln!(
                "The server refused a call as over its rate limit. Tell simulate the server's \
                 limits (--rate-limit-default N, --rate-limit ACTION=N, as given to `roomlog \
                 serve`), or raise them on the server."
            );
        }
    }
    clean_up(&api, sdk_app_id, &created).await;
    Err(anyhow::anyhow!("the simulation did not complete"))
}

/// The calls of one run, paced to the server's rate limits.
struct Paced {
    client: Client,
    limits: RateLimits,
    /// When the next call of each action may go.
    next: std::sync::Mutex<HashMap<String, Instant>>,
}

impl Paced {
    async fn call(&self, action: &str, params: Value) -> anyhow::Result<Value> {
        let limit = self.limits.for_action(action);
        if limit > 0 {
            // Evenly spaced just under the limit: the server's bucket (a burst of one second's
            // worth) then never runs dry.
            let interval = Duration::from_secs_f64(1.0 / (f64::from(limit) * PACE_SHARE));
            let at = {
                let mut next = self.next.lock().expect("pacer lock");
                let slot = next.entry(action.to_owned()).or_insert_with(Instant::now);
                let at = (*slot).max(Instant::now());
                *slot = at + interval;
                at
            };
            tokio::time::sleep_until(at.into()).await;
        }
        self.client
            .call(action, &params)
            .await
            .with_context(|| format!("{action} failed"))
    }
}

/// What a run plays: the same script in every room, one step at a time.
struct Plan {
    rooms: u64,
    students: usize,
    duration: Duration,
    /// Events reported one per call in every room, in order.
    script: Vec<Value>,
    /// Members still in when the class ends (RoomEnd closes them: one MemberQuit each).
    staying: usize,
}

impl Plan {
    fn new(args: &SimulateArgs, limits: &RateLimits) -> Self {
        let mut script = script(args.students);
        let staying = (args.students / 3).max(1);
        // The last members' CameraOff and MemberQuit are left to RoomEnd.
        script.truncate(script.len() - 2 * staying);
        let mut plan = Plan {
            rooms: args.rooms,
            students: args.students,
            duration: args.duration.max(Duration::from_secs(2)),
            script,
            staying,
        };
        let per_second = limits.for_action("ReportRoomEvents");
        if per_second > 0 {
            // Spread over PLAYING_SHARE of the class at the paced rate, with a tenth to spare.
            let paced = f64::from(per_second) * PACE_SHARE;
            let needed = plan.report_calls() as f64 / paced / PLAYING_SHARE / 0.9;
            // Plus two seconds: a class may start a second or so after its StartTime.
            plan.duration = plan
                .duration
                .max(Duration::from_secs(needed.ceil() as u64 + 2));
        }
        plan
    }

    /// ReportRoomEvents calls of the whole run (the script, then RecordFinish, in every room).
    fn report_calls(&self) -> u64 {
        (self.script.len() as u64 + 1) * self.rooms
    }
}

/// The events of one class, in order, without EventIds: everyone joins, turns camera and mic
/// on, the teacher shares a screen, mics go off, then members turn cameras off and leave in
/// reverse order.
fn script(students: usize) -> Vec<Value> {
    let mut users = vec![("teacher".to_owned(), 1)];
    users.extend((1..=students).map(|i| (format!("student{i}"), 0)));
    let devices = [1, 2, 3, 4, 5];
    let mut events = Vec::new();
    for (i, (user, role)) in users.iter().enumerate() {
        events.push(json!({"EventType": "MemberJoin", "UserId": user, "Role": role, "Device": devices[i % devices.len()]}));
    }
    for (user, _) in &users {
        events.push(json!({"EventType": "CameraOn", "UserId": user}));
        events.push(json!({"EventType": "MicOn", "UserId": user}));
    }
    events.push(json!({"EventType": "ScreenOn", "UserId": "teacher"}));
    for (user, _) in &users {
        events.push(json!({"EventType": "MicOff", "UserId": user}));
    }
    events.push(json!({"EventType": "ScreenOff", "UserId": "teacher"}));
    for (user, role) in users.iter().rev() {
        events.push(json!({"EventType": "CameraOff", "UserId": user}));
        events.push(json!({"EventType": "MemberQuit", "UserId": user, "Role": role, "Reason": 0}));
    }
    events
}

/// What a played run left: its rooms and how many events it reported into each.
struct Outcome {
    rooms: Vec<u64>,
    reported_per_room: u64,
    calls: u64,
    elapsed: Duration,
}

async fn play(
    api: &Paced,
    sdk_app_id: u64,
    plan: &Plan,
    progress: &Progress,
    created: &mut Vec<u64>,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    // Starts within a second or two, ends at EndTime: the schedule does both.
    let start = roomlog_core::time::now_secs() + 2;
    let end = start + plan.duration.as_secs() as i64;
    let infos: Vec<Value> = (0..plan.rooms)
        .map(|i| {
            json!({
                "Name": format!("Simulated class {}", i + 1), "StartTime": start, "EndTime": end,
                "Resolution": 1, "MaxMicNumber": 6, "SubType": "videodoc", "TeacherId": "teacher",
                "EnableAutoStart": 1, "EndDelayTime": -1,
            })
        })
        .collect();
    progress.phase("creating rooms", plan.rooms);
    let answer = api
        .call(
            "BatchCreateRoom",
            json!({"SdkAppId": sdk_app_id, "RoomInfos": infos}),
        )
        .await?;
    created.extend(
        answer["RoomIds"]
            .as_array()
            .context("BatchCreateRoom answered no RoomIds")?
            .iter()
            .filter_map(Value::as_u64),
    );
    let rooms = created.clone();
    progress.set(rooms.len() as u64);
    let mut calls = 1;

    progress.phase("waiting for the classes to start", plan.rooms);
    calls += wait_for_status(api, sdk_app_id, &rooms, (start, end), 1, progress).await?;

    progress.phase("reporting events", plan.report_calls());
    // Spread over PLAYING_SHARE of what is left of the class once it has started (the start
    // may lag its StartTime by a second or so; the end comes exactly at EndTime).
    let left_ms = (end * 1000 - roomlog_core::time::now_ms()).max(0) as u64;
    let playing = Duration::from_millis(left_ms).mul_f64(PLAYING_SHARE);
    let pause = playing / plan.script.len().max(1) as u32;
    let playing_started = Instant::now();
    for (step, event) in plan.script.iter().enumerate() {
        tokio::time::sleep_until((playing_started + pause * step as u32).into()).await;
        let reports = rooms.iter().map(|&room_id| {
            let mut event = event.clone();
            event["EventId"] = json!(format!("sim-{room_id}-{step}"));
            async move {
                api.call(
                    "ReportRoomEvents",
                    json!({"SdkAppId": sdk_app_id, "RoomId": room_id, "Events": [event]}),
                )
                .await
            }
        });
        for answer in futures_util::future::join_all(reports).await {
            answer?;
            progress.inc();
            calls += 1;
        }
    }

    progress.phase("waiting for the classes to end", plan.rooms);
    calls += wait_for_status(api, sdk_app_id, &rooms, (start, end), 2, progress).await?;

    progress.phase("reporting recordings", plan.rooms);
    let records = rooms.iter().map(|&room_id| async move {
        api.call(
            "ReportRoomEvents",
            json!({"SdkAppId": sdk_app_id, "RoomId": room_id, "Events": [{
                "EventId": format!("sim-{room_id}-record"), "EventType": "RecordFinish",
                "Duration": plan.duration.as_secs(), "RecordSize": 1_048_576,
                "RecordUrl": format!("https://records.example/{room_id}.mp4"),
            }]}),
        )
        .await
    });
    for answer in futures_util::future::join_all(records).await {
        answer?;
        progress.inc();
        calls += 1;
    }
    Ok(Outcome {
        rooms,
        reported_per_room: plan.script.len() as u64 + 1,
        calls,
        elapsed: started.elapsed(),
    })
}

/// Waits until every room has `status`, looking with GetRooms (a page lists up to 100 rooms,
/// so a large run costs a few calls a poll, not one per room). Returns the calls made.
async fn wait_for_status(
    api: &Paced,
    sdk_app_id: u64,
    rooms: &[u64],
    (start, end): (i64, i64),
    status: u64,
    progress: &Progress,
) -> anyhow::Result<u64> {
    let wanted: HashSet<u64> = rooms.iter().copied().collect();
    let mut calls = 0;
    loop {
        let mut reached = 0;
        let mut page = 1;
        loop {
            let answer = api
                .call(
                    "GetRooms",
                    json!({"SdkAppId": sdk_app_id, "StartTime": start, "EndTime": end,
                           "Status": [status], "Page": page, "Limit": ROOMS_PAGE}),
                )
                .await?;
            calls += 1;
            let listed = answer["Rooms"].as_array().cloned().unwrap_or_default();
            reached += listed
                .iter()
                .filter_map(|room| room["RoomId"].as_u64())
                .filter(|id| wanted.contains(id))
                .count();
            if (listed.len() as u64) < ROOMS_PAGE {
                break;
            }
            page += 1;
        }
        progress.set(reached as u64);
        if reached == wanted.len() {
            return Ok(calls);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Ends (if in class) and deletes the rooms of a failed run.
async fn clean_up(api: &Paced, sdk_app_id: u64, rooms: &[u64]) {
    if rooms.is_empty() {
        return;
    }
    eprintln!("removing the {} room(s) this run created...", rooms.len());
    let mut left = Vec::new();
    for &room_id in rooms {
        let params = json!({"RoomId": room_id});
        // EndRoom fails on a class not started; DeleteRoom then takes it as it is.
        let _ = api.call("EndRoom", params.clone()).await;
        if api.call("DeleteRoom", params).await.is_err() {
            left.push(room_id);
        }
    }
    if left.is_empty() {
        eprintln!("removed.");
    } else {
        eprintln!(
            "could not remove room(s) {} of app {sdk_app_id}: remove them with \
             `roomlog call EndRoom RoomId=ID` and `roomlog call DeleteRoom RoomId=ID`",
            join(&left)
        );
    }
}

/// One room as read back.
struct RoomReport {
    room_id: u64,
    events: u64,
    closed_by_room_end: u64,
    stats: Value,
}

async fn report(
    api: &Paced,
    sdk_app_id: u64,
    plan: &Plan,
    outcome: &Outcome,
    progress: &Progress,
) -> anyhow::Result<bool> {
    progress.phase("reading the log and attendance back", plan.rooms);
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut rooms = Vec::new();
    for &room_id in &outcome.rooms {
        let mut closed = 0;
        let mut total = 0;
        for page in 1.. {
            let answer = api
                .call(
                    "GetRoomEvent",
                    json!({"SdkAppId": sdk_app_id, "RoomId": room_id, "Page": page, "Limit": EVENTS_PAGE}),
                )
                .await?;
            let events = answer["Events"].as_array().cloned().unwrap_or_default();
            for event in &events {
                let event_type = event["EventType"].as_str().unwrap_or("?");
                *counts.entry(event_type.to_owned()).or_default() += 1;
                if event_type == "MemberQuit" && event["EventData"]["Reason"] == 5 {
                    closed += 1;
                }
            }
            total = answer["Total"].as_u64().unwrap_or(0);
            if (events.len() as u64) < EVENTS_PAGE {
                break;
            }
        }
        let stats = api
            .call(
                "DescribeRoomStatistics",
                json!({"RoomId": room_id, "Page": 1, "Limit": 1000}),
            )
            .await?;
        rooms.push(RoomReport {
            room_id,
            events: total,
            closed_by_room_end: closed,
            stats,
        });
        progress.inc();
    }
    progress.finish();

    let members = plan.students as u64 + 1;
    let reported = outcome.reported_per_room * plan.rooms;
    let recorded: u64 = rooms.iter().map(|r| r.events).sum();
    println!(
        "played {} class(es) of 1 teacher and {} student(s), {} each, in {:.1}s",
        plan.rooms,
        plan.students,
        humantime::format_duration(plan.duration),
        outcome.elapsed.as_secs_f64()
    );
    println!(
        "reported {reported} events, one per ReportRoomEvents call ({:.0} events/s), {} API \
         calls to play them. The log holds {recorded}: the reported events, each class's RoomStart \
         and RoomEnd, and the MemberQuit RoomEnd recorded for each of the {} member(s) still in",
        reported as f64 / outcome.elapsed.as_secs_f64(),
        outcome.calls,
        plan.staying,
    );
    println!();
    println!("events read back with GetRoomEvent, by type:");
    let rows: Vec<Vec<String>> = counts
        .iter()
        .map(|(event_type, count)| vec![event_type.clone(), count.to_string()])
        .collect();
    print_table(&["EventType", "Events"], &rows);
    println!();

    let rows: Vec<Vec<String>> = rooms
        .iter()
        .map(|r| {
            vec![
                r.room_id.to_string(),
                r.events.to_string(),
                r.closed_by_room_end.to_string(),
                format!("{}/{members}", r.stats["MemberNumber"]),
                r.stats["PeakMemberNumber"].to_string(),
                format!("{}s", class_secs(&r.stats)),
            ]
        })
        .collect();
    println!("rooms:");
    print_table(
        &[
            "RoomId",
            "Events",
            "Closed by RoomEnd",
            "Came",
            "Peak",
            "Class",
        ],
        &rows,
    );
    if let Some(first) = rooms.first() {
        println!();
        println!(
            "attendance of room {} (DescribeRoomStatistics):",
            first.room_id
        );
        print_attendance(&first.stats);
        if rooms.len() > 1 {
            println!(
                "(each room's: roomlog call DescribeRoomStatistics RoomId=ID Page=1 Limit=1000)"
            );
        }
    }
    Ok(recorded == (outcome.reported_per_room + 2 + plan.staying as u64) * plan.rooms)
}

fn class_secs(stats: &Value) -> i64 {
    stats["RealEndTime"].as_i64().unwrap_or(0) - stats["RealStartTime"].as_i64().unwrap_or(0)
}

fn print_attendance(stats: &Value) {
    let rows: Vec<Vec<String>> = stats["MemberRecords"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            vec![
                r["UserId"].as_str().unwrap_or("?").to_owned(),
                role_name(r["Role"].as_u64()),
                format!("{}s", r["PresentTime"]),
                clock(r["FirstJoinTimestamp"].as_i64()),
                clock(r["LastQuitTimestamp"].as_i64()),
                yes_no(&r["Camera"]),
                yes_no(&r["Mic"]),
                state_name(r["CurrentState"].as_u64()),
            ]
        })
        .collect();
    print_table(
        &[
            "UserId",
            "Role",
            "Present",
            "First join",
            "Last quit",
            "Camera",
            "Mic",
            "State",
        ],
        &rows,
    );
}

/// LCIC's member roles.
fn role_name(role: Option<u64>) -> String {
    match role {
        Some(0) => "student".into(),
        Some(1) => "teacher".into(),
        Some(2) => "assistant".into(),
        Some(3) => "supervisor".into(),
        Some(other) => format!("role {other}"),
        None => "?".into(),
    }
}

/// LCIC's `CurrentState` of a member record.
fn state_name(state: Option<u64>) -> String {
    match state {
        Some(0) => "absent".into(),
        Some(1) => "online".into(),
        Some(2) => "left".into(),
        Some(3) => "kicked".into(),
        Some(4) => "kicked for good".into(),
        Some(5) => "dropped".into(),
        Some(other) => format!("state {other}"),
        None => "?".into(),
    }
}

fn yes_no(value: &Value) -> String {
    match value.as_u64() {
        Some(0) => "no".into(),
        Some(_) => "yes".into(),
        None => "?".into(),
    }
}

/// A unix time as its UTC time of day (`-` for none): the classes last seconds or minutes.
fn clock(secs: Option<i64>) -> String {
    match secs.filter(|&s| s > 0) {
        Some(s) => {
            let day = s.rem_euclid(86_400);
            format!("{:02}:{:02}:{:02}Z", day / 3600, day % 3600 / 60, day % 60)
        }
        None => "-".into(),
    }
}

/// Prints rows under headers, each column as wide as its widest cell; text left, numbers right.
fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let widths: Vec<usize> = (0..headers.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([headers[c].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let numeric: Vec<bool> = (0..headers.len())
        .map(|c| {
            !rows.is_empty()
                && rows.iter().all(|r| {
                    r[c].trim_end_matches(['s', 'Z'])
                        .chars()
                        .all(|ch| ch.is_ascii_digit() || ch == '/' || ch == ':')
                })
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let text: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                if numeric[c] {
                    format!("{cell:>width$}", width = widths[c])
                } else {
                    format!("{cell:<width$}", width = widths[c])
                }
            })
            .collect();
        println!("  {}", text.join("  ").trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

fn join(ids: &[u64]) -> String {
    ids.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Progress on stderr: a bar on a terminal, a line every two seconds elsewhere (CI logs, pipes).
struct Progress {
    bar: ProgressBar,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    fn new() -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let ticker = (!std::io::stderr().is_terminal()).then(|| {
            let bar = bar.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(2));
                loop {
                    tick.tick().await;
                    eprintln!(
                        "simulate: {} {}/{} ({}s)",
                        bar.message(),
                        bar.position(),
                        bar.length().unwrap_or(0),
                        bar.elapsed().as_secs()
                    );
                }
            })
        });
        Progress { bar, ticker }
    }

    fn phase(&self, what: &'static str, of: u64) {
        self.bar.set_message(what);
        self.bar.set_length(of);
        self.bar.set_position(0);
        if self.ticker.is_some() {
            eprintln!("simulate: {what} (0/{of})");
        }
    }

    fn inc(&self) {
        self.bar.inc(1);
    }

    fn set(&self, n: u64) {
        self.bar.set_position(n);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
        if let Some(ticker) = &self.ticker {
            ticker.abort();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_lengthens_classes_the_rate_limit_cannot_fill() {
        let args = |rooms: u64, students: usize| SimulateArgs {
            students,
            rooms,
            duration: Duration::from_secs(12),
            sdk_app_id: None,
            rate_limit_default: None,
            rate_limits: Vec::new(),
            client: ClientArgs {
                endpoint: String::new(),
                secret_id: None,
                secret_key: None,
                data_dir: Default::default(),
            },
        };
        let limits = RateLimits::default();
        let small = Plan::new(&args(1, 5), &limits);
        assert_eq!(small.duration, Duration::from_secs(12));
        let large = Plan::new(&args(1000, 50), &limits);
        let per_second = f64::from(limits.for_action("ReportRoomEvents"));
        let spread = large.duration.as_secs_f64() * PLAYING_SHARE;
        assert!(large.report_calls() as f64 / spread <= per_second * PACE_SHARE);
    }

    #[test]
    fn the_script_closes_everyone_it_opens() {
        let events = script(4);
        let joins = events
            .iter()
            .filter(|e| e["EventType"] == "MemberJoin")
            .count();
        let quits = events
            .iter()
            .filter(|e| e["EventType"] == "MemberQuit")
            .count();
        assert_eq!((joins, quits), (5, 5));
    }

    #[test]
    fn tables_line_up() {
        assert_eq!(role_name(Some(1)), "teacher");
        assert_eq!(state_name(Some(2)), "left");
        assert_eq!(clock(Some(3661)), "01:01:01Z");
        assert_eq!(clock(Some(0)), "-");
    }
}
