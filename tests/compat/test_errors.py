"""Error codes as the SDK surfaces them: TencentCloudSDKException.get_code(), with a RequestId.
Tenant isolation, authentication failures, rate limiting."""

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

NO_SUCH_ROOM = 987_654_321_012


@pytest.fixture(scope="module")
def other_room(other):
    """A room of the second tenant (another account on the same server), with one event."""
    client = make_client(other)
    room_id = create_room(client, other.sdk_app_id, name="the other tenant's class")
    answer = client.call_json("ReportRoomEvents", {
        "SdkAppId": other.sdk_app_id, "RoomId": room_id,
        "Events": [{"EventId": "other-1", "EventType": "MemberJoin", "UserId": "stranger", "Device": 1, "Role": 0}],
    })
    assert answer["Response"]["Accepted"] == 1, answer
    return room_id


def test_second_tenant_reads_its_own_room(other, other_room):
    """Positive control for the isolation tests below."""
    response = make_client(other).GetRoomEvent(get_room_event_request(other_room, other.sdk_app_id))
    assert response.Total == 1
    assert [e["EventData"].get("UserId") for e in model_events(response)] == ["stranger"]


@pytest.mark.parametrize("sign_method,req_method", SIGNING_WAYS, ids=SIGNING_IDS)
def test_room_not_found(main, other, seeded, other_room, sign_method, req_method):
    client = make_client(main, sign_method, req_method)
    for room_id, what in [(NO_SUCH_ROOM, "a room that does not exist"), (other_room, "the other tenant's room")]:
        exc = sdk_error(client.GetRoomEvent, get_room_event_request(room_id, main.sdk_app_id))
        assert_error(exc, "ResourceNotFound.Room", f"GetRoomEvent of {what}")
        # The same answer with a Keyword (the streamed path).
        exc = sdk_error(client.GetRoomEvent, get_room_event_request(room_id, main.sdk_app_id, keyword="MemberJoin"))
        assert_error(exc, "ResourceNotFound.Room", f"GetRoomEvent with Keyword of {what}")


def test_room_not_found_other_actions(main, other, seeded, other_room):
    client = make_client(main)
    for room_id in (NO_SUCH_ROOM, other_room):
        for action in ("DescribeRoom", "StartRoom", "EndRoom", "DeleteRoom"):
            exc = sdk_error(room_action, client, action, room_id)
            assert_error(exc, "ResourceNotFound.Room", f"{action} of room {room_id}")
    # And the other way round: the second tenant cannot see the main tenant's room.
    exc = sdk_error(make_client(other).GetRoomEvent, get_room_event_request(seeded.room_id, other.sdk_app_id))
    assert_error(exc, "ResourceNotFound.Room", "the second tenant reading the main tenant's room")
    exc = sdk_error(room_action, make_client(other), "DescribeRoom", seeded.room_id)
    assert_error(exc, "ResourceNotFound.Room", "the second tenant describing the main tenant's room")
    # The room was not touched by the refused StartRoom/EndRoom/DeleteRoom.
    assert make_client(other).GetRoomEvent(get_room_event_request(other_room, other.sdk_app_id)).Total == 1


@pytest.mark.parametrize("sign_method,req_method", SIGNING_WAYS, ids=SIGNING_IDS)
def test_sdk_app_id_of_another_account(main, other, seeded, sign_method, req_method):
    client = make_client(main, sign_method, req_method)
    exc = sdk_error(client.GetRoomEvent, get_room_event_request(seeded.room_id, other.sdk_app_id))
    assert_error(exc, "InvalidParameter.SdkAppId", "GetRoomEvent of an own room with the other tenant's SdkAppId")
    exc = sdk_error(client.GetRoomEvent, get_room_event_request(seeded.room_id, 1))
    assert_error(exc, "InvalidParameter.SdkAppId", "GetRoomEvent with an SdkAppId that exists nowhere")


def test_sdk_app_id_of_another_account_other_actions(main, other):
    client = make_client(main)
    exc = sdk_error(create_room, client, other.sdk_app_id)
    assert_error(exc, "InvalidParameter.SdkAppId", "CreateRoom in the other tenant's app")
    exc = sdk_error(client.call_json, "GetRooms", {"SdkAppId": other.sdk_app_id})
    assert_error(exc, "InvalidParameter.SdkAppId", "GetRooms of the other tenant's app")


