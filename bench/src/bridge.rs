//! The real `tabscope-bridge` binary, started as a browser starts it, fed
//! over its stdin, with its stdout drained as a browser drains it.

use std::io::{BufReader, BufWriter, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tabscope_shared::discovery::{self, Discovery};

pub struct Bridge {
    pub child: Child,
    /// `None` once closed, as a browser closes it.
    stdin: Option<BufWriter<ChildStdin>>,
    pub dir: tempfile::TempDir,
    /// Spawn to the discovery file written: the bridge is ready for inspectors.
    pub ready_after: Duration,
}

impl Bridge {
    /// Starts the bridge with `env`; waits for its discovery file.
    pub fn start(env: &[(&str, &str)]) -> Bridge {
        let dir = tempfile::tempdir().unwrap();
        // `TABSCOPE_BENCH_BRIDGE=path` measures another build (an older
        // commit's, for a before/after in the same conditions).
        let exe = std::env::var_os("TABSCOPE_BENCH_BRIDGE")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| crate::binary("tabscope-bridge"));
        assert!(exe.exists(), "build the bridge first: cargo build --release -p tabscope-bridge");
        // `TABSCOPE_BENCH_WRAP="valgrind --tool=callgrind"` profiles the
        // bridge under the same load (instruction counts do not depend on
        // how busy the machine is).
        let wrap = std::env::var("TABSCOPE_BENCH_WRAP").unwrap_or_default();
        let mut words = wrap.split_whitespace();
        let mut command = match words.next() {
            Some(program) => {
                let mut c = Command::new(program);
                c.args(words).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let start = Instant::now();
        let mut child = command
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
        let mut b = Bridge { child, stdin: Some(stdin), dir, ready_after: Duration::ZERO };
        while b.discovery().is_none() {
            assert!(start.elapsed() < Duration::from_secs(60), "the bridge did not start");
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
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(&(payload.len() as u32).to_ne_bytes()).unwrap();
        stdin.write_all(payload).unwrap();
    }

    pub fn flush(&mut self) {
        self.stdin.as_mut().expect("stdin open").flush().unwrap();
    }

    /// CPU time the bridge has used (all its threads, user and system).
    pub fn cpu(&self) -> Duration {
        crate::cpu_of(self.child.id())
    }

    pub fn rss_kib(&self) -> u64 {
        crate::rss_kib(self.child.id(), "VmRSS:")
    }
}

impl Drop for Bridge {
    /// Closes stdin as a browser does, so that the bridge ends on its own
    /// (and a profiler around it writes its output); kills it if it lingers.
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
