//! A real `keel serve` for the integration tests: started on an ephemeral port with
//! a temporary data directory, driven over its REST API.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A `keel serve` child process on an ephemeral loopback port; killed on drop.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub admin: String,
}

/// A fresh data directory for one test of this binary.
pub fn data_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "keel-{}-{name}-{}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

impl Server {
    pub fn start(dir: &Path) -> Server {
        Server::start_with(dir, &[])
    }

    /// Starts with more `keel serve` arguments (e.g. `--topology FILE`).
    pub fn start_with(dir: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_keel"))
            .args(["serve", "--listen", "127.0.0.1:0", "--replay-day", "0"])
            .args([
                "--min-reroute-interval",
                "1s",
                "--counter-interval",
                "200ms",
            ])
            .args(extra)
            .arg("--data-dir")
            .arg(dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start keel serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("keel controller listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("the server announces its URL");
        let admin = std::fs::read_to_string(dir.join("admin.token"))
            .expect("admin token file")
            .trim()
            .to_string();
        let s = Server { child, url, admin };
        s.wait_for(|s| s.get("/api/v1/ready", None).0 == 200, "ready");
        s
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let url = format!("{}{path}", self.url);
        let auth = token.map(|t| format!("Bearer {t}"));
        let resp = match method {
            "GET" | "DELETE" => {
                let mut r = if method == "GET" {
                    agent.get(&url)
                } else {
                    agent.delete(&url)
                };
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.call()
            }
            _ => {
                let mut r = if method == "POST" {
                    agent.post(&url)
                } else {
                    agent.put(&url)
                };
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.header("Content-Type", "application/json")
                    .send(body.unwrap_or("").as_bytes())
            }
        };
        let mut resp = resp.expect("HTTP exchange");
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.request("GET", path, token, None)
    }

    pub fn admin_get(&self, path: &str) -> Value {
        let (status, v) = self.get(path, Some(&self.admin));
        assert_eq!(status, 200, "GET {path}: {v}");
        v
    }

    pub fn post(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        self.request("POST", path, Some(token), Some(&body.to_string()))
    }

    pub fn token(&self, name: &str, role: &str, tenant: Option<&str>) -> String {
        let mut body = json!({ "name": name, "role": role });
        if let Some(t) = tenant {
            body["tenant"] = json!(t);
        }
        let (status, v) = self.post("/api/v1/tokens", &self.admin, &body);
        assert_eq!(status, 201, "{v}");
        v["token"].as_str().expect("token").to_string()
    }

    pub fn wait_for(&self, ok: impl Fn(&Server) -> bool, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if ok(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("timed out waiting for {what}");
    }

    pub fn allocation_version(&self) -> i64 {
        self.admin_get("/api/v1/allocation")["version"]
            .as_i64()
            .expect("version")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