@pytest.mark.parametrize("sign_method,req_method", SIGNING_WAYS, ids=SIGNING_IDS)
def test_wrong_secret_key(main, seeded, sign_method, req_method):
    client = make_client(main, sign_method, req_method, secret_key=main.secret_key[::-1] + "x")
    exc = sdk_error(client.GetRoomEvent, get_room_event_request(seeded.room_id, seeded.sdk_app_id))
    assert_error(exc, "AuthFailure.SignatureFailure", "a request signed with the wrong SecretKey")


def test_another_tenants_key_is_not_a_signature_for_mine(main, other, seeded):
    """The main tenant's SecretId with the other tenant's SecretKey."""
    client = make_client(main, secret_key=other.secret_key)
    exc = sdk_error(client.GetRoomEvent, get_room_event_request(seeded.room_id, seeded.sdk_app_id))
    assert_error(exc, "AuthFailure.SignatureFailure", "main SecretId signed with the other SecretKey")


@pytest.mark.parametrize("sign_method,req_method", SIGNING_WAYS, ids=SIGNING_IDS)
def test_unknown_secret_id(main, seeded, sign_method, req_method):
    client = make_client(main, sign_method, req_method, secret_id="AKIDcompatNoSuchKey00000000000000000000")
    exc = sdk_error(client.GetRoomEvent, get_room_event_request(seeded.room_id, seeded.sdk_app_id))
    assert_error(exc, "AuthFailure.SecretIdNotFound", "a request with an unknown SecretId")


def test_error_message_language(main):
    """X-TC-Language en-US (ClientProfile(language=...)) changes at most the Message, never the Code."""
    for language in ("zh-CN", "en-US"):
        exc = sdk_error(make_client(main, language=language).GetRoomEvent, get_room_event_request(NO_SUCH_ROOM, main.sdk_app_id))
        assert_error(exc, "ResourceNotFound.Room", f"language {language}")


def test_unknown_action_through_call_json(main):
    exc = sdk_error(make_client(main).call_json, "DescribeNothingAtAll", {})
    assert_error(exc, "InvalidAction", "an action roomlog does not serve")


def test_rate_limit(limited, limited_rate):
    """A burst of GetRoomEvent against a server started with --rate-limit GetRoomEvent=N: the
    first N succeed, then RequestLimitExceeded; other actions keep their own budget; after a
    second the budget is back."""
    client = make_client(limited)
    room_id = create_room(client, limited.sdk_app_id, name="rate limited class")
    request = get_room_event_request(room_id, limited.sdk_app_id)
    time.sleep(1.1)  # a full budget, whatever ran before

    outcomes = []
    started = time.monotonic()
    for _ in range(4 * limited_rate + 20):
        try:
            client.GetRoomEvent(request)
            outcomes.append("ok")
        except Exception as e:  # noqa: BLE001 - any other failure is reported below
            outcomes.append(getattr(e, "code", repr(e)))
    elapsed = time.monotonic() - started

    unexpected = {o for o in outcomes if o not in ("ok", "RequestLimitExceeded")}
    assert not unexpected, f"only success or RequestLimitExceeded expected, got {unexpected}: {outcomes}"
    successes = outcomes.count("ok")
    assert outcomes[:limited_rate] == ["ok"] * limited_rate, (
        f"the first {limited_rate} requests (a full burst) must succeed: {outcomes}"
    )
    assert "RequestLimitExceeded" in outcomes, f"{len(outcomes)} requests in {elapsed:.2f}s, none limited: {outcomes}"
    allowed = limited_rate + limited_rate * elapsed + 1
    assert successes <= allowed, (
        f"{successes} successes in {elapsed:.2f}s exceeds {limited_rate}/s with a burst of {limited_rate}: {outcomes}"
    )

    # GetRoomEvent's budget is spent; DescribeRoom has its own.
    assert room_action(client, "DescribeRoom", room_id).Name == "rate limited class"

    time.sleep(1.1)
    assert client.GetRoomEvent(request).Total == 0, "after a second GetRoomEvent must be allowed again"
