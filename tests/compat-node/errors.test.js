"use strict";
// Error codes surface as the SDK's TencentCloudSDKHttpException with the right `code`, at both
// endpoints; a wrong key or SecretId is refused whatever the signing form.

const { describe, test } = require("node:test");

const { ENDPOINTS, commonClient, expectSdkError, lcicClient, server } = require("./helpers");

// Far beyond any RoomId this fresh server hands out.
const MISSING_ROOM = 999_999_999;

for (const endpoint of ENDPOINTS) {
  describe(`errors at ${endpoint}`, () => {
    test("ResourceNotFound.Room", async () => {
      const client = lcicClient(endpoint);
      await expectSdkError(() => client.DescribeRoom({ RoomId: MISSING_ROOM }), "ResourceNotFound.Room");
      await expectSdkError(
        () => client.GetRoomEvent({ RoomId: MISSING_ROOM, SdkAppId: server.sdkAppId, Page: 1, Limit: 10 }),
        "ResourceNotFound.Room",
      );
      const getClient = lcicClient(endpoint, { reqMethod: "GET" });
      await expectSdkError(() => getClient.DescribeRoom({ RoomId: MISSING_ROOM }), "ResourceNotFound.Room");
    });

    test("InvalidParameter.SdkAppId for an app of no one", async () => {
      const client = lcicClient(endpoint);
      await expectSdkError(
        () => client.GetRooms({ SdkAppId: server.sdkAppId + 1000, Page: 1, Limit: 10 }),
        "InvalidParameter.SdkAppId",
      );
    });

    test("a wrong SecretKey is AuthFailure.SignatureFailure", async () => {
      await expectSdkError(
        () => lcicClient(endpoint, { secretKey: "not-the-key" }).DescribeRoom({ RoomId: 1 }),
        "AuthFailure.SignatureFailure",
      );
      await expectSdkError(
        () => commonClient(endpoint, { secretKey: "not-the-key" }).request("GetRooms", { SdkAppId: server.sdkAppId }),
        "AuthFailure.SignatureFailure",
      );
      await expectSdkError(
        () => lcicClient(endpoint, { secretKey: "not-the-key", reqMethod: "GET" }).DescribeRoom({ RoomId: 1 }),
        "AuthFailure.SignatureFailure",
      );
    });

    test("an unknown SecretId is AuthFailure.SecretIdNotFound", async () => {
      await expectSdkError(
        () => lcicClient(endpoint, { secretId: "AKIDnodeUnknown000000000000000000000" }).DescribeRoom({ RoomId: 1 }),
        "AuthFailure.SecretIdNotFound",
      );
    });
  });
}
