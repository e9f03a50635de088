//! The real `rally` binary as a child process: start it with a clean environment in a
//! directory, collect its stdout and stderr while it runs, wait for `/healthz`, speak raw
//! HTTP to it, stop it with SIGTERM.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A free loopback port (bound, then released: good enough for a test).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// `rally ARGS…` in `dir` with only `PATH` and `env` set, run to completion.
pub fn run(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rally"))
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .args(args)
        .output()
        .expect("run rally")
}

/// Text of an output stream.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A running `rally` process.
pub struct Rally {
    child: Child,
    /// Its listener port.
    pub port: u16,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

type Collected = (Arc<Mutex<Vec<u8>>>, std::thread::JoinHandle<()>);

/// Read `from` into a shared buffer on a thread until EOF.
fn collect(mut from: impl Read + Send + 'static) -> Collected {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let into = buf.clone();
    let reader = std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        while let Ok(n) = from.read(&mut chunk) {
            if n == 0 {
                break;
            }
            into.lock()
                .expect("log buffer")
                .extend_from_slice(&chunk[..n]);
        }
    });
    (buf, reader)
}

impl Rally {
    /// Start `rally ARGS…` in `dir` with only `PATH`, `RALLY_BIND` (a free port) and `env`;
    /// wait until `/healthz` answers.
    pub fn start(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Rally {
        let port = free_port();
        let bind = format!("127.0.0.1:{port}");
        let mut all = vec![("RALLY_BIND", bind.as_str())];
        all.extend_from_slice(env);
        Self::spawn(dir, &all, args, port)
    }

    /// Start `rally ARGS…` in `dir` with only `PATH` and `env`, which (or `args`) must make it
    /// listen on `port`; wait until `/healthz` answers there.
    pub fn spawn(dir: &Path, env: &[(&str, &str)], args: &[&str], port: u16) -> Rally {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rally"));
        cmd.current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(env.iter().copied())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn rally");
        let (stdout, out_reader) = collect(child.stdout.take().expect("stdout"));
        let (stderr, err_reader) = collect(child.stderr.take().expect("stderr"));
        let mut rally = Rally {
            child,
            port,
            stdout,
            stderr,
            readers: vec![out_reader, err_reader],
        };
        rally.wait_healthy();
        rally
    }

    fn wait_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!(
                    "rally exited during start-up ({status}): {}{}",
                    self.stdout(),
                    self.stderr()
                );
            }
            if self.get("/healthz").starts_with("HTTP/1.1 200") {
                return;
            }
            assert!(Instant::now() < deadline, "no /healthz answer");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Send raw bytes as one connection, read the answer until the server closes or 5 s pass.
    pub fn raw(&self, request: &[u8]) -> String {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return String::new();
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = s.write_all(request);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        text(&out)
    }

    /// `GET path` over a fresh connection (`Connection: close`).
    pub fn get(&self, path: &str) -> String {
        self.raw(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
    }

    /// `POST path` with a JSON body; the status and the parsed JSON answer (Null if none).
    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        self.post_json_raw(path, &body.to_string())
    }

    /// `POST path` with `body` sent as is, as `application/json`; the status and the parsed
    /// JSON answer (Null if none).
    pub fn post_json_raw(&self, path: &str, body: &str) -> (u16, serde_json::Value) {
        let answer = self.raw(
            format!(
                "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let json = answer
            .split_once("\r\n\r\n")
            .and_then(|(_, b)| serde_json::from_str(b).ok())
            .unwrap_or(serde_json::Value::Null);
        (status, json)
    }

    /// What it wrote to stdout so far.
    pub fn stdout(&self) -> String {
        text(&self.stdout.lock().expect("log buffer"))
    }

    /// What it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        text(&self.stderr.lock().expect("log buffer"))
    }

    /// Wait until stdout contains `needle` (logs are written asynchronously to the answer).
    pub fn wait_stdout(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = self.stdout();
            if out.contains(needle) {
                return out;
            }
            assert!(
                Instant::now() < deadline,
                "stdout never contained {needle:?}:\n{out}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then wait for a clean exit (at most 15 s).
    pub fn stop(mut self) -> (String, String) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                assert!(status.success(), "exit status {status}");
                break;
            }
            assert!(Instant::now() < deadline, "did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
        // The readers reach EOF once the process is gone: then the output is complete.
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        (self.stdout(), self.stderr())
    }
}

impl Drop for Rally {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
