"""GetRoomEvent through the official SDK, every way the SDK can sign, checked against the log the
`seeded` fixture reported (conftest.py): pages, Total, Timestamp in seconds, EventData fields,
Keyword filtering."""

import math
import time

import pytest

from lcic_helpers import (
    SIGNING_IDS,
    SIGNING_WAYS,
    V1_IDS,
    V1_WAYS,
    assert_error,
    create_room,
    get_room_event_request,
    make_client,
    model_events,
    sdk_error,
)

PAGE = 7


def _diff(got, expected):
    """A short description of the first difference between two event lists."""
    if len(got) != len(expected):
        return f"{len(got)} events instead of {len(expected)}"
    for i, (g, e) in enumerate(zip(got, expected)):
        if g != e:
            return f"event {i} differs:\n  got      {g}\n  expected {e}"
    return "no difference"


@pytest.mark.parametrize("sign_method,req_method", SIGNING_WAYS, ids=SIGNING_IDS)
def test_pages_walk_the_log_in_order(main, seeded, sign_method, req_method):
    client = make_client(main, sign_method, req_method)
    total = len(seeded.events)
    pages = math.ceil(total / PAGE)
    for page in range(1, pages + 1):
        response = client.GetRoomEvent(get_room_event_request(seeded.room_id, seeded.sdk_app_id, page, PAGE))
        assert response.Total == total, f"page {page}: Total {response.Total}, expected {total}"
        expected = seeded.events[(page - 1) * PAGE: page * PAGE]
        got = model_events(response)
        assert got == expected, f"page {page} of size {PAGE}: {_diff(got, expected)}"
        assert isinstance(response.RequestId, str) and len(response.RequestId) == 36, response.RequestId

    for past in (pages + 1, pages + 1000):
        response = client.GetRoomEvent(get_room_event_request(seeded.room_id, seeded.sdk_app_id, past, PAGE))
        assert response.Events in (None, []), f"page {past} is past the end but returned {model_events(response)}"
        assert response.Total == total, f"page {past}: Total {response.Total}, expected {total}"


@pytest.mark.parametrize("sign_method,req_method", SIGNING_WAYS, ids=SIGNING_IDS)
def test_wire_json_is_exact(main, seeded, sign_method, req_method):
    """The raw JSON (SDK's call_json): Timestamp is an integer number of seconds, EventData has
    RoomId and only the fields the event carries (no nulls), pages of the maximum size 200."""
    client = make_client(main, sign_method, req_method)
    params = {"RoomId": seeded.room_id, "SdkAppId": seeded.sdk_app_id, "Page": 1, "Limit": 200}
    first = client.call_json("GetRoomEvent", params)["Response"]
    second = client.call_json("GetRoomEvent", {**params, "Page": 2})["Response"]
    past = client.call_json("GetRoomEvent", {**params, "Page": 3})["Response"]
    for response in (first, second, past):
        assert set(response) == {"Total", "Events", "RequestId"}, f"unexpected output fields: {sorted(response)}"
        assert response["Total"] == len(seeded.events)
    assert first["Events"] == seeded.events[:200], f"page 1 of 200: {_diff(first['Events'], seeded.events[:200])}"
    assert second["Events"] == seeded.events[200:], f"page 2 of 200: {_diff(second['Events'], seeded.events[200:])}"
    assert past["Events"] == [], f"a page past the end must be Events: [], got {past['Events']!r}"
    for event in first["Events"] + second["Events"]:
        assert set(event) == {"Timestamp", "EventType", "EventData"}, f"EventInfo fields: {event}"
        assert type(event["Timestamp"]) is int and 1_500_000_000 < event["Timestamp"] < 4_000_000_000, (
            f"Timestamp must be unix seconds: {event}"
        )
        assert None not in event["EventData"].values(), f"absent fields must be omitted, not null: {event}"


