//! The `streamflix` binary as a user runs it: `generate`, `replay`, `demo`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

/// Runs the binary with `args`, without the environment variables that
/// would change its defaults.
fn streamflix(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_streamflix"))
        .args(args)
        .env_remove("STREAMFLIX_WORKERS")
        .env_remove("STREAMFLIX_TIME_ZONE")
        .env_remove("STREAMFLIX_LOG")
        .output()
        .expect("the streamflix binary runs")
}

/// Runs the binary and insists that it succeeds.
fn succeed(args: &[&str]) -> Output {
    let output = streamflix(args);
    assert!(
        output.status.success(),
        "streamflix {} failed with {}:\n{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn path(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// Every file of a directory, by name, except the incident state a
/// replay leaves beside its tables (`incidents.json`, `incidents.jsonl`):
/// it records the sinks by path, so it differs between directories, and
/// the runbooks' own tests check it.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()))
        .filter(|entry| {
            !entry.as_ref().is_ok_and(|entry| {
                entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with("incidents.")
            })
        })
        .map(|entry| {
            let entry = entry.unwrap();
            (
                entry.file_name().to_string_lossy().into_owned(),
                std::fs::read(entry.path()).unwrap(),
            )
        })
        .collect()
}

fn generate(out: &Path, seed: u64, subscribers: u64, days: u32) {
    succeed(&[
        "generate",
        "--out",
        path(out),
        "--seed",
        &seed.to_string(),
        "--subscribers",
        &subscribers.to_string(),
        "--days",
        &days.to_string(),
    ]);
}

const TABLES: [&str; 9] = [
    "engagement_daily",
    "engagement_weekly",
    "growth_daily",
    "growth_daily_by_variant",
    "growth_weekly",
    "profit_subscriber_monthly",
    "profit_monthly",
    "checks",
    "data_quality",
];

#[test]
fn generate_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    generate(&a, 7, 120, 7);
    generate(&b, 7, 120, 7);
    generate(&c, 8, 120, 7);
    let (a, b, c) = (files(&a), files(&b), files(&c));
    assert_eq!(
        a.len(),
        14,
        "one file per feed: {:?}",
        a.keys().collect::<Vec<_>>()
    );
    assert!(a.keys().all(|name| name.ends_with(".jsonl")));
    assert!(a["viewing.jsonl"].len() > 10_000, "too little viewing");
    for (name, bytes) in &a {
        assert!(
            b[name] == *bytes,
            "{name} differs between two runs with the same seed"
        );
    }
    assert_eq!(a.len(), b.len());
    assert!(
        a["viewing.jsonl"] != c["viewing.jsonl"],
        "another seed gives other viewing"
    );
}

#[test]
fn replay_gives_the_same_tables_for_any_worker_count() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    generate(&input, 3, 150, 10);
    let mut outputs = Vec::new();
    for workers in ["1", "3"] {
        let out = dir.path().join(format!("out-{workers}"));
        let output = succeed(&[
            "replay",
            "--input",
            path(&input),
            "--out",
            path(&out),
            "-w",
            workers,
            "--quiet",
        ]);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(stderr.contains("replay finished"), "{stderr}");
        assert!(stderr.contains("dead letters"), "{stderr}");
        outputs.push(files(&out));
    }
    let (one, three) = (&outputs[0], &outputs[1]);
    let mut expected: Vec<String> = TABLES.iter().map(|table| format!("{table}.csv")).collect();
    expected.push("dead_letters.jsonl".into());
    expected.sort();
    assert_eq!(one.keys().cloned().collect::<Vec<_>>(), expected);
    let daily = String::from_utf8_lossy(&one["engagement_daily.csv"]).into_owned();
    assert!(
        daily.lines().count() >= 11,
        "ten days and a header at least:\n{daily}"
    );
    assert!(
        !one["dead_letters.jsonl"].is_empty(),
        "generated data has malformed lines"
    );
    for (name, bytes) in one {
        assert!(
            three[name] == *bytes,
            "{name} differs between -w 1 and -w 3"
        );
    }
}

