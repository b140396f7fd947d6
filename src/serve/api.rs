//! The routes of `serve`, under `[serve] base_path`: `POST /ftpscanner/`, `GET /runs`,
//! `GET /runs/{id}`, `GET /healthz`, `GET /metrics`. One middleware in front of them all
//! answers 503 while stopping, checks the bearer token and logs the request.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, OriginalUri, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::request::{self, Problems};
use super::workers::Job;
use super::{Service, log_line};
use crate::events::{self, Subscription};
use crate::journal::{Filter, Journal, JournalError};
use crate::report::Report;

/// Bodies over this are refused (413) before they are read in full.
const BODY_LIMIT: usize = 64 * 1024;

/// The run a response is about, for the request's log line.
#[derive(Clone, Copy)]
struct RunId(i64);

pub fn router(service: Arc<Service>) -> Router {
    let routes = Router::new()
        .route("/ftpscanner/", post(trigger))
        .route("/ftpscanner", post(trigger))
        .route("/runs", get(runs))
        .route("/runs/{id}", get(one_run))
        .route("/events", post(subscribe).get(subscriptions))
        .route("/events/{id}", get(subscription).delete(unsubscribe))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(not_found);
    let base = service.base_path.clone();
    let routes = if base.is_empty() { routes } else { Router::new().nest(&base, routes).fallback(not_found) };
    routes
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(Arc::clone(&service), guard))
        .with_state(service)
}

/// In front of every route: 503 while stopping, the bearer token (all but `/healthz`), and a
/// log line per request.
async fn guard(State(service): State<Arc<Service>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    // Inside `base_path` the router sees the path without it; the log and the check want it whole.
    let uri = request.extensions().get::<OriginalUri>().map_or(request.uri(), |o| &o.0);
    let (method, path) = (request.method().clone(), uri.path().to_owned());
    let response = if service.is_stopping() {
        error(StatusCode::SERVICE_UNAVAILABLE, "the service is stopping")
    } else if !authorized(&service, &path, request.headers()) {
        let mut response = error(StatusCode::UNAUTHORIZED, "a valid Authorization: Bearer token is required");
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        response
    } else {
        next.run(request).await
    };
    let run = response.extensions().get::<RunId>().map(|r| format!(" run {}", r.0)).unwrap_or_default();
    log_line(&format!(
        "{method} {} {} {}ms{run}",
        crate::display::escape_str(&path),
        response.status().as_u16(),
        started.elapsed().as_millis()
    ));
    response
}

/// Whether the request may proceed: always without `token_env`, and for `GET /healthz`;
/// otherwise with the right token, compared in constant time.
fn authorized(service: &Service, path: &str, headers: &HeaderMap) -> bool {
    let Some(token) = service.token() else { return true };
    if path == format!("{}/healthz", service.base_path) {
        return true;
    }
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    bool::from(given.as_bytes().ct_eq(token.as_bytes()))
}

/// `POST /ftpscanner/`: accepts the run (a queued row), then answers at its end, or at once
/// with 202 when asked to be asynchronous.
async fn trigger(
    State(service): State<Arc<Service>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // `curl -d '{...}'` labels JSON as a form: a body that opens an object is JSON whatever
    // its label says.
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
        && !body.trim_ascii_start().starts_with(b"{");
    let accepted = match request::parse(&body, form) {
        Ok(accepted) => accepted,
        Err(problems) => return invalid(&problems),
    };
    let asynchronous = wants_async(query.as_deref(), &headers);
    let text = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    let id = match service.acceptor.record(accepted.clone()).await {
        Ok(id) => id,
        Err(why) => return error(StatusCode::SERVICE_UNAVAILABLE, &why),
    };
    if asynchronous {
        service.pool.submit(Job { id, accepted, reply: None });
        let location = format!("{}/runs/{id}", service.base_path);
        let mut response =
            (StatusCode::ACCEPTED, axum::Json(json!({"run_id": id, "status": "queued"}))).into_response();
        if let Ok(value) = HeaderValue::from_str(&location) {
            response.headers_mut().insert(header::LOCATION, value);
        }
        return with_run(response, id);
    }
    let (reply, answer) = tokio::sync::oneshot::channel();
    service.pool.submit(Job { id, accepted, reply: Some(reply) });
    let response = match answer.await {
        Ok(report) => result(&report, text),
        // The service stopped before a worker took it: it runs at the next start.
        Err(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("the service is stopping; run {id} stays queued and runs when it starts again"),
        ),
    };
    with_run(response, id)
}

/// Runs `f` with the service's journal on the blocking pool; a journal error is a 500.
async fn journal<T: Send + 'static>(
    service: &Arc<Service>,
    f: impl FnOnce(&mut Journal) -> Result<T, JournalError> + Send + 'static,
) -> Result<T, Response> {
    let service = Arc::clone(service);
    match tokio::task::spawn_blocking(move || service.with_journal(f)).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())),
        Err(e) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())),
    }
}

/// `?async=true`, or `Prefer: respond-async` (RFC 7240).
fn wants_async(query: Option<&str>, headers: &HeaderMap) -> bool {
    let asked = query_pairs(query).iter().any(|(k, v)| k == "async" && (v == "true" || v == "1"));
    let preferred = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|p| p.trim().eq_ignore_ascii_case("respond-async")));
    asked || preferred
}

