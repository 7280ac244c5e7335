//! Crash safety: SIGKILL the real binary at random points while it ingests,
//! flushes and compacts, restart it on the same directory, and prove that
//! every acknowledged sample is present with its exact value and that no
//! sample appears that was never sent.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};

use crate::harness::{self, Server};

/// Head flushes and compactions run constantly, on 2-second partitions that
/// are sealed a second after they end, so kills land in every phase.
/// Timestamps follow the wall clock, as a scraper's do.
const CONFIG: &str = "
storage:
  retention: 0
  partition_duration: 2s
  out_of_order_window: 1s
  head: { flush_interval: 150ms, chunk_samples: 8 }
  compaction: { interval: 100ms, chunk_samples: 64 }
";
const RUNS: usize = 22;
const SERIES: usize = 40;

/// A sample key: (series index, timestamp) → value bits.
type Sent = HashMap<(usize, i64), u64>;

#[test]
fn acknowledged_samples_survive_sigkill() {
    let dir = harness::temp_dir();
    let data = dir.path().join("data");
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let acked: Arc<Mutex<Sent>> = Arc::default();
    let sent: Arc<Mutex<Sent>> = Arc::default();
    let mut next_t = harness::now_ms();
    let mut compactions_seen = 0;
    for run in 0..RUNS {
        let server = Server::start(&data, CONFIG);
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (url_server, stop, acked, sent) = (server.url.clone(), stop.clone(), acked.clone(), sent.clone());
            let seed = rng.gen::<u64>();
            let start_t = next_t;
            std::thread::spawn(move || write_until_stopped(&url_server, start_t, seed, &stop, &acked, &sent))
        };
        std::thread::sleep(Duration::from_millis(rng.gen_range(300..2500)));
        let log = server.log.clone();
        server.kill();
        stop.store(true, Ordering::Relaxed);
        next_t = writer.join().expect("writer thread") + 1;
        let log = log.lock().expect("log");
        assert!(!log.contains("ERROR"), "run {run} logged an error:\n{log}");
        if log.contains("compaction finished") {
            compactions_seen += 1;
        }
        assert!(!acked.lock().expect("acked").is_empty() || run == 0, "no write acknowledged before kill {run}");
    }
    assert!(compactions_seen >= RUNS / 3, "compaction ran in only {compactions_seen} of {RUNS} runs");

    // One more start replays the last WAL and must come up cleanly.
    Server::start(&data, CONFIG).kill();
    let stored: Sent = harness::dump(&data, &[])
        .into_iter()
        .map(|(labels, bits, t)| {
            let idx = labels
                .split("idx=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .and_then(|i| i.parse().ok())
                .unwrap_or_else(|| panic!("unexpected series {labels}"));
            ((idx, t), bits)
        })
        .collect();
    let acked = acked.lock().expect("acked");
    let sent = sent.lock().expect("sent");
    assert!(acked.len() > 1000, "too few acknowledged samples to prove anything: {}", acked.len());
    for (key, bits) in acked.iter() {
        assert_eq!(stored.get(key), Some(bits), "acknowledged sample {key:?} missing or changed");
    }
    for (key, bits) in &stored {
        assert_eq!(sent.get(key), Some(bits), "stored sample {key:?} was never sent");
    }
}

/// Sends batches of one sample per series, with increasing timestamps,
/// until the server dies or `stop` is set; returns the last timestamp used.
fn write_until_stopped(
    url: &str,
    mut t: i64,
    seed: u64,
    stop: &AtomicBool,
    acked: &Mutex<Sent>,
    sent: &Mutex<Sent>,
) -> i64 {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(5)).build().expect("client");
    while !stop.load(Ordering::Relaxed) {
        t = (t + 1).max(harness::now_ms());
        let batch: Vec<(usize, f64)> = (0..SERIES).map(|i| (i, f64::from_bits(rng.gen::<u64>() >> 2))).collect();
        let ts: Vec<_> = batch
            .iter()
            .map(|(i, v)| harness::series(&[("__name__", "crash_test"), ("idx", &i.to_string())], &[(t, *v)]))
            .collect();
        {
            let mut sent = sent.lock().expect("sent");
            for (i, v) in &batch {
                sent.insert((*i, t), v.to_bits());
            }
        }
        let response = client
            .post(format!("{url}/api/v1/write"))
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .body(harness::body(ts))
            .send();
        match response {
            Ok(r) if r.status() == 204 => {
                let mut acked = acked.lock().expect("acked");
                for (i, v) in &batch {
                    acked.insert((*i, t), v.to_bits());
                }
            }
            Ok(r) => panic!("write refused: {} {}", r.status(), r.text().unwrap_or_default()),
            Err(_) => break,
        }
    }
    t
}
