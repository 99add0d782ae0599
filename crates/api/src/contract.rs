//! What the OpenAPI document promises beyond each handler's own annotations, and the answer
//! to a method a path does not have.
//!
//! Every operation can meet the same few refusals whatever its handler does: a query string,
//! path or body that does not parse (400), an unknown id (404, on paths with parameters), a
//! body too large or invalid (413, 422), and a database that cannot answer (503). They are
//! documented here once for every operation, so the document lists every status the server
//! can send (schemathesis checks exactly that), and a handler annotation cannot forget one.
//!
//! A known path asked with a method it does not have answers 405 with `Allow`, not 404.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError as _};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Response};

use crate::error::ApiError;

fn problem(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
        .into()
}

/// Whether `path` is an output players and media servers load (which checks its own
/// credentials, see the `access` module).
fn is_output(path: &str) -> bool {
    ["/proxy/", "/hdhr/", "/xtream/", "/live/", "/{username}/"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
        || ["/player_api.php", "/get.php", "/xmltv.php"].contains(&path)
}

/// Adds to every output route of `api` the refusals of the output check: 401 (credentials
/// needed or wrong), 403 (a proxy not granted, or a client outside its allowed networks) and
/// 429 (too many wrong output passwords).
pub(crate) fn document_output_refusals(api: &mut OpenApi) {
    for (path, item) in api.paths.paths.iter_mut() {
        if !is_output(path) {
            continue;
        }
        let operations = [&mut item.get, &mut item.post];
        for operation in operations.into_iter().flatten() {
            let responses = &mut operation.responses.responses;
            for (status, description) in [
                (
                    "401",
                    "credentials are needed (a viewer account exists) or are wrong",
                ),
                (
                    "403",
                    "the account is not granted this proxy, or the client is outside its allowed networks",
                ),
                (
                    "429",
                    "too many wrong output passwords for this account name or from this address; see Retry-After",
                ),
            ] {
                responses
                    .entry(status.to_string())
                    .or_insert_with(|| problem(description));
            }
        }
    }
}

/// Adds the refusals every operation can meet to every operation of `api`.
pub(crate) fn document_common_refusals(api: &mut OpenApi) {
    for (path, item) in api.paths.paths.iter_mut() {
        let has_path_parameters = path.contains('{');
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            let has_body = operation.request_body.is_some();
            let responses = &mut operation.responses.responses;
            let mut add = |status: &str, description: &str| {
                responses
                    .entry(status.to_string())
                    .or_insert_with(|| problem(description));
            };
            add(
                "400",
                "a query parameter, path parameter or body that does not parse, named in the answer",
            );
            add("503", "the database cannot answer right now; try again");
            if has_path_parameters {
                add("404", "nothing has this id");
            }
            if has_body {
                add("413", "the body is larger than allowed");
                add("415", "the body is not sent as application/json");
                add(
                    "422",
                    "the body parses but a field is invalid, named in the answer",
                );
            }
        }
    }
}

/// The documented paths as segments, with the methods each has.
fn routes() -> &'static [(Vec<String>, Vec<&'static str>)] {
    static ROUTES: OnceLock<Vec<(Vec<String>, Vec<&'static str>)>> = OnceLock::new();
    ROUTES.get_or_init(|| {
        let api = crate::openapi();
        let mut routes: Vec<(Vec<String>, Vec<&'static str>)> = api
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let mut methods = Vec::new();
                for (present, name) in [
                    (item.get.is_some(), "GET"),
                    (item.put.is_some(), "PUT"),
                    (item.post.is_some(), "POST"),
                    (item.delete.is_some(), "DELETE"),
                    (item.patch.is_some(), "PATCH"),
                ] {
                    if present {
                        methods.push(name);
                    }
                }
                if item.get.is_some() {
                    methods.push("HEAD");
                }
                (path.split('/').map(str::to_string).collect(), methods)
            })
            .collect();
        // The paths that are not in the document: the redirects to the docs page.
        routes.push((vec![String::new(), String::new()], vec!["GET", "HEAD"]));
        routes.push((vec![String::new(), "docs".into()], vec!["GET", "HEAD"]));
        routes
    })
}

