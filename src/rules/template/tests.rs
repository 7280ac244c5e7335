//! Expansion tests: Prometheus's `template_test.go` expectations that apply
//! to alert templates, and alert-shaped templates; expected strings are
//! what Prometheus (Go's `text/template`) renders.

use rampart_storage::Labels;

use super::*;

/// Query results by expression: `missing` is empty, `fail` fails, `1.5` is
/// one unlabelled sample, anything else two samples of `metric`.
struct FakeQuery;

impl TemplateQuery for FakeQuery {
    fn query(&self, expr: &str) -> Result<Vec<(Labels, f64)>, String> {
        Ok(match expr {
            "missing" => vec![],
            "fail" => return Err("query failed".into()),
            "1.5" => vec![(Labels::from_pairs(Vec::<(String, String)>::new()), 1.5)],
            _ => vec![
                (Labels::from_pairs([("__name__", "metric"), ("instance", "b"), ("job", "api")]), 21.0),
                (
                    Labels::from_pairs([("__name__", "metric"), ("instance", "a"), ("job", "api"), ("__value__", "v")]),
                    11.0,
                ),
            ],
        })
    }

    fn now(&self) -> f64 {
        1353755652.0
    }
}

fn run_with(name: &str, text: &str, value: f64) -> Result<String, String> {
    let labels = Labels::from_pairs([("instance", "host:9100"), ("job", "node"), ("severity", "critical")]);
    let external = Labels::from_pairs([("cluster", "eu1")]);
    let data = TemplateData {
        labels: &labels,
        external_labels: &external,
        external_url: "http://testhost:9090/path/prefix",
        value,
    };
    expand(name, text, &data, &FakeQuery)
}

fn run(text: &str) -> Result<String, String> {
    run_with("test", text, 0.5)
}

#[track_caller]
fn ok(text: &str, want: &str) {
    assert_eq!(run(text), Ok(want.to_owned()), "template {text:?}");
}

#[track_caller]
fn ok_value(text: &str, value: f64, want: &str) {
    assert_eq!(run_with("test", text, value), Ok(want.to_owned()), "template {text:?} with $value {value}");
}

#[track_caller]
fn fails(text: &str, want: &str) {
    assert_eq!(run(text), Err(want.to_owned()), "template {text:?}");
}

#[test]
fn alert_templates_expand() {
    let alert = |text: &str, value: f64| run_with("__alert_HighLatency", text, value);
    assert_eq!(alert("{{ $labels.instance }} is down", 0.5), Ok("host:9100 is down".into()));
    assert_eq!(alert("{{ $value | humanize }}", 1234567.0), Ok("1.235M".into()));
    assert_eq!(alert("{{ printf \"%.2f\" $value }}", 0.5), Ok("0.50".into()));
    assert_eq!(alert("{{ $value }}", 0.5), Ok("0.5".into()));
    assert_eq!(alert("{{ $value }}", 1e21), Ok("1e+21".into()));
    assert_eq!(alert("{{ $value }}", 1e6), Ok("1e+06".into()));
    assert_eq!(alert("{{ $value }} {{ humanize $value }}", f64::NAN), Ok("NaN NaN".into()));
    assert_eq!(alert("{{ $value }} {{ humanizeDuration $value }}", f64::NEG_INFINITY), Ok("-Inf -Inf".into()));
    assert_eq!(alert("{{ with query \"up\" }}{{ . | first | value }}{{ end }}", 0.0), Ok("21".into()));
    assert_eq!(
        alert("{{ range query \"x\" }}{{ .Labels.job }}={{ .Value }} {{ end }}", 0.0),
        Ok("api=21 api=11 ".into())
    );
    assert_eq!(alert("{{ $externalLabels.cluster }}", 0.0), Ok("eu1".into()));
    assert_eq!(alert("[{{ $labels.nope }}]", 0.0), Ok("[]".into()));
    assert_eq!(alert("", 0.0), Ok("".into()));
}

#[test]
fn expand_or_error_wraps_errors_as_prometheus() {
    let labels = Labels::from_pairs([("instance", "a")]);
    let none = Labels::from_pairs(Vec::<(String, String)>::new());
    let data = TemplateData { labels: &labels, external_labels: &none, external_url: "", value: 2.0 };
    assert_eq!(expand_or_error("__alert_X", "{{ $labels.instance }}: {{ $value }}", &data, &FakeQuery), "a: 2");
    assert_eq!(
        expand_or_error("__alert_X", "{{ humanize \"a\" }}", &data, &FakeQuery),
        "<error expanding template: error executing template __alert_X: template: __alert_X:1:115: \
         executing \"__alert_X\" at <humanize \"a\">: error calling humanize: strconv.ParseFloat: parsing \"a\": invalid syntax>"
    );
    assert_eq!(
        expand_or_error("__alert_X", "{{ nope }}", &data, &FakeQuery),
        "<error expanding template: error parsing template __alert_X: template: __alert_X:1: function \"nope\" not defined>"
    );
    assert_eq!(
        expand_or_error("__alert_X", "{{ query \"fail\" }}", &data, &FakeQuery),
        "<error expanding template: error executing template __alert_X: template: __alert_X:1:115: \
         executing \"__alert_X\" at <query \"fail\">: error calling query: query failed>"
    );
}

