//! TLS end to end, with the real binary, certificates made by the test and
//! a real Alertmanager 0.25:
//!
//! - relay → store over mTLS: the store requires verified client
//!   certificates, the relay presents its own and delivers; clients without
//!   a certificate or with one from another CA fail the handshake; a relay
//!   with an untrusted certificate keeps its queue (retries counted) until
//!   its config is fixed;
//! - ruler → Alertmanager over mTLS;
//! - a replaced certificate is served to new connections without restart,
//!   and a half-rotated pair is refused while the previous one stays;
//! - `--tls-self-signed-development` serves HTTPS with the certificate it
//!   writes, and says loudly that it is not for production.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{self, remote_write, temp_dir, Server, TestCa};
use crate::notifier::{self, Alertmanager, AM_PASSWORD, AM_TLS_NAME};

/// An HTTPS client trusting `ca` (a PEM file), presenting `identity`
/// (certificate and key files) when given. Each request opens a new
/// connection, so each one is a handshake, and keeps the server's
/// certificate (see [`served_certificate`]).
fn https_client(ca: &Path, identity: Option<(&Path, &Path)>) -> reqwest::blocking::Client {
    let ca = std::fs::read(ca).expect("read ca");
    let mut builder = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("ca pem"))
        .tls_info(true)
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10));
    if let Some((cert, key)) = identity {
        let pem = [std::fs::read(cert).expect("read cert"), std::fs::read(key).expect("read key")].concat();
        builder = builder.identity(reqwest::Identity::from_pem(&pem).expect("identity pem"));
    }
    builder.build().expect("https client")
}

/// `GET {url}/-/ready` answered 200.
fn ready(client: &reqwest::blocking::Client, url: &str) -> bool {
    client.get(format!("{url}/-/ready")).send().is_ok_and(|r| r.status() == 200)
}

/// The DER certificate the server at `url` presents to a new connection.
fn served_certificate(client: &reqwest::blocking::Client, url: &str) -> Option<Vec<u8>> {
    let r = client.get(format!("{url}/-/ready")).send().ok()?;
    r.extensions().get::<reqwest::tls::TlsInfo>()?.peer_certificate().map(<[u8]>::to_vec)
}

/// The DER of the first certificate of a PEM file.
fn der(pem_file: &Path) -> Vec<u8> {
    let pem = std::fs::read(pem_file).expect("read pem");
    let first = rustls_pemfile::certs(&mut pem.as_slice()).next().expect("a certificate").expect("pem");
    first.to_vec()
}

/// The samples of instant query `query` on the store, for tenant `default`.
fn query(client: &reqwest::blocking::Client, store: &str, query: &str) -> Option<Vec<Value>> {
    let r: Value = client.get(format!("{store}/api/v1/query")).query(&[("query", query)]).send().ok()?.json().ok()?;
    r["data"]["result"].as_array().cloned()
}

/// The value of `series` in the relay's `/metrics` (0 when absent).
fn relay_metric(relay: &str, series: &str) -> f64 {
    let text = reqwest::blocking::get(format!("{relay}/metrics")).and_then(|r| r.text()).unwrap_or_default();
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok()).unwrap_or(0.0)
}

/// The certificates of the mTLS tests: one CA signs the store's, the
/// relay's and a query client's certificates; another CA signs a rogue
/// client's and relay's.
struct Pki {
    ca: PathBuf,
    store: (PathBuf, PathBuf),
    relay: (PathBuf, PathBuf),
    client: (PathBuf, PathBuf),
    rogue: (PathBuf, PathBuf),
}

impl Pki {
    fn new(dir: &Path) -> Pki {
        let ca = TestCa::new(dir, "rampart-ca");
        let other = TestCa::new(dir, "other-ca");
        Pki {
            store: ca.issue("store", "store", &["127.0.0.1"]),
            relay: ca.issue("relay", "relay", &[]),
            client: ca.issue("grafana", "grafana", &[]),
            rogue: other.issue("rogue", "relay", &[]),
            ca: ca.cert_file,
        }
    }

    fn identity(pair: &(PathBuf, PathBuf)) -> Option<(&Path, &Path)> {
        Some((pair.0.as_path(), pair.1.as_path()))
    }

    /// The store's `tls:` requiring client certificates of the CA.
    fn store_config(&self) -> String {
        format!(
            "tls:\n  cert_file: {}\n  key_file: {}\n  client_ca_file: {}\n  client_auth_type: RequireAndVerifyClientCert\n",
            self.store.0.display(),
            self.store.1.display(),
            self.ca.display()
        )
    }
}

