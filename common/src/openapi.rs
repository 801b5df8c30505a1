//! What the shared frame does to every route, written into each service's OpenAPI
//! document so that it describes real behaviour: problem bodies are
//! `application/problem+json`, a route with a JSON body can answer 400/413/415/422,
//! one with query parameters 422, one with a path parameter 404, and a rate-limited
//! one 429 with the `RateLimit` fields ([`RateLimited`]).

use utoipa::Modify;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Schema};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Header, OpenApi, Ref, RefOr, Response, ResponseBuilder, Type};

use crate::problem::PROBLEM_JSON;

/// Every operation of `doc`, mutably.
fn operations(doc: &mut OpenApi) -> impl Iterator<Item = &mut Operation> {
    doc.paths.paths.values_mut().flat_map(|item| {
        [
            item.get.as_mut(),
            item.put.as_mut(),
            item.post.as_mut(),
            item.delete.as_mut(),
            item.options.as_mut(),
            item.head.as_mut(),
            item.patch.as_mut(),
            item.trace.as_mut(),
        ]
        .into_iter()
        .flatten()
    })
}

fn string_header(description: &str) -> Header {
    let mut h = Header::new(ObjectBuilder::new().schema_type(Type::String));
    h.description = Some(description.to_string());
    h
}

fn integer_header(description: &str) -> Header {
    let mut h = Header::new(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)));
    h.description = Some(description.to_string());
    h
}

/// A problem response with `description`.
pub fn problem_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, Content::new(Some(Ref::from_schema_name("Problem"))))
        .build()
}

fn is_problem_schema(schema: Option<&RefOr<Schema>>) -> bool {
    matches!(schema, Some(RefOr::Ref(r)) if r.ref_location.ends_with("/Problem"))
}

fn add_missing(op: &mut Operation, status: &str, response: impl FnOnce() -> Response) {
    op.responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| RefOr::T(response()));
}

/// The security schemes of Delos, declared once: `service_token` (the shared
/// bearer token of internal mutating routes), `bearer` (a JWT) and `api_key`
/// (the `X-API-Key` header).
pub fn security_scheme(name: &str) -> Option<SecurityScheme> {
    let bearer = |format: Option<&str>| {
        let mut b = HttpBuilder::new().scheme(HttpAuthScheme::Bearer);
        if let Some(f) = format {
            b = b.bearer_format(f);
        }
        SecurityScheme::Http(b.build())
    };
    match name {
        "service_token" => Some(bearer(None)),
        "bearer" => Some(bearer(Some("JWT"))),
        "api_key" => Some(SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new(
            "X-API-Key",
        )))),
        _ => None,
    }
}

/// Names of the security schemes `doc`'s operations require, each once.
fn referenced_security(doc: &mut OpenApi) -> Vec<String> {
    let mut names: Vec<String> = operations(doc)
        .flat_map(|op| op.security.iter().flatten())
        .filter_map(|req| serde_json::to_value(req).ok())
        .filter_map(|v| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()))
        .flatten()
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Documents the shared frame on every operation of `doc` (called by
/// [`crate::http::AppContext::new`], so each service gets it), and declares the
/// security schemes its routes require.
pub fn document_frame(doc: &mut OpenApi) {
    for name in referenced_security(doc) {
        if let Some(scheme) = security_scheme(&name) {
            doc.components
                .get_or_insert_with(Default::default)
                .security_schemes
                .entry(name)
                .or_insert(scheme);
        }
    }
    for op in operations(doc) {
        for response in op.responses.responses.values_mut() {
            let RefOr::T(response) = response else { continue };
            if let Some(content) = response.content.shift_remove("application/json") {
                let key = if is_problem_schema(content.schema.as_ref()) {
                    PROBLEM_JSON
                } else {
                    "application/json"
                };
                response.content.insert(key.to_string(), content);
            }
        }
        let params = op.parameters.as_deref().unwrap_or_default();
        let has_query = params.iter().any(|p| p.parameter_in == ParameterIn::Query);
        let has_path = params.iter().any(|p| p.parameter_in == ParameterIn::Path);
        if op.request_body.is_some() {
            add_missing(op, "400", || {
                problem_response("the body is not JSON (`malformed_json`)")
            });
            add_missing(op, "413", || {
                problem_response("the body is over the size limit (`body_too_large`)")
            });
            add_missing(op, "415", || {
                problem_response("the body is not `application/json` (`unsupported_media_type`)")
            });
        }
        if op.request_body.is_some() || has_query {
            add_missing(op, "422", || {
                problem_response("a field is invalid (`validation_failed`)")
            });
        }
        if has_path {
            add_missing(op, "404", || problem_response("no such resource (`not_found`)"));
        }
        // 503s of the shared frame always carry Retry-After.
        if let Some(RefOr::T(r)) = op.responses.responses.get_mut("503") {
            r.headers
                .entry("Retry-After".to_string())
                .or_insert_with(|| integer_header("seconds to wait before trying again"));
        }
    }
}

/// Marks operations as rate-limited: `RateLimit-Policy` and `RateLimit` on
/// every answer, 429 with `Retry-After` over budget, 503 when Redis (which counts)
/// is down. Add it with `modifiers(&RateLimited::ALL)`, or
/// `&RateLimited::except(&["/health"])` when some routes are not limited.
pub struct RateLimited {
    except: &'static [&'static str],
}

