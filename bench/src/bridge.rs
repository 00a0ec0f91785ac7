//! The real `tabscope-bridge` binary, started as a browser starts it, fed
//! over its stdin, with its stdout drained as a browser drains it.

use std::io::{BufReader, BufWriter, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tabscope_shared::discovery::{self, Discovery};

pub struct Bridge {
    pub child: Child,
    pub stdin: BufWriter<ChildStdin>,
    pub dir: tempfile::TempDir,
    /// Spawn to the discovery file written: the bridge is ready for inspectors.
    pub ready_after: Duration,
}

impl Bridge {
    /// Starts the bridge with `env`; waits for its discovery file.
    pub fn start(env: &[(&str, &str)]) -> Bridge {
        let dir = tempfile::tempdir().unwrap();
        let exe = crate::binary("tabscope-bridge");
        assert!(exe.exists(), "build the bridge first: cargo build --release -p tabscope-bridge");
        let start = Instant::now();
        let mut child = Command::new(exe)
            .arg("/bench/tabscope_bridge.json")
            .arg("tabscope-agent@tabscope.dev")
            .env("TABSCOPE_RUNTIME_DIR", dir.path().join("run"))
            .env("TABSCOPE_LOG_DIR", dir.path().join("log"))
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            let mut buf = vec![0; 1 << 16];
            while matches!(out.read(&mut buf), Ok(n) if n > 0) {}
        });
        let stdin = BufWriter::with_capacity(1 << 16, child.stdin.take().unwrap());
        let mut b = Bridge { child, stdin, dir, ready_after: Duration::ZERO };
        while b.discovery().is_none() {
            assert!(start.elapsed() < Duration::from_secs(10), "the bridge did not start");
            std::thread::sleep(Duration::from_micros(200));
        }
        b.ready_after = start.elapsed();
        b
    }

    pub fn discovery(&self) -> Option<Discovery> {
        let pid = self.child.id();
        discovery::list_bridges(&self.dir.path().join("run")).ok()?.into_iter().find(|d| d.bridge.pid == pid)
    }

    /// Writes one frame (buffered; `flush` sends).
    pub fn send(&mut self, msg: &Value) {
        let payload = serde_json::to_vec(msg).unwrap();
        self.send_payload(&payload);
    }

    pub fn send_payload(&mut self, payload: &[u8]) {
        self.stdin.write_all(&(payload.len() as u32).to_ne_bytes()).unwrap();
        self.stdin.write_all(payload).unwrap();
    }

    pub fn flush(&mut self) {
        self.stdin.flush().unwrap();
    }

    /// CPU time the bridge has used (all its threads, user and system).
    pub fn cpu(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name: utime and stime are the 12th and 13th.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<u64> = rest.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let ticks = f.get(10).copied().unwrap_or(0) + f.get(11).copied().unwrap_or(0);
        Duration::from_secs_f64(ticks as f64 / hz)
    }

    pub fn rss_kib(&self) -> u64 {
        crate::rss_kib(self.child.id(), "VmRSS:")
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
