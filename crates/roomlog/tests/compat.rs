//! Compatibility with the official Tencent Cloud clients: the Python SDK
//! (tencentcloud-sdk-python-lcic 3.1.134 on -common 3.1.195) and tccli 3.1.189.1, driven by the
//! pytest suite in `tests/compat/` at the repository root against real `roomlog` servers.
//!
//! The clients live in a virtualenv at `<target dir>/compat-venv`, created with `python3 -m venv`
//! and `pip install -r tests/compat/requirements.txt` on first use and re-created whenever that
//! file (or the Python version) changes. No Python, no pip, no PyPI: the test FAILS, it never
//! skips. Overrides: `ROOMLOG_COMPAT_PYTHON` (the interpreter that creates the venv),
//! `ROOMLOG_COMPAT_VENV` (where the venv lives), `ROOMLOG_COMPAT_PYTEST_ARGS` (extra pytest
//! arguments, whitespace-separated, e.g. `-k tccli -x`).
//!
//! Run: `cargo test -p roomlog --test compat -- --nocapture`

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::external::{fnv1a64, run_checked, run_with_timeout, tail, DirLock};
use support::TestServer;

/// The rate limit of the server the RequestLimitExceeded test bursts against.
const LIMITED_GET_ROOM_EVENT_PER_SEC: u32 = 5;
/// The retention of the server the expiry test waits out.
const SHORT_RETENTION_SECS: u64 = 2;
/// The whole pytest run must finish within this (it takes about 15 s).
const PYTEST_TIMEOUT: Duration = Duration::from_secs(600);
/// pip may take long on a cold cache; beyond this something is wrong.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(1200);
/// Written into the venv after a successful install: what was installed, from what.
const STAMP_FILE: &str = ".roomlog-compat-stamp";

#[test]
fn official_python_sdk_and_tccli() {
    let repo = repo_root();
    let venv = ensure_venv(&repo);
    let python = venv.join("bin").join("python");
    let tccli = venv.join("bin").join("tccli");
    assert!(
        tccli.exists(),
        "tccli is missing from the venv at {}: delete {} and retry",
        tccli.display(),
        venv.display()
    );

    // The main server: no rate limit (the suite walks hundreds of pages quickly).
    let main = TestServer::start(&["--rate-limit-default", "0"]);
    let limited_arg = format!("GetRoomEvent={LIMITED_GET_ROOM_EVENT_PER_SEC}");
    let limited = TestServer::start(&["--rate-limit", &limited_arg]);
    let retention_arg = format!("{SHORT_RETENTION_SECS}s");
    let short = TestServer::start(&[
        "--events-retention-after-end",
        &retention_arg,
        "--rate-limit-default",
        "0",
    ]);
    let other = create_second_tenant(&main);

    let mut command = Command::new(&python);
    command
        .current_dir(&repo)
        .args([
            "-m",
            "pytest",
            "tests/compat",
            "-q",
            "-p",
            "no:cacheprovider",
        ])
        .args(extra_pytest_args())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONUTF8", "1")
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        // requests honours proxy variables: loopback must never go through a proxy.
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .env("ROOMLOG_COMPAT_BIN", env!("CARGO_BIN_EXE_roomlog"))
        .env("ROOMLOG_COMPAT_DATA_DIR", &main.data_dir)
        .env("ROOMLOG_COMPAT_TCCLI", &tccli)
        .env(
            "ROOMLOG_COMPAT_LIMITED_LIMIT",
            LIMITED_GET_ROOM_EVENT_PER_SEC.to_string(),
        )
        .env(
            "ROOMLOG_COMPAT_RETENTION_SECS",
            SHORT_RETENTION_SECS.to_string(),
        );
    tenant_env(&mut command, "ROOMLOG_COMPAT", &main, &Tenant::of(&main));
    tenant_env(&mut command, "ROOMLOG_COMPAT_OTHER", &main, &other);
    tenant_env(
        &mut command,
        "ROOMLOG_COMPAT_LIMITED",
        &limited,
        &Tenant::of(&limited),
    );
    tenant_env(
        &mut command,
        "ROOMLOG_COMPAT_RETENTION",
        &short,
        &Tenant::of(&short),
    );
    // The account id is handy when a failure needs `roomlog admin` to investigate.
    command.env(
        "ROOMLOG_COMPAT_ACCOUNT_ID",
        main.credentials.account_id.to_string(),
    );

    println!(
        "compat: running pytest with {} against {}",
        python.display(),
        main.endpoint
    );
    let started = Instant::now();
    let output = run_with_timeout(&mut command, PYTEST_TIMEOUT, "pytest tests/compat");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    if !stderr.trim().is_empty() {
        println!("--- pytest stderr ---\n{stderr}");
    }
    println!(
        "compat: pytest took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        output.status.success(),
        "the compatibility suite failed (pytest: {}); its output is above. Summary:\n{}",
        output.status,
        tail(&stdout, 15)
    );
    assert!(
        stdout.contains(" passed"),
        "pytest exited 0 but reported no passed test:\n{stdout}"
    );
    drop((main, limited, short));
}

