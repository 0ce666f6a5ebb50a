//! Compatibility with the official Tencent Cloud Node.js SDK (tencentcloud-sdk-nodejs 4.1.313,
//! pinned with its dependencies by `tests/compat-node/package-lock.json`), driven by the
//! `node --test` suite in `tests/compat-node/` against a real `roomlog` server, at
//! `127.0.0.1:PORT` and at `localhost:PORT`.
//!
//! That SDK signs unlike the Python one: the credential scope names the endpoint's first DNS label
//! (`127`, `localhost:PORT`) instead of `lcic`, and the signed `host` has no port while the `Host`
//! header has one.
//!
//! The SDK is installed with `npm ci` into `<target dir>/compat-node` on first use, and again
//! whenever `package.json`, `package-lock.json` or the Node.js/npm versions change. No Node.js, no
//! npm, no registry: the test FAILS, it never skips. Overrides: `ROOMLOG_COMPAT_NODE_BIN` and
//! `ROOMLOG_COMPAT_NPM_BIN` (the programs), `ROOMLOG_COMPAT_NODE_MODULES_DIR` (where the SDK is
//! installed), `ROOMLOG_COMPAT_NODE_TEST_ARGS` (extra `node --test` arguments,
//! whitespace-separated, e.g. `--test-name-pattern=CommonClient`).
//!
//! Run: `cargo test -p roomlog --test compat_node -- --nocapture`

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::external::{fnv1a64, run_checked, run_with_timeout, tail, DirLock};
use support::TestServer;

/// The suite, relative to the repository root.
const SUITE_DIR: &str = "tests/compat-node";
/// The oldest Node.js the suite is written for (`node --test` with describe/test and the TAP
/// reporter; `engines` in package.json): Debian 12 packages Node.js 18. Exercised on Node.js 20.
const MIN_NODE_MAJOR: u32 = 18;
/// The whole `node --test` run must finish within this (it takes a few seconds).
const NODE_TEST_TIMEOUT: Duration = Duration::from_secs(600);
/// `npm ci` may take long on a cold cache; beyond this something is wrong.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(1200);
/// Written into the install directory after a successful `npm ci`: what was installed, with what.
const STAMP_FILE: &str = ".roomlog-compat-node-stamp";
/// The files that pin the SDK, copied into the install directory for `npm ci`.
const PIN_FILES: [&str; 2] = ["package.json", "package-lock.json"];