@pytest.mark.parametrize("sign_method,req_method", SIGNING_WAYS, ids=SIGNING_IDS)
def test_keyword_returns_every_event_of_the_type(main, seeded, sign_method, req_method):
    """More than 200 MemberJoin events: all of them, in log order, whatever Page and Limit say;
    Total still counts the whole room."""
    client = make_client(main, sign_method, req_method)
    expected = seeded.of_type("MemberJoin")
    assert len(expected) > 200, "the seeded room must hold more MemberJoin events than a page"
    for page, limit in [(1, PAGE), (3, 1), (1, 200)]:
        response = client.GetRoomEvent(
            get_room_event_request(seeded.room_id, seeded.sdk_app_id, page, limit, keyword="MemberJoin")
        )
        got = model_events(response)
        assert got == expected, f"Keyword MemberJoin, Page {page}, Limit {limit}: {_diff(got, expected)}"
        assert response.Total == len(seeded.events), (
            f"Total must ignore Keyword: {response.Total}, expected {len(seeded.events)}"
        )


def test_keyword_each_event_type(main, seeded):
    client = make_client(main)
    types = ["RoomStart", "MemberJoin", "MemberQuit", "RecordFinish", "CameraOn", "CameraOff",
             "MicOn", "MicOff", "ScreenOn", "ScreenOff", "VisibleOn", "VisibleOff"]
    for event_type in types:
        expected = seeded.of_type(event_type)
        assert expected, f"the seeded room has no {event_type} event"
        raw = client.call_json(
            "GetRoomEvent",
            {"RoomId": seeded.room_id, "SdkAppId": seeded.sdk_app_id, "Page": 1, "Limit": 10, "Keyword": event_type},
        )["Response"]
        assert raw["Events"] == expected, f"Keyword {event_type}: {_diff(raw['Events'], expected)}"
        assert raw["Total"] == len(seeded.events)
    # A type the room has no event of: an empty list, not an error.
    raw = client.call_json(
        "GetRoomEvent",
        {"RoomId": seeded.room_id, "SdkAppId": seeded.sdk_app_id, "Page": 1, "Limit": 10, "Keyword": "RoomEnd"},
    )["Response"]
    assert raw["Events"] == [] and raw["Total"] == len(seeded.events), f"Keyword RoomEnd of a room in class: {raw}"


@pytest.mark.parametrize("sign_method,req_method", SIGNING_WAYS, ids=SIGNING_IDS)
def test_empty_keyword_means_no_filter(main, seeded, sign_method, req_method):
    """The SDK sends `Keyword=` (v1) or "Keyword": "" (TC3) when a caller sets an empty Keyword."""
    client = make_client(main, sign_method, req_method)
    response = client.GetRoomEvent(get_room_event_request(seeded.room_id, seeded.sdk_app_id, 2, 10, keyword=""))
    assert model_events(response) == seeded.events[10:20], "an empty Keyword must page like no Keyword"
    assert response.Total == len(seeded.events)


@pytest.mark.parametrize("sign_method,req_method", SIGNING_WAYS, ids=SIGNING_IDS)
def test_paging_values_out_of_range(main, seeded, sign_method, req_method):
    client = make_client(main, sign_method, req_method)
    for page, limit, keyword in [(1, 0, None), (1, 201, None), (0, 10, None), (1, 10, "NoSuchEvent"),
                                 # Specials: spaces ('+' in the SDK's query), '/', '~', '*', UTF-8.
                                 (1, 10, "Member Join/中文~*&=%")]:
        req = get_room_event_request(seeded.room_id, seeded.sdk_app_id, page, limit, keyword=keyword)
        exc = sdk_error(client.GetRoomEvent, req)
        assert_error(exc, "InvalidParameterValue", f"Page={page} Limit={limit} Keyword={keyword!r}")
    # The bounds themselves are fine.
    response = client.GetRoomEvent(get_room_event_request(seeded.room_id, seeded.sdk_app_id, 1, 200))
    assert len(response.Events) == 200
    response = client.GetRoomEvent(get_room_event_request(seeded.room_id, seeded.sdk_app_id, len(seeded.events), 1))
    assert model_events(response) == seeded.events[-1:], "Page=Total, Limit=1 must be the last event"


