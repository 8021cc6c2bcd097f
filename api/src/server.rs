//! The HTTP server: router, bearer-token middleware, handlers, and the
//! tokio runtime it runs on beside the (synchronous) timely workers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::access::{Caller, Tokens, can_operate, can_read};
use crate::config::ApiConfig;
use crate::providers::{IncidentError, Providers};
use crate::state::Shared;
use crate::tables::{self, Filter, Format};

/// What can keep the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source} (set api.bind to a free address)")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the API runtime: {0}")]
    Runtime(std::io::Error),
    #[error("invalid api configuration: {0}")]
    Config(String),
}

#[derive(Clone)]
struct App {
    shared: Arc<Shared>,
    providers: Providers,
    tokens: Arc<Tokens>,
}

/// The OpenAPI 3.1 description of every route, maintained by hand beside
/// the router (a test checks that they list the same paths).
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

const INVESTOR_HTML: &str = include_str!("dashboards/investor.html");
const EXPERIMENT_HTML: &str = include_str!("dashboards/experiment.html");
const INDEX_HTML: &str = include_str!("dashboards/index.html");
const DASHBOARD_JS: &str = include_str!("dashboards/dashboard.js");
const DASHBOARD_CSS: &str = include_str!("dashboards/dashboard.css");
/// Chart.js 4.6.1, `dist/chart.umd.min.js` of the npm package, unchanged.
const CHART_JS: &str = include_str!("dashboards/vendor/chart-4.6.1.umd.min.js");
const CHART_JS_LICENSE: &str = include_str!("dashboards/vendor/chart.js-LICENSE.md");

/// The router, for tests that drive it without a socket.
pub fn router(config: &ApiConfig, shared: Arc<Shared>, providers: Providers) -> Router {
    let app = App {
        shared,
        providers,
        tokens: Arc::new(Tokens::new(&config.tokens)),
    };
    let protected = Router::new()
        .route("/v1/whoami", get(whoami))
        .route("/v1/tables", get(list_tables))
        .route("/v1/tables/{table}", get(table_rows))
        .route("/v1/tables/{table}/revisions", get(table_revisions))
        .route("/v1/pipelines", get(pipelines))
        .route("/v1/incidents", get(incidents))
        .route("/v1/incidents/{id}/acknowledge", post(acknowledge))
        .route("/v1/incidents/{id}/resolve", post(resolve))
        .route("/metrics", get(metrics))
        .layer(middleware::from_fn_with_state(app.clone(), authenticate));
    Router::new()
        .route("/", get(|| async { html(INDEX_HTML) }))
        .route(
            "/dashboards/investor",
            get(|| async { html(INVESTOR_HTML) }),
        )
        .route(
            "/dashboards/experiment",
            get(|| async { html(EXPERIMENT_HTML) }),
        )
        .route(
            "/dashboards/dashboard.js",
            get(|| async { asset("text/javascript; charset=utf-8", DASHBOARD_JS) }),
        )
        .route(
            "/dashboards/dashboard.css",
            get(|| async { asset("text/css; charset=utf-8", DASHBOARD_CSS) }),
        )
        .route(
            "/dashboards/vendor/chart.umd.min.js",
            get(|| async { asset("text/javascript; charset=utf-8", CHART_JS) }),
        )
        .route(
            "/dashboards/vendor/chart.js-LICENSE.md",
            get(|| async { asset("text/plain; charset=utf-8", CHART_JS_LICENSE) }),
        )
        .route(
            "/v1/openapi.json",
            get(|| async { asset("application/json", OPENAPI_JSON) }),
        )
        .merge(protected)
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such route; see /v1/openapi.json") })
        .with_state(app)
}

fn html(body: &'static str) -> Response {
    asset("text/html; charset=utf-8", body)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, axum::Json(json!({ "error": message.to_string() }))).into_response()
}

