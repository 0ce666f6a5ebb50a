"""Members and attendance through the official SDK's models: KickUserFromRoom,
DescribeCurrentMemberList, UnblockKickedUser, DescribeRoomStatistics, and the users actions."""

import time

from tencentcloud.lcic.v20220817 import models

from lcic_helpers import assert_error, create_room, make_client, room_action, sdk_error


def report(client, tenant, room_id, events):
    return client.call_json("ReportRoomEvents", {"SdkAppId": tenant.sdk_app_id, "RoomId": room_id, "Events": events})["Response"]


def join(event_id, user, device=5, role=0, ts=None):
    event = {"EventId": event_id, "EventType": "MemberJoin", "UserId": user, "Device": device, "Role": role}
    if ts is not None:
        event["TimestampMs"] = ts
    return event


def member_list(client, room_id, page=1, limit=10):
    req = models.DescribeCurrentMemberListRequest()
    req.RoomId = room_id
    req.Page = page
    req.Limit = limit
    return client.DescribeCurrentMemberList(req)


def kick(client, tenant, room_id, user, kick_type, duration=None):
    req = models.KickUserFromRoomRequest()
    req.RoomId = room_id
    req.SdkAppId = tenant.sdk_app_id
    req.UserId = user
    req.KickType = kick_type
    if duration is not None:
        req.Duration = duration
    return client.KickUserFromRoom(req)


def statistics(client, room_id, page=1, limit=100):
    req = models.DescribeRoomStatisticsRequest()
    req.RoomId = room_id
    req.Page = page
    req.Limit = limit
    return client.DescribeRoomStatistics(req)


def test_member_list_kicks_and_attendance(main):
    client = make_client(main)
    register = models.RegisterUserRequest()
    register.SdkAppId = main.sdk_app_id
    register.Name = "Ada Lovelace"
    register.OriginId = f"compat-{time.time_ns()}"
    ada = client.RegisterUser(register).UserId

    room_id = create_room(client, main.sdk_app_id, TeacherId="no-show-teacher")
    room_action(client, "StartRoom", room_id)
    now_ms = int(time.time() * 1000)
    answer = report(client, main, room_id, [
        join("j1", ada, device=1, role=1, ts=now_ms),
        join("j2", "bob", ts=now_ms + 1),
        join("j3", "eve", ts=now_ms + 2),
        join("j4", ada, device=3, role=1, ts=now_ms + 3),  # a second device
    ])
    assert answer["Accepted"] == 4, answer

    members = member_list(client, room_id)
    assert members.Total == 3, members.to_json_string()
    assert [m.UserId for m in members.MemberRecords] == [ada, "bob", "eve"]
    assert members.MemberRecords[0].UserName == "Ada Lovelace"
    assert members.MemberRecords[0].CurrentState == 1
    assert [m.UserId for m in member_list(client, room_id, page=2, limit=2).MemberRecords] == ["eve"]

    kick(client, main, room_id, "eve", 2)
    assert [m.UserId for m in member_list(client, room_id).MemberRecords] == [ada, "bob"]
    exc = sdk_error(client.call_json, "ReportRoomEvents",
                    {"SdkAppId": main.sdk_app_id, "RoomId": room_id, "Events": [join("j5", "eve")]})
    assert_error(exc, "FailedOperation.UserKicked", "a permanently kicked user rejoining")
    assert "eve" in exc.get_message()

    unblock = models.UnblockKickedUserRequest()
    unblock.SdkAppId = main.sdk_app_id
    unblock.RoomId = room_id
    unblock.UserId = "eve"
    client.UnblockKickedUser(unblock)
    assert report(client, main, room_id, [join("j5", "eve")])["Accepted"] == 1

    exc = sdk_error(statistics, client, room_id)
    assert_error(exc, "FailedOperation.RoomNotEnd", "statistics before the end")

    room_action(client, "EndRoom", room_id)
    exc = sdk_error(member_list, client, room_id)
    assert_error(exc, "FailedOperation.ClassEnded", "member list after the end")

    # Computed in the background at the end; the first request may also compute it.
    stats = statistics(client, room_id)
    assert stats.Total == 4, stats.to_json_string()  # ada, bob, eve + the teacher who never came
    assert stats.MemberNumber == 3
    assert stats.PeakMemberNumber == 3
    assert stats.RealEndTime >= stats.RealStartTime > 0
    records = {r.UserId: r for r in stats.MemberRecords}
    assert records[ada].UserName == "Ada Lovelace"
    assert records[ada].Role == 1 and records[ada].Device == 3
    assert records["bob"].UserName == ""
    assert records["eve"].CurrentState == 2, "rejoined after the unblock, then closed by the end"
    assert records["no-show-teacher"].CurrentState == 0
    assert records["no-show-teacher"].PresentTime == 0
    for record in stats.MemberRecords:
        assert record.HandUps == 0 and record.AnswerQuestions == 0
    assert [r.UserId for r in statistics(client, room_id, page=2, limit=3).MemberRecords] == ["no-show-teacher"]


def test_kick_errors(main, other):
    client = make_client(main)
    room_id = create_room(client, main.sdk_app_id)
    exc = sdk_error(kick, make_client(other), other, room_id, "x", 1)
    assert_error(exc, "ResourceNotFound.Room", "another tenant's room")
    exc = sdk_error(kick, client, main, room_id, "x", 7)
    assert_error(exc, "InvalidParameterValue", "KickType 7")
    exc = sdk_error(member_list, client, room_id, 1, 1001)
    assert_error(exc, "InvalidParameterValue", "Limit over 1000")


def test_users_through_the_sdk(main):
    client = make_client(main)
    origin = f"compat-user-{time.time_ns()}"
    req = models.RegisterUserRequest()
    req.SdkAppId = main.sdk_app_id
    req.Name = "Grace"
    req.OriginId = origin
    registered = client.RegisterUser(req)
    exc = sdk_error(client.RegisterUser, req)
    assert_error(exc, "FailedOperation.OriginIdExists", "same OriginId twice")

    describe = models.DescribeUserRequest()
    describe.OriginId = origin
    user = client.DescribeUser(describe)
    assert (user.UserId, user.Name, user.SdkAppId) == (registered.UserId, "Grace", main.sdk_app_id)

    login = models.LoginUserRequest()
    login.UserId = registered.UserId
    assert client.LoginUser(login).Token

    missing = models.DescribeUserRequest()
    missing.UserId = "no-such-user"
    assert_error(sdk_error(client.DescribeUser, missing), "ResourceNotFound.User", "unknown user")
