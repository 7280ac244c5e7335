//! Starts the real binary on a free loopback port with a fresh data
//! directory, builds remote-write bodies, and runs admin commands.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prost::Message;
use rampart::proto::prometheus as pb;

/// How long a server may take to become ready.
const READY_DEADLINE: Duration = Duration::from_secs(60);

/// Debian's Prometheus 2.42, the reference the end-to-end tests compare with.
const PROMETHEUS: &str = "/usr/bin/prometheus";

/// The binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_rampart")
}

/// A free loopback port (bound and released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port()
}

/// A running `rampart` serving process (`all`, `store` or `relay`).
pub struct Server {
    child: Child,
    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub url: String,
    /// Everything the process logged so far.
    pub log: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `rampart all` on `data_dir` with `config` (YAML) and waits for
    /// `/-/ready`.
    pub fn start(data_dir: &Path, config: &str) -> Server {
        Self::start_mode("all", data_dir, config)
    }

    /// Starts `rampart <mode>` (e.g. `relay`) on `data_dir` with `config`
    /// (YAML, kept beside `data_dir` so that a reload can re-read it) and
    /// waits for `/-/ready`.
    pub fn start_mode(mode: &str, data_dir: &Path, config: &str) -> Server {
        let client = reqwest::blocking::Client::new();
        Self::start_with(free_port(), mode, data_dir, config, &[], "http", |url| {
            client.get(format!("{url}/-/ready")).send().is_ok_and(|r| r.status() == 200)
        })
    }

