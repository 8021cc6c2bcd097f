//! The API over a real socket: auth, roles, filters, formats, marks.

use std::sync::Arc;

use anyhow::Result;
use arrow::array::{Array, BooleanArray, Decimal128Array, Int64Array, StringArray, UInt32Array};
use serde_json::Value;
use streamflix_api::{
    ApiConfig, ApiServer, ApiTable, ApiView, FeedStatus, Providers, RevisionInfo, Role, Shared,
    TokenConfig,
};
use streamflix_model::Micros;
use streamflix_model::table::{Cell, Column, ColumnKind, Table};

const INVESTOR: &str = "investor-token-0123456789";
const EXPERIMENT: &str = "experiment-token-0123456789";
const OPERATOR: &str = "operator-token-0123456789";

fn column(name: &str, kind: ColumnKind) -> Column {
    Column {
        name: name.into(),
        kind,
    }
}

fn text(value: &str) -> Cell {
    Cell::Text(value.into())
}

fn view(wau_second_week: i64, second_week_revision: Option<u32>) -> ApiView {
    let weekly = ApiTable {
        table: Table {
            name: "engagement_weekly".into(),
            columns: vec![
                column("week", ColumnKind::Text),
                column("wau", ColumnKind::Int),
            ],
            rows: vec![
                vec![text("2026-10-05"), Cell::Int(100)],
                vec![text("2026-10-12"), Cell::Int(wau_second_week)],
            ],
        },
        revisions: vec![Some(2), second_week_revision],
    };
    let variant_row = |day: &str, experiment: &str, variant: &str, net: i64| {
        vec![text(day), text(experiment), text(variant), Cell::Int(net)]
    };
    let by_variant = ApiTable::provisional(Table {
        name: "growth_daily_by_variant".into(),
        columns: vec![
            column("day", ColumnKind::Text),
            column("experiment_id", ColumnKind::Text),
            column("variant", ColumnKind::Text),
            column("net_growth", ColumnKind::Int),
        ],
        rows: vec![
            variant_row("2026-10-05", "exp_price", "control", 3),
            variant_row("2026-10-05", "exp_price", "cheaper", 5),
            variant_row("2026-10-06", "exp_price", "control", -1),
            variant_row("2026-10-06", "exp_ui", "dark", 2),
            variant_row("2026-11-02", "exp_price", "control", 7),
        ],
    });
    let unit_profit = ApiTable {
        table: Table {
            name: "profit_subscriber_monthly".into(),
            columns: vec![
                column("subscriber_id", ColumnKind::Text),
                column("billing_period", ColumnKind::Text),
                column("profit_usd", ColumnKind::Money),
            ],
            rows: vec![
                vec![text("s1"), text("2026-10"), Cell::Money(Micros(12_340_000))],
                vec![text("s2"), text("2026-10"), Cell::Money(Micros(-1_000_001))],
                vec![text("s1"), text("2026-11"), Cell::Empty],
            ],
        },
        revisions: vec![Some(1), Some(1), None],
    };
    let quality = ApiTable::provisional(Table {
        name: "data_quality".into(),
        columns: vec![
            column("feed", ColumnKind::Text),
            column("issue", ColumnKind::Text),
            column("count", ColumnKind::Int),
        ],
        rows: vec![vec![text("viewing"), text("bot_day"), Cell::Int(4)]],
    });
    let mut view = ApiView {
        updated_at: Some("2026-11-25T00:00:00Z".into()),
        tables: vec![weekly, by_variant, unit_profit, quality],
        revisions: vec![
            RevisionInfo {
                table: "engagement_weekly".into(),
                snapshot: "engagement_weekly/2026-10-05".into(),
                period: "2026-10-05".into(),
                revision: 1,
                published_at: Some("2026-10-12T11:00:00Z".into()),
                restated: false,
            },
            RevisionInfo {
                table: "engagement_weekly".into(),
                snapshot: "engagement_weekly/2026-10-05".into(),
                period: "2026-10-05".into(),
                revision: 2,
                published_at: Some("2026-10-13T11:00:00Z".into()),
                restated: true,
            },
        ],
        ..ApiView::default()
    };
    view.feeds.push(FeedStatus {
        feed: "viewing".into(),
        events_in: 4321,
        watermark_ms: None,
        lag_seconds: None,
        caught_up: None,
    });
    view.dead_letters
        .insert(("viewing".into(), "not_json".into()), 2);
    view
}

struct Fixture {
    shared: Arc<Shared>,
    server: ApiServer,
    agent: ureq::Agent,
}

