"use strict";
// roomlog's own actions, which the SDK has no model for, through its generic CommonClient (how
// the SDK's documentation calls any action), at 127.0.0.1:PORT and localhost:PORT.

const assert = require("node:assert/strict");
const { describe, test } = require("node:test");

const { ENDPOINTS, commonClient, expectSdkError, label, lcicClient, roomParams, server } = require("./helpers");

for (const endpoint of ENDPOINTS) {
  describe(`CommonClient at ${endpoint}`, () => {
    const common = commonClient(endpoint);
    const lcic = lcicClient(endpoint);

    test("ReportRoomEvents, read back through GetRoomEvent", async () => {
      const { RoomId } = await common.request("CreateRoom", roomParams(`node ${label(endpoint)} report`));
      assert.equal(typeof RoomId, "number");
      const nowMs = Date.now();
      const events = [
        { EventId: "join-1", EventType: "MemberJoin", UserId: "alice", Device: 7, Role: 1, TimestampMs: nowMs - 60_500 },
        { EventId: "mic-1", EventType: "MicOn", UserId: "alice", TimestampMs: nowMs - 30_001 },
        { EventId: "quit-1", EventType: "MemberQuit", UserId: "alice", Device: 7, Role: 1, Reason: 4, TimestampMs: nowMs - 1_000 },
        {
          EventId: "rec-1",
          EventType: "RecordFinish",
          Duration: 59,
          RecordSize: 12345678901,
          RecordUrl: "https://record.example.com/a b/录像.mp4?x=1&y=%2F",
          TimestampMs: nowMs - 999,
        },
      ];
      const answer = await common.request("ReportRoomEvents", { SdkAppId: server.sdkAppId, RoomId, Events: events });
      assert.equal(answer.Accepted, 4, JSON.stringify(answer));
      assert.equal(answer.Duplicates, 0);
      assert.match(answer.RequestId, /^[0-9a-f-]{36}$/);

      const again = await common.request("ReportRoomEvents", { SdkAppId: server.sdkAppId, RoomId, Events: events });
      assert.equal(again.Accepted, 0, JSON.stringify(again));
      assert.equal(again.Duplicates, 4);

      const page = await lcic.GetRoomEvent({ RoomId, SdkAppId: server.sdkAppId, Page: 1, Limit: 10 });
      assert.equal(page.Total, 4);
      const expected = events.map(({ EventId, EventType, TimestampMs, ...data }) => ({
        Timestamp: Math.floor(TimestampMs / 1000),
        EventType,
        EventData: { RoomId, ...data },
      }));
      assert.deepEqual(page.Events, expected);
    });

    test("an invalid batch surfaces as the SDK's exception", async () => {
      const { RoomId } = await lcic.CreateRoom(roomParams(`node ${label(endpoint)} invalid report`));
      await expectSdkError(
        () =>
          common.request("ReportRoomEvents", {
            SdkAppId: server.sdkAppId,
            RoomId,
            Events: [{ EventId: "bad", EventType: "Teleport", UserId: "u1" }],
          }),
        "InvalidParameterValue",
      );
      await expectSdkError(
        () => common.request("ReportRoomEvents", { SdkAppId: server.sdkAppId, RoomId, Events: [{ EventId: "x" }] }),
        "MissingParameter",
      );
    });

    test("an action roomlog does not serve is InvalidAction", async () => {
      await expectSdkError(() => common.request("DescribeNothing", {}), "InvalidAction");
    });
  });
}
