"use strict";
// The typed LcicClient of tencentcloud-sdk-nodejs against roomlog, at 127.0.0.1:PORT and
// localhost:PORT, over TC3 POST (the SDK's default) and TC3 GET.

const assert = require("node:assert/strict");
const { describe, test } = require("node:test");

const { ENDPOINTS, label, lcicClient, roomParams, server } = require("./helpers");

for (const endpoint of ENDPOINTS) {
  describe(`LcicClient at ${endpoint}`, () => {
    const client = lcicClient(endpoint);

    test("CreateRoom, then DescribeRoom echoes the room", async () => {
      const params = roomParams(`node ${label(endpoint)} describe`);
      const created = await client.CreateRoom(params);
      assert.equal(typeof created.RoomId, "number", JSON.stringify(created));
      assert.match(created.RequestId, /^[0-9a-f-]{36}$/);

      const room = await client.DescribeRoom({ RoomId: created.RoomId });
      assert.equal(room.Name, params.Name);
      assert.equal(room.SdkAppId, server.sdkAppId);
      assert.equal(room.StartTime, params.StartTime);
      assert.equal(room.EndTime, params.EndTime);
      assert.equal(room.Resolution, params.Resolution);
      assert.equal(room.MaxMicNumber, params.MaxMicNumber);
      assert.equal(room.SubType, params.SubType);
      assert.equal(room.TeacherId, params.TeacherId);
      assert.equal(room.Status, 0, "not started");
    });

    test("StartRoom, then GetRoomEvent shows RoomStart", async () => {
      const { RoomId } = await client.CreateRoom(roomParams(`node ${label(endpoint)} events`));
      const before = Math.floor(Date.now() / 1000);
      await client.StartRoom({ RoomId });
      const after = Math.floor(Date.now() / 1000) + 1;

      const page = await client.GetRoomEvent({ RoomId, SdkAppId: server.sdkAppId, Page: 1, Limit: 10 });
      assert.equal(page.Total, 1, JSON.stringify(page));
      assert.equal(page.Events.length, 1);
      const [start] = page.Events;
      assert.equal(start.EventType, "RoomStart");
      assert.deepEqual(start.EventData, { RoomId });
      assert.ok(before <= start.Timestamp && start.Timestamp <= after, `Timestamp ${start.Timestamp}`);

      const room = await client.DescribeRoom({ RoomId });
      assert.equal(room.Status, 1, "in class");
    });

    test("ModifyRoom and GetRooms", async () => {
      const { RoomId } = await client.CreateRoom(roomParams(`node ${label(endpoint)} modify`));
      await client.ModifyRoom({ RoomId, SdkAppId: server.sdkAppId, Name: "renamed by node" });
      assert.equal((await client.DescribeRoom({ RoomId })).Name, "renamed by node");

      // Other test files create rooms at the same time: walk the pages.
      let item;
      for (let page = 1; !item; page++) {
        const listed = await client.GetRooms({ SdkAppId: server.sdkAppId, Page: page, Limit: 100 });
        assert.ok(listed.Total >= 1, JSON.stringify(listed));
        assert.ok(listed.Rooms.length > 0, `room ${RoomId} is not listed in ${listed.Total} rooms`);
        item = listed.Rooms.find((r) => r.RoomId === RoomId);
      }
      assert.equal(item.Name, "renamed by node");
    });

    test("TC3 GET: parameters flattened into the signed query", async () => {
      const getClient = lcicClient(endpoint, { reqMethod: "GET" });
      const { RoomId } = await getClient.CreateRoom(roomParams(`node ${label(endpoint)} get / 中文 & more`));
      const room = await getClient.DescribeRoom({ RoomId });
      assert.equal(room.Name, `node ${label(endpoint)} get / 中文 & more`);
      const page = await getClient.GetRoomEvent({
        RoomId,
        SdkAppId: server.sdkAppId,
        Page: 1,
        Limit: 10,
        Keyword: "RoomStart",
      });
      assert.equal(page.Total, 0);
      assert.deepEqual(page.Events, []);
    });
  });
}