impl RateLimited {
    /// Every route of the document is rate-limited.
    pub const ALL: RateLimited = RateLimited { except: &[] };

    /// Every route but these paths.
    pub const fn except(paths: &'static [&'static str]) -> Self {
        Self { except: paths }
    }
}

impl Modify for RateLimited {
    fn modify(&self, doc: &mut OpenApi) {
        let except = self.except;
        let limited = doc
            .paths
            .paths
            .iter_mut()
            .filter(|(path, _)| !except.contains(&path.as_str()))
            .flat_map(|(_, item)| {
                [
                    item.get.as_mut(),
                    item.put.as_mut(),
                    item.post.as_mut(),
                    item.delete.as_mut(),
                    item.patch.as_mut(),
                ]
                .into_iter()
                .flatten()
            });
        for op in limited {
            add_missing(op, "429", || {
                let mut r = problem_response("over the client's request budget (`rate_limited`)");
                r.headers.insert(
                    "Retry-After".to_string(),
                    integer_header("seconds until the budget is renewed"),
                );
                r
            });
            add_missing(op, "503", || {
                problem_response("a dependency is down (`dependency_unavailable`)")
            });
            for response in op.responses.responses.values_mut() {
                let RefOr::T(response) = response else { continue };
                response.headers.insert(
                    "RateLimit-Policy".to_string(),
                    string_header(
                        "the client's budget (IETF RateLimit fields), e.g. `\"default\";q=60;w=60`",
                    ),
                );
                response.headers.insert(
                    "RateLimit".to_string(),
                    string_header("what is left of it, e.g. `\"default\";r=59;t=42`"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use utoipa::OpenApi;

    use super::*;
    use crate::Problem;

    #[derive(serde::Deserialize, utoipa::IntoParams)]
    #[allow(dead_code)]
    struct Q {
        n: Option<i64>,
    }

    #[utoipa::path(post, path = "/things/{id}", params(("id" = u32, Path), Q), request_body = String,
        responses((status = 201, description = "made"), (status = 503, body = Problem)))]
    #[allow(dead_code)]
    fn make() {}

    const LIMITED: RateLimited = RateLimited::except(&["/health"]);

    #[derive(OpenApi)]
    #[openapi(paths(make), components(schemas(Problem)), modifiers(&LIMITED))]
    struct Doc;

    #[test]
    fn the_frame_s_answers_are_documented_as_problems() {
        let mut doc = Doc::openapi();
        document_frame(&mut doc);
        let json = serde_json::to_value(&doc).unwrap();
        let responses = &json["paths"]["/things/{id}"]["post"]["responses"];
        for status in ["400", "404", "413", "415", "422", "429", "503"] {
            assert!(
                responses[status]["content"][PROBLEM_JSON].is_object(),
                "{status}: {}",
                responses[status]
            );
            assert!(responses[status]["content"]["application/json"].is_null());
        }
        assert!(responses["503"]["headers"]["Retry-After"].is_object());
        assert!(responses["429"]["headers"]["Retry-After"].is_object());
        assert!(responses["201"]["headers"]["RateLimit"].is_object());
    }
}
