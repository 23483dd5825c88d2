//! Serving the OpenAPI documents built by [`crate::openapi`].

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;

use crate::error::Error;
use crate::registry::Registry;
use crate::server::routes::Route;
use crate::state::State;

/// `GET /openapi/v3` and `/openapi/v3/<group-version>`. `/openapi/v2` is not
/// served (404): kubectl only falls back to it when v3 is missing.
pub fn serve(state: &State, route: &Route, registry: &Registry) -> Result<Response, Error> {
    match route {
        Route::OpenApiV3Index => Ok(crate::handlers::respond(
            200,
            &state.openapi.index(registry),
            &[],
        )),
        Route::OpenApiV3(path) => {
            let doc = state
                .openapi
                .document_at(registry, path)
                .ok_or(Error::NoSuchResource)?;
            let mut resp = Response::new(Body::from(doc.body.as_ref().clone()));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", doc.hash)) {
                resp.headers_mut().insert(header::ETAG, etag);
            }
            Ok(resp)
        }
        _ => Err(Error::NoSuchResource),
    }
}
