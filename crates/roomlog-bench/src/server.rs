//! Child processes: the real `roomlog serve`, and the baseline server (this binary, re-run with
//! the hidden `baseline-server` subcommand) — each prints `... listening on http://ADDR`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use serde_json::Value;

use crate::http::Signer;

/// A child process serving HTTP on a loopback port.
pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Spawns `command` and waits for its `<name> listening on http://ADDR` line on stdout.
    fn spawn(mut command: Command, name: &str) -> anyhow::Result<ServerProcess> {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {name}: {command:?}"))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        let prefix = format!("{name} listening on http://");
        std::thread::spawn(move || {
            // Keep draining stdout for the child's whole life so it never blocks on a full pipe.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix(&prefix) {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("{name} did not report its address within 120 s");
            }
        };
        let addr = addr
            .parse()
            .with_context(|| format!("{name} reported a bad address {addr:?}"))?;
        Ok(ServerProcess { child, addr })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM (graceful: the server flushes its store), then waits for the exit.
    pub fn terminate(&mut self) -> anyhow::Result<()> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    eprintln!("note: process {pid} exited with {status}");
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                self.child.kill()?;
                self.child.wait()?;
                bail!("process {pid} did not exit within 60 s of SIGTERM; killed");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A running `roomlog serve` with a data directory of its own.
pub struct Roomlog {
    pub process: ServerProcess,
    pub bin: PathBuf,
    pub data_dir: PathBuf,
    pub signer: Signer,
    pub sdk_app_id: u64,
}

impl Roomlog {
    /// Starts roomlog on a free loopback port; the first start bootstraps `data_dir`. Rate
    /// limits are off (they would cap the load, not measure it) and logging is at `warn` (one
    /// info line per request would dominate the measurement).
    pub fn start(bin: &Path, data_dir: &Path) -> anyhow::Result<Roomlog> {
        Self::start_with(bin, data_dir, &[])
    }

    /// [`Roomlog::start`] with more `serve` arguments.
    pub fn start_with(bin: &Path, data_dir: &Path, extra: &[&str]) -> anyhow::Result<Roomlog> {
        let mut command = Command::new(bin);
        command
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--rate-limit-default", "0"])
            .args(["--rate-limit", "ReportRoomEvents=0"])
            .args(extra)
            .env("RUST_LOG", "warn");
        let process = ServerProcess::spawn(command, "roomlog")?;
        let creds_path = data_dir.join("credentials.json");
        let creds: Value = serde_json::from_str(
            &std::fs::read_to_string(&creds_path)
                .with_context(|| format!("reading {}", creds_path.display()))?,
        )
        .with_context(|| format!("parsing {}", creds_path.display()))?;
        let field = |name: &str| {
            creds[name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| anyhow!("{} has no {name}", creds_path.display()))
        };
        let signer = Signer {
            secret_id: field("secret_id")?,
            secret_key: field("secret_key")?,
            host: process.addr.to_string(),
        };
        let sdk_app_id = creds["sdk_app_id"]
            .as_u64()
            .ok_or_else(|| anyhow!("{} has no sdk_app_id", creds_path.display()))?;
        Ok(Roomlog {
            process,
            bin: bin.to_path_buf(),
            data_dir: data_dir.to_path_buf(),
            signer,
            sdk_app_id,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.process.addr
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Graceful stop, then a fresh process on the same data directory (a new port).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.restart_with(&[])
    }

    /// [`Roomlog::restart`] with more `serve` arguments.
    pub fn restart_with(&mut self, extra: &[&str]) -> anyhow::Result<()> {
        self.process.terminate()?;
        *self = Roomlog::start_with(&self.bin.clone(), &self.data_dir.clone(), extra)?;
        Ok(())
    }

    pub fn stop(mut self) -> anyhow::Result<()> {
        self.process.terminate()
    }
}

/// Starts the baseline server (this executable, `baseline-server`) serving `routes`: request
/// body file → response body file.
pub fn start_baseline(routes: &[(PathBuf, PathBuf)]) -> anyhow::Result<ServerProcess> {
    let exe = std::env::current_exe().context("locating the benchmark executable")?;
    let mut command = Command::new(exe);
    command
        .arg("baseline-server")
        .args(["--listen", "127.0.0.1:0"]);
    for (request, response) in routes {
        command
            .arg("--route")
            .arg(format!("{}={}", request.display(), response.display()));
    }
    ServerProcess::spawn(command, "baseline")
}

/// A `kB` field (`VmRSS`, `VmHWM`) of `/proc/PID/status`, in bytes.
pub fn proc_status_bytes(pid: u32, field: &str) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_status_kb(&text, field)
        .map(|kb| kb * 1024)
        .ok_or_else(|| anyhow!("{path} has no {field}"))
}

fn parse_status_kb(text: &str, field: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// CPU time (user + system) a process has used so far, in seconds. Linux reports clock ticks
/// of USER_HZ, which is 100 on every mainstream architecture.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    const USER_HZ: f64 = 100.0;
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let rest = text
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow!("{path}: unexpected format"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3 of stat(5), utime 14 and stime 15.
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(i - 3)
            .ok_or_else(|| anyhow!("{path}: too few fields"))?
            .parse::<f64>()?)
    };
    Ok((ticks(14)? + ticks(15)?) / USER_HZ)
}

/// CPU time all processes have used so far (busy time of every core, from /proc/stat), seconds.
pub fn machine_busy_seconds() -> anyhow::Result<f64> {
    const USER_HZ: f64 = 100.0;
    let text = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let line = text
        .lines()
        .find(|line| line.starts_with("cpu "))
        .ok_or_else(|| anyhow!("/proc/stat has no cpu line"))?;
    let ticks: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .map(|t| t.parse().unwrap_or(0.0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    let busy: f64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| ticks.get(i))
        .sum();
    Ok(busy / USER_HZ)
}

/// Where the CPU went over a span of time: the server process, this process (the load
/// generator), and everything else on the machine (which should be ~0 on a quiet machine).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuUse {
    pub server: f64,
    pub client: f64,
    pub other: f64,
}

/// Measures [`CpuUse`], in cores averaged over the span.
pub struct CpuMeter {
    pid: u32,
    server: f64,
    client: f64,
    machine: f64,
    started: Instant,
}

impl CpuMeter {
    pub fn start(pid: u32) -> anyhow::Result<CpuMeter> {
        Ok(CpuMeter {
            pid,
            server: cpu_seconds(pid)?,
            client: cpu_seconds(std::process::id())?,
            machine: machine_busy_seconds()?,
            started: Instant::now(),
        })
    }

    pub fn finish(self) -> anyhow::Result<CpuUse> {
        let wall = self.started.elapsed().as_secs_f64().max(1e-9);
        let server = (cpu_seconds(self.pid)? - self.server) / wall;
        let client = (cpu_seconds(std::process::id())? - self.client) / wall;
        let machine = (machine_busy_seconds()? - self.machine) / wall;
        Ok(CpuUse {
            server,
            client,
            other: (machine - server - client).max(0.0),
        })
    }
}

/// Cores used by other processes over `span` (the machine should be quiet for a benchmark).
pub fn other_load(span: Duration) -> anyhow::Result<f64> {
    let me = std::process::id();
    let (machine, own, started) = (machine_busy_seconds()?, cpu_seconds(me)?, Instant::now());
    std::thread::sleep(span);
    let wall = started.elapsed().as_secs_f64().max(1e-9);
    let others = (machine_busy_seconds()? - machine) - (cpu_seconds(me)? - own);
    Ok((others / wall).max(0.0))
}

/// Samples a process's VmRSS every few milliseconds on a thread, keeping the maximum: VmHWM
/// cannot be reset, so this is how the peak *during* one operation is measured.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<(u64, u64)>,
}