#[test]
fn demo_prints_the_weekly_table_and_where_the_tables_are() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let output = succeed(&[
        "demo",
        "--dir",
        path(&demo),
        "--subscribers",
        "200",
        "--days",
        "14",
        "--quiet",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let out = demo.join("out");
    assert!(stdout.contains("engagement_weekly"), "{stdout}");
    // The growth snapshot follows the engagement one, as written.
    let growth = stdout
        .split_once("(growth_weekly):")
        .unwrap_or_else(|| panic!("no growth snapshot in:\n{stdout}"))
        .1;
    let growth_csv = std::fs::read_to_string(out.join("growth_weekly.csv")).unwrap();
    let growth_header: Vec<&str> = growth_csv.lines().next().unwrap().split(',').collect();
    let printed_header = growth
        .lines()
        .find(|line| line.trim_start().starts_with("week "))
        .unwrap_or_else(|| panic!("no growth header in:\n{growth}"));
    assert_eq!(
        printed_header.split_whitespace().collect::<Vec<_>>(),
        growth_header
    );
    for line in growth_csv.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        assert!(
            growth
                .lines()
                .any(|printed| printed.split_whitespace().collect::<Vec<_>>() == cells),
            "growth week {line} not printed:\n{growth}"
        );
    }
    assert!(
        stdout.contains(&format!("All tables are in {}", out.display())),
        "{stdout}"
    );
    // The printed table is the written one: its header, then one line per week.
    let header = stdout
        .lines()
        .find(|line| line.trim_start().starts_with("week "))
        .unwrap_or_else(|| panic!("no table header in:\n{stdout}"));
    let printed: Vec<&str> = header.split_whitespace().collect();
    let csv = std::fs::read_to_string(out.join("engagement_weekly.csv")).unwrap();
    let mut lines = csv.lines();
    let columns: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(printed, columns);
    let weeks: Vec<&str> = lines.map(|line| line.split(',').next().unwrap()).collect();
    assert!(
        weeks.len() >= 2,
        "14 days from a Monday span two weeks at least: {weeks:?}"
    );
    for week in weeks {
        let row = stdout
            .lines()
            .find(|line| line.trim_start().starts_with(week))
            .unwrap_or_else(|| panic!("week {week} not printed:\n{stdout}"));
        let wau = csv
            .lines()
            .find(|line| line.starts_with(week))
            .unwrap()
            .split(',')
            .nth(1)
            .unwrap();
        assert_eq!(row.split_whitespace().nth(1), Some(wau), "{row}");
    }
    for table in TABLES {
        assert!(
            out.join(format!("{table}.csv")).is_file(),
            "{table}.csv missing"
        );
    }
    assert!(demo.join("input").join("viewing.jsonl").is_file());
    // The month-to-date profit, on its side: a line per column, a column
    // per month, as written.
    let monthly = std::fs::read_to_string(out.join("profit_monthly.csv")).unwrap();
    let months: Vec<&str> = monthly
        .lines()
        .skip(1)
        .map(|line| line.split(',').next().unwrap())
        .collect();
    assert!(!months.is_empty(), "no profit month:\n{monthly}");
    let month_line = stdout
        .lines()
        .find(|line| line.starts_with("month "))
        .unwrap_or_else(|| panic!("no profit snapshot in:\n{stdout}"));
    assert_eq!(
        month_line.split_whitespace().skip(1).collect::<Vec<_>>(),
        months
    );
    // Every failing check is printed, and nothing else from the checks.
    let checks = std::fs::read_to_string(out.join("checks.csv")).unwrap();
    let failing: Vec<&str> = checks
        .lines()
        .filter(|line| line.contains(",fail,"))
        .collect();
    assert!(
        !failing.is_empty(),
        "generated faults fail some checks:\n{checks}"
    );
    assert!(
        stdout.contains(&format!("Failing checks ({} of", failing.len())),
        "{stdout}"
    );
    for line in failing {
        let fields: Vec<&str> = line.split(',').take(3).collect();
        assert!(
            stdout.lines().any(|printed| printed
                .split_whitespace()
                .take(3)
                .eq(fields.iter().copied())),
            "failing check {line} not printed:\n{stdout}"
        );
    }
}

