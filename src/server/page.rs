//! The chat page served at `/` by the event-loop server: one self-contained HTML file with
//! its CSS and JavaScript inline, compiled into the binary so the server needs no files.

use crate::http::Response;
use crate::http::request::Request;

/// The page's bytes, as written in `page/index.html`.
pub const INDEX_HTML: &str = include_str!("page/index.html");

/// Answer `GET /` and `HEAD /`; anything else on `/` is 405.
pub fn serve(request: &Request) -> Response {
    match request.head.method.as_str() {
        "GET" | "HEAD" => Response::new(200)
            .header("Content-Type", "text/html; charset=utf-8")
            .header("Cache-Control", "no-store")
            .body(INDEX_HTML.as_bytes().to_vec()),
        _ => crate::chat::polling::error(405, "use GET on /").header("Allow", "GET, HEAD"),
    }
}
