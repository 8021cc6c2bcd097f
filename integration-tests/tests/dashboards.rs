//! The dashboards in a real browser: headless Chromium (Debian's
//! `chromium` package, installed with apt-get when missing) loads each
//! page from the server over a replayed demo, and the numbers its charts
//! drew must be the numbers the API serves. Screenshots are kept in
//! `$CARGO_TARGET_TMPDIR/dashboards/` (`target/tmp/dashboards/`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use serde_json::Value;
use streamflix_api::{ApiConfig, ApiServer, Providers, Role, Shared, TokenConfig};
use streamflix_engine::replay::{ReplayOptions, replay};
use streamflix_generator::{GeneratorConfig, generate};
use streamflix_model::{Calendar, Day};

const INVESTOR: &str = "browser-investor-0123456789";
const EXPERIMENT: &str = "browser-experiment-0123456789";

/// The Chromium binary, installed with apt-get if there is none. Never
/// skips: a machine where it cannot be installed fails here, saying why.
fn chromium() -> PathBuf {
    let find = || {
        ["chromium", "chromium-browser", "google-chrome"]
            .iter()
            .find_map(|name| {
                let output = Command::new("sh")
                    .arg("-c")
                    .arg(format!("command -v {name}"))
                    .output()
                    .ok()?;
                let path = String::from_utf8(output.stdout).ok()?.trim().to_string();
                (!path.is_empty()).then(|| PathBuf::from(path))
            })
    };
    if let Some(path) = find() {
        return path;
    }
    eprintln!("chromium not found: installing Debian's chromium package with apt-get");
    let installed = Command::new("sh")
        .arg("-c")
        .arg("apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium")
        .status();
    match (installed, find()) {
        (Ok(status), Some(path)) if status.success() => path,
        (status, _) => panic!(
            "the dashboard test needs headless Chromium and could not install it \
             ({status:?}); install it by hand: apt-get install -y chromium (as root)"
        ),
    }
}

/// Runs Chromium headless on `url`; `what` is `--dump-dom` or `--screenshot=...`.
fn browse(chromium: &Path, profile: &Path, what: &str, url: &str) -> String {
    let output = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--no-first-run",
            "--window-size=1400,1100",
            "--virtual-time-budget=15000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(what)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        output.status.success(),
        "chromium failed on {url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("the DOM is UTF-8")
}

/// What the page's charts drew, as the page recorded it.
fn rendered(dom: &str) -> Value {
    assert!(
        dom.contains("data-ready=\"yes\""),
        "the page did not finish rendering: {dom}"
    );
    let start = dom
        .find("<pre id=\"rendered\" hidden=\"\">")
        .expect("a rendered block")
        + "<pre id=\"rendered\" hidden=\"\">".len();
    let end = start + dom[start..].find("</pre>").expect("its end");
    let text = dom[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    serde_json::from_str(&text).expect("the rendered block is JSON")
}

fn api(agent: &ureq::Agent, url: &str, token: &str) -> Value {
    let mut response = agent
        .get(url)
        .header("Authorization", format!("Bearer {token}"))
        .call()
        .expect("the API answers");
    serde_json::from_slice(&response.body_mut().read_to_vec().expect("a body")).expect("JSON")
}

fn dataset<'a>(chart: &'a Value, label: &str) -> &'a Value {
    chart["datasets"]
        .as_array()
        .expect("datasets")
        .iter()
        .find(|d| d["label"] == label)
        .map(|d| &d["data"])
        .unwrap_or_else(|| panic!("no dataset {label} in {chart}"))
}

fn column(rows: &Value, name: &str) -> Value {
    Value::Array(
        rows.as_array()
            .expect("rows")
            .iter()
            .map(|row| row[name].clone())
            .collect(),
    )
}

fn labels(rows: &Value, period: &str) -> Value {
    Value::Array(
        rows.as_array()
            .expect("rows")
            .iter()
            .map(|row| {
                let mark = if row["provisional"] == true { " *" } else { "" };
                Value::String(format!("{}{mark}", row[period].as_str().expect("a period")))
            })
            .collect(),
    )
}