/// `rampart all` serving the store over mTLS (per `pki`) with the relay in
/// front on `relay_port`, the relay presenting `relay_identity` to the store.
fn start_store_and_relay(dir: &Path, pki: &Pki, relay_port: u16, relay_identity: &(PathBuf, PathBuf)) -> Server {
    let relay_config = dir.join("relay.yaml");
    std::fs::write(
        &relay_config,
        format!(
            "listen: 127.0.0.1:{relay_port}\ndata_dir: {}\n\
             store:\n  tls_config:\n    ca_file: {}\n    cert_file: {}\n    key_file: {}\n\
             forward:\n  min_backoff: 20ms\n  max_backoff: 200ms\n",
            dir.join("relay-data").display(),
            pki.ca.display(),
            relay_identity.0.display(),
            relay_identity.1.display()
        ),
    )
    .expect("relay config");
    let client = https_client(&pki.ca, Pki::identity(&pki.client));
    let relay_config = relay_config.to_str().expect("utf-8 path");
    Server::start_with(
        harness::free_port(),
        "all",
        &dir.join("store"),
        &pki.store_config(),
        &["--relay-config", relay_config],
        "https",
        |url| ready(&client, url),
    )
}

/// Writes one sample of `metric` to the relay, retrying until the relay
/// listens and accepts it.
fn write_through_relay(server: &Server, relay: &str, metric: &str) {
    let body = harness::body(vec![harness::series(&[("__name__", metric)], &[(harness::now_ms(), 1.0)])]);
    let client = reqwest::blocking::Client::new();
    server.eventually("the relay accepting a write", || {
        let (status, _) = remote_write(&client, &format!("{relay}/api/v1/write"), body.clone(), &[]);
        (status == 204).then_some(())
    });
}

#[test]
fn relay_forwards_over_mtls_to_a_store_that_refuses_clients_without_a_trusted_certificate() {
    let tmp = temp_dir();
    let pki = Pki::new(&tmp.path().join("pki"));
    let relay_port = harness::free_port();
    let server = start_store_and_relay(tmp.path(), &pki, relay_port, &pki.relay);
    let relay = format!("http://127.0.0.1:{relay_port}");

    write_through_relay(&server, &relay, "via_relay_mtls");
    let client = https_client(&pki.ca, Pki::identity(&pki.client));
    let result = server.eventually("the sample queryable on the store over mTLS", || {
        query(&client, &server.url, "via_relay_mtls").filter(|r| !r.is_empty())
    });
    assert_eq!(result.len(), 1, "{result:?}");
    assert_eq!(result[0]["metric"]["__name__"], "via_relay_mtls");

    let failed_handshakes = |log: &str| log.matches("TLS handshake failed").count();
    let before = failed_handshakes(&server.log.lock().expect("log"));
    for (who, identity) in [("no certificate", None), ("a certificate of another CA", Pki::identity(&pki.rogue))] {
        let refused = https_client(&pki.ca, identity).get(format!("{}/api/v1/query?query=up", server.url)).send();
        assert!(refused.is_err(), "a client with {who} was answered: {refused:?}");
    }
    server.eventually("both refusals logged by the store as failed handshakes", || {
        (failed_handshakes(&server.log.lock().expect("log")) >= before + 2).then_some(())
    });
    server.stop();
}

#[test]
fn relay_with_an_untrusted_certificate_keeps_its_queue_until_its_config_is_fixed() {
    let tmp = temp_dir();
    let pki = Pki::new(&tmp.path().join("pki"));
    let relay_port = harness::free_port();
    let relay = format!("http://127.0.0.1:{relay_port}");
    let client = https_client(&pki.ca, Pki::identity(&pki.client));

    let server = start_store_and_relay(tmp.path(), &pki, relay_port, &pki.rogue);
    write_through_relay(&server, &relay, "queued_while_untrusted");
    let retries = "rampart_relay_forward_retries_total{cause=\"network\"}";
    server.eventually("failed forwards counted", || (relay_metric(&relay, retries) >= 2.0).then_some(()));
    assert_eq!(query(&client, &server.url, "queued_while_untrusted"), Some(Vec::new()), "nothing got through");
    let log = server.log.lock().expect("log").clone();
    assert!(log.contains("invalid peer certificate: UnknownIssuer"), "the store names the refusal:\n{log}");
    server.stop();

    let server = start_store_and_relay(tmp.path(), &pki, relay_port, &pki.relay);
    let result = server.eventually("the queued sample delivered once the relay's certificate is trusted", || {
        query(&client, &server.url, "queued_while_untrusted").filter(|r| !r.is_empty())
    });
    assert_eq!(result.len(), 1, "{result:?}");
    server.stop();
}