fn start() -> Result<Fixture> {
    let token = |name: &str, role, token: &str| TokenConfig {
        name: name.into(),
        role,
        token: token.into(),
    };
    let config = ApiConfig {
        enabled: true,
        bind: "127.0.0.1:0".parse()?,
        tokens: vec![
            token("ivy", Role::Investor, INVESTOR),
            token("eli", Role::Experiment, EXPERIMENT),
            token("ops", Role::Operator, OPERATOR),
        ],
    };
    let shared = Shared::new();
    shared.replace(view(200, None));
    let server = ApiServer::start(&config, shared.clone(), Providers::defaults(&shared))?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    Ok(Fixture {
        shared,
        server,
        agent,
    })
}

struct Reply {
    status: u16,
    content_type: String,
    body: Vec<u8>,
    www_authenticate: Option<String>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("a UTF-8 body")
    }
}

impl Fixture {
    fn get(&self, path: &str, token: Option<&str>, accept: Option<&str>) -> Result<Reply> {
        let mut request = self.agent.get(format!("{}{path}", self.server.url()));
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        if let Some(accept) = accept {
            request = request.header("Accept", accept);
        }
        reply(request.call()?)
    }

    fn post(&self, path: &str, token: &str) -> Result<Reply> {
        let response = self
            .agent
            .post(format!("{}{path}", self.server.url()))
            .header("Authorization", format!("Bearer {token}"))
            .send_empty()?;
        reply(response)
    }
}

fn reply(mut response: ureq::http::Response<ureq::Body>) -> Result<Reply> {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (status, content_type, www_authenticate) = (
        response.status().as_u16(),
        header("content-type").unwrap_or_default(),
        header("www-authenticate"),
    );
    let body = response.body_mut().read_to_vec()?;
    Ok(Reply {
        status,
        content_type,
        body,
        www_authenticate,
    })
}

#[test]
fn requests_without_a_valid_token_get_401() -> Result<()> {
    let fixture = start()?;
    for token in [None, Some("not-a-configured-token-at-all")] {
        let reply = fixture.get("/v1/tables/engagement_weekly", token, None)?;
        assert_eq!(reply.status, 401, "{}", reply.text());
        assert_eq!(reply.www_authenticate.as_deref(), Some("Bearer"));
        assert!(reply.json()["error"].as_str().unwrap().contains("bearer"));
    }
    assert_eq!(fixture.get("/metrics", None, None)?.status, 401);
    // Static pages and the OpenAPI document need no token.
    assert_eq!(fixture.get("/dashboards/investor", None, None)?.status, 200);
    assert_eq!(fixture.get("/v1/openapi.json", None, None)?.status, 200);
    Ok(())
}

