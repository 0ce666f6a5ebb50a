"""Request variants the SDK produces through its own options: temporary-credential tokens,
UNSIGNED-PAYLOAD, no region, keep-alive, and the client's clock off by some minutes."""

import time
import types

import pytest
from tencentcloud.common import abstract_client, credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.lcic.v20220817 import lcic_client

from lcic_helpers import (
    SIGNING_IDS,
    SIGNING_WAYS,
    assert_error,
    get_room_event_request,
    make_client,
    model_events,
    sdk_error,
)


def client_with(tenant, sign_method="TC3-HMAC-SHA256", req_method="POST", token=None, region="ap-guangzhou",
                unsigned_payload=False, keep_alive=False):
    http_profile = HttpProfile(endpoint=tenant.host, reqMethod=req_method, keepAlive=keep_alive)
    http_profile.scheme = "http"
    profile = ClientProfile(signMethod=sign_method, httpProfile=http_profile)
    profile.unsignedPayload = unsigned_payload
    return lcic_client.LcicClient(credential.Credential(tenant.secret_id, tenant.secret_key, token), region, profile)


@pytest.mark.parametrize("sign_method,req_method", SIGNING_WAYS, ids=SIGNING_IDS)
def test_token_and_no_region_are_accepted(main, seeded, sign_method, req_method):
    """X-TC-Token / Token (temporary credentials) and X-TC-Region / Region are sent by the SDK;
    roomlog accepts and ignores them, and a client without a region works too."""
    req = get_room_event_request(seeded.room_id, seeded.sdk_app_id, 3, 9)
    for kwargs in ({"token": "compat-session-token"}, {"region": ""}, {"region": "ap-beijing"}):
        response = client_with(main, sign_method, req_method, **kwargs).GetRoomEvent(req)
        assert model_events(response) == seeded.events[18:27], f"{sign_method} {req_method} {kwargs}"


def test_unsigned_payload(main, seeded):
    """ClientProfile.unsignedPayload: X-TC-Content-SHA256: UNSIGNED-PAYLOAD, hash of that literal."""
    for token in (None, "compat-session-token"):
        client = client_with(main, unsigned_payload=True, token=token)
        response = client.GetRoomEvent(get_room_event_request(seeded.room_id, seeded.sdk_app_id, 2, 50))
        assert model_events(response) == seeded.events[50:100], f"UNSIGNED-PAYLOAD (token {token})"
    wrong = client_with(main, unsigned_payload=True)
    wrong.credential = credential.Credential(main.secret_id, "wrong-" + main.secret_key)
    exc = sdk_error(wrong.GetRoomEvent, get_room_event_request(seeded.room_id, seeded.sdk_app_id))
    assert_error(exc, "AuthFailure.SignatureFailure", "UNSIGNED-PAYLOAD with a wrong key")


def test_keep_alive_connection(main, seeded):
    client = client_with(main, keep_alive=True)
    for page in range(1, 21):
        response = client.GetRoomEvent(get_room_event_request(seeded.room_id, seeded.sdk_app_id, page, 3))
        assert model_events(response) == seeded.events[(page - 1) * 3: page * 3], f"page {page} over keep-alive"


@pytest.fixture
def skewed_clock(monkeypatch):
    """Shifts the clock the SDK signs with (X-TC-Timestamp, the credential date) by `skew` seconds."""
    real_time = time.time

    def shift(skew):
        monkeypatch.setattr(abstract_client, "time", types.SimpleNamespace(time=lambda: real_time() + skew))

    return shift


@pytest.mark.parametrize("skew", [-200, 200])
def test_clock_skew_within_five_minutes(main, seeded, skewed_clock, skew):
    skewed_clock(skew)
    response = make_client(main).GetRoomEvent(get_room_event_request(seeded.room_id, seeded.sdk_app_id, 1, 2))
    assert model_events(response) == seeded.events[:2], f"a client clock {skew:+d} s off must be accepted"


@pytest.mark.parametrize("skew", [-600, 600, -86400 * 2])
def test_clock_skew_beyond_five_minutes(main, seeded, skewed_clock, skew):
    skewed_clock(skew)
    for req_method in ("POST", "GET"):
        exc = sdk_error(make_client(main, req_method=req_method).GetRoomEvent,
                        get_room_event_request(seeded.room_id, seeded.sdk_app_id))
        assert_error(exc, "AuthFailure.SignatureExpire", f"TC3 {req_method} with the client clock {skew:+d} s off")
