//! Remote-write ingest over real HTTP: every class of bad input gets its
//! precise status and message, the valid part of a request is kept, and a
//! following good request still succeeds.

use rampart::proto::prometheus as pb;

use crate::harness::{self, Server};

const CONFIG: &str = "ingest:\n  max_body_bytes: 64KiB\n";

struct Case {
    name: &'static str,
    body: Vec<u8>,
    headers: &'static [(&'static str, &'static str)],
    status: u16,
    /// Substrings the response body must contain.
    message: &'static [&'static str],
}

fn good(metric: &str, t: i64, v: f64) -> pb::TimeSeries {
    harness::series(&[("__name__", metric), ("job", "test")], &[(t, v)])
}

#[test]
fn bad_input_gets_precise_errors_and_valid_parts_are_kept() {
    let dir = harness::temp_dir();
    let data = dir.path().join("data");
    let server = Server::start(&data, CONFIG);
    let now = harness::now_ms();
    let stale = f64::from_bits(rampart_storage::STALE_NAN_BITS);

    // Establish stored samples the conflict cases refer to.
    let (status, text) =
        server.post("/api/v1/write", harness::body(vec![good("base", now, 1.0), good("stale", now, stale)]), &[]);
    assert_eq!(status, 204, "{text}");

    let histogram = pb::TimeSeries {
        labels: vec![pb::Label { name: "__name__".into(), value: "h".into() }],
        histograms: vec![pb::Histogram { timestamp: now, ..Default::default() }],
        ..Default::default()
    };
    let big_value = "x".repeat(100_000);
    let cases = vec![
        Case {
            name: "corrupt snappy",
            body: b"\xff\xff\xff\xff not snappy".to_vec(),
            headers: &[],
            status: 400,
            message: &["snappy"],
        },
        Case {
            name: "not protobuf",
            body: snap::raw::Encoder::new().compress_vec(b"\xff\xff\xff\xff\xff").expect("snappy"),
            headers: &[],
            status: 400,
            message: &["protobuf"],
        },
        Case { name: "body too large", body: vec![0u8; 70 * 1024], headers: &[], status: 413, message: &["65536"] },
        Case {
            name: "invalid label name, valid series kept",
            body: harness::body(vec![
                harness::series(&[("__name__", "m"), ("bad-name", "x")], &[(now, 1.0)]),
                good("kept_a", now, 2.0),
            ]),
            headers: &[],
            status: 400,
            message: &["accepted 1", "invalid label name \"bad-name\""],
        },
        Case {
            name: "duplicate label name",
            body: harness::body(vec![harness::series(&[("__name__", "m"), ("a", "1"), ("a", "2")], &[(now, 1.0)])]),
            headers: &[],
            status: 400,
            message: &["duplicate label name \"a\""],
        },
        Case {
            name: "unsorted labels",
            body: harness::body(vec![harness::series(&[("__name__", "m"), ("b", "1"), ("a", "2")], &[(now, 1.0)])]),
            headers: &[],
            status: 400,
            message: &["not sorted"],
        },
        Case {
            name: "missing metric name",
            body: harness::body(vec![harness::series(&[("job", "x")], &[(now, 1.0)])]),
            headers: &[],
            status: 400,
            message: &["metric name"],
        },
        Case {
            name: "invalid metric name",
            body: harness::body(vec![harness::series(&[("__name__", "0bad")], &[(now, 1.0)])]),
            headers: &[],
            status: 400,
            message: &["invalid metric name \"0bad\""],
        },
        Case {
            name: "label value too long",
            body: harness::body(vec![harness::series(&[("__name__", "m"), ("v", &big_value[..3000])], &[(now, 1.0)])]),
            headers: &[],
            status: 400,
            message: &["too long"],
        },
        Case {
            name: "sample too far in the future",
            body: harness::body(vec![good("future", now + 3_600_000, 1.0)]),
            headers: &[],
            status: 400,
            message: &["too far in the future"],
        },
        Case {
            name: "native histogram",
            body: harness::body(vec![histogram]),
            headers: &[],
            status: 400,
            message: &["native histograms are not supported"],
        },
        Case {
            name: "invalid tenant",
            body: harness::body(vec![good("t", now, 1.0)]),
            headers: &[("X-Scope-OrgID", "../etc")],
            status: 400,
            message: &["tenant"],
        },
        Case {
            name: "different value at a stored timestamp",
            body: harness::body(vec![good("base", now, 5.0)]),
            headers: &[],
            status: 400,
            message: &["duplicate sample for timestamp"],
        },
        Case {
            name: "older than the out-of-order window",
            body: harness::body(vec![good("base", now - 3_600_000, 5.0)]),
            headers: &[],
            status: 400,
            message: &["out of order sample"],
        },
        Case {
            name: "identical re-send",
            body: harness::body(vec![good("base", now, 1.0), good("stale", now, stale)]),
            headers: &[],
            status: 204,
            message: &[],
        },
        Case {
            name: "good request after bad ones",
            body: harness::body(vec![good("kept_b", now, 3.0)]),
            headers: &[],
            status: 204,
            message: &[],
        },
        Case {
            name: "other tenant",
            body: harness::body(vec![good("base", now, 9.0)]),
            headers: &[("X-Scope-OrgID", "team-b")],
            status: 204,
            message: &[],
        },
    ];
    // Each case goes to all three paths; re-sends of the valid parts are
    // identical and therefore no-ops.
    for case in cases {
        for path in ["/api/v1/write", "/api/v1/push", "/api/v1/receive"] {
            let (status, text) = server.post(path, case.body.clone(), case.headers);
            assert_eq!(status, case.status, "{}: {path}: {text}", case.name);
            for m in case.message {
                assert!(text.contains(m), "{}: {path}: {text:?} lacks {m:?}", case.name);
            }
        }
    }
    server.stop();

    let default = harness::dump(&data, &[]);
    let names: Vec<&str> = default.iter().map(|(l, _, _)| l.as_str()).collect();
    assert_eq!(
        names,
        vec![
            r#"{__name__="base", job="test"}"#,
            r#"{__name__="kept_a", job="test"}"#,
            r#"{__name__="kept_b", job="test"}"#,
            r#"{__name__="stale", job="test"}"#,
        ]
    );
    assert_eq!(default[0].1, 1.0f64.to_bits(), "first write wins");
    let team_b = harness::dump(&data, &["--tenant", "team-b"]);
    assert_eq!(team_b.len(), 1);
    assert_eq!(team_b[0].1, 9.0f64.to_bits(), "tenants are separate namespaces");
}
