//! A `wflow serve` child process, and plain HTTP/1 requests to it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::wflow_command;

/// A `wflow serve` child and the address it listens on.
pub struct Server {
    child: Child,
    pub addr: String,
    /// The token every request sends, if any.
    token: Option<String>,
}

impl Server {
    pub fn start(args: &[&str]) -> Self {
        Self::start_with_env(args, &[])
    }

    /// A server started with `env` set.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = wflow_command()
            .arg("serve")
            .args(args)
            .envs(env.iter().copied())
            .args(["--bind", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("wflow starts");
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let mut line = String::new();
        while stderr.read_line(&mut line).expect("stderr is readable") > 0 {
            if let Some((_, url)) = line.trim().split_once(" on http://") {
                let addr = url.to_string();
                return Self {
                    child,
                    addr,
                    token: None,
                };
            }
            line.clear();
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the server printed no address");
    }

    /// The same server, with every request sending `token`.
    pub fn with_token(mut self, token: &str) -> Self {
        self.token = Some(token.to_string());
        self
    }

    /// The `Authorization` header line for the token, if any.
    fn authorization(&self) -> String {
        self.token
            .as_ref()
            .map(|token| format!("Authorization: Bearer {token}\r\n"))
            .unwrap_or_default()
    }

    /// One request; the status code and the body.
    pub fn request(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        self.request_with(method, path, &[], body)
    }

    /// One request with `headers` besides the usual ones.
    pub fn request_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.addr).expect("connects");
        let extra: String = headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}\r\n"))
            .collect();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{}{extra}Connection: close\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            self.authorization(),
            body.len()
        )
        .expect("sends");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("reads");
        let status = response[9..12].parse().expect("a status code");
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or_default();
        (status, body)
    }

    /// One request that must be answered with `status`; the body.
    pub fn expect_status(&self, status: u16, method: &str, path: &str, body: &str) -> String {
        let (actual, body) = self.request(method, path, body);
        assert_eq!(actual, status, "{body}");
        body
    }

    /// `GET` the handler's events so far as JSON lines; the status and the body.
    pub fn events(&self, handler: &str) -> (u16, String) {
        let path = format!("/events/{handler}?after_sequence=-1&sse=false");
        self.request("GET", &path, "")
    }

    /// Sends `GET /events/{handler}?after_sequence=-1&{query}` over
    /// `version` (`HTTP/1.1`, or `HTTP/1.0` for an unchunked body that ends
    /// with the connection); the connection, to read the answer from.
    fn open_events(&self, handler: &str, query: &str, version: &str) -> TcpStream {
        let mut stream = TcpStream::connect(&self.addr).expect("connects");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("a timeout");
        write!(
            stream,
            "GET /events/{handler}?after_sequence=-1&{query} {version}\r\nHost: {}\r\n{}\r\n",
            self.addr,
            self.authorization()
        )
        .expect("sends");
        stream
    }

    /// The server's resident memory, from `/proc/PID/status`.
    pub fn rss(&self) -> bytesize::ByteSize {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the server's status is readable");
        let kib: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().strip_suffix("kB"))
            .and_then(|kib| kib.trim().parse().ok())
            .expect("a VmRSS line");
        bytesize::ByteSize::kib(kib)
    }

    /// Waits until handler `id` has ended; its record.
    pub fn wait_ended(&self, id: &str) -> serde_json::Value {
        loop {
            let (status, body) = self.request("GET", &format!("/handlers/{id}"), "");
            if status != 202 {
                assert_eq!(status, 200, "{body}");
                return serde_json::from_str(&body).expect("a JSON record");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Reads the handler's event stream until `needle` shows up.
    pub fn wait_for_event(&self, handler: &str, needle: &str) {
        let mut stream = self.open_events(handler, "sse=false", "HTTP/1.1");
        let mut seen = Vec::new();
        let mut buffer = [0u8; 4096];
        while !String::from_utf8_lossy(&seen).contains(needle) {
            let read = stream.read(&mut buffer).expect("the stream goes on");
            assert!(read > 0, "the stream ended without {needle}");
            seen.extend_from_slice(&buffer[..read]);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Every event of a finished handler's stream as SSE, internal ones
    /// included: `(id, event)` pairs in the order sent. HTTP/1.0, so the
    /// body comes unchunked and ends with the connection.
    pub fn sse_events(&self, handler: &str) -> Vec<(u64, serde_json::Value)> {
        let mut stream = self.open_events(handler, "include_internal=true", "HTTP/1.0");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("reads");
        let (head, body) = response.split_once("\r\n\r\n").expect("a response");
        assert!(
            head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
            "{head}"
        );
        let mut events = Vec::new();
        for frame in body.split("\n\n") {
            let id = frame.lines().find_map(|line| line.strip_prefix("id: "));
            let data = frame.lines().find_map(|line| line.strip_prefix("data: "));
            if let (Some(id), Some(data)) = (id, data) {
                let id = id.trim().parse().expect("a numeric id");
                let event = serde_json::from_str(data).expect("JSON data");
                events.push((id, event));
            }
        }
        events
    }
}
