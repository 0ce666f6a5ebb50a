//! Delivery scheduling: the rules of the callback outbox. The stores keep the rows (a
//! `deliveries` row per queued event, a head-of-line row per room) and follow these rules; they
//! only load, lock and write.
//!
//! - An event recorded while its room's app has a callback URL gets a pending delivery, written
//!   in the same transaction as the event, due at once ([`first_due_ms`]).
//! - Per room, only the lowest pending delivery, its head of line ([`Head`]), is ever handed
//!   out, so a room's callbacks go in sequence order. A claim leases it: it is not handed out
//!   again before the lease runs out (then it is: the worker holding it died).
//! - An attempt of the head settles its delivery ([`settles`]): delivered, pending until its
//!   retry, or dead; then the head moves to the room's lowest pending delivery. An attempt of
//!   anything else is stale (its lease ran out and another took over, or a replay moved the
//!   head): counted and noted, it changes nothing else.
//! - A replay makes deliveries pending again; the head may move back, but a lease in force
//!   stays ([`lease_in_force`]), so a room never has two deliveries in flight.
//! - An app without a callback URL is paused ([`AppCallback::paused`]): its heads stay, out of
//!   the workers' sight, and go on when a URL is set again.

use super::{AppCallback, AttemptOutcome, Delivery, DeliveryStatus, RetryPolicy};

/// When a newly queued delivery is due: at once. The event's own time if that is earlier than
/// the wall clock `now_ms`: then it is due by any clock the worker runs on (an injected clock a
/// little behind the wall clock would otherwise not see it due until it moved), and a timestamp
/// a reporter set in the future does not hold the callback back.
pub fn first_due_ms(event_timestamp_ms: i64, now_ms: i64) -> i64 {
    event_timestamp_ms.min(now_ms)
}

/// A room's head of line: its lowest pending delivery, and when it may be handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    /// The head delivery's next attempt, or the end of its lease while leased.
    pub ready_ms: i64,
    pub leased_until_ms: Option<i64>,
    /// The app has no callback URL: nothing of the room is handed out.
    pub paused: bool,
}

impl Head {
    /// The head of a room whose lowest pending delivery is `seq`, next attempted at `next_ms`
    /// (a pending delivery without one is due at once, never stuck), keeping `lease` (one that
    /// must outlive the change) — or no head when nothing is pending.
    pub fn of_lowest(
        lowest: Option<(u64, Option<i64>)>,
        lease: Option<i64>,
        paused: bool,
    ) -> Option<Head> {
        let (seq, next_ms) = lowest?;
        let due = next_ms.unwrap_or(0);
        Some(Head {
            seq,
            ready_ms: lease.map_or(due, |until| until.max(due)),
            leased_until_ms: lease,
            paused,
        })
    }

    /// The head a delivery just queued at `seq` makes, if its room had none. New seqs are the
    /// room's highest, so a room that has a head keeps it. Not paused: the app has a URL (that
    /// is why it was queued).
    pub fn queued(seq: u64, due_ms: i64) -> Head {
        Head {
            seq,
            ready_ms: due_ms,
            leased_until_ms: None,
            paused: false,
        }
    }

    /// Handed out until `until_ms`: out of the range "due" until the lease runs out.
    pub fn leased(self, until_ms: i64) -> Head {
        Head {
            ready_ms: until_ms,
            leased_until_ms: Some(until_ms),
            ..self
        }
    }

    /// Whether a worker may be handed it at `now_ms`.
    pub fn is_due(&self, now_ms: i64) -> bool {
        !self.paused && self.ready_ms <= now_ms
    }
}

/// What a claim does with the delivery a due head names: hands it out if it is pending.
/// Anything else breaks the outbox's invariants; were it ever to happen, handing nothing out and
/// leaving the head would stall the room (and make the worker spin): the store recomputes the
/// head instead (with [`Head::of_lowest`]).
pub fn claimable(named: Option<Delivery>) -> Option<Delivery> {
    named.filter(|delivery| delivery.status == DeliveryStatus::Pending)
}

/// Where an attempt of `seq` leaves its delivery, given the room's head of line: `None` for a
/// stale attempt (not of the head), which is counted and noted but moves nothing; else the
/// delivery's new status and next attempt, after which the head moves to the room's lowest
/// pending delivery.
pub fn settles(
    head_seq: Option<u64>,
    seq: u64,
    outcome: &AttemptOutcome,
) -> Option<(DeliveryStatus, Option<i64>)> {
    (head_seq == Some(seq)).then_some(match (outcome.delivered, outcome.retry_at_ms) {
        (true, _) => (DeliveryStatus::Delivered, None),
        (false, Some(retry_at)) => (DeliveryStatus::Pending, Some(retry_at)),
        (false, None) => (DeliveryStatus::Dead, None),
    })
}

