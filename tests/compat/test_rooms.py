"""Rooms through the SDK's typed models: CreateRoom -> DescribeRoom (fields echoed), ModifyRoom,
StartRoom, EndRoom (RoomStart/RoomEnd in the log), GetRooms, BatchCreateRoom, DeleteRoom."""

import time
import warnings

import pytest
from tencentcloud.lcic.v20220817 import models

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

# Optional CreateRoom fields with non-default values; DescribeRoom must echo every one of them
# (those DescribeRoomResponse has: TurnOffMic and RTCAudienceNumber are not in it).
OPTIONAL = {
    "TeacherId": "teacher-compat",
    "Assistants": ["assistant-1", "assistant-2"],
    "Guests": ["guest-1"],
    "AutoMic": 1,
    "TurnOffMic": 1,
    "AudioQuality": 1,
    "DisableRecord": 2,
    "RecordLayout": 3,
    "GroupId": "group-compat",
    "EnableDirectControl": 1,
    "InteractionMode": 1,
    "VideoOrientation": 1,
    "IsGradingRequiredPostClass": 1,
    "RoomType": 3,
    "EndDelayTime": 30,
    "LiveType": 2,
    "RecordLiveUrl": "rtmp://live.example.com/compat/stream",
    "EnableAutoStart": 1,
    "RecordBackground": "https://static.example.com/bg.png",
    "RecordScene": "compat-scene",
    "RecordLang": "en",
    "RecordStream": 1,
    "WhiteBoardSnapshotMode": 1,
    "SubtitlesTranscription": 1,
    "RecordMerge": 1,
    "EnableLiveRelay": 1,
    "RTCAudienceNumber": 10,
    "AudienceType": 1,
}
NOT_IN_DESCRIBE = {"TurnOffMic", "RTCAudienceNumber"}


def describe(client, room_id):
    return room_action(client, "DescribeRoom", room_id)


def test_create_then_describe_echoes_every_field(main):
    client = make_client(main)
    start = int(time.time()) + 3600
    req = models.CreateRoomRequest()
    req.SdkAppId, req.Name, req.StartTime, req.EndTime = main.sdk_app_id, "Physics 101 / 物理", start, start + 5400
    req.Resolution, req.MaxMicNumber, req.SubType = 2, 16, "video"
    for key, value in OPTIONAL.items():
        setattr(req, key, value)
    room_id = client.CreateRoom(req).RoomId
    assert isinstance(room_id, int) and room_id > 0

    room = describe(client, room_id)
    expected = {"Name": "Physics 101 / 物理", "StartTime": start, "EndTime": start + 5400, "SdkAppId": main.sdk_app_id,
                "Resolution": 2, "MaxMicNumber": 16, "SubType": "video", "Status": 0}
    expected.update({k: v for k, v in OPTIONAL.items() if k not in NOT_IN_DESCRIBE})
    mismatches = {k: (getattr(room, k), v) for k, v in expected.items() if getattr(room, k) != v}
    assert not mismatches, f"DescribeRoom did not echo (got, expected): {mismatches}; full: {room.to_json_string()}"
    assert room.RequestId and len(room.RequestId) == 36


def test_defaults_when_optional_fields_are_absent(main):
    client = make_client(main)
    room_id = create_room(client, main.sdk_app_id, name="plain")
    room = describe(client, room_id)
    assert (room.Name, room.Resolution, room.MaxMicNumber, room.SubType, room.Status) == ("plain", 1, 6, "videodoc", 0), (
        room.to_json_string()
    )

    # GetRooms' default window is now -30 min .. now +30 min: a class starting now is in it,
    # one starting in two hours is not.
    later = create_room(client, main.sdk_app_id, name="later", start=int(time.time()) + 7200)
    listed, page = [], 1
    while True:
        response = get_rooms(client, main.sdk_app_id, Page=page, Limit=100)
        listed += [r.RoomId for r in response.Rooms or []]
        if not response.Rooms or len(listed) >= response.Total:
            break
        page += 1
    assert room_id in listed, f"GetRooms without a window must list a class starting now ({room_id}): {listed}"
    assert later not in listed, f"GetRooms without a window must not list a class two hours ahead: {listed}"