impl RssSampler {
    pub fn start(pid: u32, every: Duration) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let (mut max, mut samples) = (0u64, 0u64);
            loop {
                if let Ok(rss) = proc_status_bytes(pid, "VmRSS") {
                    max = max.max(rss);
                    samples += 1;
                }
                if flag.load(Ordering::Relaxed) {
                    return (max, samples);
                }
                std::thread::sleep(every);
            }
        });
        RssSampler { stop, thread }
    }

    /// Stops sampling (after one last sample); returns (max VmRSS in bytes, samples taken).
    pub fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or((0, 0))
    }
}

/// The machine, for the report.
pub struct Machine {
    pub cpus: usize,
    pub model: String,
    pub memory: String,
    pub kernel: String,
    pub date: String,
}

impl Machine {
    pub fn describe() -> Machine {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let model = cpuinfo
            .lines()
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.trim() == "model name").then(|| value.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory = parse_status_kb(&meminfo, "MemTotal")
            .map(|kb| format!("{:.1} GiB", kb as f64 / (1024.0 * 1024.0)))
            .unwrap_or_else(|| "unknown".into());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| format!("Linux {}", s.trim()))
            .unwrap_or_else(|_| std::env::consts::OS.into());
        let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
        Machine {
            cpus,
            model,
            memory,
            kernel,
            date,
        }
    }
}

/// The file system type under `path` (from /proc/mounts, longest mount point that contains it):
/// on `tmpfs` an fsync costs nothing and "durable" figures would mean nothing.
pub fn filesystem_of(path: &Path) -> String {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (device, mount_point, fs) = (fields.next()?, fields.next()?, fields.next()?);
            path.starts_with(mount_point).then(|| {
                (
                    mount_point.len(),
                    format!("{fs} ({device} on {mount_point})"),
                )
            })
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, fs)| fs)
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_status_fields() {
        let text = "Name:\troomlog\nVmHWM:\t  52340 kB\nVmRSS:\t   40000 kB\n";
        assert_eq!(parse_status_kb(text, "VmRSS"), Some(40000));
        assert_eq!(parse_status_kb(text, "VmHWM"), Some(52340));
        assert_eq!(parse_status_kb(text, "VmSwap"), None);
    }

    #[test]
    fn reads_own_rss_and_cpu() {
        assert!(proc_status_bytes(std::process::id(), "VmRSS").unwrap() > 0);
        let spin = Instant::now();
        while spin.elapsed() < Duration::from_millis(50) {}
        assert!(cpu_seconds(std::process::id()).unwrap() > 0.0);
    }
}
