//! Rate limits counted in Redis, against real Redis servers (no mocks):
//! - two limiters (two nodes) sharing the machine's Redis share one budget per account and
//!   action (unique key prefixes keep concurrent tests and earlier runs apart);
//! - a private `redis-server`, killed mid-test and restarted on the same port, for the fallbacks
//!   (`local`: each node at limit/nodes; `refuse`: unavailable) and the return to Redis.
//!
//! Timing never decides a verdict here: bounds are GCRA's own guarantees, measured with
//! Redis's clock (the one the limiter uses), so they hold on a slow, loaded machine.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use roomlog_server::config::{RateLimits, RedisUnavailable};
use roomlog_server::ratelimit::{RateLimiter, Verdict};
use support::redis_server::{shared_redis_url, unique_prefix, RedisServer};

/// Requests per second in these tests: emission interval 100 ms, burst 10.
const RATE: u32 = 10;
const INTERVAL_US: i64 = 1_000_000 / RATE as i64;
const ACTION: &str = "DescribeRoom";

fn limits(url: &str, prefix: &str, fallback: RedisUnavailable, nodes: u32) -> RateLimits {
    RateLimits {
        default: RATE,
        actions: BTreeMap::from([("GetRooms".to_owned(), 0)]),
        backend: Some(url.to_owned()),
        redis_unavailable: fallback,
        nodes,
        key_prefix: prefix.to_owned(),
    }
}

async fn connect(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("connecting to Redis")
}

/// Redis's clock, in microseconds: the clock the limiter's script uses.
async fn redis_now_us(connection: &mut redis::aio::MultiplexedConnection) -> i64 {
    let (secs, micros): (i64, i64) = redis::cmd("TIME").query_async(connection).await.unwrap();
    secs * 1_000_000 + micros
}

async fn key_exists(url: &str, key: &str) -> bool {
    let mut connection = connect(url).await;
    redis::cmd("EXISTS")
        .arg(key)
        .query_async::<i64>(&mut connection)
        .await
        .unwrap()
        == 1
}

/// The verdicts of `n` back-to-back checks, alternating over `nodes`.
async fn burst(nodes: &[&RateLimiter], account: u64, action: &str, n: usize) -> Vec<Verdict> {
    let mut verdicts = Vec::with_capacity(n);
    for i in 0..n {
        verdicts.push(nodes[i % nodes.len()].check(account, action).await);
    }
    verdicts
}

fn count(verdicts: &[Verdict], which: Verdict) -> usize {
    verdicts.iter().filter(|v| **v == which).count()
}

/// GCRA allows at most `burst + floor(elapsed / interval)` requests in any span of `elapsed`.
fn max_allowed(burst: u32, elapsed_us: i64, interval_us: i64) -> usize {
    burst as usize + (elapsed_us.max(0) / interval_us) as usize
}