    /// Starts `rampart <mode>` listening on `port` (see [`free_port`]; a
    /// restarted process keeps the address its clients know) on `data_dir`
    /// with `config` (YAML) and `extra_args`, its URL of `scheme`, and waits
    /// until `ready(url)`.
    pub fn start_with(
        port: u16,
        mode: &str,
        data_dir: &Path,
        config: &str,
        extra_args: &[&str],
        scheme: &str,
        ready: impl Fn(&str) -> bool,
    ) -> Server {
        let config_path = data_dir.with_extension("yaml");
        std::fs::write(&config_path, config).expect("write config");
        let mut child = Command::new(binary())
            .args([mode, "--config"])
            .arg(&config_path)
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(extra_args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start rampart");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = sink.lock().expect("log lock");
                l.push_str(&line);
                l.push('\n');
            }
        });
        let mut server = Server { child, url: format!("{scheme}://127.0.0.1:{port}"), log };
        let deadline = Instant::now() + READY_DEADLINE;
        while !ready(&server.url) {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("rampart exited with {status}; log:\n{}", server.log.lock().expect("log"));
            }
            assert!(Instant::now() < deadline, "rampart not ready in time; log:\n{}", server.log.lock().expect("log"));
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// SIGKILL: the process gets no chance to flush anything.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "rampart exited with {status}; log:\n{}", self.log.lock().expect("log"));
    }

    /// POSTs a raw body to `path` with remote-write headers.
    pub fn post(&self, path: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> (u16, String) {
        remote_write(&reqwest::blocking::Client::new(), &format!("{}{path}", self.url), body, headers)
    }

    /// Polls `f` every 100 ms until it gives a value; panics with `what` and
    /// the log after [`READY_DEADLINE`].
    pub fn eventually<T>(&self, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(Instant::now() < deadline, "{what}: not in time; log:\n{}", self.log.lock().expect("log"));
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A POST of a raw body to `url` with remote-write headers and `headers`.
pub fn remote_write_request(
    client: &reqwest::blocking::Client,
    url: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> reqwest::blocking::RequestBuilder {
    let mut req = client
        .post(url)
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(body)
}

/// POSTs a raw body to `url` with remote-write headers and `headers`;
/// status 0 and the error when there was no answer.
pub fn remote_write(
    client: &reqwest::blocking::Client,
    url: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> (u16, String) {
    match remote_write_request(client, url, body, headers).send() {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.text().unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A time series for a request: labels as given (not sorted for you) and
/// `(timestamp, value)` samples.
pub fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> pb::TimeSeries {
    pb::TimeSeries {
        labels: labels.iter().map(|(n, v)| pb::Label { name: n.to_string(), value: v.to_string() }).collect(),
        samples: samples.iter().map(|&(timestamp, value)| pb::Sample { value, timestamp }).collect(),
        ..Default::default()
    }
}

/// A snappy-compressed `WriteRequest`.
pub fn body(timeseries: Vec<pb::TimeSeries>) -> Vec<u8> {
    encode(&pb::WriteRequest { timeseries, ..Default::default() })
}

/// Snappy block format of a protobuf message.
pub fn encode(req: &impl Message) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(&req.encode_to_vec()).expect("snappy")
}

/// A fresh temporary directory.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Runs `rampart tsdb dump` and parses each line into
/// `(labels text, value bits, timestamp)`.
pub fn dump(data_dir: &Path, extra: &[&str]) -> Vec<(String, u64, i64)> {
    let out = Command::new(binary())
        .args(["tsdb", "dump", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .output()
        .expect("run dump");
    assert!(out.status.success(), "dump failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|line| {
            let (rest, ts) = line.rsplit_once(' ').expect("timestamp");
            let (labels, value) = rest.rsplit_once(' ').expect("value");
            (labels.to_owned(), parse_go_float(value).to_bits(), ts.parse().expect("timestamp"))
        })
        .collect()
}

fn parse_go_float(s: &str) -> f64 {
    match s {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        s => s.parse().expect("float"),
    }
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    rampart::now_ms()
}

/// A real Prometheus server on loopback, killed when dropped.
pub struct Prometheus {
    child: Child,
    /// Base URL.
    pub url: String,
}

impl Prometheus {
    /// Starts Prometheus on `dir` with `config` (prometheus.yml) and the
    /// remote-write receiver, and waits for `/-/ready`.
    pub fn start(dir: &Path, config: &str) -> Prometheus {
        let port = TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
        let config_text = config;
        let config = dir.join("prometheus.yml");
        std::fs::write(&config, config_text).expect("write config");
        let child = Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus (Debian package `prometheus`; scripts/test installs it)");
        let prom = Prometheus { child, url: format!("http://127.0.0.1:{port}") };
        let client = reqwest::blocking::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !client.get(format!("{}/-/ready", prom.url)).send().is_ok_and(|r| r.status() == 200) {
            assert!(Instant::now() < deadline, "prometheus not ready in time");
            std::thread::sleep(Duration::from_millis(50));
        }
        prom
    }
}

impl Prometheus {
    /// Remote-writes a body; panics when Prometheus refuses it.
    pub fn write(&self, body: Vec<u8>) {
        let r = reqwest::blocking::Client::new()
            .post(format!("{}/api/v1/write", self.url))
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(body)
            .send()
            .expect("write to prometheus");
        assert!(r.status().is_success(), "prometheus refused a write: {}", r.text().unwrap_or_default());
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test certificate authority that writes the PEM files of what it signs
/// into a directory.
pub struct TestCa {
    dir: PathBuf,
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
    /// The CA certificate, for clients and servers to trust.
    pub cert_file: PathBuf,
}

impl TestCa {
    /// A new CA named `name`, writing into `dir` (created).
    pub fn new(dir: &Path, name: &str) -> TestCa {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        std::fs::create_dir_all(dir).expect("pki dir");
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).expect("ca");
        let cert_file = dir.join(format!("{name}.pem"));
        std::fs::write(&cert_file, cert.pem()).expect("write ca");
        TestCa { dir: dir.to_owned(), cert, key, cert_file }
    }

    /// A certificate with subject CN `common_name` and subject alternative
    /// names `names` (DNS names or IP addresses), signed by this CA;
    /// returns its `<file>.pem` and `<file>.key`.
    pub fn issue(&self, file: &str, common_name: &str, names: &[&str]) -> (PathBuf, PathBuf) {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).expect("params");
        params.distinguished_name.push(rcgen::DnType::CommonName, common_name);
        let cert = params.signed_by(&key, &self.cert, &self.key).expect("sign");
        let (cert_file, key_file) = (self.dir.join(format!("{file}.pem")), self.dir.join(format!("{file}.key")));
        std::fs::write(&cert_file, cert.pem()).expect("write cert");
        std::fs::write(&key_file, key.serialize_pem()).expect("write key");
        (cert_file, key_file)
    }
}
