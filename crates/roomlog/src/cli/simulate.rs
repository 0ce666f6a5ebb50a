//! `roomlog simulate`: plays classes through the public API — the README's demo, and a simple
//! load generator (`--rooms`, `--students`).

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use super::ClientArgs;
use crate::client::Client;

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// Students in each class (plus one teacher).
    #[arg(long, default_value_t = 5)]
    pub students: usize,
    /// Classes played at the same time.
    #[arg(long, default_value_t = 1)]
    pub rooms: usize,
    /// How long each class is scheduled for; it starts and ends by schedule (EnableAutoStart,
    /// no overtime). The events are spread over it.
    #[arg(long, default_value = "12s", value_parser = humantime::parse_duration)]
    pub duration: std::time::Duration,
    /// The app to create rooms in [default: the bootstrap app].
    #[arg(long)]
    pub sdk_app_id: Option<u64>,
    #[command(flatten)]
    pub client: ClientArgs,
}

pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let client = args.client.client()?;
    let sdk_app_id = args
        .sdk_app_id
        .or_else(|| args.client.default_sdk_app_id())
        .context("no --sdk-app-id and no bootstrap credentials to take it from")?;

    let per_room = script(0, args.students).len() as u64 + 1; // + RecordFinish
    let bar = ProgressBar::new(per_room * args.rooms as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} events {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let mut classes = tokio::task::JoinSet::new();
    for _ in 0..args.rooms {
        let (client, bar) = (client.clone(), bar.clone());
        let (students, duration) = (args.students, args.duration);
        classes
            .spawn(async move { play_class(&client, sdk_app_id, students, duration, &bar).await });
    }
    let mut rooms = Vec::new();
    while let Some(result) = classes.join_next().await {
        rooms.push(result??);
    }
    bar.finish_with_message("done");
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "played {} class(es), {} reported events in {elapsed:.2}s",
        rooms.len(),
        per_room * rooms.len() as u64,
    );
    if let Some(&room_id) = rooms.first() {
        print_summary(&client, sdk_app_id, room_id).await?;
        print_attendance(&client, room_id).await?;
    }
    Ok(())
}

/// The events of one class, in order: (EventId suffix, event without EventId).
fn script(room_seed: u64, students: usize) -> Vec<Value> {
    let mut users = vec![("teacher".to_owned(), 1)];
    users.extend((1..=students).map(|i| (format!("student{i}"), 0)));
    let mut events = Vec::new();
    let devices = [1, 2, 3, 4, 5];
    for (i, (user, role)) in users.iter().enumerate() {
        events.push(json!({"EventType": "MemberJoin", "UserId": user, "Role": role, "Device": devices[(i + room_seed as usize) % devices.len()]}));
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

async fn play_class(
    client: &Client,
    sdk_app_id: u64,
    students: usize,
    duration: std::time::Duration,
    bar: &ProgressBar,
) -> anyhow::Result<u64> {
    // Starts within a second, ends at EndTime: no StartRoom/EndRoom calls, the schedule does it.
    let start = roomlog_core::time::now_secs() + 1;
    let end = start + duration.as_secs().max(2) as i64;
    let room = client
        .call(
            "CreateRoom",
            &json!({
                "SdkAppId": sdk_app_id, "Name": "Simulated class", "StartTime": start, "EndTime": end,
                "Resolution": 1, "MaxMicNumber": 6, "SubType": "videodoc", "TeacherId": "teacher",
                "EnableAutoStart": 1, "EndDelayTime": -1,
            }),
        )
        .await?;
    let room_id = room["RoomId"]
        .as_u64()
        .context("CreateRoom returned no RoomId")?;
    wait_for_status(client, room_id, 1).await?;
    let events = script(room_id, students);
    // Spread the class over most of its time; the last few members stay until the end and are
    // closed out by RoomEnd.
    let stay = (students / 3).max(1);
    let playing: Vec<Value> = events[..events.len() - 2 * stay].to_vec();
    let pause = duration.mul_f64(0.7) / playing.len().max(1) as u32;
    for (seq, mut event) in playing.into_iter().enumerate() {
        event["EventId"] = json!(format!("sim-{room_id}-{seq}"));
        client
            .call(
                "ReportRoomEvents",
                &json!({"SdkAppId": sdk_app_id, "RoomId": room_id, "Events": [event]}),
            )
            .await?;
        bar.inc(1);
        tokio::time::sleep(pause).await;
    }
    bar.inc(2 * stay as u64);
    wait_for_status(client, room_id, 2).await?;
    client
        .call(
            "ReportRoomEvents",
            &json!({"SdkAppId": sdk_app_id, "RoomId": room_id, "Events": [{
                "EventId": format!("sim-{room_id}-record"), "EventType": "RecordFinish",
                "Duration": duration.as_secs(), "RecordSize": 1_048_576, "RecordUrl": format!("https://records.example/{room_id}.mp4"),
            }]}),
        )
        .await?;
    bar.inc(1);
    Ok(room_id)
}

async fn wait_for_status(client: &Client, room_id: u64, status: u64) -> anyhow::Result<()> {
    loop {
        let room = client
            .call("DescribeRoom", &json!({ "RoomId": room_id }))
            .await?;
        if room["Status"].as_u64() == Some(status) {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

async fn print_attendance(client: &Client, room_id: u64) -> anyhow::Result<()> {
    let stats = client
        .call(
            "DescribeRoomStatistics",
            &json!({"RoomId": room_id, "Page": 1, "Limit": 1000}),
        )
        .await?;
    println!(
        "attendance: {} came, peak {} at once, class {}s",
        stats["MemberNumber"],
        stats["PeakMemberNumber"],
        stats["RealEndTime"].as_i64().unwrap_or(0) - stats["RealStartTime"].as_i64().unwrap_or(0)
    );
    println!(
        "  {:<10} {:>4} {:>8} {:>6} {:>3} {:>5}",
        "UserId", "Role", "Present", "Camera", "Mic", "State"
    );
    for record in stats["MemberRecords"].as_array().into_iter().flatten() {
        println!(
            "  {:<10} {:>4} {:>7}s {:>6} {:>3} {:>5}",
            record["UserId"].as_str().unwrap_or("?"),
            record["Role"],
            record["PresentTime"],
            record["Camera"],
            record["Mic"],
            record["CurrentState"],
        );
    }
    Ok(())
}

async fn print_summary(client: &Client, sdk_app_id: u64, room_id: u64) -> anyhow::Result<()> {
    let mut counts = BTreeMap::new();
    let mut page = 1;
    let total = loop {
        let response = client
            .call(
                "GetRoomEvent",
                &json!({"SdkAppId": sdk_app_id, "RoomId": room_id, "Page": page, "Limit": 200}),
            )
            .await?;
        let events = response["Events"].as_array().cloned().unwrap_or_default();
        for event in &events {
            *counts
                .entry(event["EventType"].as_str().unwrap_or("?").to_owned())
                .or_insert(0u64) += 1;
        }
        if events.len() < 200 {
            break response["Total"].as_u64().unwrap_or(0);
        }
        page += 1;
    };
    println!("room {room_id}: {total} events read back with GetRoomEvent");
    for (event_type, count) in counts {
        println!("  {event_type:<14} {count}");
    }
    Ok(())
}