#[test]
fn an_unknown_time_zone_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = streamflix(&[
        "replay",
        "--input",
        path(dir.path()),
        "--out",
        path(&out),
        "--time-zone",
        "Mars/Olympus_Mons",
    ]);
    assert!(!output.status.success(), "an unknown time zone must fail");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown time zone"), "{stderr}");
    assert!(stderr.contains("Mars/Olympus_Mons"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!out.exists(), "nothing is written");
}

#[test]
fn a_missing_input_directory_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("no-such-dir");
    let output = streamflix(&[
        "replay",
        "--input",
        path(&input),
        "--out",
        path(&dir.path().join("out")),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(path(&input)), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_bad_start_date_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let output = streamflix(&[
        "generate",
        "--out",
        path(dir.path()),
        "--start",
        "2026-13-01",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--start 2026-13-01"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn parquet_and_arrow_formats_write_those_files() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    generate(&input, 5, 60, 7);
    let out = dir.path().join("out");
    succeed(&[
        "replay",
        "--input",
        path(&input),
        "--out",
        path(&out),
        "--format",
        "parquet",
        "--format",
        "arrow",
        "-w",
        "2",
        "--quiet",
    ]);
    let written = files(&out);
    for table in TABLES {
        let parquet = &written[&format!("{table}.parquet")];
        assert!(
            parquet.starts_with(b"PAR1") && parquet.ends_with(b"PAR1"),
            "{table}.parquet is not Parquet"
        );
        let arrow = &written[&format!("{table}.arrow")];
        assert!(
            arrow.starts_with(b"ARROW1") && arrow.ends_with(b"ARROW1"),
            "{table}.arrow is not an Arrow IPC file"
        );
    }
    // Naming formats replaces the default CSV; dead letters are always JSONL.
    assert!(
        written.keys().all(|name| !name.ends_with(".csv")),
        "{:?}",
        written.keys()
    );
    assert!(written.contains_key("dead_letters.jsonl"));
    assert_eq!(written.len(), 2 * TABLES.len() + 1, "{:?}", written.keys());
}

/// Two free local ports for a two-process cluster.
fn free_ports() -> [u16; 2] {
    let listeners = [
        std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
        std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
    ];
    listeners.map(|listener| listener.local_addr().unwrap().port())
}

/// `-n 2`: two processes share the work; no process may write a table
/// that differs from the single-process one (a user may well point both
/// at the same `--out`).
#[test]
fn two_processes_write_no_table_that_differs_from_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    generate(&input, 9, 100, 7);
    let single = dir.path().join("single");
    succeed(&[
        "replay",
        "--input",
        path(&input),
        "--out",
        path(&single),
        "-w",
        "2",
        "--quiet",
    ]);
    let expected = files(&single);

    let hostfile = dir.path().join("hosts");
    let [a, b] = free_ports();
    std::fs::write(&hostfile, format!("127.0.0.1:{a}\n127.0.0.1:{b}\n")).unwrap();
    let processes: Vec<_> = ["0", "1"]
        .into_iter()
        .map(|process| {
            let out = dir.path().join(format!("out-{process}"));
            let child = Command::new(env!("CARGO_BIN_EXE_streamflix"))
                .args([
                    "replay",
                    "--input",
                    path(&input),
                    "--out",
                    path(&out),
                    "-w",
                    "1",
                    "-n",
                    "2",
                ])
                .args(["-p", process, "--hostfile", path(&hostfile), "--quiet"])
                .env_remove("STREAMFLIX_WORKERS")
                .env_remove("STREAMFLIX_TIME_ZONE")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("the streamflix binary starts");
            (out, child)
        })
        .collect();
    for (index, (out, child)) in processes.into_iter().enumerate() {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let written = if out.exists() {
            files(&out)
        } else {
            BTreeMap::new()
        };
        if index == 0 {
            // Process 0 holds worker 0, where all outputs gather.
            let names: Vec<&String> = written.keys().collect();
            assert_eq!(
                names,
                expected.keys().collect::<Vec<_>>(),
                "files written by process 0"
            );
        }
        for (name, bytes) in written {
            assert!(
                expected[&name] == bytes,
                "{name} written by process {index} differs from the single-process table:\n{}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }
}

/// The demo with the FX feed stopped: the incident log and `status` show
/// a Sev-1 stalled-feed incident for aggregate profit, held by its
/// primary (A); `incident ack` records the acknowledgement.
#[test]
fn a_demo_with_fx_stopped_opens_a_sev1_for_aggregate_profit_and_status_shows_who_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let output = succeed(&[
        "demo",
        "--dir",
        path(&demo),
        "--subscribers",
        "100",
        "--days",
        "14",
        "--fault",
        "fx-stopped",
        "--quiet",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(stderr.contains("fx_rates stops at 2026-10-12"), "{stderr}");
    let out = demo.join("out");
    let log = std::fs::read_to_string(out.join("incidents.jsonl")).unwrap();
    let stalled: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|record| {
            record["dedup_key"]
                .as_str()
                .unwrap()
                .contains("stalled:fx_rates")
        })
        .collect();
    assert_eq!(stalled.len(), 1, "{log}");
    assert_eq!(stalled[0]["pipeline"], "aggregate_profit");
    assert_eq!(stalled[0]["severity"], 1);
    assert_eq!(stalled[0]["paged"], "A");
    let id = stalled[0]["id"].as_u64().unwrap().to_string();

    let status = succeed(&["status", "--state", path(&out)]);
    let screen = String::from_utf8_lossy(&status.stdout).into_owned();
    let profit = screen
        .split("== aggregate_profit")
        .nth(1)
        .and_then(|rest| rest.split("\n== ").next())
        .unwrap_or_else(|| panic!("no aggregate_profit section:\n{screen}"));
    assert!(
        profit.contains(&format!("incident #{id} Sev-1 Open")),
        "{profit}"
    );
    assert!(profit.contains("held by Engineer A (A)"), "{profit}");
    assert!(profit.contains("fx_rates stalled"), "{profit}");
    assert!(screen.contains("the data's clock"), "{screen}");

    succeed(&["incident", "ack", &id, "--by", "A", "--state", path(&out)]);
    let status = succeed(&["status", "--state", path(&out), "--json"]);
    let view: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let incident = view["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "aggregate_profit")
        .unwrap()["open_incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"].as_u64() == id.parse::<u64>().ok())
        .cloned()
        .unwrap();
    assert_eq!(incident["state"], "acknowledged");
    assert_eq!(incident["holder"], "A");
    let missing = streamflix(&["incident", "resolve", "9999", "--state", path(&out)]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no incident 9999"));
}

/// The same demo without the fault: FX rates do not stall, and viewing
/// (dense, the engagement pipeline's only completeness feed) keeps
/// engagement on time. (Sparse feeds of so small a demo may look stalled
/// at the end of the data; that is not what this test is about.)
#[test]
fn a_demo_without_the_fault_has_no_fx_stall_and_engagement_is_on_time() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    succeed(&[
        "demo",
        "--dir",
        path(&demo),
        "--subscribers",
        "100",
        "--days",
        "14",
        "--quiet",
    ]);
    let log = std::fs::read_to_string(demo.join("out/incidents.jsonl")).unwrap_or_default();
    assert!(!log.contains("stalled:fx_rates"), "{log}");
    assert!(!log.contains("aggregate_engagement/late/"), "{log}");
    assert!(!log.contains("stalled:viewing"), "{log}");
}

/// A broken runbook file stops the demo with the reason.
#[test]
fn a_runbook_naming_an_unknown_feed_is_refused_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pipelines.toml");
    let shipped = include_str!("../config/pipelines.toml");
    std::fs::write(
        &file,
        shipped.replace("\"fx_rates\", \"finance_gl\"", "\"fx\", \"finance_gl\""),
    )
    .unwrap();
    let output = streamflix(&[
        "demo",
        "--dir",
        path(&dir.path().join("demo")),
        "--pipelines",
        path(&file),
        "--quiet",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("aggregate_profit") && stderr.contains("\"fx\""),
        "{stderr}"
    );
}

/// The README's path: `demo --serve` prints URLs and tokens, a table
/// answers curl with the printed token (and 401 without), Ctrl-C stops it.
#[test]
fn demo_serve_answers_the_printed_curl_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let mut served = Served::start(&[
        "demo",
        "--dir",
        path(&demo),
        "--subscribers",
        "200",
        "--days",
        "14",
    ]);
    let curl = served
        .printed
        .iter()
        .find(|line| line.contains("curl") && line.contains("growth_weekly"))
        .unwrap_or_else(|| panic!("no curl line in:\n{}", served.printed.join("\n")));
    let token = curl
        .split("Bearer ")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a token")
        .to_string();
    let url = curl.rsplit('\'').nth(1).expect("a url").to_string();
    assert!(url.starts_with(&served.url), "{url}");
    let reply = http("GET", &url, &token);
    assert_eq!(reply.status, 200);
    assert!(reply.body.starts_with("week,"), "{}", reply.body);
    assert!(reply.body.lines().count() > 1, "{}", reply.body);
    assert_eq!(http("GET", &url, "").status, 401);
    assert!(
        served.interrupt(),
        "the demo did not stop cleanly on Ctrl-C"
    );
}

/// A `demo --serve` running in the background; interrupted (and waited
/// for) when dropped, so a failing test leaves no server behind.
struct Served {
    child: std::process::Child,
    /// What it printed up to "Serving until Ctrl-C".
    printed: Vec<String>,
    url: String,
}

impl Served {
    fn start(args: &[&str]) -> Served {
        use std::io::{BufRead, BufReader};
        use std::process::Stdio;

        let mut child = Command::new(env!("CARGO_BIN_EXE_streamflix"))
            .args(args)
            .args(["--serve", "--bind", "127.0.0.1:0", "--quiet"])
            .env_remove("STREAMFLIX_WORKERS")
            .env_remove("STREAMFLIX_TIME_ZONE")
            .env_remove("STREAMFLIX_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the streamflix binary starts");
        let mut printed = Vec::new();
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            let line = line.unwrap();
            let done = line.contains("Serving until Ctrl-C");
            printed.push(line);
            if done {
                break;
            }
        }
        let url = printed
            .iter()
            .find_map(|line| line.strip_prefix("Query API and dashboards on "))
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or_else(|| panic!("no URL in:\n{}", printed.join("\n")))
            .to_string();
        Served {
            child,
            printed,
            url,
        }
    }

    /// Interrupts the server as Ctrl-C does; true if it then exited cleanly.
    fn interrupt(&mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        self.child.wait().is_ok_and(|status| status.success())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.interrupt();
        }
    }
}

/// An HTTP reply: status and body.
struct Reply {
    status: u16,
    body: String,
}

impl Reply {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.body))
    }
}