#[tokio::test]
async fn two_nodes_share_one_budget_per_account_and_action() {
    let url = shared_redis_url();
    let prefix = unique_prefix("cluster");
    // `refuse`: a check that did not reach Redis would show as Unavailable, never as a verdict.
    let node_a = RateLimiter::new(limits(&url, &prefix, RedisUnavailable::Refuse, 2));
    let node_b = RateLimiter::new(limits(&url, &prefix, RedisUnavailable::Refuse, 2));
    let nodes = [&node_a, &node_b];
    let mut clock = connect(&url).await;

    // A burst across both nodes: exactly RATE pass when it takes under one interval; never
    // more than GCRA allows for the time it took.
    let started = redis_now_us(&mut clock).await;
    let verdicts = burst(&nodes, 1, ACTION, 4 * RATE as usize).await;
    let elapsed = redis_now_us(&mut clock).await - started;
    assert!(
        verdicts[..RATE as usize]
            .iter()
            .all(|v| *v == Verdict::Allowed),
        "the first {RATE} pass: {verdicts:?}"
    );
    let allowed = count(&verdicts, Verdict::Allowed);
    assert!(
        allowed <= max_allowed(RATE, elapsed, INTERVAL_US),
        "{allowed} in {elapsed} µs"
    );
    if elapsed < INTERVAL_US {
        assert_eq!(allowed, RATE as usize, "a burst gets exactly the rate");
    }
    assert_eq!(count(&verdicts, Verdict::Unavailable), 0);

    // Held to the rate: keep asking (both nodes, every ~10 ms) for 2.5 s of Redis time.
    let mut samples = Vec::new(); // (Redis time before, Redis time after, verdict)
    let wall_deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let before = redis_now_us(&mut clock).await;
        let verdict = nodes[samples.len() % 2].check(1, ACTION).await;
        let after = redis_now_us(&mut clock).await;
        samples.push((before, after, verdict));
        if after - started >= 2_500_000 || Instant::now() > wall_deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let sustained_allowed = samples.iter().filter(|s| s.2 == Verdict::Allowed).count();
    let ended = samples.last().unwrap().1;
    // Never more than the rate, over the burst and the sustained phase together.
    assert!(
        allowed + sustained_allowed <= max_allowed(RATE, ended - started, INTERVAL_US),
        "{} allowed in {} µs",
        allowed + sustained_allowed,
        ended - started
    );
    // And about the rate: between two refusals at a and d, GCRA allowed more than
    // (d - a) / interval - 1 requests, less what gaps in asking let go unused (each gap g
    // between two requests can waste at most g - interval).
    let denied: Vec<usize> = (0..samples.len())
        .filter(|i| samples[*i].2 == Verdict::Limited)
        .collect();
    assert!(
        denied.len() >= 2,
        "asking every 10 ms exceeds 10/s: {samples:?}"
    );
    let (a, d) = (denied[0], *denied.last().unwrap());
    let between = samples[a + 1..d]
        .iter()
        .filter(|s| s.2 == Verdict::Allowed)
        .count() as i64;
    let wasted: i64 = samples[a..=d]
        .windows(2)
        .map(|w| (w[1].1 - w[0].0 - INTERVAL_US).max(0))
        .sum();
    let span = samples[d].0 - samples[a].1;
    assert!(
        (between + 1) * INTERVAL_US + wasted > span,
        "{between} allowed over {span} µs between refusals (gaps wasted {wasted} µs)"
    );
    assert_eq!(
        samples
            .iter()
            .filter(|s| s.2 == Verdict::Unavailable)
            .count(),
        0
    );

    // Other accounts and other actions have their own budgets, right away.
    let other_account = burst(&nodes, 2, ACTION, RATE as usize).await;
    assert!(other_account.iter().all(|v| *v == Verdict::Allowed));
    let other_action = burst(&nodes, 1, "GetRoomEvent", RATE as usize).await;
    assert!(other_action.iter().all(|v| *v == Verdict::Allowed));
    // An unlimited action never asks Redis.
    let unlimited = burst(&nodes, 1, "GetRooms", 5 * RATE as usize).await;
    assert!(unlimited.iter().all(|v| *v == Verdict::Allowed));
    assert!(!key_exists(&url, &format!("{prefix}:GetRooms:1")).await);

    // Idle keys vanish (PEXPIRE): within a second of their last allowed request.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}:*"))
            .query_async(&mut clock)
            .await
            .unwrap();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "keys left behind: {left:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Until the node counts in Redis (again: probes run in the background), asking with fresh
/// accounts: returns once a check left its key in Redis (keys live up to a second after their
/// last allowed request, so a slow moment only costs another try).
async fn wait_until_counting_in_redis(node: &RateLimiter, url: &str, prefix: &str, first: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    for account in first.. {
        let verdict = node.check(account, ACTION).await;
        if verdict != Verdict::Unavailable
            && key_exists(url, &format!("{prefix}:{ACTION}:{account}")).await
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the limiter did not return to Redis within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn redis_outage_falls_back_to_each_nodes_share_then_returns_to_redis() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    let prefix = unique_prefix("fallback-local");
    // Two nodes: while Redis is down each allows ceil(10 / 2) = 5 per second on its own.
    let node_a = RateLimiter::new(limits(&url, &prefix, RedisUnavailable::Local, 2));
    let node_b = RateLimiter::new(limits(&url, &prefix, RedisUnavailable::Local, 2));
    let share = 5usize;
    let share_interval = Duration::from_millis(200);

    wait_until_counting_in_redis(&node_a, &url, &prefix, 1).await;
    wait_until_counting_in_redis(&node_b, &url, &prefix, 100).await;

    redis.kill();
    for node in [&node_a, &node_b] {
        // Each node on its own: its share passes at once, no more than the share's rate after.
        let started = Instant::now();
        let verdicts = burst(&[node], 2, ACTION, 4 * share).await;
        let elapsed = started.elapsed();
        assert!(
            verdicts[..share].iter().all(|v| *v == Verdict::Allowed),
            "{verdicts:?}"
        );
        let allowed = count(&verdicts, Verdict::Allowed);
        let bound = share + (elapsed.as_micros() / share_interval.as_micros()) as usize + 1;
        assert!(
            allowed <= bound,
            "{allowed} allowed in {elapsed:?}: {verdicts:?}"
        );
        if elapsed < share_interval {
            assert_eq!(allowed, share, "a node's share, not the cluster's limit");
        }
        assert_eq!(count(&verdicts, Verdict::Unavailable), 0);
    }
    // Unlimited actions stay unlimited.
    assert!(burst(&[&node_a], 2, "GetRooms", 50)
        .await
        .iter()
        .all(|v| *v == Verdict::Allowed));

    redis.restart();
    wait_until_counting_in_redis(&node_a, &url, &prefix, 1_000).await;
    wait_until_counting_in_redis(&node_b, &url, &prefix, 2_000).await;
    // Back in Redis: one node alone gets the cluster's burst (its local share would be 5),
    // and the other node then draws on the same budget.
    let mut clock = connect(&url).await;
    let started = redis_now_us(&mut clock).await;
    let on_a = burst(&[&node_a], 3, ACTION, 2 * RATE as usize).await;
    let on_b = burst(&[&node_b], 3, ACTION, 2 * RATE as usize).await;
    let elapsed = redis_now_us(&mut clock).await - started;
    assert!(
        on_a[..RATE as usize].iter().all(|v| *v == Verdict::Allowed),
        "{on_a:?}"
    );
    let allowed = count(&on_a, Verdict::Allowed) + count(&on_b, Verdict::Allowed);
    assert!(
        allowed <= max_allowed(RATE, elapsed, INTERVAL_US),
        "{allowed} in {elapsed} µs"
    );
    assert_eq!(count(&on_b, Verdict::Unavailable), 0);
}

#[tokio::test]
async fn redis_outage_with_refuse_makes_limited_actions_unavailable_until_redis_returns() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    let prefix = unique_prefix("fallback-refuse");
    let node = RateLimiter::new(limits(&url, &prefix, RedisUnavailable::Refuse, 3));

    wait_until_counting_in_redis(&node, &url, &prefix, 1).await;

    redis.kill();
    let down = burst(&[&node], 1, ACTION, 20).await;
    assert!(down.iter().all(|v| *v == Verdict::Unavailable), "{down:?}");
    let other = burst(&[&node], 2, "GetRoomEvent", 5).await;
    assert!(
        other.iter().all(|v| *v == Verdict::Unavailable),
        "{other:?}"
    );
    // An unlimited action has nothing to count.
    assert_eq!(node.check(1, "GetRooms").await, Verdict::Allowed);

    redis.restart();
    wait_until_counting_in_redis(&node, &url, &prefix, 1_000).await;
    let mut clock = connect(&url).await;
    let started = redis_now_us(&mut clock).await;
    let verdicts = burst(&[&node], 5, ACTION, 3 * RATE as usize).await;
    let elapsed = redis_now_us(&mut clock).await - started;
    assert!(
        verdicts[..RATE as usize]
            .iter()
            .all(|v| *v == Verdict::Allowed),
        "{verdicts:?}"
    );
    assert_eq!(count(&verdicts, Verdict::Unavailable), 0);
    assert!(count(&verdicts, Verdict::Allowed) <= max_allowed(RATE, elapsed, INTERVAL_US));
}

#[tokio::test]
async fn an_unreachable_redis_at_startup_uses_the_fallback_at_once() {
    // Nothing listens on this port (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}");
    let prefix = unique_prefix("never-up");
    let node = RateLimiter::new(limits(&url, &prefix, RedisUnavailable::Local, 4));
    let started = Instant::now();
    let verdicts = burst(&[&node], 1, ACTION, 12).await;
    // ceil(10 / 4) = 3 per second on this node.
    assert!(verdicts[..3].iter().all(|v| *v == Verdict::Allowed));
    assert_eq!(count(&verdicts, Verdict::Unavailable), 0);
    if started.elapsed() < Duration::from_millis(333) {
        assert_eq!(count(&verdicts, Verdict::Allowed), 3, "{verdicts:?}");
    }
}