/// The lease a replay keeps: a worker holding the room's current head at `now_ms` keeps it, so
/// the room does not get two deliveries in flight.
pub fn lease_in_force(leased_until_ms: Option<i64>, now_ms: i64) -> Option<i64> {
    leased_until_ms.filter(|until| *until > now_ms)
}

impl RetryPolicy {
    /// The outcome of the attempt of `delivery` made at `at_ms`: `Ok(http status)` if the
    /// receiver took it, else the status (if it answered) and why it failed. A failure is
    /// retried after [`RetryPolicy::backoff`] (`unit`: a random number in [0, 1) for its
    /// jitter), unless the retry would come `give_up_after` or later since the first attempt:
    /// then it is a dead letter.
    pub fn outcome(
        &self,
        delivery: &Delivery,
        at_ms: i64,
        result: Result<u16, (Option<u16>, String)>,
        unit: f64,
    ) -> AttemptOutcome {
        match result {
            Ok(status) => AttemptOutcome {
                at_ms,
                delivered: true,
                http_status: Some(status),
                error: None,
                retry_at_ms: None,
            },
            Err((status, error)) => {
                let delay = self.backoff(delivery.attempts + 1, unit);
                let retry_at = at_ms + delay.as_millis() as i64;
                let first_attempt = delivery.first_attempt_ms.unwrap_or(at_ms);
                let give_up = first_attempt + self.give_up_after.as_millis() as i64;
                AttemptOutcome {
                    at_ms,
                    delivered: false,
                    http_status: status,
                    error: Some(error),
                    retry_at_ms: (retry_at < give_up).then_some(retry_at),
                }
            }
        }
    }
}

impl AttemptOutcome {
    /// A failure not to be retried: the delivery becomes a dead letter.
    pub fn is_dead(&self) -> bool {
        !self.delivered && self.retry_at_ms.is_none()
    }
}

impl AppCallback {
    /// The setting after ModifyApp: `None` keeps a field, `Some("")` clears it.
    pub fn updated(&self, url: Option<&str>, key: Option<&str>) -> AppCallback {
        AppCallback {
            url: url.map_or_else(|| self.url.clone(), str::to_owned),
            key: key.map_or_else(|| self.key.clone(), str::to_owned),
        }
    }

    /// No URL: the app's deliveries wait (pending stays pending) until one is set.
    pub fn paused(&self) -> bool {
        self.url.is_empty()
    }

