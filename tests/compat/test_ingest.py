"""roomlog's own ReportRoomEvents, driven through the SDK's generic call_json (how a user calls
an action the SDK has no model for), every way the SDK signs; idempotence; the events' life
after the class (RecordFinish only, then expiry)."""

import time

import pytest

from lcic_helpers import (
    SIGNING_IDS,
    SIGNING_WAYS,
    assert_error,
    create_room,
    get_room_event_request,
    make_client,
    model_events,
    room_action,
    sdk_error,
)


def report(client, tenant, room_id, events):
    return client.call_json("ReportRoomEvents", {"SdkAppId": tenant.sdk_app_id, "RoomId": room_id, "Events": events})[
        "Response"
    ]


@pytest.mark.parametrize("sign_method,req_method", SIGNING_WAYS, ids=SIGNING_IDS)
def test_report_every_way(main, sign_method, req_method):
    """Nested Events go as JSON over TC3 POST and flattened (Events.0.EventId=...) in the query or
    form over TC3 GET and v1, where every value is a string: the log must be the same."""
    client = make_client(main, sign_method, req_method)
    room_id = create_room(make_client(main), main.sdk_app_id, name=f"ingest {sign_method} {req_method}")
    now_ms = int(time.time() * 1000)
    events = [
        {"EventId": "join-1", "EventType": "MemberJoin", "UserId": "alice", "Device": 7, "Role": 1,
         "TimestampMs": now_ms - 60_500},
        {"EventId": "mic-1", "EventType": "MicOn", "UserId": "alice", "TimestampMs": now_ms - 30_001},
        {"EventId": "quit-1", "EventType": "MemberQuit", "UserId": "alice", "Device": 7, "Role": 1, "Reason": 4,
         "TimestampMs": now_ms - 1_000},
        {"EventId": "rec-1", "EventType": "RecordFinish", "Duration": 59, "RecordSize": 12345678901,
         "RecordUrl": "https://record.example.com/a b/录像.mp4?x=1&y=%2F", "TimestampMs": now_ms - 999},
    ]
    answer = report(client, main, room_id, events)
    assert (answer.get("Accepted"), answer.get("Duplicates")) == (4, 0), f"ReportRoomEvents answered {answer}"

    got = model_events(make_client(main).GetRoomEvent(get_room_event_request(room_id, main.sdk_app_id, 1, 10)))
    expected = []
    for event in events:
        data = {k: v for k, v in event.items() if k not in ("EventId", "EventType", "TimestampMs")}
        expected.append({"Timestamp": event["TimestampMs"] // 1000, "EventType": event["EventType"],
                         "EventData": {"RoomId": room_id, **data}})
    assert got == expected, f"reported over {sign_method} {req_method}:\n  got      {got}\n  expected {expected}"


def test_reporting_again_is_idempotent(main):
    client = make_client(main)
    room_id = create_room(client, main.sdk_app_id, name="idempotent")
    batch = [{"EventId": f"cam-{i}", "EventType": "CameraOn", "UserId": f"u{i}"} for i in range(5)]
    assert report(client, main, room_id, batch) == {**report_shape(5, 0), "RequestId": ANY}
    assert report(client, main, room_id, batch) == {**report_shape(0, 5), "RequestId": ANY}
    mixed = batch[3:] + [{"EventId": "cam-5", "EventType": "CameraOn", "UserId": "u5"}]
    assert report(client, main, room_id, mixed) == {**report_shape(1, 2), "RequestId": ANY}
    response = client.GetRoomEvent(get_room_event_request(room_id, main.sdk_app_id, 1, 100))
    assert response.Total == 6, f"duplicates must not be recorded twice: Total {response.Total}"
    assert [e["EventData"]["UserId"] for e in model_events(response)] == [f"u{i}" for i in range(6)]


class _Any:
    def __eq__(self, other):
        return isinstance(other, str) and len(other) == 36

    def __repr__(self):
        return "<any RequestId>"


ANY = _Any()


def report_shape(accepted, duplicates):
    return {"Accepted": accepted, "Duplicates": duplicates}