/// A run's end: the result object, or with `Accept: text/plain` its message and output tail;
/// the status by its outcome (the outcome table's `http`).
fn result(report: &Report, text: bool) -> Response {
    let status =
        StatusCode::from_u16(report.outcome.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if text {
        let tail = report.process.as_ref().map_or("", |p| p.output_tail.as_str());
        let body = format!("{}\n\nProcess output below:\n{tail}", report.message);
        return (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response();
    }
    (status, [(header::CONTENT_TYPE, "application/json")], report.to_json()).into_response()
}

/// 422, in the shape of the event API this replaces.
fn invalid(problems: &Problems) -> Response {
    let body = json!({
        "code": 422,
        "message": "Validation fail",
        "errors": {"text": "Problem with ftpscanner request", "validations": problems},
    });
    (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"code": status.as_u16(), "message": message}))).into_response()
}

fn with_run(mut response: Response, id: i64) -> Response {
    response.extensions_mut().insert(RunId(id));
    response
}

/// `GET /runs?count=N&cid=C&failed=true`: the rows of `history --json`, newest first.
async fn runs(State(service): State<Arc<Service>>, RawQuery(query): RawQuery) -> Response {
    let pairs = query_pairs(query.as_deref());
    let mut filter = Filter { count: 20, ..Filter::default() };
    for (key, value) in pairs {
        match key.as_str() {
            "count" => match value.parse::<usize>() {
                Ok(n) if (1..=10_000).contains(&n) => filter.count = n,
                _ => return error(StatusCode::BAD_REQUEST, "count must be a number from 1 to 10000"),
            },
            "cid" => filter.cid = Some(value),
            "failed" => filter.failed = value == "true" || value == "1",
            _ => {}
        }
    }
    match read_runs(&service, filter).await {
        Ok(runs) => axum::Json(json!({"runs": runs})).into_response(),
        Err(response) => response,
    }
}

/// `GET /runs/{id}`: one row, 404 if none.
async fn one_run(State(service): State<Arc<Service>>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<i64>() else { return error(StatusCode::NOT_FOUND, "no such run") };
    let filter = Filter { id: Some(id), count: 1, ..Filter::default() };
    match read_runs(&service, filter).await {
        Ok(mut runs) if !runs.is_empty() => with_run(axum::Json(runs.swap_remove(0)).into_response(), id),
        Ok(_) => error(StatusCode::NOT_FOUND, &format!("no run {id}")),
        Err(response) => response,
    }
}

async fn read_runs(service: &Arc<Service>, filter: Filter) -> Result<Vec<Value>, Response> {
    let runs = journal(service, move |j| j.history(&filter)).await?;
    Ok(runs.iter().map(|run| serde_json::to_value(run).unwrap_or(Value::Null)).collect())
}

/// `POST /events`: a subscription, 201 with its id; 422 in the event API's own forms.
async fn subscribe(State(service): State<Arc<Service>>, body: Bytes) -> Response {
    let value: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("body is not JSON: {e}")),
    };
    let sub = match Subscription::from_request(&value) {
        Ok(sub) => sub,
        Err(refused) => return (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(refused.0)).into_response(),
    };
    let stored = sub.clone();
    if let Err(response) = journal(&service, move |j| events::Store::of(j).insert(&stored)).await {
        return response;
    }
    log_line(&format!(
        "event {} subscribed for {}",
        sub.event_id,
        crate::display::escape_str(&sub.company_id)
    ));
    (StatusCode::CREATED, axum::Json(sub.created())).into_response()
}

/// `GET /events?company_id=C`: `{"events": [...]}`.
async fn subscriptions(State(service): State<Arc<Service>>, RawQuery(query): RawQuery) -> Response {
    let company = query_pairs(query.as_deref()).into_iter().find(|(k, _)| k == "company_id").map(|(_, v)| v);
    match journal(&service, move |j| events::Store::of(j).list(company.as_deref())).await {
        Ok(subs) => axum::Json(events::listing(&subs)).into_response(),
        Err(response) => response,
    }
}

/// `GET /events/{id}`.
async fn subscription(State(service): State<Arc<Service>>, Path(id): Path<String>) -> Response {
    let wanted = id.clone();
    match journal(&service, move |j| events::Store::of(j).get(&wanted)).await {
        Ok(Some(sub)) => axum::Json(sub).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, &format!("no event {id}")),
        Err(response) => response,
    }
}

/// `DELETE /events/{id}`: 204, or 404 when there is none.
async fn unsubscribe(State(service): State<Arc<Service>>, Path(id): Path<String>) -> Response {
    let wanted = id.clone();
    match journal(&service, move |j| events::Store::of(j).delete(&wanted)).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => error(StatusCode::NOT_FOUND, &format!("no event {id}")),
        Err(response) => response,
    }
}

/// The pairs of a query string; one that cannot be read has none.
fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query.and_then(|q| serde_urlencoded::from_str(q).ok()).unwrap_or_default()
}

async fn healthz() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

async fn metrics(State(service): State<Arc<Service>>) -> Response {
    let counted = journal(&service, |j| {
        let queued = j.count(crate::journal::State::Queued)?;
        let pending = crate::outbox::Outbox::of(j).undelivered(false)?.len() as u64;
        Ok((queued, pending))
    });
    let (queued, pending) = match counted.await {
        Ok(counts) => counts,
        Err(response) => return response,
    };
    let text = service.metrics.render(queued, pending);
    let kind = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    (StatusCode::OK, [(header::CONTENT_TYPE, kind)], text).into_response()
}

async fn not_found(method: Method) -> Response {
    error(StatusCode::NOT_FOUND, &format!("no such route for {method}"))
}