/// Credentials of one account, as the suite receives them.
struct Tenant {
    secret_id: String,
    secret_key: String,
    sdk_app_id: u64,
}

impl Tenant {
    fn of(server: &TestServer) -> Self {
        Tenant {
            secret_id: server.credentials.secret_id.clone(),
            secret_key: server.credentials.secret_key.clone(),
            sdk_app_id: server.credentials.sdk_app_id,
        }
    }
}

fn tenant_env(command: &mut Command, prefix: &str, server: &TestServer, tenant: &Tenant) {
    let endpoint = format!("http://127.0.0.1:{}", server.port);
    assert_eq!(
        server.endpoint.trim_end_matches('/'),
        endpoint,
        "roomlog announced an unexpected address"
    );
    command
        .env(format!("{prefix}_ENDPOINT"), &endpoint)
        .env(format!("{prefix}_PORT"), server.port.to_string())
        .env(format!("{prefix}_SECRET_ID"), &tenant.secret_id)
        .env(format!("{prefix}_SECRET_KEY"), &tenant.secret_key)
        .env(
            format!("{prefix}_SDK_APP_ID"),
            tenant.sdk_app_id.to_string(),
        );
}

/// A second account on the main server, with its own app and key, made with `roomlog admin`
/// while the server runs.
fn create_second_tenant(server: &TestServer) -> Tenant {
    let admin = |args: &[&str]| -> Value {
        let output = Command::new(env!("CARGO_BIN_EXE_roomlog"))
            .arg("admin")
            .arg("--data-dir")
            .arg(&server.data_dir)
            .args(args)
            .env_remove("ROOMLOG_DATA_DIR")
            .output()
            .expect("running roomlog admin");
        assert!(
            output.status.success(),
            "roomlog admin {args:?} failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "roomlog admin {args:?} printed no JSON ({e}):\n{}",
                String::from_utf8_lossy(&output.stdout)
            )
        })
    };
    let account = admin(&["create-account", "compat-second-tenant"])["AccountId"]
        .as_u64()
        .expect("create-account prints AccountId");
    assert_ne!(
        account, server.credentials.account_id,
        "the second tenant must be another account"
    );
    let account_arg = account.to_string();
    let app = admin(&["create-app", "--account", &account_arg]);
    let sdk_app_id = app["SdkAppId"]
        .as_u64()
        .expect("create-app prints SdkAppId");
    assert_ne!(sdk_app_id, server.credentials.sdk_app_id);
    let key = admin(&["create-key", "--account", &account_arg]);
    Tenant {
        secret_id: key["SecretId"]
            .as_str()
            .expect("create-key prints SecretId")
            .to_owned(),
        secret_key: key["SecretKey"]
            .as_str()
            .expect("create-key prints SecretKey")
            .to_owned(),
        sdk_app_id,
    }
}

