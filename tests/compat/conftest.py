"""Fixtures of the compatibility suite. The servers are started by the Rust harness
(crates/roomlog/tests/compat.rs), which passes them in environment variables:

  ROOMLOG_COMPAT_{ENDPOINT,PORT,SECRET_ID,SECRET_KEY,SDK_APP_ID}        main server, first tenant
  ROOMLOG_COMPAT_OTHER_{ENDPOINT,PORT,SECRET_ID,SECRET_KEY,SDK_APP_ID}  main server, second tenant
  ROOMLOG_COMPAT_LIMITED_{...}        a server started with --rate-limit GetRoomEvent=<LIMIT>
  ROOMLOG_COMPAT_LIMITED_LIMIT        that limit (requests per second)
  ROOMLOG_COMPAT_RETENTION_{...}      a server started with --events-retention-after-end <SECS>s
  ROOMLOG_COMPAT_RETENTION_SECS       that retention
  ROOMLOG_COMPAT_BIN, ROOMLOG_COMPAT_DATA_DIR, ROOMLOG_COMPAT_TCCLI
"""

import importlib.metadata
import os
import time
from dataclasses import dataclass, field

import pytest
import tencentcloud

from lcic_helpers import Tenant, create_room, env, make_client, room_action

PINNED = {
    "tencentcloud-sdk-python-lcic": "3.1.134",
    "tencentcloud-sdk-python-common": "3.1.195",
    "tccli": "3.1.189.1",
}


def pytest_report_header(config):
    versions = ", ".join(f"{name} {importlib.metadata.version(name)}" for name in PINNED)
    return f"official clients: {versions}; SDK request client SDK_PYTHON_{tencentcloud.__version__}"


@pytest.fixture(scope="session", autouse=True)
def pinned_clients():
    """The suite is only meaningful against the pinned official clients."""
    for name, version in PINNED.items():
        installed = importlib.metadata.version(name)
        assert installed == version, f"{name} {installed} is installed, the suite pins {version}"
    # tccli's full SDK ships tencentcloud/__init__.py too; the LCIC package's must win (it is the
    # version the SDK reports in X-TC-RequestClient, as in the recorded test vectors).
    assert tencentcloud.__version__ == PINNED["tencentcloud-sdk-python-lcic"], (
        f"tencentcloud/__init__.py is version {tencentcloud.__version__}: reinstall the venv"
    )


@pytest.fixture(scope="session")
def main():
    return Tenant.from_env("ROOMLOG_COMPAT", "main")


@pytest.fixture(scope="session")
def other():
    return Tenant.from_env("ROOMLOG_COMPAT_OTHER", "other")


@pytest.fixture(scope="session")
def limited():
    return Tenant.from_env("ROOMLOG_COMPAT_LIMITED", "limited")


@pytest.fixture(scope="session")
def limited_rate():
    return int(env("ROOMLOG_COMPAT_LIMITED_LIMIT"))


@pytest.fixture(scope="session")
def short_retention():
    return Tenant.from_env("ROOMLOG_COMPAT_RETENTION", "short-retention")


@pytest.fixture(scope="session")
def retention_secs():
    return float(env("ROOMLOG_COMPAT_RETENTION_SECS"))


@pytest.fixture(scope="session")
def tccli_path():
    path = env("ROOMLOG_COMPAT_TCCLI")
    assert os.access(path, os.X_OK), f"tccli at {path} is not executable"
    return path


# --- The seeded room: a class whose log the GetRoomEvent tests check page by page. ---

OTHER_TYPES = [
    "MemberQuit", "CameraOn", "CameraOff", "MicOn", "MicOff",
    "ScreenOn", "ScreenOff", "VisibleOn", "VisibleOff", "RecordFinish",
]
REPORTED = 330  # 220 MemberJoin (more than one page of 200) and 11 of each type above
BATCHES = [1, 99, 130, 100]  # ingest batch sizes, summing to REPORTED
QUIT_REASONS = [0, 1, 2, 4, 5]