#[test]
fn check_reports_parse_errors_only() {
    assert_eq!(check("__alert_X", "{{ $labels.job }} {{ humanize \"x\" }}"), Ok(()));
    assert_eq!(check("__alert_X", "{{ nope }}"), Err("template: __alert_X:1: function \"nope\" not defined".into()));
    assert_eq!(check("__alert_X", "{{ $labels.job"), Err("template: __alert_X:1: unclosed action".into()));
    assert_eq!(
        check("__alert_X", "{{\u{a0}}}"),
        Err("template: __alert_X:1: unrecognized character in action: U+00A0".into())
    );
    assert_eq!(check("test", "{{ nope }}"), Err("template: test:1: function \"nope\" not defined".into()));
    assert_eq!(check("test", "{{ $x }}"), Err("template: test:1: undefined variable \"$x\"".into()));
    assert_eq!(check("test", "{{ if 1 }}"), Err("template: test:1: unexpected EOF".into()));
    assert_eq!(check("test", "a\n\n{{ end }}"), Err("template: test:3: unexpected {{end}}".into()));
    assert_eq!(
        check("test", "{{ range . }}{{ break }}{{ end }}{{ break }}"),
        Err("template: test:1: {{break}} outside {{range}}".into())
    );
    assert_eq!(check("test", "{{ humanize \"x\" }}"), Ok(()));
    assert_eq!(check("test", "{{ define \"x\" }}{{ end }}{{ define \"x\" }}a{{ end }}"), Ok(()));
    assert_eq!(check("test", "{{ .a.b.c }}"), Ok(()));
    assert_eq!(check("test", "{{ 1 2 }}"), Ok(()));
    assert_eq!(check("test", "{{ `raw\nstr` }}"), Ok(()));
    assert_eq!(check("test", "{{\n.x\n"), Err("template: test:3: unclosed action started at test:1".into()));
    assert_eq!(check("test", "{{ \"a\" | printf \"%s\" 1 }}"), Ok(()));
}

/// Prometheus's own expectations where the Go used to cross-check this
/// file (1.19) predates what Prometheus's Go offers (`range` over an int,
/// `{{else with}}`), or where its functions are Prometheus's own.
#[test]
fn prometheus_specific_expectations() {
    ok("{{ range 3 }}{{ . }}{{ end }}", "012");
    ok("{{ with 0 }}a{{ else with 2 }}b{{ . }}{{ end }}", "b2");
    ok("{{ printf \"%0.2f\" (parseDuration \"1h2m10ms\") }}", "3720.01");
    ok("{{ printf \"%0.2f\" (parseDuration \"-1h2m10ms\") }}", "-3720.01");
    ok("{{ (\"-30m\" | parseDuration | toDuration | (now | toTime).Add).UnixMilli }}", "1353753852000");
    fails(
        "{{ parseDuration \"1x\" }}",
        "error executing template test: template: test:1:115: executing \"test\" at <parseDuration \"1x\">: \
         error calling parseDuration: unknown unit \"x\" in duration \"1x\"",
    );
    fails(
        "{{ (query \"missing\").banana }}",
        "error executing template test: template: test:1:122: executing \"test\" at <\"missing\">: \
         can't evaluate field banana in type template.queryResult",
    );
    fails(
        "{{ \"x\" | first }}",
        "error executing template test: template: test:1:121: executing \"test\" at <first>: \
         wrong type for value; expected template.queryResult; got string",
    );
    ok("{{ title \"aa bb CC\" }}", "Aa Bb CC");
}

/// Go's printing of values, `printf` verbs and flags, `print`/`println`.
#[test]
fn printing_matches_go() {
    ok("plain text", "plain text");
    ok("{{ 1 }}", "1");
    ok("{{ \"<b>\" }}", "<b>");
    ok("{{ $externalLabels.cluster }}", "eu1");
    ok(
        "{{ . }}",
        "{map[instance:host:9100 job:node severity:critical] map[cluster:eu1] http://testhost:9090/path/prefix 0.5}",
    );
    ok("{{ .Labels }}", "map[instance:host:9100 job:node severity:critical]");
    ok("{{ and 1 0 2 }}", "0");
    ok("{{ or 0 \"\" nil }}", "<no value>");
    ok("{{ printf \"%5.1f|%-5d|%05d|%x|%q|%t|%c|%U|%e|%g|%G\" 3.14159 42 42 255 \"q\" true 65 65 1234.5678 0.00001234 1e-10 }}", "  3.1|42   |00042|ff|\"q\"|true|A|U+0041|1.234568e+03|1.234e-05|1E-10");
    ok("{{ printf \"%s\" }}", "%!s(MISSING)");
    ok("{{ printf \"%s %s\" \"a\" }}", "a %!s(MISSING)");
    ok("{{ printf \"%s\" \"a\" \"b\" }}", "a%!(EXTRA string=b)");
    ok("{{ printf \"%[2]s-%[1]s\" \"a\" \"b\" }}", "b-a");
    ok("{{ printf \"%v\" nil }}", "<nil>");
    ok("{{ printf \"%*d|%-*d|%.*f\" 5 42 4 7 2 3.14159 }}", "   42|7   |3.14");
    ok(
        "{{ 1.0 }} {{ 1e3 }} {{ 0x10 }} {{ 'a' }} {{ -5 }} {{ 1_000 }} {{ 0.1 }} {{ 1e100 }}",
        "1 1000 16 97 -5 1000 0.1 1e+100",
    );
    ok("{{ ne 1 2 }} {{ le 2 2 }} {{ ge 1 2 }} {{ lt 1.5 2.5 }}", "true true false true");
    ok("{{ not 0 }} {{ not \"a\" }} {{ not nil }}", "true false true");
    ok("{{ .Labels.job | printf \"%s!\" }}", "node!");
    ok("{{ .Labels | len }}", "3");
    ok("{{ $.Labels.job }}", "node");
    ok("{{ printf \"%.3v|%10.4v|%-8v|\" 3.14159 2.718281828 \"ab\" }}", "3.14|     2.718|ab      |");
    ok("{{ printf \"%x %X % x %#x\" \"hi\" \"hi\" \"hi\" \"hi\" }}", "6869 6869 68 69 0x6869");
    ok("{{ printf \"%q %v %d\" 'x' 'x' 'x' }}", "'x' 120 120");
    ok(
        "{{ 0.000001 }} {{ 123456789.0 }} {{ 100000.0 }} {{ 1000000.0 }} {{ -0.0 }}",
        "1e-06 1.23456789e+08 100000 1e+06 -0",
    );
    ok(
        "{{ printf \"%f %.0f %e %.3e %g %.3g\" 1e21 0.5 0.0 123.456 1e-5 123456.0 }}",
        "1000000000000000000000.000000 0 0.000000e+00 1.235e+02 1e-05 1.23e+05",
    );
    ok("{{ printf \"%-10s|%10s|%.2s\" \"héllo\" \"wörld\" \"日本語\" }}", "héllo     |     wörld|日本");
    ok("{{ println 1 2 \"x\" nil }}", "1 2 x <nil>\n");
    ok("{{ '\\n' }} {{ '\\x41' }} {{ \"\\u00e9\\t\" }} {{ `raw\\n` }}", "10 65 é\t raw\\n");
    ok("{{ printf \"%s-%s\" (print 1) (printf \"%d\" 2) }}", "1-2");
    ok("{{ \"a\" | or \"\" }}", "a");
    ok("{{ eq .Value 0.5 }}", "true");
    ok("{{ eq \"a\" \"b\" \"a\" }}", "true");
    ok("{{ printf \"%d %s\" 1.5 2 }}", "%!d(float64=1.5) %!s(int=2)");
    ok("{{ printf \"%6.2f|%-8.3e|%+.1f|% d\" 3.14159 1234.5 2.0 5 }}", "  3.14|1.234e+03|+2.0| 5");
    ok("{{ 5 | printf \"%d-%d\" 4 }}", "4-5");
}