@pytest.mark.parametrize("sign_method,req_method", V1_WAYS, ids=V1_IDS)
def test_v1_matches_tc3(main, seeded, sign_method, req_method):
    """Belt and braces: the same requests answered identically over v1 and TC3."""
    tc3 = make_client(main)
    v1 = make_client(main, sign_method, req_method)
    for page, limit, keyword in [(1, 13, None), (5, 13, None), (2, 100, None), (1, 5, "RecordFinish"),
                                 (1, 5, "MemberQuit")]:
        req = get_room_event_request(seeded.room_id, seeded.sdk_app_id, page, limit, keyword=keyword)
        a, b = model_events(tc3.GetRoomEvent(req)), model_events(v1.GetRoomEvent(req))
        assert a == b, f"Page={page} Limit={limit} Keyword={keyword}: v1 and TC3 differ: {_diff(b, a)}"
        assert a, f"Page={page} Limit={limit} Keyword={keyword}: expected events"


@pytest.fixture(scope="module")
def big_room(main):
    """3,001 events: 2,001 CameraOn (past two 1,000-event read chunks) and exactly 1,000 MicOn, with
    UserIds that need escaping in JSON and in URLs."""
    client = make_client(main)
    room_id = create_room(client, main.sdk_app_id, name="big room")
    users = ['学生 "一"', "back\\slash", "emoji 🎓", "a&b=c?d/e+f%", "tab\there", "plain"]
    base_ms = (int(time.time()) - 3600) * 1000
    events = []
    for i in range(3001):
        event_type = "MicOn" if i % 3 == 1 else "CameraOn"
        events.append({"EventId": f"big-{i}", "EventType": event_type, "UserId": users[i % len(users)],
                       "TimestampMs": base_ms + i * 250})
    for at in range(0, len(events), 1000):
        answer = client.call_json("ReportRoomEvents", {"SdkAppId": main.sdk_app_id, "RoomId": room_id,
                                                       "Events": events[at:at + 1000]})
        assert answer["Response"]["Accepted"] == len(events[at:at + 1000]), answer
    expected = [{"Timestamp": e["TimestampMs"] // 1000, "EventType": e["EventType"],
                 "EventData": {"RoomId": room_id, "UserId": e["UserId"]}} for e in events]
    return room_id, expected


@pytest.mark.parametrize("sign_method,req_method", [("TC3-HMAC-SHA256", "POST"), ("HmacSHA1", "GET")],
                         ids=["tc3-post", "hmacsha1-get"])
def test_keyword_across_read_chunks(main, big_room, sign_method, req_method):
    room_id, expected = big_room
    client = make_client(main, sign_method, req_method)
    for keyword, count in [("CameraOn", 2001), ("MicOn", 1000)]:
        response = client.call_json("GetRoomEvent", {"RoomId": room_id, "SdkAppId": main.sdk_app_id, "Page": 1,
                                                      "Limit": 10, "Keyword": keyword})["Response"]
        want = [e for e in expected if e["EventType"] == keyword]
        assert len(want) == count
        assert response["Events"] == want, f"Keyword {keyword}: {_diff(response['Events'], want)}"
        assert response["Total"] == len(expected)
    last_page = client.GetRoomEvent(get_room_event_request(room_id, main.sdk_app_id, 16, 200))
    assert model_events(last_page) == expected[3000:], "page 16 of 200 holds the 3,001st event alone"


@pytest.mark.parametrize("sign_method,req_method", SIGNING_WAYS, ids=SIGNING_IDS)
def test_extreme_page_numbers(main, seeded, sign_method, req_method):
    """The largest u64 Page is a page past the end (no overflow); numbers that are not u64 are
    malformed parameters (InvalidParameter), not out-of-range values."""
    client = make_client(main, sign_method, req_method)
    params = {"RoomId": seeded.room_id, "SdkAppId": seeded.sdk_app_id, "Page": 2**64 - 1, "Limit": 200}
    response = client.call_json("GetRoomEvent", params)["Response"]
    assert (response["Total"], response["Events"]) == (len(seeded.events), []), f"Page 2^64-1: {response}"
    for field, value in [("Page", 2**64), ("Page", -1), ("Limit", -5)]:
        exc = sdk_error(client.call_json, "GetRoomEvent", {**params, field: value})
        assert_error(exc, "InvalidParameter", f"{field}={value}")
