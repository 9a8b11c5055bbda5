//! The JSON API: every [`catalog`] endpoint at `/api/<group>/<name>`, its
//! parameters in the query string or, in header order, as path segments
//! (`/api/graph/top-games/10`, as the seed's Flask routes took them), and the OpenAPI 3.1
//! document of them all at `/api/openapi.json`, made from the same headers.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use crate::catalog::{self, Kind};
use crate::{App, Error};

/// How long clients and proxies may keep an answer: jobs write at most every few minutes.
pub const CACHE: &str = "public, max-age=30";

/// The API's routes.
pub fn routes() -> axum::Router<Arc<App>> {
    axum::Router::new()
        .route("/api/openapi.json", get(openapi))
        .route("/api/live", get(live))
        .route("/api/{group}/{name}", get(answer))
        .route("/api/{group}/{name}/{*rest}", get(answer_path))
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, parameter) = match &self {
            Error::BadParam { name, .. } => (StatusCode::BAD_REQUEST, Some(name.clone())),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, None),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, None),
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::warn!(error = %self, "request failed");
        }
        let mut body = json!({"error": self.to_string()});
        if let Some(p) = parameter {
            body["parameter"] = Value::String(p);
        }
        (status, axum::Json(body)).into_response()
    }
}

async fn answer(
    State(app): State<Arc<App>>,
    Path((group, name)): Path<(String, String)>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Response, Error> {
    respond(&app, &group, &name, &[], &q).await
}

async fn answer_path(
    State(app): State<Arc<App>>,
    Path((group, name, rest)): Path<(String, String, String)>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Response, Error> {
    let args: Vec<String> = rest.split('/').map(str::to_string).collect();
    respond(&app, &group, &name, &args, &q).await
}

async fn respond(
    app: &App,
    group: &str,
    name: &str,
    args: &[String],
    q: &BTreeMap<String, String>,
) -> Result<Response, Error> {
    let ep = catalog::find(group, name)
        .ok_or_else(|| Error::NotFound(format!("no endpoint /api/{group}/{name}")))?;
    let spec = ep.spec()?;
    if args.len() > spec.params.len() {
        return Err(Error::NotFound(format!(
            "{} takes at most {} path segment(s)",
            ep.path(),
            spec.params.len()
        )));
    }
    let get = |n: &str| {
        let i = spec.params.iter().position(|p| p.name == n)?;
        q.get(n).cloned().or_else(|| args.get(i).cloned())
    };
    let bound = catalog::bind(&spec, get, q.keys().map(String::as_str))?;
    let cur = app.current();
    let (body, truncated) = catalog::answer_json(&cur.ctx, ep, &bound).await?;
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE));
    if truncated {
        h.insert("pulse-truncated", HeaderValue::from_static("true"));
    }
    Ok(r)
}

/// The OpenAPI 3.1 document of every endpoint.
pub fn openapi_document() -> Result<Value, Error> {
    let mut paths = serde_json::Map::new();
    for ep in catalog::ENDPOINTS {
        let spec = ep.spec()?;
        let params: Vec<Value> = spec
            .params
            .iter()
            .map(|p| {
                let mut schema = match &p.kind {
                    Kind::Text => json!({"type": "string", "maxLength": 200}),
                    Kind::Date => json!({"type": "string", "format": "date"}),
                    Kind::Duration => {
                        json!({"type": "string", "pattern": "^[0-9]+[a-z]+([0-9]+[a-z]+)*$"})
                    }
                    Kind::Int { min, max } => {
                        let mut s = json!({"type": "integer", "format": "int64"});
                        if *min != i64::MIN {
                            s["minimum"] = json!(min);
                        }
                        if *max != i64::MAX {
                            s["maximum"] = json!(max);
                        }
                        s
                    }
                };
                if let Some(d) = p.default.as_ref().filter(|d| !d.is_empty()) {
                    schema["default"] = match (&p.kind, d.parse::<i64>()) {
                        (Kind::Int { .. }, Ok(n)) => json!(n),
                        _ => json!(d),
                    };
                }
                json!({
                    "name": p.name,
                    "in": "query",
                    "required": p.default.is_none(),
                    "schema": schema,
                })
            })
            .collect();
        let result = match ep.shape {
            catalog::Shape::Rows => json!({"type": "array", "items": {"type": "object"}}),
            catalog::Shape::Graph => json!({
                "type": "object",
                "required": ["nodes", "links"],
                "properties": {
                    "nodes": {"type": "array", "items": {"type": "object"}},
                    "links": {"type": "array", "items": {"type": "object"}},
                },
            }),
            catalog::Shape::Profile => json!({"type": ["object", "null"]}),
        };
        let error = json!({"$ref": "#/components/responses/Error"});
        paths.insert(
            ep.path(),
            json!({
                "get": {
                    "operationId": format!("{}_{}", ep.group, ep.name),
                    "tags": [ep.group],
                    "summary": spec.about,
                    "parameters": params,
                    "responses": {
                        "200": {
                            "description": format!("at most {} rows; the header pulse-truncated says when more were cut", catalog::MAX_ROWS),
                            "content": {"application/json": {"schema": result}},
                        },
                        "400": error,
                        "404": error,
                    },
                }
            }),
        );
    }
    paths.insert(
        "/api/live".into(),
        json!({
            "get": {
                "operationId": "live",
                "tags": ["hashtags"],
                "summary": "The live hashtag windows of the ingest worker in this process (`pulse live`), as Server-Sent Events: each event's data is {\"windows\": [...]}, the latest windows of every shape, at least once a second.",
                "responses": {
                    "200": {"description": "an event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                    "404": {"$ref": "#/components/responses/Error"},
                },
            }
        }),
    );
    Ok(json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Pulse",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Pulse's saved questions over the lake's tables. Parameters go in the query string, or in declaration order as path segments.",
        },
        "paths": paths,
        "components": {
            "responses": {
                "Error": {
                    "description": "a bad parameter (400) or an unknown endpoint or job output (404)",
                    "content": {"application/json": {"schema": {
                        "type": "object",
                        "required": ["error"],
                        "properties": {
                            "error": {"type": "string"},
                            "parameter": {"type": "string"},
                        },
                    }}},
                }
            }
        },
    }))
}

async fn live(State(app): State<Arc<App>>) -> Result<Response, Error> {
    let hub = app.live().ok_or_else(|| {
        Error::NotFound("no live windows here: `pulse live` serves them while it ingests".into())
    })?;
    Ok(crate::live::events(hub).into_response())
}

async fn openapi() -> Result<Response, Error> {
    let mut r = axum::Json(openapi_document()?).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE));
    Ok(r)
}
