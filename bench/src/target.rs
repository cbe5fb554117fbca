//! The server under test: started as its own process (pinned to CPU 0) or already running,
//! and measured through `/proc/<pid>`.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::metrics::{Counted, MetricsWindow};

/// Which server a scenario runs against.
#[derive(Debug, Clone)]
pub enum Server {
    /// Switchboard's release binary, its per-client limits lifted (the load comes from one
    /// address, as fast as it is told).
    Switchboard(std::path::PathBuf),
    /// The same with its protections as a real deployment has them.
    SwitchboardProtected(std::path::PathBuf),
    /// The course's Node server, from this directory.
    Reference(std::path::PathBuf),
}

impl Server {
    pub fn name(&self) -> &'static str {
        match self {
            Server::Switchboard(_) | Server::SwitchboardProtected(_) => "switchboard",
            Server::Reference(_) => "reference",
        }
    }
}

pub struct Target {
    pub addr: SocketAddr,
    pub pid: Option<u32>,
    child: Option<Child>,
    _data_dir: Option<std::path::PathBuf>,
}

impl Target {
    pub fn existing(addr: SocketAddr, pid: Option<u32>) -> Target {
        Target {
            addr,
            pid,
            child: None,
            _data_dir: None,
        }
    }

    /// Starts the chosen server on a free loopback port.
    pub async fn start(server: &Server) -> Target {
        match server {
            Server::Switchboard(binary) => Self::start_switchboard(binary, true).await,
            Server::SwitchboardProtected(binary) => Self::start_switchboard(binary, false).await,
            Server::Reference(dir) => Self::start_reference(dir).await,
        }
    }

    /// Starts the course's Node server (`node server.js` in `dir`, after `npm ci` there).
    pub async fn start_reference(dir: &Path) -> Target {
        let port = free_port();
        let script = dir.join("server.js");
        assert!(
            dir.join("node_modules").is_dir(),
            "{} has no node_modules: run `npm ci` there (make bench does)",
            dir.display()
        );
        let args = [script.display().to_string()];
        Self::launch(
            "node".as_ref(),
            &args,
            port,
            None,
            &[("PORT", port.to_string())],
        )
        .await
    }

    /// Starts Switchboard on a free loopback port, pinned to CPU 0 when `taskset` exists.
    pub async fn start_switchboard(binary: &Path, lift_limits: bool) -> Target {
        Self::start_switchboard_with(binary, lift_limits, &[]).await
    }

    /// Starts Switchboard with further flags (e.g. `--redis-url`).
    pub async fn start_switchboard_with(
        binary: &Path,
        lift_limits: bool,
        extra: &[String],
    ) -> Target {
        let port = free_port();
        let data_dir =
            std::env::temp_dir().join(format!("switchboard-bench-{}-{port}", std::process::id()));
        // No pages: the benchmark measures socket.io work, not the start-up compression of
        // the web app's files (which would share CPU 0 with the first scenario).
        let no_pages = data_dir.join("no-site");
        let _ = std::fs::create_dir_all(&no_pages);
        let mut args = vec![
            "--port".to_owned(),
            port.to_string(),
            "--media-port".to_owned(),
            "0".to_owned(),
            "--data-dir".to_owned(),
            data_dir.display().to_string(),
            "--site-dir".to_owned(),
            no_pages.display().to_string(),
            "--log-level".to_owned(),
            "warn".to_owned(),
        ];
        // The benchmark's thousands of clients all come from 127.0.0.1 and send as fast as
        // they are told: the per-client limits that protect a real server are lifted.
        if lift_limits {
            args.extend(["--no-rate-limits", "--max-connections-per-ip", "0"].map(str::to_owned));
        }
        args.extend(extra.iter().cloned());
        Self::launch(binary.as_os_str(), &args, port, Some(data_dir), &[]).await
    }

    async fn launch(
        program: &std::ffi::OsStr,
        args: &[String],
        port: u16,
        data_dir: Option<std::path::PathBuf>,
        env: &[(&str, String)],
    ) -> Target {
        let mut command = if two_cpus() && which("taskset") {
            let mut c = Command::new("taskset");
            c.arg("-c").arg("0").arg(program);
            c
        } else {
            Command::new(program)
        };
        command
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program:?}: {e}"));
        let pid = child.id();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let started = Instant::now();
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{program:?} did not start listening"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Target {
            addr,
            pid,
            child: Some(child),
            _data_dir: data_dir,
        }
    }

    /// CPU seconds the server has used so far (user + system).
    pub fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid?)).ok()?;
        // Fields after the command name (which may contain spaces) start at field 3.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 =
            fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        Some(ticks / clock_ticks_per_second())
    }

    /// Resident memory of the server, in bytes.
    pub fn rss_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }

    pub async fn stop(mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                // SIGTERM first: the server shuts down gracefully.
                unsafe { libc::kill(pid as i32, libc::SIGTERM) };
            }
            if tokio::time::timeout(Duration::from_secs(10), child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
        }
        if let Some(dir) = &self._data_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Measures the server's CPU use over a window: `start()` then `finish()`.
pub struct CpuWindow {
    cpu: Option<f64>,
    wall: Instant,
}

impl CpuWindow {
    pub fn start(target: &Target) -> CpuWindow {
        CpuWindow {
            cpu: target.cpu_seconds(),
            wall: Instant::now(),
        }
    }

    /// Server CPU seconds used and the fraction of one core, since `start`.
    pub fn finish(&self, target: &Target) -> Option<(f64, f64)> {
        let used = target.cpu_seconds()? - self.cpu?;
        Some((used, used / self.wall.elapsed().as_secs_f64()))
    }
}

/// Waits until `from`, then measures `targets` until `until`: what the first one counted, and
/// each one's CPU (seconds used, share of one core). The scenario's clients run meanwhile.
pub async fn measure_window(
    targets: &[&Target],
    from: tokio::time::Instant,
    until: tokio::time::Instant,
) -> (Counted, Vec<Option<(f64, f64)>>) {
    tokio::time::sleep_until(from).await;
    let counting = MetricsWindow::start(targets[0].addr).await;
    let windows: Vec<CpuWindow> = targets.iter().map(|t| CpuWindow::start(t)).collect();
    tokio::time::sleep_until(until).await;
    let cpus = windows
        .iter()
        .zip(targets)
        .map(|(window, target)| window.finish(target))
        .collect();
    (counting.finish().await, cpus)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn clock_ticks_per_second() -> f64 {
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

fn two_cpus() -> bool {
    std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Keeps the load generator off the server's core (CPU 0) on a machine with two or more.
pub fn pin_current_process_to_last_cpu() {
    let Ok(cpus) = std::thread::available_parallelism() else {
        return;
    };
    if cpus.get() < 2 {
        return;
    }
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for cpu in 1..cpus.get() {
            libc::CPU_SET(cpu, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Lets this process open as many sockets as the hard limit allows.
pub fn raise_open_files_limit() {
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// A redis-server of the benchmark's own on a free loopback port (pinned like the servers).
pub struct Redis {
    pub url: String,
    _child: Child,
}

impl Redis {
    pub async fn start() -> Redis {
        let port = free_port();
        let mut command = if two_cpus() && which("taskset") {
            let mut c = Command::new("taskset");
            c.args(["-c", "0", "redis-server"]);
            c
        } else {
            Command::new("redis-server")
        };
        let child = command
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server (apt-get install redis-server)");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Redis {
            url: format!("redis://127.0.0.1:{port}"),
            _child: child,
        }
    }
}