def test_invalid_reports_are_rejected_whole(main):
    client = make_client(main)
    room_id = create_room(client, main.sdk_app_id, name="invalid reports")
    good = {"EventId": "ok-1", "EventType": "MemberJoin", "UserId": "u1", "Device": 5, "Role": 0}
    for bad, why in [
        ({"EventId": "bad", "EventType": "Teleport", "UserId": "u1"}, "an unknown EventType"),
        ({"EventId": "bad", "EventType": "RoomStart"}, "RoomStart (recorded by StartRoom only)"),
        ({"EventId": "bad", "EventType": "MemberJoin", "Device": 5, "Role": 0}, "MemberJoin without UserId"),
        ({"EventId": "bad", "EventType": "MemberJoin", "UserId": "u1", "Reason": 1}, "Reason on a MemberJoin"),
        ({"EventId": "bad", "EventType": "MemberJoin", "UserId": "u1", "Device": 8}, "Device 8"),
        ({"EventId": "bad", "EventType": "MemberQuit", "UserId": "u1", "Reason": 3}, "Reason 3"),
        ({"EventId": "bad", "EventType": "CameraOn", "UserId": "u1",
          "TimestampMs": int(time.time() * 1000) + 3_600_000}, "a timestamp an hour ahead"),
    ]:
        exc = sdk_error(client.call_json, "ReportRoomEvents",
                        {"SdkAppId": main.sdk_app_id, "RoomId": room_id, "Events": [good, bad]})
        assert_error(exc, "InvalidParameterValue", f"a batch holding {why}")
    exc = sdk_error(client.call_json, "ReportRoomEvents", {"SdkAppId": main.sdk_app_id, "RoomId": room_id, "Events": []})
    assert_error(exc, "InvalidParameterValue", "an empty batch")
    response = client.GetRoomEvent(get_room_event_request(room_id, main.sdk_app_id))
    assert response.Total == 0, f"a rejected batch must record nothing: {model_events(response)}"


def test_after_the_class_only_record_finish(main):
    client = make_client(main)
    room_id = create_room(client, main.sdk_app_id, name="after class")
    room_action(client, "StartRoom", room_id)
    room_action(client, "EndRoom", room_id)
    exc = sdk_error(client.call_json, "ReportRoomEvents", {"SdkAppId": main.sdk_app_id, "RoomId": room_id,
                    "Events": [{"EventId": "late", "EventType": "MemberJoin", "UserId": "u1", "Device": 1, "Role": 0}]})
    assert_error(exc, "FailedOperation.ClassEnded", "a MemberJoin after the class ended")
    answer = report(client, main, room_id, [{"EventId": "rec", "EventType": "RecordFinish", "Duration": 10,
                                             "RecordSize": 20, "RecordUrl": "https://r.example.com/1.mp4"}])
    assert answer["Accepted"] == 1, f"RecordFinish after the class must be accepted: {answer}"
    events = model_events(client.GetRoomEvent(get_room_event_request(room_id, main.sdk_app_id)))
    assert [e["EventType"] for e in events] == ["RoomStart", "RoomEnd", "RecordFinish"], events


def test_events_expire_after_retention(short_retention, retention_secs):
    """On a server started with --events-retention-after-end N s: queryable until N s after
    RoomEnd, then FailedOperation; the room itself stays."""
    tenant = short_retention
    client = make_client(tenant, language="en-US")
    room_id = create_room(client, tenant.sdk_app_id, name="short retention")
    room_action(client, "StartRoom", room_id)
    assert report(client, tenant, room_id, [
        {"EventId": "j", "EventType": "MemberJoin", "UserId": "u", "Device": 0, "Role": 0},
        {"EventId": "q", "EventType": "MemberQuit", "UserId": "u", "Device": 0, "Role": 0, "Reason": 0},
    ])["Accepted"] == 2
    room_action(client, "EndRoom", room_id)
    ended = time.time()
    response = client.GetRoomEvent(get_room_event_request(room_id, tenant.sdk_app_id))
    assert time.time() - ended < retention_secs, "this machine is too slow for a retention of a few seconds"
    assert [e["EventType"] for e in model_events(response)] == ["RoomStart", "MemberJoin", "MemberQuit", "RoomEnd"], (
        f"right after EndRoom the events must be there: {model_events(response)}"
    )

    time.sleep(retention_secs + 1.5)
    for keyword in (None, "MemberJoin"):
        exc = sdk_error(client.GetRoomEvent, get_room_event_request(room_id, tenant.sdk_app_id, keyword=keyword))
        assert_error(exc, "FailedOperation", f"GetRoomEvent (Keyword {keyword}) after the retention period")
        assert "expire" in exc.get_message().lower(), f"the message should say the events expired: {exc.get_message()!r}"
    room = room_action(client, "DescribeRoom", room_id)
    assert (room.Name, room.Status) == ("short retention", 2), room.to_json_string()