fn extra_pytest_args() -> Vec<String> {
    std::env::var("ROOMLOG_COMPAT_PYTEST_ARGS")
        .map(|s| s.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

fn repo_root() -> PathBuf {
    support::external::repo_root("tests/compat/requirements.txt")
}

/// `<workspace target dir>/compat-venv`, or `ROOMLOG_COMPAT_VENV`.
fn venv_dir(repo: &Path) -> PathBuf {
    support::external::install_dir(repo, "compat-venv", "ROOMLOG_COMPAT_VENV")
}

/// The venv with the pinned clients, created or re-created when the requirements changed.
fn ensure_venv(repo: &Path) -> PathBuf {
    let requirements = repo.join("tests/compat/requirements.txt");
    let contents = fs::read(&requirements)
        .unwrap_or_else(|e| panic!("reading {}: {e}", requirements.display()));
    let system_python = std::env::var("ROOMLOG_COMPAT_PYTHON").unwrap_or_else(|_| "python3".into());
    let python_version = run_checked(
        Command::new(&system_python).arg("--version"),
        Duration::from_secs(30),
        &format!(
            "`{system_python} --version`: the compatibility suite needs Python 3 (with venv and pip) to run the \
             official Tencent Cloud SDK and tccli; install it or point ROOMLOG_COMPAT_PYTHON at one"
        ),
    );
    let python_version = format!(
        "{}{}",
        String::from_utf8_lossy(&python_version.stdout).trim(),
        String::from_utf8_lossy(&python_version.stderr).trim()
    );
    let stamp = format!(
        "requirements-fnv1a64={:016x}\npython={python_version}\n",
        fnv1a64(&contents)
    );

    let venv = venv_dir(repo);
    let _lock = DirLock::acquire(&venv, INSTALL_TIMEOUT);
    let venv_python = venv.join("bin").join("python");
    if fs::read_to_string(venv.join(STAMP_FILE)).ok().as_deref() == Some(stamp.as_str())
        && venv_python.exists()
    {
        return venv;
    }

    println!(
        "compat: creating {} with {python_version} (requirements changed or venv missing)",
        venv.display()
    );
    let started = Instant::now();
    if venv.exists() {
        fs::remove_dir_all(&venv)
            .unwrap_or_else(|e| panic!("removing the stale venv {}: {e}", venv.display()));
    }
    run_checked(
        Command::new(&system_python)
            .arg("-m")
            .arg("venv")
            .arg(&venv),
        Duration::from_secs(300),
        &format!(
            "`{system_python} -m venv {}` (is the venv module installed, e.g. python3-venv?)",
            venv.display()
        ),
    );
    let pip = |args: &[&str], what: &str| {
        run_checked(
            Command::new(&venv_python)
                .args(["-m", "pip", "--disable-pip-version-check", "--no-input"])
                .args(args),
            INSTALL_TIMEOUT,
            what,
        )
    };
    let requirements_arg = requirements.to_string_lossy().into_owned();
    pip(
        &["install", "-r", &requirements_arg],
        &format!("`pip install -r {requirements_arg}` (PyPI must be reachable, or PIP_FIND_LINKS must hold the wheels)"),
    );
    // tccli pulls the full tencentcloud-sdk-python, which ships the same files as
    // tencentcloud-sdk-python-lcic (tencentcloud/__init__.py carries the version the SDK reports
    // in X-TC-RequestClient). Reinstall the pinned LCIC package last so its files win,
    // whatever order pip chose.
    let lcic_pin = String::from_utf8_lossy(&contents)
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("tencentcloud-sdk-python-lcic=="))
        .expect("requirements.txt pins tencentcloud-sdk-python-lcic==...")
        .to_owned();
    pip(
        &["install", "--no-deps", "--force-reinstall", &lcic_pin],
        &format!("`pip install --no-deps --force-reinstall {lcic_pin}`"),
    );
    let check = run_checked(
        Command::new(&venv_python).args([
            "-c",
            "import tencentcloud, importlib.metadata as m; \
             print(tencentcloud.__version__, m.version('tencentcloud-sdk-python-lcic'), m.version('tccli'))",
        ]),
        Duration::from_secs(60),
        "importing the SDK from the new venv",
    );
    println!(
        "compat: venv ready in {:.0} s: tencentcloud/lcic/tccli {}",
        started.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&check.stdout).trim()
    );
    fs::write(venv.join(STAMP_FILE), stamp).expect("writing the venv stamp");
    venv
}