/// Prometheus's template functions, Go's builtins, control flow and
/// variables.
#[test]
fn functions_and_control_flow_match_prometheus() {
    ok("{{define \"x\"}}{{.arg0}} {{.arg1}}{{end}}{{template \"x\" (args 1 \"2\")}}", "1 2");
    ok("{{ query \"1.5\" | first | value }}", "1.5");
    ok("{{ query \"m\" | first | value }}", "21");
    ok("{{ query \"m\" | first | label \"instance\" }}", "b");
    ok("{{ query \"m\" | first | strvalue }}", "");
    ok("{{ query \"m\" | first | label \"foo\" }}", "");
    ok("{{ $x := query \"metric\" | first }}{{ $x.Labels.foo }}", "");
    ok(
        "{{ range query \"metric\" | sortByLabel \"instance\" }}{{.Labels.instance}}:{{.Value}}: {{end}}",
        "a:11: b:21: ",
    );
    ok("{{ reReplaceAll \"(a)b\" \"x$1\" \"ab\" }}", "xa");
    ok("{{ -0.22222 | humanizePercentage }}:{{ 0.0 | humanizePercentage }}:{{ 0.1234567 | humanizePercentage }}:{{ 1.23456 | humanizePercentage }}", "-22.22%:0%:12.35%:123.5%");
    ok("{{ 1435065584.128 | humanizeTimestamp }}", "2015-06-23 13:19:44.128 +0000 UTC");
    ok("{{ \"1435065584.128\" | humanizeTimestamp }}", "2015-06-23 13:19:44.128 +0000 UTC");
    ok("{{ (1435065584.128 | toTime).Format \"2006\" }}", "2015");
    ok("{{ (\"1435065584.128\" | toTime).Format \"2006\" }}", "2015");
    ok("{{ (1800 | toDuration).String }}", "30m0s");
    ok("{{ (\"1800\" | toDuration).String }}", "30m0s");
    ok("{{ now }}", "1.353755652e+09");
    ok("{{ (now | toTime).Format \"Mon Jan 2 15:04:05 2006\" }}", "Sat Nov 24 11:14:12 2012");
    ok("{{ (\"-30m\" | parseDuration | toDuration | (now | toTime).Add).UnixMilli }}", "1353753852000");
    ok("{{ \"aA bB CC\" | toLower }}", "aa bb cc");
    ok("{{ \"aa bb CC\" | toUpper }}", "AA BB CC");
    ok("{{ match \"a+\" \"aa\" }} {{ match \"a+\" \"b\" }}", "true false");
    ok("{{ graphLink \"up\" }}", "/graph?g0.expr=up&g0.tab=0");
    ok(
        "{{ tableLink \"rate(x{a=\\\"b c\\\"}[5m])\" }}",
        "/graph?g0.expr=rate%28x%7Ba%3D%22b+c%22%7D%5B5m%5D%29&g0.tab=1",
    );
    ok("{{ pathPrefix }}", "/path/prefix");
    ok("{{ externalURL }}", "http://testhost:9090/path/prefix");
    ok("{{ printf \"%0.2f\" (parseDuration \"1h2m10ms\") }}", "3720.01");
    ok("{{ printf \"%0.2f\" (parseDuration \"-1h2m10ms\") }}", "-3720.01");
    ok("{{ $labels.instance }} is down", "host:9100 is down");
    ok("{{ $value | humanize }}", "500m");
    ok("{{ printf \"%.2f\" $value }}", "0.50");
    ok("{{ with query \"up\" }}{{ . | first | value }}{{ end }}", "21");
    ok("{{ range query \"x\" }}{{ .Labels.job }}={{ .Value }} {{ end }}", "api=21 api=11 ");
    ok("{{ $externalURL }}", "http://testhost:9090/path/prefix");
    ok("{{ $labels.nope }}|{{ .Labels.nope }}|{{ index $labels \"nope\" }}", "||");
    ok("{{ $value }}", "0.5");
    ok("{{ printf \"%v|%+v|%s|%d\" . . $labels $labels }}", "{map[instance:host:9100 job:node severity:critical] map[cluster:eu1] http://testhost:9090/path/prefix 0.5}|{Labels:map[instance:host:9100 job:node severity:critical] ExternalLabels:map[cluster:eu1] ExternalURL:http://testhost:9090/path/prefix Value:0.5}|map[instance:host:9100 job:node severity:critical]|map[%!d(string=instance):%!d(string=host:9100) %!d(string=job):%!d(string=node) %!d(string=severity):%!d(string=critical)]");
    ok("{{ if gt $value 0.4 }}high{{ else if gt $value 0.1 }}mid{{ else }}low{{ end }}", "high");
    ok("{{ if eq $labels.severity \"critical\" }}page{{ end }}", "page");
    ok("{{ if and $labels.job (not $labels.nope) }}yes{{ end }}", "yes");
    ok("{{ or $labels.nope \"default\" }}", "default");
    ok("{{ len $labels }} {{ len \"héllo\" }} {{ len (query \"x\") }}", "3 6 2");
    ok("{{ index $labels \"job\" }} {{ index \"abc\" 1 }} {{ (index (query \"x\") 1).Value }}", "node 98 11");
    ok("{{ slice \"abcdef\" 1 3 }} {{ len (slice (query \"x\") 1) }}", "bc 1");
    ok(
        "{{ print 1 2 \"a\" 3 nil }}|{{ println 1 \"a\" }}|{{ print .Labels.nope }}|{{ print (args).x }}",
        "1 2a3 <nil>|1 a\n||<nil>",
    );
    ok(
        "{{ html \"<a href='x'>&\\\"\" }} {{ js \"a'b<=>\" }} {{ urlquery \"a b&c\" }} {{ urlQueryEscape \"a/b c\" }}",
        "&lt;a href=&#39;x&#39;&gt;&amp;&#34; a\\'b\\u003C\\u003D\\u003E a+b%26c a%2Fb+c",
    );
    ok("{{ range $i, $e := query \"x\" }}{{ $i }}:{{ $e.Value }} {{ end }}", "0:21 1:11 ");
    ok("{{ range $k, $v := $labels }}{{ $k }}={{ $v }},{{ end }}", "instance=host:9100,job=node,severity=critical,");
    ok("{{ range query \"missing\" }}x{{ else }}empty{{ end }}", "empty");
    ok("{{ range $i, $s := query \"x\" }}{{ if eq $i 1 }}{{ break }}{{ end }}{{ $s.Value }}{{ end }}", "21");
    ok("{{ range $i, $s := query \"x\" }}{{ if eq $i 0 }}{{ continue }}{{ end }}{{ $s.Value }}{{ end }}", "11");
    ok("{{ with $labels.nope }}x{{ else }}none{{ end }}", "none");
    ok("{{ with $labels.job }}{{ . }}{{ end }}", "node");
    ok("{{ printf \"%s is %.1f%%\" $labels.instance 12.345 }}", "host:9100 is 12.3%");
    ok("{{ printf \"%d items\" (len $labels) }}", "3 items");
    ok("{{ printf \"%d\" $value }}", "%!d(float64=0.5)");
    ok(
        "{{ humanize1024 1048576 }} {{ humanize 0.000123 }} {{ humanize -1234 }} {{ humanize 1e30 }}",
        "1Mi 123u -1.234k 1e+06Y",
    );
    ok(
        "{{ humanizeDuration 90061.5 }} {{ humanizeDuration 0.0000012 }} {{ humanizeDuration -0.5 }}",
        "1d 1h 1m 1s 1.2us -500ms",
    );
    ok("{{ (0 | toTime) }}", "1970-01-01 00:00:00 +0000 UTC");
    ok("{{ 1.5 | toTime }}", "1970-01-01 00:00:01.5 +0000 UTC");
    ok(
        "{{ (1435065584.128 | toTime).Format \"2006-01-02T15:04:05.000Z07:00 Mon January _2 3PM pm .999 002\" }}",
        "2015-06-23T13:19:44.128Z Tue June 23 1PM pm .128 174",
    );
    ok("{{ (1435065584 | toTime).Unix }} {{ (1435065584 | toTime).Year }} {{ (1435065584 | toTime).Month }} {{ (1435065584 | toTime).Weekday }} {{ (1435065584 | toTime).YearDay }}", "1435065584 2015 June Tuesday 174");
    ok("{{ (3723.5 | toDuration) }} {{ (3723.5 | toDuration).Seconds }} {{ (0.0015 | toDuration) }} {{ (90 | toDuration).Minutes }}", "1h2m3.5s 3723.5 1.5ms 1.5");
    ok("{{ title \"aa bb CC\" }}", "Aa Bb CC");
    ok("{{ safeHtml \"<b>\" }}", "<b>");
    ok("{{ stripPort \"foo.example.com:12345\" }} {{ stripDomain \"foo.example.com:12345\" }} {{ stripDomain \"[2001:0DB8::1]:12345\" }} {{ stripPort \"[2001:0DB8::1]::12345\" }}", "foo.example.com foo:12345 [2001:0DB8::1]:12345 [2001:0DB8::1]::12345");
    ok("{{ reReplaceAll \"(?P<host>[^:]+):(\\\\d+)\" \"${host}-$2\" $labels.instance }}", "host-9100");
    ok("x {{ $value := 3 }}{{ $value }}", "x 3");
    ok("{{ $labels := 5 }}{{ $labels }}", "5");
    ok("{{ with query \"x\" }}{{ range . }}{{ .Labels.instance }}{{ end }}{{ end }}", "ba");
    ok("{{ (query \"x\" | first).Labels.job }}", "api");
    ok("{{ query \"x\" | first }}", "{map[__name__:metric instance:b job:api] 21}");
    ok("{{ printf \"%v\" (query \"x\" | first) }}", "&{map[__name__:metric instance:b job:api] 21}");
    ok("{{ args 1 \"a\" }}", "map[arg0:1 arg1:a]");
    ok("{{ index (args 1 \"a\") \"arg1\" }} {{ (args 1).arg5 }}", "a <no value>");
    ok("{{ printf \"%T %T %T %T\" 1 1.5 \"a\" $labels }}", "int float64 string map[string]string");
    ok("{{ range $k, $v := $labels }}{{ $k }}{{ $ }}{{ end }}", "instance{map[instance:host:9100 job:node severity:critical] map[cluster:eu1] http://testhost:9090/path/prefix 0.5}job{map[instance:host:9100 job:node severity:critical] map[cluster:eu1] http://testhost:9090/path/prefix 0.5}severity{map[instance:host:9100 job:node severity:critical] map[cluster:eu1] http://testhost:9090/path/prefix 0.5}");
    ok("{{ range $labels }}{{ . }};{{ end }}", "host:9100;node;critical;");
    ok(
        "{{ range $i, $s := query \"x\" }}{{ $.ExternalURL }}{{ $i }}{{ end }}",
        "http://testhost:9090/path/prefix0http://testhost:9090/path/prefix1",
    );
    ok("{{ and false (humanize \"x\") }}", "false");
    ok("{{ or true (humanize \"x\") }}", "true");
    ok("{{ index $labels \"missing\" }}|", "|");
    ok("{{ eq (query \"x\" | first).Value 21.0 }}", "true");
    ok("{{ eq (query \"x\" | first) (query \"x\" | first) }}", "false");
    ok("{{ printf \"%s\" $value }}", "%!s(float64=0.5)");
    ok("{{ with $x := query \"x\" }}{{ len $x }}{{ end }}", "2");
    ok("{{ if $labels.job }}{{ $labels.job }}{{ end }}", "node");
    ok("{{ $labels.instance | reReplaceAll \":.*\" \"\" }}", "host");
    ok("{{ $labels.instance | stripPort | toUpper }}", "HOST");
    ok("{{ range query \"x\" }}{{ if eq .Labels.instance \"a\" }}{{ .Value | humanize }}{{ end }}{{ end }}", "11");
    ok("{{ (query \"x\" | first).Labels }}", "map[__name__:metric instance:b job:api]");
    ok("{{ first (query \"x\") }}", "{map[__name__:metric instance:b job:api] 21}");
    ok("{{ value (query \"x\" | first) | printf \"%.1f\" }}", "21.0");
    ok("{{ printf \"%v %v\" (1 | toDuration) (0 | toTime) }}", "1s 1970-01-01 00:00:00 +0000 UTC");
    ok("{{ (1435065584.5 | toTime).Add 1000000000 }}", "2015-06-23 13:19:45.5 +0000 UTC");
    ok("{{ (now | toTime).Sub (0 | toTime) }}", "376043h14m12s");
    ok("{{ $value | printf \"%.3f\" }}", "0.500");
    ok("{{ .Value | humanizePercentage }}", "50%");
    ok("{{ $x := 0 }}{{ range query \"x\" }}{{ $x = .Value }}{{ end }}{{ $x }}", "11");
    ok("{{ range query \"x\" }}{{ else }}none{{ end }}|{{ range $labels }}{{ break }}{{ end }}ok", "|ok");
    ok("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}", "2");
    ok("{{ $x := 1 }}{{ with $y := 5 }}{{ $x }}{{ $y }}{{ end }}", "15");
    ok("  a  {{- 1 -}}  b  ", "  a1b  ");
    ok("{{/* comment */}}x{{- /* c2 */ -}} y", "xy");
    ok("{{ define \"a\" }}A{{ . }}{{ end }}{{ template \"a\" 5 }}{{ template \"a\" }}", "A5A<no value>");
    ok("{{ block \"b\" . }}B{{ .ExternalURL }}{{ end }}", "Bhttp://testhost:9090/path/prefix");
    ok("x\n  {{- 1 }}\n  {{ 2 -}}\n  y", "x1\n  2y");
}