#[test]
fn official_nodejs_sdk() {
    let repo = support::external::repo_root("tests/compat-node/package-lock.json");
    let suite = repo.join(SUITE_DIR);
    let node = std::env::var("ROOMLOG_COMPAT_NODE_BIN").unwrap_or_else(|_| "node".into());
    let npm = std::env::var("ROOMLOG_COMPAT_NPM_BIN").unwrap_or_else(|_| "npm".into());
    let node_version = node_version(&node);
    let modules = ensure_sdk(&repo, &suite, &npm, &node_version);

    let server = TestServer::start(&["--rate-limit-default", "0"]);
    let tests = test_files(&suite);

    let mut command = Command::new(&node);
    command
        .current_dir(&suite)
        .args(["--test", "--test-reporter=tap"])
        .args(extra_node_test_args())
        .args(&tests)
        // The SDK's fetch goes through `http_proxy` when it is set: loopback never must.
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("https_proxy")
        .env_remove("HTTPS_PROXY")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .env_remove("NODE_OPTIONS")
        .env_remove("NODE_PATH")
        .env("ROOMLOG_COMPAT_NODE_DIR", &modules)
        .env("ROOMLOG_COMPAT_NODE_PORT", server.port.to_string())
        .env(
            "ROOMLOG_COMPAT_NODE_SECRET_ID",
            &server.credentials.secret_id,
        )
        .env(
            "ROOMLOG_COMPAT_NODE_SECRET_KEY",
            &server.credentials.secret_key,
        )
        .env(
            "ROOMLOG_COMPAT_NODE_SDK_APP_ID",
            server.credentials.sdk_app_id.to_string(),
        );
    assert_eq!(
        server.endpoint.trim_end_matches('/'),
        format!("http://127.0.0.1:{}", server.port),
        "roomlog announced an unexpected address"
    );

    println!(
        "compat_node: running node --test ({node_version}) on {} files against {}",
        tests.len(),
        server.endpoint
    );
    let started = Instant::now();
    let output = run_with_timeout(&mut command, NODE_TEST_TIMEOUT, "node --test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    if !stderr.trim().is_empty() {
        println!("--- node --test stderr ---\n{stderr}");
    }
    println!(
        "compat_node: node --test took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let count = |name: &str| -> u64 {
        stdout
            .lines()
            .find_map(|line| {
                line.strip_prefix(&format!("# {name} "))?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or_else(|| {
                panic!(
                    "no `# {name}` line in the TAP summary:\n{}",
                    tail(&stdout, 15)
                )
            })
    };
    assert!(
        output.status.success(),
        "the Node.js compatibility suite failed ({}); its output is above. Summary:\n{}",
        output.status,
        tail(&stdout, 15)
    );
    let (total, passed) = (count("tests"), count("pass"));
    assert!(passed > 0, "node --test ran no test:\n{stdout}");
    assert_eq!(
        passed,
        total,
        "every test must pass, none skipped or left todo:\n{}",
        tail(&stdout, 15)
    );
    for never in ["fail", "cancelled", "skipped", "todo"] {
        assert_eq!(count(never), 0, "{never}:\n{}", tail(&stdout, 15));
    }
    drop(server);
}

/// `vMAJOR.MINOR.PATCH` of the Node.js that runs the suite; fails when it is absent or too old.
fn node_version(node: &str) -> String {
    let output = run_checked(
        Command::new(node).arg("--version"),
        Duration::from_secs(30),
        &format!(
            "`{node} --version`: the Node.js compatibility suite needs Node.js {MIN_NODE_MAJOR} or \
             later and npm to run the official Tencent Cloud Node.js SDK; install them (Debian: \
             apt-get install nodejs npm) or point ROOMLOG_COMPAT_NODE_BIN at one"
        ),
    );
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|major| major.parse().ok())
        .unwrap_or_else(|| panic!("`{node} --version` printed {version:?}"));
    assert!(
        major >= MIN_NODE_MAJOR,
        "{node} is Node.js {version}; the suite needs {MIN_NODE_MAJOR} or later"
    );
    version
}

/// The suite's test files, in name order.
fn test_files(suite: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(suite)
        .unwrap_or_else(|e| panic!("reading {}: {e}", suite.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.ends_with(".test.js"))
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.test.js under {}", suite.display());
    files
}

fn extra_node_test_args() -> Vec<String> {
    std::env::var("ROOMLOG_COMPAT_NODE_TEST_ARGS")
        .map(|s| s.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The directory holding `node_modules` with the pinned SDK, installed with `npm ci` when the pins
/// (or the Node.js/npm versions) changed or it is missing.
fn ensure_sdk(repo: &Path, suite: &Path, npm: &str, node_version: &str) -> PathBuf {
    let mut pins = Vec::new();
    for name in PIN_FILES {
        let path = suite.join(name);
        let bytes = fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        pins.push((name, bytes));
    }
    let npm_version = run_checked(
        Command::new(npm).arg("--version"),
        Duration::from_secs(60),
        &format!(
            "`{npm} --version`: the Node.js compatibility suite installs the official SDK with npm; \
             install it (Debian: apt-get install npm) or point ROOMLOG_COMPAT_NPM_BIN at one"
        ),
    );
    let npm_version = String::from_utf8_lossy(&npm_version.stdout)
        .trim()
        .to_owned();
    let fingerprint = pins
        .iter()
        .map(|(name, bytes)| format!("{name}-fnv1a64={:016x}\n", fnv1a64(bytes)))
        .collect::<String>();
    let stamp = format!("{fingerprint}node={node_version}\nnpm={npm_version}\n");

    let dir =
        support::external::install_dir(repo, "compat-node", "ROOMLOG_COMPAT_NODE_MODULES_DIR");
    let _lock = DirLock::acquire(&dir, INSTALL_TIMEOUT);
    let sdk = dir.join("node_modules/tencentcloud-sdk-nodejs/package.json");
    if fs::read_to_string(dir.join(STAMP_FILE)).ok().as_deref() == Some(stamp.as_str())
        && sdk.exists()
    {
        return dir;
    }

    println!(
        "compat_node: installing the SDK into {} with npm {npm_version} (pins changed or missing)",
        dir.display()
    );
    let started = Instant::now();
    if dir.exists() {
        fs::remove_dir_all(&dir)
            .unwrap_or_else(|e| panic!("removing the stale {}: {e}", dir.display()));
    }
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    for (name, bytes) in &pins {
        fs::write(dir.join(name), bytes)
            .unwrap_or_else(|e| panic!("writing {}: {e}", dir.join(name).display()));
    }
    run_checked(
        Command::new(npm)
            .current_dir(&dir)
            .args([
                "ci",
                "--no-audit",
                "--no-fund",
                "--ignore-scripts",
                "--loglevel=warn",
            ])
            .env_remove("NODE_OPTIONS"),
        INSTALL_TIMEOUT,
        &format!(
            "`npm ci` in {} (the npm registry must be reachable, or its cache must hold the \
             packages of {SUITE_DIR}/package-lock.json)",
            dir.display()
        ),
    );
    let installed = fs::read_to_string(&sdk)
        .unwrap_or_else(|e| panic!("npm ci left no {}: {e}", sdk.display()));
    let version = serde_json::from_str::<serde_json::Value>(&installed)
        .ok()
        .and_then(|package| package["version"].as_str().map(str::to_owned))
        .unwrap_or_default();
    println!(
        "compat_node: SDK ready in {:.0} s: tencentcloud-sdk-nodejs {version}",
        started.elapsed().as_secs_f64()
    );
    fs::write(dir.join(STAMP_FILE), stamp).expect("writing the install stamp");
    dir
}