/// `method` `url` with `token` as the bearer token ("" for no header).
fn http(method: &str, url: &str, token: &str) -> Reply {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let bearer = format!("Bearer {token}");
    let sent = if method == "POST" {
        let mut request = agent.post(url);
        if !token.is_empty() {
            request = request.header("Authorization", &bearer);
        }
        request.send_empty()
    } else {
        let mut request = agent.get(url);
        if !token.is_empty() {
            request = request.header("Authorization", &bearer);
        }
        request.call()
    };
    let mut response = sent.unwrap_or_else(|error| panic!("{method} {url}: {error}"));
    Reply {
        status: response.status().as_u16(),
        body: response.body_mut().read_to_string().unwrap(),
    }
}

/// The `streamflix_incidents_open{severity="Sev-1"}` gauge of `/metrics`.
fn open_sev1(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("streamflix_incidents_open{severity=\"Sev-1\"} "))
        .unwrap_or_else(|| panic!("no Sev-1 gauge in:\n{metrics}"))
        .parse()
        .unwrap()
}

/// The API serves the runbooks' incidents, not a list of its own: with the
/// FX feed stopped, `GET /v1/incidents` lists the Sev-1 "fx_rates stalled"
/// incident `status` shows, `/metrics` counts it, `/v1/pipelines` is
/// `status --json`; an investor may not acknowledge it (403), an operator
/// may, as the token's name, and `status` then shows it acknowledged and
/// held by that name; resolving it takes it out of the open incidents.
#[test]
fn demo_serve_with_fx_stopped_serves_the_runbooks_incidents_and_an_operator_acknowledges_one() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let out = demo.join("out");
    let config = dir.path().join("api.toml");
    let (investor, operator) = ("investor-token-0123456789", "operator-token-0123456789");
    std::fs::write(
        &config,
        format!(
            "[[api.tokens]]\nname = \"dashboards\"\nrole = \"investor\"\ntoken = \"{investor}\"\n\n\
             [[api.tokens]]\nname = \"oncall-A\"\nrole = \"operator\"\ntoken = \"{operator}\"\n"
        ),
    )
    .unwrap();
    let mut served = Served::start(&[
        "demo",
        "--dir",
        path(&demo),
        "--subscribers",
        "100",
        "--days",
        "14",
        "--fault",
        "fx-stopped",
        "--config",
        path(&config),
    ]);
    let url = served.url.clone();

    let listed = http("GET", &format!("{url}/v1/incidents"), operator);
    assert_eq!(listed.status, 200, "{}", listed.body);
    let incidents = listed.json()["incidents"].as_array().unwrap().clone();
    let stalled: Vec<&serde_json::Value> = incidents
        .iter()
        .filter(|i| {
            i["dedup_key"]
                .as_str()
                .unwrap()
                .contains("stalled:fx_rates")
        })
        .collect();
    assert_eq!(stalled.len(), 1, "{incidents:#?}");
    let incident = stalled[0];
    assert_eq!(incident["pipeline"], "aggregate_profit");
    assert_eq!(incident["severity"], "Sev-1");
    assert_eq!(incident["state"], "open");
    assert_eq!(incident["holder"], "A");
    let id = incident["id"].as_u64().unwrap();
    // The same incidents as the log the demo wrote.
    let log = std::fs::read_to_string(out.join("incidents.jsonl")).unwrap();
    assert!(
        log.lines().any(|line| {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            record["id"].as_u64() == Some(id) && record["dedup_key"] == incident["dedup_key"]
        }),
        "incident {id} is not in the log:\n{log}"
    );

    let open_sev1_listed = incidents
        .iter()
        .filter(|i| i["severity"] == "Sev-1" && i["state"] != "resolved")
        .count() as u64;
    let metrics = http("GET", &format!("{url}/metrics"), operator);
    assert_eq!(metrics.status, 200);
    assert_eq!(open_sev1(&metrics.body), open_sev1_listed);
    assert!(open_sev1_listed >= 1);

    // /v1/pipelines is `status --json` (the demo's state is on the data's
    // clock, so both are taken at the same instant).
    let pipelines = http("GET", &format!("{url}/v1/pipelines"), operator).json();
    let status = succeed(&["status", "--state", path(&out), "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(pipelines["pipelines"], status["pipelines"]);
    assert_eq!(pipelines["now"], status["now"]);
    assert!(
        pipelines["dataflow"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
    );

    // Only operators act on incidents.
    let ack = format!("{url}/v1/incidents/{id}/acknowledge");
    for token in [investor, "not-a-token-at-all-0000"] {
        let refused = http("POST", &ack, token);
        assert!([401, 403].contains(&refused.status), "{}", refused.body);
    }
    assert_eq!(http("POST", &ack, investor).status, 403);
    assert_eq!(
        http("GET", &format!("{url}/v1/incidents"), investor).status,
        403
    );
    let still = succeed(&["status", "--state", path(&out), "--json"]);
    assert!(
        !String::from_utf8_lossy(&still.stdout).contains("\"acknowledged\""),
        "a refused request changed the state"
    );

    let acked = http("POST", &ack, operator);
    assert_eq!(acked.status, 200, "{}", acked.body);
    let acked = acked.json();
    assert_eq!(acked["state"], "acknowledged");
    assert_eq!(acked["acknowledged_by"], "oncall-A");
    let status = succeed(&["status", "--state", path(&out), "--json"]);
    let view: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let line = view["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "aggregate_profit")
        .unwrap()["open_incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"].as_u64() == Some(id))
        .cloned()
        .unwrap_or_else(|| panic!("incident {id} not open in:\n{view:#}"));
    assert_eq!(line["state"], "acknowledged");
    assert_eq!(line["holder"], "oncall-A");
    let text = succeed(&["status", "--state", path(&out)]);
    assert!(
        String::from_utf8_lossy(&text.stdout)
            .contains(&format!("incident #{id} Sev-1 Acknowledged")),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
    // Acknowledged is still open for the gauge.
    let metrics = http("GET", &format!("{url}/metrics"), operator);
    assert_eq!(open_sev1(&metrics.body), open_sev1_listed);

    let missing = http(
        "POST",
        &format!("{url}/v1/incidents/99999/acknowledge"),
        operator,
    );
    assert_eq!(missing.status, 404, "{}", missing.body);
    let resolved = http(
        "POST",
        &format!("{url}/v1/incidents/{id}/resolve"),
        operator,
    );
    assert_eq!(resolved.status, 200, "{}", resolved.body);
    assert_eq!(resolved.json()["resolved_by"], "oncall-A");
    let metrics = http("GET", &format!("{url}/metrics"), operator);
    assert_eq!(open_sev1(&metrics.body), open_sev1_listed - 1);
    let status = succeed(&["status", "--state", path(&out), "--json"]);
    let view: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(
        view["pipelines"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["open_incidents"].as_array().unwrap())
            .all(|i| i["id"].as_u64() != Some(id)),
        "incident {id} still open"
    );
    assert!(
        served.interrupt(),
        "the demo did not stop cleanly on Ctrl-C"
    );
}

#[test]
fn replay_of_input_without_event_time_assesses_nothing_and_opens_no_incident() {
    let dir = tempfile::tempdir().unwrap();
    let (input, out) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::create_dir_all(&input).unwrap();
    // Every line is unusable: no event time anywhere.
    std::fs::write(
        input.join("viewing.jsonl"),
        "not json\n{\"event_id\":\"e1\"}\n{\"event_time\":\"2026-13-45T10:00:00Z\"}\n",
    )
    .unwrap();
    std::fs::write(input.join("subscriptions.jsonl"), "{}\n").unwrap();
    let replay = || {
        let output = succeed(&[
            "replay",
            "--input",
            path(&input),
            "--out",
            path(&out),
            "--quiet",
        ]);
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let stderr = replay();
    assert!(
        stderr.contains("no event time in the input: runbooks not assessed"),
        "{stderr}"
    );
    assert!(!stderr.contains("1969"), "{stderr}");
    let letters = std::fs::read_to_string(out.join("dead_letters.jsonl")).unwrap();
    assert_eq!(letters.lines().count(), 4, "{letters}");
    assert!(!out.join("incidents.json").exists());
    assert!(!out.join("incidents.jsonl").exists());

    // A feed that is merely empty beside valid viewing is still judged.
    std::fs::write(
        input.join("viewing.jsonl"),
        "{\"event_id\":\"e1\",\"event_time\":\"2026-10-05T14:00:00Z\",\"subscriber_id\":\"s1\",\"device_id\":\"d1\",\"content_id\":\"c1\",\"watch_seconds\":60,\"position_seconds\":60,\"duration_seconds\":600}\n",
    )
    .unwrap();
    std::fs::write(input.join("subscriptions.jsonl"), "").unwrap();
    let stderr = replay();
    assert!(
        stderr.contains("runbooks at the end of the data"),
        "{stderr}"
    );
    assert!(stderr.contains("2026-10-05"), "{stderr}");
    assert!(out.join("incidents.json").exists());
}