#[test]
fn roles_see_only_their_tables_and_get_403_outside() -> Result<()> {
    let fixture = start()?;
    let names = |token| -> Result<Vec<String>> {
        let reply = fixture.get("/v1/tables", Some(token), None)?;
        assert_eq!(reply.status, 200);
        Ok(reply.json()["tables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect())
    };
    assert_eq!(names(INVESTOR)?, ["engagement_weekly"]);
    assert_eq!(
        names(EXPERIMENT)?,
        ["growth_daily_by_variant", "profit_subscriber_monthly"]
    );
    assert_eq!(names(OPERATOR)?.len(), 4);

    let forbidden = [
        ("/v1/tables/growth_daily_by_variant", INVESTOR),
        ("/v1/tables/growth_daily_by_variant/revisions", INVESTOR),
        ("/v1/tables/engagement_weekly", EXPERIMENT),
        ("/v1/tables/data_quality", EXPERIMENT),
        ("/v1/pipelines", INVESTOR),
        ("/v1/incidents", EXPERIMENT),
        ("/metrics", INVESTOR),
    ];
    for (path, token) in forbidden {
        let reply = fixture.get(path, Some(token), None)?;
        assert_eq!(reply.status, 403, "{path}: {}", reply.text());
    }
    assert_eq!(
        fixture
            .post("/v1/incidents/i-1/acknowledge", INVESTOR)?
            .status,
        403
    );
    // Operators may; this server has no runbooks, so there is nothing to find.
    assert_eq!(
        fixture
            .post("/v1/incidents/i-1/acknowledge", OPERATOR)?
            .status,
        404
    );
    assert_eq!(
        fixture.post("/v1/incidents/i-1/resolve", OPERATOR)?.status,
        404
    );
    for (path, token) in [
        ("/v1/tables/engagement_weekly", INVESTOR),
        ("/v1/tables/data_quality", OPERATOR),
        ("/v1/pipelines", OPERATOR),
        ("/v1/incidents", OPERATOR),
    ] {
        assert_eq!(fixture.get(path, Some(token), None)?.status, 200, "{path}");
    }
    assert_eq!(
        fixture
            .get("/v1/tables/no_such", Some(OPERATOR), None)?
            .status,
        404
    );
    Ok(())
}

#[test]
fn tables_list_keys_and_columns() -> Result<()> {
    let fixture = start()?;
    let reply = fixture.get("/v1/tables", Some(EXPERIMENT), None)?;
    let tables = reply.json()["tables"].clone();
    assert_eq!(
        tables[0]["key"],
        serde_json::json!(["day", "experiment_id", "variant"])
    );
    assert_eq!(
        tables[1]["key"],
        serde_json::json!(["subscriber_id", "billing_period"])
    );
    assert_eq!(tables[1]["period_column"], "billing_period");
    assert_eq!(tables[1]["columns"][2]["kind"], "money");
    Ok(())
}

#[test]
fn filters_select_rows() -> Result<()> {
    let fixture = start()?;
    let rows = |query: &str| -> Result<Vec<Value>> {
        let reply = fixture.get(
            &format!("/v1/tables/growth_daily_by_variant{query}"),
            Some(EXPERIMENT),
            None,
        )?;
        assert_eq!(reply.status, 200, "{query}: {}", reply.text());
        Ok(reply.json()["rows"].as_array().unwrap().clone())
    };
    assert_eq!(rows("")?.len(), 5);
    let price = rows("?experiment=exp_price&variant=control")?;
    assert_eq!(
        price
            .iter()
            .map(|r| r["net_growth"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [3, -1, 7]
    );
    let october = rows("?experiment=exp_price&from=2026-10-06&to=2026-10")?;
    assert_eq!(october.len(), 1);
    assert_eq!(october[0]["day"], "2026-10-06");
    let subscriber = fixture.get(
        "/v1/tables/profit_subscriber_monthly?subscriber=s1&from=2026-11",
        Some(EXPERIMENT),
        None,
    )?;
    let body = subscriber.json();
    assert_eq!(body["rows"].as_array().unwrap().len(), 1);
    assert_eq!(body["rows"][0]["profit_usd"], Value::Null);
    // A filter the table cannot take, an unknown parameter, a bad period.
    for query in ["?subscriber=s1", "?colour=red", "?from=yesterday"] {
        let reply = fixture.get(
            &format!("/v1/tables/growth_daily_by_variant{query}"),
            Some(EXPERIMENT),
            None,
        )?;
        assert_eq!(reply.status, 400, "{query}");
    }
    Ok(())
}

#[test]
fn formats_by_accept_header_and_parameter() -> Result<()> {
    let fixture = start()?;
    let path = "/v1/tables/profit_subscriber_monthly";
    let json = fixture.get(path, Some(EXPERIMENT), None)?;
    assert!(json.content_type.starts_with("application/json"));
    assert_eq!(json.json()["rows"][1]["profit_usd"], "-1.000001");

    let csv = fixture.get(path, Some(EXPERIMENT), Some("text/csv"))?;
    assert!(csv.content_type.starts_with("text/csv"));
    assert_eq!(
        csv.text(),
        "subscriber_id,billing_period,profit_usd,provisional,revision\n\
         s1,2026-10,12.34,false,1\n\
         s2,2026-10,-1.000001,false,1\n\
         s1,2026-11,,true,\n"
    );
    let by_parameter = fixture.get(&format!("{path}?format=csv"), Some(EXPERIMENT), None)?;
    assert_eq!(by_parameter.body, csv.body);

    let arrow = fixture.get(&format!("{path}?format=arrow"), Some(EXPERIMENT), None)?;
    assert_eq!(arrow.status, 200, "{}", arrow.text());
    assert_eq!(arrow.content_type, "application/vnd.apache.arrow.stream");
    let by_accept = fixture.get(
        path,
        Some(EXPERIMENT),
        Some("application/vnd.apache.arrow.stream"),
    )?;
    assert_eq!(by_accept.body, arrow.body);
    let reader = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(arrow.body), None)?;
    let batches: Vec<_> = reader.collect::<Result<_, _>>()?;
    assert_eq!(batches.len(), 1);
    let batch = &batches[0];
    assert_eq!(batch.num_rows(), 3);
    let ids = batch
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    assert_eq!(ids.value(1), "s2");
    let profit = batch
        .column(2)
        .as_any()
        .downcast_ref::<Decimal128Array>()
        .unwrap();
    assert_eq!(profit.value(0), 12_340_000);
    assert_eq!(profit.value(1), -1_000_001);
    assert!(profit.is_null(2));
    let provisional = batch
        .column_by_name("provisional")
        .unwrap()
        .as_any()
        .downcast_ref::<BooleanArray>()
        .unwrap();
    assert_eq!(
        (0..3).map(|i| provisional.value(i)).collect::<Vec<_>>(),
        [false, false, true]
    );
    let revision = batch
        .column_by_name("revision")
        .unwrap()
        .as_any()
        .downcast_ref::<UInt32Array>()
        .unwrap();
    assert_eq!(revision.value(0), 1);
    assert!(revision.is_null(2));

    let weekly = fixture.get(
        "/v1/tables/engagement_weekly?format=arrow",
        Some(INVESTOR),
        None,
    )?;
    let reader =
        arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(weekly.body), None)?;
    let batch = reader.into_iter().next().unwrap()?;
    let wau = batch
        .column(1)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    assert_eq!(wau.values().to_vec(), vec![100, 200]);

    assert_eq!(
        fixture
            .get(path, Some(EXPERIMENT), Some("image/png"))?
            .status,
        406
    );
    assert_eq!(
        fixture
            .get(&format!("{path}?format=xml"), Some(EXPERIMENT), None)?
            .status,
        406
    );
    Ok(())
}

#[test]
fn rows_turn_from_provisional_to_published_when_the_engine_says_so() -> Result<()> {
    let fixture = start()?;
    let second_week = |fixture: &Fixture| -> Result<Value> {
        let reply = fixture.get("/v1/tables/engagement_weekly", Some(INVESTOR), None)?;
        Ok(reply.json()["rows"][1].clone())
    };
    let row = second_week(&fixture)?;
    assert_eq!(row["provisional"], true);
    assert_eq!(row["revision"], Value::Null);
    assert_eq!(row["wau"], 200);
    let published = fixture.get(
        "/v1/tables/engagement_weekly?status=published",
        Some(INVESTOR),
        None,
    )?;
    assert_eq!(published.json()["rows"].as_array().unwrap().len(), 1);

    // The engine publishes the week (and a late change came in first).
    fixture.shared.replace(view(201, Some(1)));
    let row = second_week(&fixture)?;
    assert_eq!(row["provisional"], false);
    assert_eq!(row["revision"], 1);
    assert_eq!(row["wau"], 201);

    let revisions = fixture.get(
        "/v1/tables/engagement_weekly/revisions",
        Some(INVESTOR),
        None,
    )?;
    let list = revisions.json()["revisions"].clone();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[1]["revision"], 2);
    assert_eq!(list[1]["restated"], true);
    assert_eq!(list[1]["published_at"], "2026-10-13T11:00:00Z");
    Ok(())
}

#[test]
fn metrics_are_prometheus_text_for_operators() -> Result<()> {
    let fixture = start()?;
    fixture
        .shared
        .record_publication(std::time::Duration::from_millis(20));
    let reply = fixture.get("/metrics", Some(OPERATOR), None)?;
    assert_eq!(reply.status, 200);
    assert!(reply.content_type.starts_with("text/plain"));
    let text = reply.text();
    for line in [
        "streamflix_events_in_total{feed=\"viewing\"} 4321",
        "streamflix_dead_letters_total{feed=\"viewing\",reason=\"not_json\"} 2",
        "streamflix_snapshot_publication_seconds_count 1",
        "streamflix_snapshot_publication_seconds_bucket{le=\"0.025\"} 1",
        "streamflix_snapshot_publication_seconds_bucket{le=\"0.01\"} 0",
        "streamflix_incidents_open{severity=\"Sev-1\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
    }
    Ok(())
}

#[test]
fn the_openapi_document_describes_every_route() -> Result<()> {
    let fixture = start()?;
    let document = fixture.get("/v1/openapi.json", None, None)?.json();
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().unwrap();
    for path in [
        "/v1/whoami",
        "/v1/tables",
        "/v1/tables/{table}",
        "/v1/tables/{table}/revisions",
        "/v1/pipelines",
        "/v1/incidents",
        "/v1/incidents/{id}/acknowledge",
        "/v1/incidents/{id}/resolve",
        "/metrics",
        "/dashboards/investor",
        "/dashboards/experiment",
    ] {
        assert!(paths.contains_key(path), "{path} not described");
        // And the router serves it (not the fallback's 404 "no such route").
        let concrete = path
            .replace("{table}", "engagement_weekly")
            .replace("{id}", "x");
        let reply = if path.ends_with("acknowledge") || path.ends_with("resolve") {
            fixture.post(&concrete, OPERATOR)?
        } else {
            fixture.get(&concrete, Some(OPERATOR), None)?
        };
        assert!(
            !reply.text().contains("no such route"),
            "{path} is described but not routed"
        );
    }
    Ok(())
}

#[test]
fn the_charting_library_and_its_licence_are_served() -> Result<()> {
    let fixture = start()?;
    let chart = fixture.get("/dashboards/vendor/chart.umd.min.js", None, None)?;
    assert_eq!(chart.status, 200);
    assert!(chart.content_type.starts_with("text/javascript"));
    assert!(chart.text().contains("4.6.1"));
    let licence = fixture.get("/dashboards/vendor/chart.js-LICENSE.md", None, None)?;
    assert!(licence.text().contains("MIT"));
    Ok(())
}