#[test]
fn dashboards_render_the_numbers_the_api_serves() {
    let chromium = chromium();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (input, out) = (dir.path().join("input"), dir.path().join("out"));
    let config = GeneratorConfig {
        subscribers: 300,
        days: 21,
        ..GeneratorConfig::default()
    };
    generate(&config, &input).expect("the generator runs");
    let summary = replay(&ReplayOptions::new(&input, &out)).expect("the replay runs");
    let shared = Shared::new();
    let first = Day::parse(&config.start.to_string()).expect("a day");
    let published = streamflix_engine::demo::publish_replayed(
        &summary,
        &Calendar::central(),
        first.plus(20),
        shared.clone(),
    );
    assert!(published > 0, "some snapshots are published");
    let token = |name: &str, role, token: &str| TokenConfig {
        name: name.into(),
        role,
        token: token.into(),
    };
    let api_config = ApiConfig {
        enabled: true,
        bind: "127.0.0.1:0".parse().expect("an address"),
        tokens: vec![
            token("browser-investor", Role::Investor, INVESTOR),
            token("browser-experiment", Role::Experiment, EXPERIMENT),
        ],
    };
    let server = ApiServer::start(&api_config, shared.clone(), Providers::defaults(&shared))
        .expect("the server starts");
    let url = server.url();
    let agent = ureq::Agent::new_with_defaults();
    let artifacts = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboards");
    std::fs::create_dir_all(&artifacts).expect("the artifact directory");
    let profile = dir.path().join("chromium-profile");

    // Investor: the charts hold the weekly tables' numbers, provisional
    // weeks marked.
    let page = format!("{url}/dashboards/investor#token={INVESTOR}");
    let drawn = rendered(&browse(&chromium, &profile, "--dump-dom", &page));
    assert_eq!(drawn["error"], Value::Null, "{drawn}");
    let engagement = api(
        &agent,
        &format!("{url}/v1/tables/engagement_weekly"),
        INVESTOR,
    );
    let chart = &drawn["charts"]["engagement"];
    assert_eq!(chart["drawn"], true);
    assert!(engagement["rows"].as_array().unwrap().len() >= 3);
    assert_eq!(chart["labels"], labels(&engagement["rows"], "week"));
    assert_eq!(dataset(chart, "wau"), &column(&engagement["rows"], "wau"));
    assert_eq!(dataset(chart, "mau"), &column(&engagement["rows"], "mau"));
    let growth = api(&agent, &format!("{url}/v1/tables/growth_weekly"), INVESTOR);
    let chart = &drawn["charts"]["growth"];
    assert_eq!(chart["labels"], labels(&growth["rows"], "week"));
    assert_eq!(
        dataset(chart, "net_growth"),
        &column(&growth["rows"], "net_growth")
    );
    // Monthly profit: money is an exact decimal string in the API, a
    // number on the chart.
    let profit = api(&agent, &format!("{url}/v1/tables/profit_monthly"), INVESTOR);
    let chart = &drawn["charts"]["profit"];
    assert_eq!(chart["labels"], labels(&profit["rows"], "month"));
    let served: Vec<Option<f64>> = profit["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            row["profit_usd"]
                .as_str()
                .map(|v| v.parse().expect("a decimal"))
        })
        .collect();
    let plotted: Vec<Option<f64>> = dataset(chart, "profit_usd")
        .as_array()
        .expect("data")
        .iter()
        .map(Value::as_f64)
        .collect();
    assert!(!served.is_empty());
    assert_eq!(plotted, served);
    let statuses: Vec<&Value> = engagement["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| &row["provisional"])
        .collect();
    assert!(
        statuses.contains(&&Value::Bool(false)),
        "some weeks are published"
    );
    let shot = artifacts.join("investor.png");
    browse(
        &chromium,
        &profile,
        &format!("--screenshot={}", shot.display()),
        &page,
    );
    let png = std::fs::read(&shot).expect("the screenshot was written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{}",
        png.len()
    );

    // Experiment: net growth per variant of the first experiment, per day.
    let page = format!("{url}/dashboards/experiment#token={EXPERIMENT}");
    let drawn = rendered(&browse(&chromium, &profile, "--dump-dom", &page));
    assert_eq!(drawn["error"], Value::Null, "{drawn}");
    let rows = api(
        &agent,
        &format!("{url}/v1/tables/growth_daily_by_variant"),
        EXPERIMENT,
    )["rows"]
        .clone();
    let rows = rows.as_array().unwrap();
    let mut experiments: Vec<&str> = rows
        .iter()
        .map(|r| r["experiment_id"].as_str().unwrap())
        .collect();
    experiments.sort();
    let experiment = experiments.first().expect("the demo has experiments");
    let chart = &drawn["charts"]["growth"];
    let days = chart["labels"].as_array().unwrap();
    assert!(!days.is_empty());
    let mut compared = 0;
    for dataset in chart["datasets"].as_array().unwrap() {
        let variant = dataset["label"].as_str().unwrap();
        for (day, drawn) in days.iter().zip(dataset["data"].as_array().unwrap()) {
            let served = rows
                .iter()
                .find(|r| {
                    r["experiment_id"] == *experiment && r["variant"] == variant && r["day"] == *day
                })
                .map_or(Value::Null, |r| r["net_growth"].clone());
            assert_eq!(drawn, &served, "{experiment} {variant} {day}");
            compared += 1;
        }
    }
    assert!(
        compared >= 2 * days.len(),
        "two variants or more: {compared}"
    );
    browse(
        &chromium,
        &profile,
        &format!(
            "--screenshot={}",
            artifacts.join("experiment.png").display()
        ),
        &page,
    );
    eprintln!("screenshots in {}", artifacts.display());
    drop(server);
    let _ = Arc::strong_count(&shared);
}