def reported_event(i, base_ms):
    """The i-th reported event: known EventId, type, user, fields, and a timestamp that is *not*
    monotonic in i (log order must follow the order of reporting, not of timestamps), with a
    millisecond part (Timestamp must come back in whole seconds)."""
    event_type = "MemberJoin" if i % 3 != 2 else OTHER_TYPES[(i // 3) % len(OTHER_TYPES)]
    ts_ms = base_ms + ((i * 97) % REPORTED) * 1000 + (i * 37) % 1000
    event = {"EventId": f"compat-{i:04d}", "EventType": event_type, "TimestampMs": ts_ms}
    data = {}
    if event_type != "RecordFinish":
        data["UserId"] = f"user-{i % 40:02d}"
    if event_type in ("MemberJoin", "MemberQuit"):
        data["Device"] = i % 8
        data["Role"] = i % 4
    if event_type == "MemberQuit":
        data["Reason"] = QUIT_REASONS[(i // 3) % len(QUIT_REASONS)]
    if event_type == "RecordFinish":
        data["Duration"] = 600 + i
        data["RecordSize"] = 1_000_000 + i
        data["RecordUrl"] = f"https://record.example.com/compat/{i}.mp4?sign=a%2Fb&t={i}"
    event.update(data)
    return event, ts_ms // 1000, data


@dataclass
class SeededRoom:
    room_id: int
    sdk_app_id: int
    # Every event of the room as GetRoomEvent must return it (wire JSON, absent fields omitted),
    # in log order: RoomStart, then the reported events in reporting order.
    events: list = field(default_factory=list)

    def of_type(self, event_type):
        return [e for e in self.events if e["EventType"] == event_type]


def lifecycle_event(room_id, events, event_type, before, after):
    matches = [e for e in events if e["EventType"] == event_type]
    assert len(matches) == 1, f"expected one {event_type} event, got {matches}"
    event = matches[0]
    assert event["EventData"] == {"RoomId": room_id}, f"{event_type} EventData must be just RoomId: {event}"
    assert before <= event["Timestamp"] <= after, (
        f"{event_type} Timestamp {event['Timestamp']} is not within [{before}, {after}] (unix seconds)"
    )
    return event


@pytest.fixture(scope="session")
def seeded(main):
    """A room of the main tenant, in class: StartRoom, then REPORTED events ingested through the
    SDK's generic call_json (TC3 POST) in several batches. Checks the ingest answers on the way.

    The class is deliberately not ended: EndRoom appends a MemberQuit (Reason 5) for every member
    still present, which test_rooms.py checks on a small room of its own."""
    client = make_client(main)
    room_id = create_room(client, main.sdk_app_id, name="seeded class")
    before_start = int(time.time())
    room_action(client, "StartRoom", room_id)
    after_start = int(time.time()) + 1

    base_ms = (int(time.time()) - 7200) * 1000
    expected = []
    index = 0
    for size in BATCHES:
        batch = []
        for i in range(index, index + size):
            event, ts, data = reported_event(i, base_ms)
            batch.append(event)
            expected.append({"Timestamp": ts, "EventType": event["EventType"], "EventData": {"RoomId": room_id, **data}})
        index += size
        answer = client.call_json("ReportRoomEvents", {"SdkAppId": main.sdk_app_id, "RoomId": room_id, "Events": batch})
        assert answer["Response"].get("Accepted") == size and answer["Response"].get("Duplicates") == 0, (
            f"ReportRoomEvents of {size} new events answered {answer}"
        )
    assert index == REPORTED

    # RoomStart carries the server's clock: read it back once, check it, then the whole expected
    # log is exact.
    lifecycle = client.call_json(
        "GetRoomEvent", {"RoomId": room_id, "SdkAppId": main.sdk_app_id, "Page": 1, "Limit": 200, "Keyword": "RoomStart"}
    )["Response"]["Events"]
    start = lifecycle_event(room_id, lifecycle, "RoomStart", before_start, after_start)
    return SeededRoom(room_id=room_id, sdk_app_id=main.sdk_app_id, events=[start, *expected])