def test_lifecycle_start_end_and_events(main):
    client = make_client(main)
    start = int(time.time())
    room_id = create_room(client, main.sdk_app_id, name="lifecycle", start=start, duration=1800)

    before_start = int(time.time())
    room_action(client, "StartRoom", room_id)
    after_start = int(time.time()) + 1
    assert describe(client, room_id).Status == 1, "Status after StartRoom must be 1 (in class)"
    assert_error(sdk_error(room_action, client, "StartRoom", room_id), "FailedOperation.ClassStarted", "StartRoom twice")

    modify = models.ModifyRoomRequest()
    modify.RoomId, modify.SdkAppId, modify.Name = room_id, main.sdk_app_id, "renamed in class"
    assert_error(sdk_error(client.ModifyRoom, modify), "FailedOperation.ClassStarted", "ModifyRoom in class")
    assert_error(sdk_error(room_action, client, "DeleteRoom", room_id), "FailedOperation.ClassStarted", "DeleteRoom in class")

    before_end = int(time.time())
    room_action(client, "EndRoom", room_id)
    after_end = int(time.time()) + 1
    room = describe(client, room_id)
    assert room.Status == 2, f"Status after EndRoom must be 2 (ended): {room.to_json_string()}"
    assert room.Name == "lifecycle", "ModifyRoom in class must not have changed the room"
    assert_error(sdk_error(room_action, client, "EndRoom", room_id), "FailedOperation.ClassEnded", "EndRoom twice")
    assert_error(sdk_error(room_action, client, "StartRoom", room_id), "FailedOperation.ClassEnded", "StartRoom after end")
    assert_error(sdk_error(client.ModifyRoom, modify), "FailedOperation.ClassEnded", "ModifyRoom after end")

    events = model_events(client.GetRoomEvent(get_room_event_request(room_id, main.sdk_app_id, 1, 10)))
    assert [e["EventType"] for e in events] == ["RoomStart", "RoomEnd"], events
    assert all(e["EventData"] == {"RoomId": room_id} for e in events), events
    assert before_start <= events[0]["Timestamp"] <= after_start, (events[0], before_start, after_start)
    assert before_end <= events[1]["Timestamp"] <= after_end, (events[1], before_end, after_end)

    rooms = get_rooms(client, main.sdk_app_id, StartTime=start - 60, EndTime=start + 60, Limit=100)
    item = next((r for r in rooms.Rooms if r.RoomId == room_id), None)
    assert item is not None, f"GetRooms around the class does not list room {room_id}: {rooms.to_json_string()}"
    assert (item.Name, item.Status, item.StartTime, item.EndTime) == ("lifecycle", 2, start, start + 1800), item.to_json_string()
    assert before_start <= item.RealStartTime <= after_start, f"RealStartTime: {item.to_json_string()}"
    assert before_end <= item.RealEndTime <= after_end, f"RealEndTime: {item.to_json_string()}"

    # A deleted ended room is gone, with its events.
    room_action(client, "DeleteRoom", room_id)
    assert_error(sdk_error(room_action, client, "DescribeRoom", room_id), "ResourceNotFound.Room", "DescribeRoom after DeleteRoom")
    assert_error(sdk_error(client.GetRoomEvent, get_room_event_request(room_id, main.sdk_app_id)),
                 "ResourceNotFound.Room", "GetRoomEvent after DeleteRoom")


def test_end_before_start_fails(main):
    client = make_client(main)
    room_id = create_room(client, main.sdk_app_id, name="never started")
    exc = sdk_error(room_action, client, "EndRoom", room_id)
    assert_error(exc, "FailedOperation", "EndRoom of a room that never started")
    assert describe(client, room_id).Status == 0


def test_modify_before_start(main):
    client = make_client(main)
    start = int(time.time()) + 7200
    room_id = create_room(client, main.sdk_app_id, name="before", start=start)
    modify = models.ModifyRoomRequest()
    modify.RoomId, modify.SdkAppId = room_id, main.sdk_app_id
    modify.Name, modify.MaxMicNumber, modify.EndTime, modify.TeacherId = "after", 12, start + 600, "teacher-2"
    client.ModifyRoom(modify)
    room = describe(client, room_id)
    assert (room.Name, room.MaxMicNumber, room.StartTime, room.EndTime, room.TeacherId, room.Resolution) == (
        "after", 12, start, start + 600, "teacher-2", 1), room.to_json_string()

    bad = models.ModifyRoomRequest()
    bad.RoomId, bad.SdkAppId, bad.EndTime = room_id, main.sdk_app_id, start - 1
    assert_error(sdk_error(client.ModifyRoom, bad), "InvalidParameter.EndTime", "ModifyRoom with EndTime before the stored StartTime")