/// Parse and execution errors, with Go's positions and wording.
#[test]
fn errors_match_prometheus() {
    fails("{{ }}", "error parsing template test: template: test:1: missing value for command");
    fails("{{ .Foo }}", "error executing template test: template: test:1:115: executing \"test\" at <.Foo>: can't evaluate field Foo in type struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }");
    fails("{{", "error parsing template test: template: test:1: unclosed action");
    fails("{{ query \"missing\" | first }}", "error executing template test: template: test:1:133: executing \"test\" at <first>: error calling first: first() called on vector with no elements");
    fails("{{ humanize \"one\" }}", "error executing template test: template: test:1:115: executing \"test\" at <humanize \"one\">: error calling humanize: strconv.ParseFloat: parsing \"one\": invalid syntax");
    fails("{{ humanize1024 \"one\" }}", "error executing template test: template: test:1:115: executing \"test\" at <humanize1024 \"one\">: error calling humanize1024: strconv.ParseFloat: parsing \"one\": invalid syntax");
    fails("{{ humanizeDuration \"one\" }}", "error executing template test: template: test:1:115: executing \"test\" at <humanizeDuration \"one\">: error calling humanizeDuration: strconv.ParseFloat: parsing \"one\": invalid syntax");
    fails("{{ \"one\" | humanizePercentage }}", "error executing template test: template: test:1:123: executing \"test\" at <humanizePercentage>: error calling humanizePercentage: strconv.ParseFloat: parsing \"one\": invalid syntax");
    fails("{{ query \"fail\" }}", "error executing template test: template: test:1:115: executing \"test\" at <query \"fail\">: error calling query: query failed");
    fails("{{ humanize }}", "error executing template test: template: test:1:115: executing \"test\" at <humanize>: wrong number of args for humanize: want 1 got 0");
    fails("{{ humanize 1 2 }}", "error executing template test: template: test:1:115: executing \"test\" at <humanize>: wrong number of args for humanize: want 1 got 2");
    fails(
        "{{ label 1 (query \"x\" | first) }}",
        "error executing template test: template: test:1:121: executing \"test\" at <1>: expected string; found 1",
    );
    fails("{{ nope }}", "error parsing template test: template: test:1: function \"nope\" not defined");
    fails("{{ $nope }}", "error parsing template test: template: test:1: undefined variable \"$nope\"");
    fails("{{ .Labels.a.b }}", "error executing template test: template: test:1:122: executing \"test\" at <.Labels.a.b>: can't evaluate field b in type string");
    fails("{{ $labels.instance.foo }}", "error executing template test: template: test:1:122: executing \"test\" at <$labels.instance.foo>: can't evaluate field foo in type string");
    fails("{{ index (query \"x\") 5 }}", "error executing template test: template: test:1:115: executing \"test\" at <index (query \"x\") 5>: error calling index: index out of range: 5");
    fails("{{ index $labels 1 }}", "error executing template test: template: test:1:115: executing \"test\" at <index $labels 1>: error calling index: value has type int; should be string");
    fails("{{ \"a\" }}\n{{ humanize \"b\" }}", "error executing template test: template: test:2:3: executing \"test\" at <humanize \"b\">: error calling humanize: strconv.ParseFloat: parsing \"b\": invalid syntax");
    fails("line1\nline2 {{ .Nope }}", "error executing template test: template: test:2:9: executing \"test\" at <.Nope>: can't evaluate field Nope in type struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }");
    fails(
        "{{ printf 1 }}",
        "error executing template test: template: test:1:122: executing \"test\" at <1>: expected string; found 1",
    );
    fails(
        "{{ 99999999999999999999 }}",
        "error parsing template test: template: test:1: integer overflow: \"99999999999999999999\"",
    );
    fails("{{ eq 1 1.0 }}", "error executing template test: template: test:1:115: executing \"test\" at <eq 1 1.0>: error calling eq: incompatible types for comparison");
    fails("{{ lt \"a\" 1 }}", "error executing template test: template: test:1:115: executing \"test\" at <lt \"a\" 1>: error calling lt: incompatible types for comparison");
    fails("{{ eq }}", "error executing template test: template: test:1:115: executing \"test\" at <eq>: wrong number of args for eq: want at least 1 got 0");
    fails("{{ eq 1 }}", "error executing template test: template: test:1:115: executing \"test\" at <eq 1>: error calling eq: missing argument for comparison");
    fails("{{ eq $labels $labels }}", "error executing template test: template: test:1:115: executing \"test\" at <eq $labels $labels>: error calling eq: non-comparable type map[instance:host:9100 job:node severity:critical]: map[string]string");
    fails("{{ humanizeTimestamp 0 }} {{ humanizeTimestamp 1e20 }}", "error executing template test: template: test:1:141: executing \"test\" at <humanizeTimestamp 1e20>: error calling humanizeTimestamp: 1e+20 cannot be represented as a nanoseconds timestamp since it overflows int64");
    fails("{{ toTime \"x\" }}", "error executing template test: template: test:1:115: executing \"test\" at <toTime \"x\">: error calling toTime: strconv.ParseFloat: parsing \"x\": invalid syntax");
    fails("{{ (1435065584 | toTime).Nope }}", "error executing template test: template: test:1:129: executing \"test\" at <toTime>: can't evaluate field Nope in type *time.Time");
    fails("{{ (1800 | toDuration).String 1 }}", "error executing template test: template: test:1:123: executing \"test\" at <toDuration>: wrong number of args for String: want 0 got 1");
    fails("{{ humanize (1800 | toDuration) }}", "error executing template test: template: test:1:115: executing \"test\" at <humanize (1800 | toDuration)>: error calling humanize: can't convert *time.Duration to float");
    fails("{{ safeHtml \"<b>\" | toUpper }}", "error executing template test: template: test:1:132: executing \"test\" at <toUpper>: wrong type for value; expected string; got template.HTML");
    fails("{{ reReplaceAll \"(\" \"x\" \"ab\" }}", "error executing template test: template: test:1:115: executing \"test\" at <reReplaceAll \"(\" \"x\" \"ab\">: error calling reReplaceAll: regexp: Compile(`(`): error parsing regexp: missing closing ): `(`");
    fails("{{ match \"(\" \"x\" }}", "error executing template test: template: test:1:115: executing \"test\" at <match \"(\" \"x\">: error calling match: error parsing regexp: missing closing ): `(`");
    fails("{{ template \"nope\" }}", "error executing template test: template: test:1:124: executing \"test\" at <{{template \"nope\"}}>: template \"nope\" not defined");
    fails("{{ if }}", "error parsing template test: template: test:1: missing value for if");
    fails("{{ else }}", "error parsing template test: template: test:1: unexpected {{else}}");
    fails(
        "{{ range $a, $b, $c := . }}{{ end }}",
        "error parsing template test: template: test:1: too many declarations in range",
    );
    fails("{{ 3 | 4 }}", "error parsing template test: template: test:1: non executable command in pipeline stage 2");
    fails("{{ $x := }}", "error parsing template test: template: test:1: missing value for command");
    fails(
        "{{ if 1 }}x{{ else }}y{{ else }}z{{ end }}",
        "error parsing template test: template: test:1: expected end; found {{else}}",
    );
    fails("{{ \"unterminated }}", "error parsing template test: template: test:1: unterminated quoted string");
    fails("{{ .x | }}", "error executing template test: template: test:1:115: executing \"test\" at <.x>: can't evaluate field x in type struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }");
    fails("{{ ( 1 }}", "error parsing template test: template: test:1: unclosed left paren");
    fails("{{ 1 ) }}", "error parsing template test: template: test:1: unexpected \")\" in command");
    fails("{{ len nil }}", "error executing template test: template: test:1:115: executing \"test\" at <len nil>: error calling len: reflect: call of reflect.Value.Type on zero Value");
    fails("{{ index nil 1 }}", "error executing template test: template: test:1:115: executing \"test\" at <index nil 1>: error calling index: index of untyped nil");
    fails("{{ call 1 }}", "error executing template test: template: test:1:115: executing \"test\" at <call 1>: error calling call: non-function of type int");
    fails(
        "{{ nil }}",
        "error executing template test: template: test:1:115: executing \"test\" at <nil>: nil is not a command",
    );
    fails("{{ .Labels.job 1 }}", "error executing template test: template: test:1:122: executing \"test\" at <.Labels.job>: job is not a method but has arguments");
    fails("{{ $labels.job 1 }}", "error executing template test: template: test:1:122: executing \"test\" at <$labels.job>: job is not a method but has arguments");
    fails("{{ $value.x }}", "error executing template test: template: test:1:121: executing \"test\" at <$value.x>: can't evaluate field x in type float64");
    fails("{{ .ExternalURL 1 }}", "error executing template test: template: test:1:115: executing \"test\" at <.ExternalURL>: ExternalURL has arguments but cannot be invoked as function");
    fails("{{ range \"abc\" }}{{ . }}{{ end }}", "error executing template test: template: test:1:121: executing \"test\" at <\"abc\">: range can't iterate over abc");
    fails("{{ range $value }}{{ end }}", "error executing template test: template: test:1:121: executing \"test\" at <$value>: range can't iterate over 0.5");
    fails("a\nb {{ humanize \"x\" }}\nc", "error executing template test: template: test:2:5: executing \"test\" at <humanize \"x\">: error calling humanize: strconv.ParseFloat: parsing \"x\": invalid syntax");
    fails("{{ define \"a\" }}\n  {{ humanize . }}{{ end }}{{ template \"a\" \"zz\" }}", "error executing template test: template: test:2:5: executing \"a\" at <humanize .>: error calling humanize: strconv.ParseFloat: parsing \"zz\": invalid syntax");
    fails("{{ and 1 (humanize \"x\") }}", "error executing template test: template: test:1:122: executing \"test\" at <humanize \"x\">: error calling humanize: strconv.ParseFloat: parsing \"x\": invalid syntax");
    fails("{{ len 3 }}", "error executing template test: template: test:1:115: executing \"test\" at <len 3>: error calling len: len of type int");
    fails("{{ slice \"abc\" 2 1 }}", "error executing template test: template: test:1:115: executing \"test\" at <slice \"abc\" 2 1>: error calling slice: invalid slice index: 2 > 1");
    fails("{{ slice \"abc\" 1 9 }}", "error executing template test: template: test:1:115: executing \"test\" at <slice \"abc\" 1 9>: error calling slice: index out of range: 9");
    fails("{{ index \"abc\" 3 }}", "error executing template test: template: test:1:115: executing \"test\" at <index \"abc\" 3>: error calling index: reflect: string index out of range");
    fails("{{ lt 1 2.0 }}", "error executing template test: template: test:1:115: executing \"test\" at <lt 1 2.0>: error calling lt: incompatible types for comparison");
    fails("{{ humanize 1 }} {{ humanize \"1e3\" }} {{ humanize \"0x10\" }} {{ humanize \" 1\" }} {{ humanize true }}", "error executing template test: template: test:1:153: executing \"test\" at <humanize \"0x10\">: error calling humanize: strconv.ParseFloat: parsing \"0x10\": invalid syntax");
    fails("{{ .Labels.job.x }}", "error executing template test: template: test:1:122: executing \"test\" at <.Labels.job.x>: can't evaluate field x in type string");
    fails("{{ label \"job\" nil }}", "error executing template test: template: test:1:115: executing \"test\" at <label \"job\" nil>: error calling label: runtime error: invalid memory address or nil pointer dereference");
    fails("{{ humanize nil }}", "error executing template test: template: test:1:115: executing \"test\" at <humanize nil>: error calling humanize: can't convert <nil> to float");
    fails(
        "{{ (1435065584.5 | toTime).Add 1.5 }}",
        "error executing template test: template: test:1:143: executing \"test\" at <1.5>: expected integer; found 1.5",
    );
    fails("{{ toDuration \"x\" }}", "error executing template test: template: test:1:115: executing \"test\" at <toDuration \"x\">: error calling toDuration: strconv.ParseFloat: parsing \"x\": invalid syntax");
    fails("{{ humanizeTimestamp \"1e30\" }}", "error executing template test: template: test:1:115: executing \"test\" at <humanizeTimestamp \"1e30\">: error calling humanizeTimestamp: 1e+30 cannot be represented as a nanoseconds timestamp since it overflows int64");
    fails(
        "{{ template \"x\" }}{{ define \"x\" }}{{ $value }}{{ end }}",
        "error parsing template test: template: test:1: undefined variable \"$value\"",
    );
    fails("{{ define \"x\" }}{{ .nope.y }}{{ end }}{{ template \"x\" $labels }}", "error executing template test: template: test:1:136: executing \"x\" at <.nope.y>: can't evaluate field y in type string");
}