/// Whether a path segment matches a template segment: literally, or around one `{parameter}`
/// with the text before and after it (`{id}.m3u` matches `abc.m3u`, not `abc`).
fn segment_matches(template: &str, segment: &str) -> bool {
    match (template.find('{'), template.find('}')) {
        (Some(open), Some(close)) if open < close => {
            let (before, after) = (&template[..open], &template[close + 1..]);
            segment.len() > before.len() + after.len()
                && segment.starts_with(before)
                && segment.ends_with(after)
        }
        _ => template == segment,
    }
}

/// The methods of the documented path `path` matches, if any.
fn allowed_methods(path: &str) -> Option<Vec<&'static str>> {
    let segments: Vec<&str> = path.split('/').collect();
    // The router prefers fixed segments (`/filters/test` over `/filters/{id}`), so the path
    // is the template matching it with the most fixed segments.
    let mut best: Option<(usize, &Vec<&'static str>)> = None;
    for (template, methods) in routes() {
        let matches = template.len() == segments.len()
            && template
                .iter()
                .zip(&segments)
                .all(|(t, s)| segment_matches(t, s));
        let fixed = template.iter().filter(|t| !t.contains('{')).count();
        // A template of parameters only (the short Xtream stream URL
        // `/{username}/{password}/{stream}`) matches every path of its length, so it tells
        // nothing of which path is known.
        if fixed <= 1 {
            continue;
        }
        if matches && best.is_none_or(|(most, _)| fixed > most) {
            best = Some((fixed, methods));
        }
    }
    best.map(|(_, methods)| methods.clone())
}

/// The answer to a request no route took: 405 with `Allow` for a known path asked with
/// another method, else 404.
pub(crate) async fn no_route(req: HttpRequest) -> HttpResponse {
    if let Some(response) = method_not_allowed(&req) {
        return response;
    }
    ApiError::NotFound(format!("no route for {} {}", req.method(), req.path())).error_response()
}

/// The 405 with `Allow` for a request whose path is known but not with its method: also what
/// a request gets that a parameter route took only because the fixed path it names has no
/// such method (`PUT /api/v1/users/me` is not `PUT /api/v1/users/{id}` with a bad id).
pub(crate) fn method_not_allowed(req: &HttpRequest) -> Option<HttpResponse> {
    let methods = allowed_methods(req.path())?;
    if methods.contains(&req.method().as_str()) {
        return None;
    }
    let mut response = ApiError::MethodNotAllowed(format!(
        "{} is not a method of {}; it has {}",
        req.method(),
        req.path(),
        methods.join(", ")
    ))
    .error_response();
    if let Ok(value) = header::HeaderValue::from_str(&methods.join(", ")) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_paths_tell_their_methods_and_unknown_ones_none() {
        assert_eq!(allowed_methods("/livez"), Some(vec!["GET", "HEAD"]));
        let jobs = allowed_methods("/api/v1/jobs/0123").unwrap();
        assert!(jobs.contains(&"GET"));
        assert!(!jobs.contains(&"TRACE"));
        assert_eq!(allowed_methods("/api/v1/no-such-thing"), None);
        assert_eq!(allowed_methods("/api/v1/jobs//"), None);
        // A fixed path is not also its neighbour `{id}`.
        assert_eq!(allowed_methods("/api/v1/filters/test"), Some(vec!["POST"]));
        // A parameter inside a segment matches only with the text around it.
        assert_eq!(allowed_methods("/proxy/abc.m3u"), Some(vec!["GET", "HEAD"]));
        assert_eq!(allowed_methods("/proxy/abc"), None);
        assert_eq!(allowed_methods("/proxy/.m3u"), None);
    }

    #[test]
    fn every_operation_documents_the_common_refusals() {
        let doc = serde_json::to_value(crate::openapi()).unwrap();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let responses = operation["responses"].as_object().unwrap();
                for status in ["400", "503"] {
                    assert!(
                        responses.contains_key(status),
                        "{method} {path} lacks {status}"
                    );
                }
                if operation.get("requestBody").is_some() {
                    assert!(responses.contains_key("422"), "{method} {path} lacks 422");
                }
            }
        }
    }
}
