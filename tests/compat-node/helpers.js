"use strict";
// Shared helpers of the Node.js compatibility suite: where the server is (from the environment
// the Rust harness crates/roomlog/tests/compat_node.rs sets) and official-SDK clients pointed at
// it. Everything goes through tencentcloud-sdk-nodejs exactly as a user would write it; nothing
// talks HTTP by hand.

const assert = require("node:assert/strict");
const path = require("node:path");
const { createRequire } = require("node:module");

function env(name) {
  const value = process.env[name];
  if (value === undefined || value === "") {
    throw new Error(
      `environment variable ${name} is not set: run this suite through ` +
        "`cargo test -p roomlog --test compat_node` (crates/roomlog/tests/compat_node.rs), " +
        "which installs the SDK, starts the server and sets it",
    );
  }
  return value;
}

// The SDK is installed by the harness with `npm ci` into ROOMLOG_COMPAT_NODE_DIR (under target/),
// not next to these files: resolve it from there.
const sdkRequire = createRequire(path.join(env("ROOMLOG_COMPAT_NODE_DIR"), "package.json"));
const PINNED_SDK = "4.1.313";
const sdkVersion = sdkRequire("tencentcloud-sdk-nodejs/package.json").version;
assert.equal(sdkVersion, PINNED_SDK, `tencentcloud-sdk-nodejs ${sdkVersion} is installed, the suite pins ${PINNED_SDK}`);

const tencentcloud = sdkRequire("tencentcloud-sdk-nodejs");
const { CommonClient } = sdkRequire("tencentcloud-sdk-nodejs/tencentcloud/common");
const TencentCloudSDKHttpException = sdkRequire(
  "tencentcloud-sdk-nodejs/tencentcloud/common/exception/tencent_cloud_sdk_exception",
).default;
const LcicClient = tencentcloud.lcic.v20220817.Client;

const VERSION = "2022-08-17";

const server = {
  port: Number(env("ROOMLOG_COMPAT_NODE_PORT")),
  secretId: env("ROOMLOG_COMPAT_NODE_SECRET_ID"),
  secretKey: env("ROOMLOG_COMPAT_NODE_SECRET_KEY"),
  sdkAppId: Number(env("ROOMLOG_COMPAT_NODE_SDK_APP_ID")),
};

// The endpoints the suite reaches the server by. The SDK names the service in the credential
// scope after the endpoint's first DNS label (`127`, `localhost:PORT`) and signs the host without
// its port: both must verify.
const ENDPOINTS = [`127.0.0.1:${server.port}`, `localhost:${server.port}`];

function clientConfig(endpoint, { secretId, secretKey, reqMethod } = {}) {
  return {
    credential: {
      secretId: secretId ?? server.secretId,
      secretKey: secretKey ?? server.secretKey,
    },
    region: "ap-guangzhou",
    profile: {
      httpProfile: {
        endpoint,
        protocol: "http://",
        reqMethod: reqMethod ?? "POST",
        reqTimeout: 30,
      },
    },
  };
}

/** The typed LCIC client, as the SDK's README shows it, pointed at roomlog. */
function lcicClient(endpoint, options) {
  return new LcicClient(clientConfig(endpoint, options));
}

/** The SDK's generic client, for roomlog's own actions (ReportRoomEvents, ...). */
function commonClient(endpoint, options) {
  const config = clientConfig(endpoint, options);
  return new CommonClient(endpoint, VERSION, config);
}

/** A one-hour class starting now, as CreateRoom takes it. */
function roomParams(name) {
  const now = Math.floor(Date.now() / 1000);
  return {
    SdkAppId: server.sdkAppId,
    Name: name,
    StartTime: now,
    EndTime: now + 3600,
    Resolution: 1,
    MaxMicNumber: 6,
    SubType: "videodoc",
    TeacherId: "teacher-1",
  };
}

/**
 * Runs `call`, which must fail with the SDK's exception carrying `code`; returns the exception.
 */
async function expectSdkError(call, code) {
  let caught;
  try {
    const answer = await call();
    assert.fail(`expected ${code}, got a success: ${JSON.stringify(answer)}`);
  } catch (err) {
    caught = err;
  }
  assert.ok(
    caught instanceof TencentCloudSDKHttpException,
    `expected a TencentCloudSDKHttpException, got ${caught && caught.constructor && caught.constructor.name}: ${caught}`,
  );
  assert.equal(caught.code, code, `error message: ${caught.message}`);
  assert.match(caught.requestId, /^[0-9a-f-]{36}$/, "the exception carries the RequestId");
  assert.ok(caught.message.length > 0, "the exception carries the Message");
  return caught;
}

/** A label safe to put into ids: the endpoint's host. */
function label(endpoint) {
  return endpoint.split(":")[0];
}

module.exports = {
  CommonClient,
  ENDPOINTS,
  LcicClient,
  TencentCloudSDKHttpException,
  commonClient,
  expectSdkError,
  label,
  lcicClient,
  roomParams,
  server,
};