def get_rooms(client, sdk_app_id, **fields):
    req = models.GetRoomsRequest()
    req.SdkAppId = sdk_app_id
    for key, value in fields.items():
        setattr(req, key, value)
    return client.GetRooms(req)


def test_batch_create_and_get_rooms_paging(main):
    client = make_client(main)
    # A window of its own, far from every other room of the suite.
    window = int(time.time()) + 30 * 86400
    req = models.BatchCreateRoomRequest()
    req.SdkAppId = main.sdk_app_id
    req.RoomInfos = []
    for i in range(5):
        info = models.RoomInfo()
        info.Name, info.StartTime, info.EndTime = f"batch-{i}", window + i * 600, window + i * 600 + 1800
        info.Resolution, info.MaxMicNumber, info.SubType = 1, i, "videodoc"
        req.RoomInfos.append(info)
    room_ids = client.BatchCreateRoom(req).RoomIds
    assert len(room_ids) == 5 and len(set(room_ids)) == 5, f"BatchCreateRoom RoomIds: {room_ids}"
    names = [describe(client, r).Name for r in room_ids]
    assert names == [f"batch-{i}" for i in range(5)], f"RoomIds must follow RoomInfos' order: {names}"

    everything = get_rooms(client, main.sdk_app_id, StartTime=window, EndTime=window + 4 * 600 + 1800, Limit=100)
    assert everything.Total == 5, f"GetRooms over the batch window: {everything.to_json_string()}"
    assert sorted(r.RoomId for r in everything.Rooms) == sorted(room_ids)
    listed = {r.RoomId: r for r in everything.Rooms}
    for i, room_id in enumerate(room_ids):
        item = listed[room_id]
        assert (item.Name, item.Status, item.StartTime, item.MaxMicNumber, item.Resolution) == (
            f"batch-{i}", 0, window + i * 600, i, 1), item.to_json_string()

    pages = [get_rooms(client, main.sdk_app_id, StartTime=window, EndTime=window + 4 * 600 + 1800, Page=p, Limit=2)
             for p in (1, 2, 3, 4)]
    assert [len(p.Rooms or []) for p in pages] == [2, 2, 1, 0], [p.to_json_string() for p in pages]
    assert all(p.Total == 5 for p in pages), [p.Total for p in pages]
    paged = [r.RoomId for p in pages for r in (p.Rooms or [])]
    assert sorted(paged) == sorted(room_ids) and len(set(paged)) == 5, f"pages overlap or miss rooms: {paged}"

    # Only the first room overlaps [window, window + 100].
    narrow = get_rooms(client, main.sdk_app_id, StartTime=window, EndTime=window + 100)
    assert [r.RoomId for r in narrow.Rooms] == [room_ids[0]], narrow.to_json_string()
    ended_only = get_rooms(client, main.sdk_app_id, StartTime=window, EndTime=window + 4 * 600 + 1800, Status=[2])
    assert ended_only.Total == 0 and not ended_only.Rooms, ended_only.to_json_string()

    assert_error(sdk_error(get_rooms, client, main.sdk_app_id, Limit=101), "InvalidParameterValue", "GetRooms Limit=101")


def test_create_room_validation(main):
    client = make_client(main)
    now = int(time.time())
    assert_error(sdk_error(create_room, client, main.sdk_app_id, duration=72 * 3600 + 1),
                 "FailedOperation.ClassTooLong", "a class longer than 72 h")
    create_room(client, main.sdk_app_id, name="exactly 72 h", duration=72 * 3600)
    assert_error(sdk_error(create_room, client, main.sdk_app_id, start=now, duration=0),
                 "InvalidParameter.EndTime", "EndTime equal to StartTime")
    assert_error(sdk_error(create_room, client, main.sdk_app_id, MaxMicNumber=17),
                 "InvalidParameter.MaxMicNumber", "MaxMicNumber 17")
    assert_error(sdk_error(create_room, client, main.sdk_app_id, RoomType=5),
                 "InvalidParameter.RoomTypeInvalid", "RoomType 5")
    assert_error(sdk_error(create_room, client, main.sdk_app_id, Resolution=4),
                 "InvalidParameterValue", "Resolution 4")
    assert_error(sdk_error(create_room, client, main.sdk_app_id, SubType="audio"),
                 "InvalidParameterValue", "SubType audio")
    assert_error(sdk_error(create_room, client, main.sdk_app_id, name="x" * 257),
                 "InvalidParameterValue", "a 257-character Name")


