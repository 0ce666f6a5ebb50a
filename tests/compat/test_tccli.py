"""tccli (the official command line client) against roomlog: `--endpoint http://127.0.0.1:PORT`,
which makes it send and sign `Host: http://127.0.0.1:PORT`. Credentials come from
TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY; HOME is a temporary directory so tccli never
reads or writes the real ~/.tccli."""

import json
import os
import subprocess
import time

import pytest


@pytest.fixture(scope="module")
def tccli(tccli_path, tmp_path_factory):
    home = tmp_path_factory.mktemp("tccli-home")

    def run(tenant, *args, secret_key=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TENCENTCLOUD_", "TCCLI_"))}
        env.update(
            HOME=str(home),
            TENCENTCLOUD_SECRET_ID=tenant.secret_id,
            TENCENTCLOUD_SECRET_KEY=secret_key or tenant.secret_key,
        )
        command = [tccli_path, "lcic", *map(str, args), "--endpoint", tenant.endpoint, "--region", "ap-guangzhou"]
        proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, cwd=str(home))
        return proc

    return run


def parse(proc, what):
    assert proc.returncode == 0, f"{what}: tccli exited {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    try:
        return json.loads(proc.stdout)
    except ValueError as e:
        raise AssertionError(f"{what}: tccli did not print JSON ({e}):\n{proc.stdout}\nstderr: {proc.stderr}")


def strip_nulls(events):
    """tccli prints the SDK model, which has every EventDataInfo field (null when absent)."""
    return [{**e, "EventData": {k: v for k, v in e["EventData"].items() if v is not None}} for e in events]


def test_tccli_get_room_event(tccli, main, seeded):
    proc = tccli(main, "GetRoomEvent", "--RoomId", seeded.room_id, "--SdkAppId", seeded.sdk_app_id,
                 "--Page", 1, "--Limit", 10)
    out = parse(proc, "tccli lcic GetRoomEvent --Page 1 --Limit 10")
    assert out["Total"] == len(seeded.events), out
    assert strip_nulls(out["Events"]) == seeded.events[:10], (
        f"tccli page 1:\n  got      {strip_nulls(out['Events'])}\n  expected {seeded.events[:10]}"
    )
    assert len(out["RequestId"]) == 36, out["RequestId"]

    proc = tccli(main, "GetRoomEvent", "--RoomId", seeded.room_id, "--SdkAppId", seeded.sdk_app_id,
                 "--Page", 4, "--Limit", 25)
    assert strip_nulls(parse(proc, "tccli page 4 of 25")["Events"]) == seeded.events[75:100]


def test_tccli_keyword(tccli, main, seeded):
    proc = tccli(main, "GetRoomEvent", "--RoomId", seeded.room_id, "--SdkAppId", seeded.sdk_app_id,
                 "--Page", 1, "--Limit", 10, "--Keyword", "MemberJoin")
    out = parse(proc, "tccli lcic GetRoomEvent --Keyword MemberJoin")
    expected = seeded.of_type("MemberJoin")
    assert len(out["Events"]) == len(expected) > 200, f"{len(out['Events'])} MemberJoin events, expected {len(expected)}"
    assert strip_nulls(out["Events"]) == expected
    assert out["Total"] == len(seeded.events)


def test_tccli_rooms(tccli, main):
    start = int(time.time()) + 600
    out = parse(tccli(main, "CreateRoom", "--SdkAppId", main.sdk_app_id, "--Name", "from tccli", "--StartTime", start,
                      "--EndTime", start + 1800, "--Resolution", 2, "--MaxMicNumber", 4, "--SubType", "video",
                      "--Assistants", '["a1","a2"]'), "tccli CreateRoom")
    room_id = out["RoomId"]
    room = parse(tccli(main, "DescribeRoom", "--RoomId", room_id), "tccli DescribeRoom")
    assert (room["Name"], room["StartTime"], room["EndTime"], room["Resolution"], room["MaxMicNumber"],
            room["SubType"], room["Assistants"], room["Status"]) == (
        "from tccli", start, start + 1800, 2, 4, "video", ["a1", "a2"], 0), room


def test_tccli_nonexistent_room(tccli, main):
    proc = tccli(main, "GetRoomEvent", "--RoomId", 987654321012, "--SdkAppId", main.sdk_app_id, "--Page", 1, "--Limit", 10)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, f"tccli must fail for a nonexistent room, exited 0 with {output}"
    assert "ResourceNotFound.Room" in output, f"tccli's output must name the error code:\n{output}"


def test_tccli_wrong_key(tccli, main, seeded):
    proc = tccli(main, "GetRoomEvent", "--RoomId", seeded.room_id, "--SdkAppId", seeded.sdk_app_id,
                 "--Page", 1, "--Limit", 10, secret_key="not-the-secret-key")
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, f"tccli with a wrong key must fail, exited 0 with {output}"
    assert "AuthFailure.SignatureFailure" in output, output


def test_tccli_invalid_limit(tccli, main, seeded):
    proc = tccli(main, "GetRoomEvent", "--RoomId", seeded.room_id, "--SdkAppId", seeded.sdk_app_id,
                 "--Page", 1, "--Limit", 201)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "InvalidParameterValue" in output, f"exit {proc.returncode}: {output}"