#[test]
fn ruler_notifies_alertmanager_over_mtls() {
    let tmp = temp_dir();
    let pki = notifier::test_pki(tmp.path());
    let am = Alertmanager::start_tls(&pki);
    let rules = tmp.path().join("rules");
    std::fs::create_dir_all(&rules).expect("rules dir");
    std::fs::write(
        rules.join("always.yml"),
        "groups:\n- name: tls\n  interval: 1s\n  rules:\n  - alert: AlwaysFiring\n    expr: vector(1)\n",
    )
    .expect("rule file");
    let password = tmp.path().join("am-password");
    std::fs::write(&password, AM_PASSWORD).expect("password file");
    let config = format!(
        "rules:\n  tenants: {{default: {}}}\n  resend_delay: 1s\n\
         alerting:\n  alertmanagers:\n  - static_configs: [{{targets: ['{}']}}]\n    scheme: https\n    \
         basic_auth: {{username: rampart, password_file: {}}}\n    \
         tls_config: {{ca_file: {}, cert_file: {}, key_file: {}, server_name: {AM_TLS_NAME}}}\n",
        rules.display(),
        am.target,
        password.display(),
        pki.ca.display(),
        pki.client.0.display(),
        pki.client.1.display()
    );
    let server = Server::start(&tmp.path().join("data"), &config);
    am.eventually("the ruler's alert in Alertmanager", || am.alert_names().contains("AlwaysFiring").then_some(()));
    server.stop();
}

#[test]
fn replaced_certificate_files_are_served_to_new_connections_without_restart() {
    let tmp = temp_dir();
    let ca = TestCa::new(&tmp.path().join("pki"), "rampart-ca");
    let first = ca.issue("first", "store", &["127.0.0.1"]);
    let second = ca.issue("second", "store", &["127.0.0.1"]);
    let (cert_file, key_file) = (tmp.path().join("tls.crt"), tmp.path().join("tls.key"));
    std::fs::copy(&first.0, &cert_file).expect("cert");
    std::fs::copy(&first.1, &key_file).expect("key");
    let config = format!("tls:\n  cert_file: {}\n  key_file: {}\n", cert_file.display(), key_file.display());
    let client = https_client(&ca.cert_file, None);
    let server =
        Server::start_with(harness::free_port(), "all", &tmp.path().join("data"), &config, &[], "https", |url| {
            ready(&client, url)
        });
    assert_eq!(served_certificate(&client, &server.url), Some(der(&first.0)));

    // Half-way through a rotation: the new certificate with the old key.
    std::fs::copy(&second.0, &cert_file).expect("cert");
    server.eventually("the mismatched pair refused in the log", || {
        server.log.lock().expect("log").contains("the changed certificate files are not usable").then_some(())
    });
    assert_eq!(served_certificate(&client, &server.url), Some(der(&first.0)), "the previous pair stays in use");

    std::fs::copy(&second.1, &key_file).expect("key");
    server.eventually("the new certificate served", || {
        (served_certificate(&client, &server.url) == Some(der(&second.0))).then_some(())
    });
    server.stop();
}

#[test]
fn development_mode_serves_https_with_its_generated_certificate_and_warns() {
    let tmp = temp_dir();
    let data = tmp.path().join("data");
    let cert = data.join("development-tls").join("cert.pem");
    // The certificate only exists once the server wrote it.
    let trusting_it = || {
        let pem = std::fs::read(&cert).ok()?;
        reqwest::blocking::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).ok()?)
            .tls_info(true)
            .build()
            .ok()
    };
    let server = Server::start_with(
        harness::free_port(),
        "all",
        &data,
        "",
        &["--tls-self-signed-development"],
        "https",
        |url| trusting_it().is_some_and(|c| ready(&c, url)),
    );
    let client = trusting_it().expect("the certificate is written");
    assert_eq!(served_certificate(&client, &server.url), Some(der(&cert)));
    let log = server.log.lock().expect("log").clone();
    let warning = log.lines().find(|l| l.contains("DEVELOPMENT certificate")).expect("the warning is logged");
    assert!(warning.contains("WARN") && warning.contains("do not use it in production"), "{warning}");
    server.stop();

    let help = Command::new(harness::binary()).args(["all", "--help"]).output().expect("rampart all --help");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--tls-self-signed-development") && help.contains("NOT FOR PRODUCTION"), "{help}");
}