def test_end_room_closes_the_class_for_members_still_present(main):
    """EndRoom records a MemberQuit with Reason 5 (room ended, LCIC's code) at RoomEnd's time for
    each member still in the room, before RoomEnd; members who had left get none."""
    client = make_client(main)
    room_id = create_room(client, main.sdk_app_id, name="members at the end")
    room_action(client, "StartRoom", room_id)
    now_ms = int(time.time() * 1000) - 60_000

    def member(event_id, event_type, user, **extra):
        return {"EventId": event_id, "EventType": event_type, "UserId": user, "TimestampMs": now_ms, **extra}

    reported = [
        member("1", "MemberJoin", "alice", Device=5, Role=1),
        member("2", "MemberJoin", "bob", Device=3, Role=0),
        member("3", "MemberJoin", "carol", Device=4, Role=0),
        member("4", "MemberQuit", "bob", Device=3, Role=0, Reason=0),
        member("5", "MemberJoin", "dave", Device=1, Role=2),
    ]
    answer = client.call_json("ReportRoomEvents", {"SdkAppId": main.sdk_app_id, "RoomId": room_id, "Events": reported})
    assert answer["Response"]["Accepted"] == 5, answer
    before_end = int(time.time())
    room_action(client, "EndRoom", room_id)
    after_end = int(time.time()) + 1

    events = client.call_json("GetRoomEvent", {"RoomId": room_id, "SdkAppId": main.sdk_app_id, "Page": 1,
                                               "Limit": 100})["Response"]["Events"]
    types = [e["EventType"] for e in events]
    assert types[:6] == ["RoomStart", "MemberJoin", "MemberJoin", "MemberJoin", "MemberQuit", "MemberJoin"], events
    assert types[-1] == "RoomEnd", f"RoomEnd must be the last event: {events}"
    closing = events[6:-1]
    assert sorted(e["EventData"].get("UserId") for e in closing) == ["alice", "carol", "dave"], (
        f"one MemberQuit per member still present (alice, carol, dave; bob had left): {closing}"
    )
    end_ts = events[-1]["Timestamp"]
    assert before_end <= end_ts <= after_end, events[-1]
    for event in closing:
        assert event["EventType"] == "MemberQuit" and event["EventData"].get("Reason") == 5, (
            f"the class's end must quit members with Reason 5: {event}"
        )
        assert event["EventData"]["RoomId"] == room_id and event["Timestamp"] == end_ts, event


def test_responses_carry_only_fields_the_sdk_models_know(main):
    """The SDK warns (`<names> fileds are useless.`) whenever a response has a field its model does
    not define: LCIC never triggers that, so neither may roomlog."""
    client = make_client(main)
    start = int(time.time()) + 900
    room_id = create_room(client, main.sdk_app_id, name="fields", start=start)

    batch = models.BatchCreateRoomRequest()
    info = models.RoomInfo()
    info.Name, info.StartTime, info.EndTime, info.Resolution, info.MaxMicNumber, info.SubType = (
        "fields 2", start, start + 60, 1, 1, "video")
    batch.SdkAppId, batch.RoomInfos = main.sdk_app_id, [info]
    modify = models.ModifyRoomRequest()
    modify.RoomId, modify.SdkAppId, modify.Name = room_id, main.sdk_app_id, "fields renamed"
    join = {"EventId": "f1", "EventType": "MemberJoin", "UserId": "u1", "Device": 2, "Role": 0}
    calls = [
        ("DescribeRoom", lambda: describe(client, room_id)),
        ("GetRooms", lambda: get_rooms(client, main.sdk_app_id, StartTime=start, EndTime=start + 60, Limit=100)),
        ("BatchCreateRoom", lambda: client.BatchCreateRoom(batch)),
        ("ModifyRoom", lambda: client.ModifyRoom(modify)),
        ("StartRoom", lambda: room_action(client, "StartRoom", room_id)),
        ("ReportRoomEvents", lambda: client.call_json(
            "ReportRoomEvents", {"SdkAppId": main.sdk_app_id, "RoomId": room_id, "Events": [join]})),
        ("GetRoomEvent", lambda: client.GetRoomEvent(get_room_event_request(room_id, main.sdk_app_id))),
        ("GetRoomEvent+Keyword", lambda: client.GetRoomEvent(
            get_room_event_request(room_id, main.sdk_app_id, keyword="MemberJoin"))),
        ("EndRoom", lambda: room_action(client, "EndRoom", room_id)),
        ("DeleteRoom", lambda: room_action(client, "DeleteRoom", room_id)),
    ]
    useless = {}
    for name, call in calls:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call()
        found = sorted({str(w.message) for w in caught if "useless" in str(w.message)})
        if found:
            useless[name] = found
    assert not useless, f"responses carry fields the official SDK models do not define: {useless}"