/// 401 unless the request carries a configured bearer token; the caller
/// goes into the request's extensions. The token itself is never logged.
async fn authenticate(State(app): State<App>, mut request: Request, next: Next) -> Response {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    let Some(caller) = app.tokens.caller(authorization).cloned() else {
        tracing::info!(
            path = request.uri().path(),
            had_header = authorization.is_some(),
            "api request refused: no valid bearer token"
        );
        let mut response = error(
            StatusCode::UNAUTHORIZED,
            "a valid bearer token is required: Authorization: Bearer <token>",
        );
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    };
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let (name, role) = (caller.name.clone(), caller.role);
    request.extensions_mut().insert(caller);
    let response = next.run(request).await;
    tracing::debug!(
        caller = name,
        role = role.name(),
        %method,
        path,
        status = response.status().as_u16(),
        "api request"
    );
    response
}

fn forbidden(caller: &Caller, what: &str) -> Response {
    tracing::info!(
        caller = caller.name,
        role = caller.role.name(),
        what,
        "api request forbidden"
    );
    error(
        StatusCode::FORBIDDEN,
        format!("role {} may not read {what}", caller.role.name()),
    )
}

async fn whoami(Extension(caller): Extension<Caller>) -> Response {
    axum::Json(json!({ "name": caller.name, "role": caller.role })).into_response()
}

async fn list_tables(State(app): State<App>, Extension(caller): Extension<Caller>) -> Response {
    let view = app.shared.load();
    let tables: Vec<_> = view
        .tables
        .iter()
        .filter(|table| can_read(caller.role, &table.table.name))
        .map(|table| tables::meta(&table.table))
        .collect();
    axum::Json(json!({ "updated_at": view.updated_at, "tables": tables })).into_response()
}

async fn table_rows(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    headers: HeaderMap,
    filter: Result<Query<Filter>, QueryRejection>,
) -> Response {
    let view = app.shared.load();
    let Some(table) = view.table(&name) else {
        return error(StatusCode::NOT_FOUND, format!("no table {name}"));
    };
    if !can_read(caller.role, &name) {
        return forbidden(&caller, &name);
    }
    let filter = match filter {
        Ok(Query(filter)) => filter,
        Err(rejection) => return error(StatusCode::BAD_REQUEST, rejection.body_text()),
    };
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok());
    let Some(format) = Format::negotiate(filter.format.as_deref(), accept) else {
        return error(
            StatusCode::NOT_ACCEPTABLE,
            "formats: json, csv, arrow (format= or Accept: application/json, text/csv, application/vnd.apache.arrow.stream)",
        );
    };
    let rows = match tables::select(table, &filter) {
        Ok(rows) => rows,
        Err(problem) => return error(StatusCode::BAD_REQUEST, problem),
    };
    let body = match format {
        Format::Json => Ok(tables::to_json(table, &rows, view.updated_at.as_deref())),
        Format::Csv => tables::to_csv(table, &rows),
        Format::Arrow => tables::to_arrow(table, &rows),
    };
    match body {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, format.content_type()),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response(),
        Err(problem) => {
            tracing::error!(table = name, error = %problem, "encoding failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, problem)
        }
    }
}

async fn table_revisions(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Response {
    let view = app.shared.load();
    if view.table(&name).is_none() {
        return error(StatusCode::NOT_FOUND, format!("no table {name}"));
    }
    if !can_read(caller.role, &name) {
        return forbidden(&caller, &name);
    }
    let revisions: Vec<_> = view
        .revisions
        .iter()
        .filter(|revision| revision.table == name)
        .collect();
    axum::Json(json!({ "table": name, "revisions": revisions })).into_response()
}

/// Runs a provider call (which may read files) off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, IncidentError> + Send + 'static,
) -> Result<T, IncidentError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|failed| Err(IncidentError::Unavailable(failed.to_string())))
}

fn incident_error(problem: IncidentError) -> Response {
    match problem {
        IncidentError::NotFound(_) => error(StatusCode::NOT_FOUND, problem),
        IncidentError::Conflict { .. } => error(StatusCode::CONFLICT, problem),
        IncidentError::Unavailable(_) => {
            tracing::error!(error = %problem, "incident state unavailable");
            error(StatusCode::SERVICE_UNAVAILABLE, problem)
        }
    }
}

