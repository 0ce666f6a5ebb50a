"""Shared helpers for the compatibility suite: where the servers are (from the environment the
Rust harness crates/roomlog/tests/compat.rs sets), and official-SDK clients pointed at them.

Everything here uses the official Tencent Cloud Python SDK exactly as a user would; nothing
talks HTTP by hand.
"""

import json
import os
import time
from dataclasses import dataclass

from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.lcic.v20220817 import lcic_client, models

REGION = "ap-guangzhou"

# (signMethod, reqMethod) pairs the SDK supports; ids are used in parametrised test names.
SIGNING_WAYS = [
    ("TC3-HMAC-SHA256", "POST"),
    ("TC3-HMAC-SHA256", "GET"),
    ("HmacSHA256", "POST"),
    ("HmacSHA256", "GET"),
    ("HmacSHA1", "POST"),
    ("HmacSHA1", "GET"),
]
SIGNING_IDS = ["tc3-post", "tc3-get", "hmacsha256-post", "hmacsha256-get", "hmacsha1-post", "hmacsha1-get"]
V1_WAYS = [w for w in SIGNING_WAYS if w[0] != "TC3-HMAC-SHA256"]
V1_IDS = [i for i, w in zip(SIGNING_IDS, SIGNING_WAYS) if w[0] != "TC3-HMAC-SHA256"]


def env(name):
    value = os.environ.get(name)
    if value is None or value == "":
        raise RuntimeError(
            f"environment variable {name} is not set: run this suite through "
            "`cargo test -p roomlog --test compat` (crates/roomlog/tests/compat.rs), which starts "
            "the servers and sets it"
        )
    return value


@dataclass(frozen=True)
class Tenant:
    """One account on one server: where to reach it and how to sign."""

    name: str
    endpoint: str  # http://127.0.0.1:PORT
    port: int
    secret_id: str
    secret_key: str
    sdk_app_id: int

    @property
    def host(self):
        return f"127.0.0.1:{self.port}"

    @classmethod
    def from_env(cls, prefix, name):
        endpoint = env(f"{prefix}_ENDPOINT")
        port = int(env(f"{prefix}_PORT"))
        assert endpoint == f"http://127.0.0.1:{port}", f"{prefix}_ENDPOINT {endpoint!r} does not match port {port}"
        return cls(
            name=name,
            endpoint=endpoint,
            port=port,
            secret_id=env(f"{prefix}_SECRET_ID"),
            secret_key=env(f"{prefix}_SECRET_KEY"),
            sdk_app_id=int(env(f"{prefix}_SDK_APP_ID")),
        )


def make_client(tenant, sign_method="TC3-HMAC-SHA256", req_method="POST", secret_id=None, secret_key=None,
                language="zh-CN", region=REGION):
    """An LcicClient configured the way the SDK's documentation shows, pointed at a loopback server."""
    cred = credential.Credential(secret_id or tenant.secret_id, secret_key or tenant.secret_key)
    http_profile = HttpProfile(endpoint=tenant.host, reqMethod=req_method, reqTimeout=30)
    http_profile.scheme = "http"
    profile = ClientProfile(signMethod=sign_method, httpProfile=http_profile, language=language)
    return lcic_client.LcicClient(cred, region, profile)


def get_room_event_request(room_id, sdk_app_id, page=1, limit=10, keyword=None):
    req = models.GetRoomEventRequest()
    req.RoomId = room_id
    req.SdkAppId = sdk_app_id
    req.Page = page
    req.Limit = limit
    if keyword is not None:
        req.Keyword = keyword
    return req


def model_events(response):
    """GetRoomEventResponse.Events as plain dicts, dropping the None fields the SDK model fills in
    for fields absent on the wire (EventDataInfo has all eight attributes)."""
    out = []
    for event in response.Events or []:
        data = {k: v for k, v in json.loads(event.EventData.to_json_string()).items() if v is not None}
        out.append({"Timestamp": event.Timestamp, "EventType": event.EventType, "EventData": data})
    return out


def sdk_error(fn, *args, **kwargs):
    """Runs a call that must fail and returns the TencentCloudSDKException it raised."""
    try:
        result = fn(*args, **kwargs)
    except TencentCloudSDKException as e:
        return e
    shown = result.to_json_string() if hasattr(result, "to_json_string") else result
    raise AssertionError(f"expected a TencentCloudSDKException, but the call succeeded: {shown}")


def assert_error(exc, code, what=""):
    assert exc.get_code() == code, (
        f"{what}: expected error code {code!r}, got {exc.get_code()!r} "
        f"(message {exc.get_message()!r}, request id {exc.get_request_id()!r})"
    )
    request_id = exc.get_request_id()
    assert request_id and len(request_id) == 36, f"{what}: error without a UUID RequestId: {request_id!r}"
    assert exc.get_message(), f"{what}: error {code} without a Message"


def create_room(client, sdk_app_id, name="compat class", start=None, duration=3600, **extra):
    """CreateRoom through the SDK model; returns the RoomId."""
    now = int(time.time())
    req = models.CreateRoomRequest()
    req.SdkAppId = sdk_app_id
    req.Name = name
    req.StartTime = now if start is None else start
    req.EndTime = req.StartTime + duration
    req.Resolution = 1
    req.MaxMicNumber = 6
    req.SubType = "videodoc"
    for key, value in extra.items():
        setattr(req, key, value)
    response = client.CreateRoom(req)
    assert isinstance(response.RoomId, int) and response.RoomId > 0, f"CreateRoom gave {response.to_json_string()}"
    return response.RoomId


def room_action(client, action, room_id):
    """StartRoom / EndRoom / DescribeRoom / DeleteRoom: all take just RoomId."""
    req = getattr(models, f"{action}Request")()
    req.RoomId = room_id
    return getattr(client, action)(req)