@pytest.mark.parametrize("sign_method,req_method", SIGNING_WAYS, ids=SIGNING_IDS)
def test_rooms_every_signing_way(main, sign_method, req_method):
    """Arrays and nested objects go flattened (`Assistants.0`, `RoomInfos.0.Name`, `Status.0`) over
    TC3 GET and v1, with every value a string: the rooms must come out the same."""
    client = make_client(main, sign_method, req_method)
    start = int(time.time()) + 40 * 86400 + SIGNING_WAYS.index((sign_method, req_method)) * 86400
    room_id = create_room(client, main.sdk_app_id, name=f"数学 & more {sign_method}/{req_method}", start=start,
                          Assistants=["a 1", "a+2"], Guests=["g/1"], TeacherId="t=1", EndDelayTime=-1, RoomType=0)
    room = describe(client, room_id)
    assert (room.Name, room.StartTime, room.Assistants, room.Guests, room.TeacherId, room.EndDelayTime, room.RoomType) == (
        f"数学 & more {sign_method}/{req_method}", start, ["a 1", "a+2"], ["g/1"], "t=1", -1, 0), room.to_json_string()

    req = models.BatchCreateRoomRequest()
    req.SdkAppId, req.RoomInfos = main.sdk_app_id, []
    for i in range(2):
        info = models.RoomInfo()
        info.Name, info.StartTime, info.EndTime = f"batch {i}", start + 3600, start + 7200
        info.Resolution, info.MaxMicNumber, info.SubType, info.Assistants = 3, 2, "video", [f"x{i}"]
        req.RoomInfos.append(info)
    ids = client.BatchCreateRoom(req).RoomIds
    assert [(describe(client, r).Name, describe(client, r).Assistants) for r in ids] == [("batch 0", ["x0"]),
                                                                                         ("batch 1", ["x1"])]

    rooms = get_rooms(client, main.sdk_app_id, StartTime=start, EndTime=start + 7200, Status=[0, 1], Limit=10)
    assert sorted(r.RoomId for r in rooms.Rooms) == sorted([room_id, *ids]), rooms.to_json_string()
    assert rooms.Total == 3


def test_class_never_started_expires(main):
    """A class not started by its EndTime becomes Status 3 (expired) by itself; StartRoom and
    ModifyRoom then answer FailedOperation.ClassExpired."""
    client = make_client(main)
    now = int(time.time())
    room_id = create_room(client, main.sdk_app_id, name="expires", start=now - 60, duration=62)
    assert describe(client, room_id).Status == 0
    deadline = time.time() + 10
    while describe(client, room_id).Status != 3:
        assert time.time() < deadline, f"room {room_id} still not expired 8 s after its EndTime: " \
                                       f"{describe(client, room_id).to_json_string()}"
        time.sleep(0.25)
    assert time.time() >= now + 2 - 1, "expired before its EndTime"
    assert_error(sdk_error(room_action, client, "StartRoom", room_id), "FailedOperation.ClassExpired", "StartRoom")
    modify = models.ModifyRoomRequest()
    modify.RoomId, modify.SdkAppId, modify.Name = room_id, main.sdk_app_id, "too late"
    assert_error(sdk_error(client.ModifyRoom, modify), "FailedOperation.ClassExpired", "ModifyRoom")