    /// Whether going from `self` to `after` pauses (`Some(true)`) or resumes (`Some(false)`)
    /// the app's heads. A changed URL alone needs nothing: the worker reads the setting at each
    /// attempt, so what is pending goes to whatever URL is set when it is sent.
    pub fn pause_change(&self, after: &AppCallback) -> Option<bool> {
        (self.paused() != after.paused()).then_some(after.paused())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn outcome(delivered: bool, retry_at_ms: Option<i64>) -> AttemptOutcome {
        AttemptOutcome {
            at_ms: 10,
            delivered,
            http_status: None,
            error: None,
            retry_at_ms,
        }
    }

    #[test]
    fn a_new_delivery_is_due_at_once_by_either_clock() {
        assert_eq!(first_due_ms(1_000, 2_000), 1_000);
        assert_eq!(first_due_ms(5_000, 2_000), 2_000, "a future timestamp");
    }

    #[test]
    fn the_head_is_the_lowest_pending_and_a_lease_outlives_a_change() {
        assert_eq!(Head::of_lowest(None, Some(50), true), None);
        let head = Head::of_lowest(Some((3, Some(100))), None, false).unwrap();
        assert_eq!(
            (head.seq, head.ready_ms, head.leased_until_ms),
            (3, 100, None)
        );
        let leased = Head::of_lowest(Some((3, Some(100))), Some(500), false).unwrap();
        assert_eq!((leased.ready_ms, leased.leased_until_ms), (500, Some(500)));
        let retry_after_lease = Head::of_lowest(Some((3, Some(900))), Some(500), false).unwrap();
        assert_eq!(retry_after_lease.ready_ms, 900);
        assert_eq!(
            Head::of_lowest(Some((1, None)), None, false)
                .unwrap()
                .ready_ms,
            0,
            "due at once, never stuck"
        );
        assert!(Head::of_lowest(Some((1, None)), None, true).unwrap().paused);
    }

    #[test]
    fn a_claim_leases_the_head_and_hands_out_only_pending_deliveries() {
        let head = Head::queued(7, 100);
        assert!(head.is_due(100) && !head.is_due(99));
        let leased = head.leased(5_000);
        assert!(!leased.is_due(4_999) && leased.is_due(5_000));
        assert_eq!(leased.seq, 7);
        assert!(!Head {
            paused: true,
            ..head
        }
        .is_due(i64::MAX));
        assert_eq!(claimable(None), None);
    }

    #[test]
    fn only_an_attempt_of_the_head_settles_its_delivery() {
        assert_eq!(settles(Some(2), 3, &outcome(true, None)), None, "stale");
        assert_eq!(settles(None, 3, &outcome(true, None)), None, "stale");
        assert_eq!(
            settles(Some(3), 3, &outcome(true, Some(9))),
            Some((DeliveryStatus::Delivered, None))
        );
        assert_eq!(
            settles(Some(3), 3, &outcome(false, Some(9))),
            Some((DeliveryStatus::Pending, Some(9)))
        );
        assert_eq!(
            settles(Some(3), 3, &outcome(false, None)),
            Some((DeliveryStatus::Dead, None))
        );
    }

    #[test]
    fn a_replay_keeps_only_a_lease_in_force() {
        assert_eq!(lease_in_force(Some(100), 99), Some(100));
        assert_eq!(lease_in_force(Some(100), 100), None);
        assert_eq!(lease_in_force(None, 0), None);
    }

    #[test]
    fn callback_settings_update_and_pause() {
        let set = AppCallback {
            url: "https://x/".into(),
            key: "k".into(),
        };
        assert_eq!(set.updated(None, None), set);
        let cleared = set.updated(Some(""), None);
        assert_eq!((cleared.url.as_str(), cleared.key.as_str()), ("", "k"));
        assert_eq!(set.pause_change(&cleared), Some(true));
        assert_eq!(cleared.pause_change(&set), Some(false));
        assert_eq!(
            set.pause_change(&set.updated(Some("https://y/"), None)),
            None
        );
        assert_eq!(set.pause_change(&set.updated(None, Some(""))), None);
    }

    fn delivery(attempts: u32, first_attempt_ms: Option<i64>) -> Delivery {
        use crate::event::{EventData, EventType, StoredEvent};
        Delivery {
            sdk_app_id: 1,
            room_id: 1,
            event: StoredEvent {
                room_id: 1,
                seq: 1,
                event_id: "e".into(),
                event_type: EventType::MemberJoin,
                timestamp_ms: 0,
                data: EventData::default(),
            },
            status: DeliveryStatus::Pending,
            attempts,
            first_attempt_ms,
            last_attempt_ms: first_attempt_ms,
            last_status: None,
            last_error: None,
            next_attempt_ms: None,
            created_ms: 0,
        }
    }

    #[test]
    fn a_failure_is_retried_with_backoff_until_the_give_up_window_closes() {
        let policy = RetryPolicy::default();
        let ok = policy.outcome(&delivery(0, None), 1_000, Ok(204), 0.5);
        assert!(ok.delivered && !ok.is_dead());
        assert_eq!((ok.http_status, ok.retry_at_ms), (Some(204), None));

        let failed = |d: &Delivery, at_ms| {
            policy.outcome(d, at_ms, Err((Some(503), "HTTP 503".into())), 0.0)
        };
        let first = failed(&delivery(0, None), 1_000);
        assert_eq!(
            first.retry_at_ms,
            Some(1_500),
            "half the first backoff, no jitter"
        );
        assert_eq!(
            (first.http_status, first.error.as_deref()),
            (Some(503), Some("HTTP 503"))
        );
        assert_eq!(
            failed(&delivery(3, Some(0)), 10_000).retry_at_ms,
            Some(14_000)
        );

        // The window counts from the first attempt (this one, if there was none).
        let day = policy.give_up_after.as_millis() as i64;
        assert!(!failed(&delivery(5, Some(0)), day - 20_000).is_dead());
        let last = failed(&delivery(5, Some(0)), day - 16_000);
        assert!(
            last.is_dead(),
            "a retry at the end of the window is not made"
        );
        assert!(!failed(&delivery(5, None), day).is_dead());
    }

    /// One room's outbox as a store keeps it (deliveries by seq, the head row), driven only by
    /// the rules above: the same steps both stores take.
    #[derive(Debug, Default)]
    struct Room {
        /// (status, next attempt) by seq - 1.
        deliveries: Vec<(DeliveryStatus, Option<i64>)>,
        head: Option<Head>,
        paused: bool,
        handed_out: Vec<u64>,
    }

    impl Room {
        fn lowest_pending(&self) -> Option<(u64, Option<i64>)> {
            self.deliveries
                .iter()
                .enumerate()
                .find(|(_, (status, _))| *status == DeliveryStatus::Pending)
                .map(|(i, (_, next))| (i as u64 + 1, *next))
        }

        fn refresh(&mut self, lease: Option<i64>) {
            self.head = Head::of_lowest(self.lowest_pending(), lease, self.paused);
        }

        fn queue(&mut self, timestamp_ms: i64, now_ms: i64) {
            let due = first_due_ms(timestamp_ms, now_ms);
            self.deliveries.push((DeliveryStatus::Pending, Some(due)));
            let seq = self.deliveries.len() as u64;
            self.head.get_or_insert(Head::queued(seq, due));
        }

        fn claim(&mut self, now_ms: i64, lease_until_ms: i64) -> Option<u64> {
            let head = self.head.filter(|head| head.is_due(now_ms))?;
            self.head = Some(head.leased(lease_until_ms));
            Some(head.seq)
        }

        fn attempt(&mut self, seq: u64, outcome: &AttemptOutcome) {
            if let Some(settled) = settles(self.head.map(|h| h.seq), seq, outcome) {
                self.deliveries[seq as usize - 1] = settled;
                self.refresh(None);
            }
        }

        fn replay(&mut self, from_seq: u64, now_ms: i64) {
            for delivery in self.deliveries.iter_mut().skip(from_seq as usize - 1) {
                *delivery = (DeliveryStatus::Pending, Some(now_ms));
            }
            self.refresh(lease_in_force(
                self.head.and_then(|h| h.leased_until_ms),
                now_ms,
            ));
        }

        fn check(&self) {
            let expected = self.lowest_pending();
            assert_eq!(self.head.map(|h| h.seq), expected.map(|(seq, _)| seq));
            if let (Some(head), Some((_, next))) = (self.head, expected) {
                let planned = next.unwrap_or(0);
                match head.leased_until_ms {
                    Some(until) => assert_eq!(head.ready_ms, until.max(planned)),
                    None => assert_eq!(head.ready_ms, planned),
                }
                assert_eq!(head.paused, self.paused);
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Step {
        Queue {
            timestamp_ms: i64,
        },
        Claim {
            lease_ms: i64,
        },
        Attempt {
            seq: u64,
            delivered: bool,
            retry_in_ms: Option<i64>,
        },
        Replay {
            from_seq: u64,
        },
        Pause(bool),
        Tick(i64),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0i64..2_000).prop_map(|timestamp_ms| Step::Queue { timestamp_ms }),
            (1i64..500).prop_map(|lease_ms| Step::Claim { lease_ms }),
            (1u64..8, any::<bool>(), proptest::option::of(1i64..500)).prop_map(
                |(seq, delivered, retry_in_ms)| Step::Attempt {
                    seq,
                    delivered,
                    retry_in_ms
                }
            ),
            (1u64..8).prop_map(|from_seq| Step::Replay { from_seq }),
            any::<bool>().prop_map(Step::Pause),
            (0i64..300).prop_map(Step::Tick),
        ]
    }

    proptest! {
        /// Whatever happens, the head is the lowest pending delivery, ready at its planned
        /// attempt or the end of its lease; a room never has two deliveries in flight; and
        /// what a claim hands out goes in sequence order between replays.
        #[test]
        fn the_head_of_line_invariants_hold(steps in proptest::collection::vec(step(), 1..60)) {
            let mut room = Room::default();
            let mut now = 1_000;
            let mut in_flight: Option<(u64, i64)> = None;
            for step in steps {
                match step {
                    Step::Queue { timestamp_ms } if !room.paused => room.queue(timestamp_ms, now),
                    Step::Queue { .. } => {}
                    Step::Claim { lease_ms } => {
                        if let Some(seq) = room.claim(now, now + lease_ms) {
                            if let Some((held, until)) = in_flight {
                                prop_assert!(until <= now, "{held} was still leased");
                            }
                            if let Some(&last) = room.handed_out.last() {
                                prop_assert!(seq >= last, "handed out {seq} after {last}");
                            }
                            room.handed_out.push(seq);
                            in_flight = Some((seq, now + lease_ms));
                        }
                    }
                    Step::Attempt { seq, delivered, retry_in_ms } => {
                        if seq as usize <= room.deliveries.len() {
                            let outcome = AttemptOutcome {
                                at_ms: now,
                                delivered,
                                http_status: None,
                                error: None,
                                retry_at_ms: retry_in_ms.map(|ms| now + ms),
                            };
                            if in_flight.is_some_and(|(held, _)| held == seq) {
                                in_flight = None;
                            }
                            room.attempt(seq, &outcome);
                        }
                    }
                    Step::Replay { from_seq } => {
                        if from_seq as usize <= room.deliveries.len() {
                            room.replay(from_seq, now);
                            room.handed_out.clear();
                        }
                    }
                    Step::Pause(paused) => {
                        room.paused = paused;
                        if let Some(head) = &mut room.head {
                            head.paused = paused;
                        }
                    }
                    Step::Tick(ms) => now += ms,
                }
                room.check();
            }
        }
    }
}