/// The status view of `streamflix status --json` (its `pipelines`, `now`,
/// ...), with the dataflow's own view beside it: `dataflow` (watermark,
/// event clock and latest published period of each pipeline) and `feeds`.
async fn pipelines(State(app): State<App>, Extension(caller): Extension<Caller>) -> Response {
    if !can_operate(caller.role) {
        return forbidden(&caller, "pipeline status");
    }
    let providers = app.providers.clone();
    let mut status = match blocking(move || providers.pipelines.status()).await {
        Ok(status) => status,
        Err(problem) => return incident_error(problem),
    };
    let view = app.shared.load();
    if let Some(object) = status.as_object_mut() {
        object.insert("updated_at".into(), json!(view.updated_at));
        object.insert("dataflow".into(), json!(view.pipelines));
        object.insert("feeds".into(), json!(view.feeds));
    }
    axum::Json(status).into_response()
}

async fn incidents(State(app): State<App>, Extension(caller): Extension<Caller>) -> Response {
    if !can_operate(caller.role) {
        return forbidden(&caller, "incidents");
    }
    let providers = app.providers.clone();
    match blocking(move || providers.incidents.list()).await {
        Ok(incidents) => axum::Json(json!({ "incidents": incidents })).into_response(),
        Err(problem) => incident_error(problem),
    }
}

fn incident_result(result: Result<crate::providers::Incident, IncidentError>) -> Response {
    match result {
        Ok(incident) => axum::Json(incident).into_response(),
        Err(problem) => incident_error(problem),
    }
}

async fn acknowledge(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    if !can_operate(caller.role) {
        return forbidden(&caller, "incidents");
    }
    tracing::info!(incident = id, by = caller.name, "acknowledging incident");
    let (providers, by) = (app.providers.clone(), caller.name.clone());
    incident_result(blocking(move || providers.incidents.acknowledge(&id, &by)).await)
}

async fn resolve(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    if !can_operate(caller.role) {
        return forbidden(&caller, "incidents");
    }
    tracing::info!(incident = id, by = caller.name, "resolving incident");
    let (providers, by) = (app.providers.clone(), caller.name.clone());
    incident_result(blocking(move || providers.incidents.resolve(&id, &by)).await)
}

async fn metrics(State(app): State<App>, Extension(caller): Extension<Caller>) -> Response {
    if !can_operate(caller.role) {
        return forbidden(&caller, "metrics");
    }
    let providers = app.providers.clone();
    let incidents = match blocking(move || providers.incidents.list()).await {
        Ok(incidents) => Some(incidents),
        Err(problem) => {
            tracing::warn!(error = %problem, "metrics without incidents");
            None
        }
    };
    let view = app.shared.load();
    let text = crate::metrics::render(
        &view,
        &app.shared.publication_latency(),
        incidents.as_deref(),
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// A running server: its own tokio runtime on its own threads. Dropping it
/// (or [`ApiServer::stop`]) shuts the server down and waits for it.
#[derive(Debug)]
pub struct ApiServer {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Threads of the server's runtime: readers get these, the timely workers
/// keep theirs.
pub const SERVER_THREADS: usize = 2;

impl ApiServer {
    /// Binds `config.bind` (port 0 picks a free one) and serves until stopped.
    pub fn start(
        config: &ApiConfig,
        shared: Arc<Shared>,
        providers: Providers,
    ) -> Result<ApiServer, ServerError> {
        config.validate().map_err(ServerError::Config)?;
        if config.tokens.is_empty() {
            tracing::warn!("api has no tokens configured: every data request gets 401");
        }
        let listener =
            std::net::TcpListener::bind(config.bind).map_err(|source| ServerError::Bind {
                addr: config.bind,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: config.bind,
            source,
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| ServerError::Bind { addr, source })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(SERVER_THREADS)
            .thread_name("streamflix-api")
            .enable_all()
            .build()
            .map_err(ServerError::Runtime)?;
        let app = router(config, shared, providers);
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("streamflix-api".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(error) => {
                            tracing::error!(%error, "api listener unusable");
                            return;
                        }
                    };
                    let served = axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = stopped.await;
                        })
                        .await;
                    if let Err(error) = served {
                        tracing::error!(%error, "api server stopped");
                    }
                });
            })
            .map_err(ServerError::Runtime)?;
        tracing::info!(%addr, "api listening");
        Ok(ApiServer {
            addr,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.shut_down();
    }
}
