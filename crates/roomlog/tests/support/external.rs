//! Running the official clients' toolchains (Python + pip for `compat`, Node.js + npm for
//! `compat_node`): commands with timeouts and captured output, an install directory under the
//! target directory with a fingerprint stamp, and a lock so that concurrent test processes do not
//! install into it at once.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// The repository root (two levels above this crate), checked by `must_exist` (a file relative to
/// it).
pub fn repo_root(must_exist: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let root = root.canonicalize().unwrap_or(root);
    assert!(
        root.join(must_exist).exists(),
        "{must_exist} not found under {}",
        root.display()
    );
    root
}

/// `<workspace target dir>/<name>`, or the directory named by the environment variable
/// `override_var` when it is set. CARGO_TARGET_TMPDIR is `<target>/tmp`.
pub fn install_dir(repo: &Path, name: &str, override_var: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os(override_var) {
        return PathBuf::from(dir);
    }
    let target = option_env!("CARGO_TARGET_TMPDIR")
        .and_then(|tmp| Path::new(tmp).parent().map(Path::to_path_buf))
        .unwrap_or_else(|| repo.join("target"));
    target.join(name)
}

/// FNV-1a, 64 bits: a stable fingerprint of pinned requirements (no dependency needed).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Serialises installs into `dir` between concurrent test processes (a directory is created
/// atomically). A lock older than `max_age` was left by a killed run and is taken over.
pub struct DirLock(PathBuf);

impl DirLock {
    pub fn acquire(dir: &Path, max_age: Duration) -> Self {
        let lock = dir.with_extension("lock");
        if let Some(parent) = lock.parent() {
            fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("creating {}: {e}", parent.display()));
        }
        let deadline = Instant::now() + max_age + Duration::from_secs(60);
        loop {
            match fs::create_dir(&lock) {
                Ok(()) => return DirLock(lock),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let stale = fs::metadata(&lock)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| SystemTime::now().duration_since(t).ok())
                        .is_some_and(|age| age > max_age + Duration::from_secs(60));
                    if stale {
                        let _ = fs::remove_dir(&lock);
                        continue;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "{} is held by another run; remove it if no other run is active",
                        lock.display()
                    );
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => panic!("creating the lock {}: {e}", lock.display()),
            }
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.0);
    }
}

/// Runs a command to completion; panics with `what`, the status and the output when it fails.
pub fn run_checked(command: &mut Command, timeout: Duration, what: &str) -> Output {
    let output = run_with_timeout(command, timeout, what);
    assert!(
        output.status.success(),
        "{what} failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        tail(&String::from_utf8_lossy(&output.stdout), 40),
        tail(&String::from_utf8_lossy(&output.stderr), 40)
    );
    output
}

/// Runs a command with captured output, killing it (and failing) after `timeout`. A command that
/// cannot start (not installed) fails with `what`.
pub fn run_with_timeout(command: &mut Command, timeout: Duration, what: &str) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: could not start {:?}: {e}", command.get_program()));
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buffer = Vec::new();
            let _ = pipe.read_to_end(&mut buffer);
            buffer
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for a child") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let out = stdout.join().unwrap_or_default();
            panic!(
                "{what} did not finish within {} s; killed. Output so far:\n{}",
                timeout.as_secs(),
                tail(&String::from_utf8_lossy(&out), 40)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