/// `$value` in plain and formatted output across magnitudes.
#[test]
fn values_print_as_prometheus_prints_them() {
    ok_value(
        "{{ $value }}|{{ humanize $value }}|{{ printf \"%.2f %v %g %s\" $value $value $value $value }}",
        0.0,
        "0|0|0.00 0 0 %!s(float64=0)",
    );
    ok_value(
        "{{ $value }}|{{ humanize $value }}|{{ printf \"%.2f %v %g %s\" $value $value $value $value }}",
        1.0,
        "1|1|1.00 1 1 %!s(float64=1)",
    );
    ok_value(
        "{{ $value }}|{{ humanize $value }}|{{ printf \"%.2f %v %g %s\" $value $value $value $value }}",
        1e+21,
        "1e+21|1Z|1000000000000000000000.00 1e+21 1e+21 %!s(float64=1e+21)",
    );
    ok_value(
        "{{ $value }}|{{ humanize $value }}|{{ printf \"%.2f %v %g %s\" $value $value $value $value }}",
        1e+20,
        "1e+20|100E|100000000000000000000.00 1e+20 1e+20 %!s(float64=1e+20)",
    );
    ok_value(
        "{{ $value }}|{{ humanize $value }}|{{ printf \"%.2f %v %g %s\" $value $value $value $value }}",
        123456.789,
        "123456.789|123.5k|123456.79 123456.789 123456.789 %!s(float64=123456.789)",
    );
    ok_value(
        "{{ $value }}|{{ humanize $value }}|{{ printf \"%.2f %v %g %s\" $value $value $value $value }}",
        0.30000000000000004,
        "0.30000000000000004|300m|0.30 0.30000000000000004 0.30000000000000004 %!s(float64=0.30000000000000004)",
    );
    ok_value(
        "{{ $value }}|{{ humanize $value }}|{{ printf \"%.2f %v %g %s\" $value $value $value $value }}",
        -1.5,
        "-1.5|-1.5|-1.50 -1.5 -1.5 %!s(float64=-1.5)",
    );
    ok_value(
        "{{ $value }}|{{ humanize $value }}|{{ printf \"%.2f %v %g %s\" $value $value $value $value }}",
        1e-07,
        "1e-07|100n|0.00 1e-07 1e-07 %!s(float64=1e-07)",
    );
    ok_value(
        "{{ $value }}|{{ humanize $value }}|{{ printf \"%.2f %v %g %s\" $value $value $value $value }}",
        1234567.0,
        "1.234567e+06|1.235M|1234567.00 1.234567e+06 1.234567e+06 %!s(float64=1.234567e+06)",
    );
    ok_value("{{ $value }}|{{ humanize $value }}|{{ printf \"%.2f %v %g %s\" $value $value $value $value }}", 12345678901234.0, "1.2345678901234e+13|12.35T|12345678901234.00 1.2345678901234e+13 1.2345678901234e+13 %!s(float64=1.2345678901234e+13)");
    ok_value("{{ $value }}|{{ humanize $value }}|{{ humanize1024 $value }}|{{ humanizeDuration $value }}|{{ humanizePercentage $value }}|{{ printf \"%.2f %e %g\" $value $value $value }}", 5e-324, "5e-324|4.941e-300y|4.941e-324|4.941e-300ys|4.941e-322%|0.00 4.940656e-324 5e-324");
    ok_value("{{ $value }}|{{ humanize $value }}|{{ humanize1024 $value }}|{{ humanizeDuration $value }}|{{ humanizePercentage $value }}|{{ printf \"%.2f %e %g\" $value $value $value }}", 1.7976931348623157e+308, "1.7976931348623157e+308|1.798e+284Y|1.487e+284Yi|-106751991167300d -15h -30m -8s|+Inf%|179769313486231570814527423731704356798070567525844996598917476803157260780028538760589558632766878171540458953514382464234321326889464182768467546703537516986049910576551282076245490090389328944075868508455133942304583236903222948165808559332123348274797826204144723168738177180919299881250404026184124858368.00 1.797693e+308 1.7976931348623157e+308");
    ok_value("{{ $value }}|{{ humanize $value }}|{{ humanize1024 $value }}|{{ humanizeDuration $value }}|{{ humanizePercentage $value }}|{{ printf \"%.2f %e %g\" $value $value $value }}", 100.0, "100|100|100|1m 40s|1e+04%|100.00 1.000000e+02 100");
    ok_value("{{ $value }}|{{ humanize $value }}|{{ humanize1024 $value }}|{{ humanizeDuration $value }}|{{ humanizePercentage $value }}|{{ printf \"%.2f %e %g\" $value $value $value }}", 0.001, "0.001|1m|0.001|1ms|0.1%|0.00 1.000000e-03 0.001");
}
