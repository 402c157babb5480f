//! Responses: a plain value type and its encoding into one contiguous buffer.

use std::time::SystemTime;

use serde::Serialize;

use super::{HttpError, RequestHead};

/// Content type of [`Response::json`] bodies.
pub const JSON: &str = "application/json";
/// Content type of [`Response::text`] bodies.
pub const TEXT: &str = "text/plain; charset=utf-8";

/// Header fields `encode` writes itself, so any the caller set are skipped.
const GENERATED_HEADERS: [&str; 2] = ["Content-Length", "Date"];

/// An HTTP/1.1 response before encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Close the connection after this response; encoded as `Connection: close`.
    pub close: bool,
}

impl Response {
    /// An empty response with `status`.
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            close: false,
        }
    }

    /// A JSON body. A value that cannot be serialized (a map with non-string keys) is a bug
    /// of ours, answered with 500.
    pub fn json<T: Serialize>(status: u16, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Response::new(status)
                .header("Content-Type", JSON)
                .body(body),
            Err(err) => Response::text(500, &format!("cannot encode response: {err}")),
        }
    }

    /// A plain-text body.
    pub fn text(status: u16, body: &str) -> Self {
        Response::new(status)
            .header("Content-Type", TEXT)
            .body(body.as_bytes().to_vec())
    }

    /// Add a header field.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Replace the body.
    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }

    /// Fit the connection handling to the request (RFC 9112 §9.3): close when the client
    /// asked to, and tell an HTTP/1.0 client that asked for keep-alive that it got it.
    pub fn for_request(mut self, head: &RequestHead) -> Self {
        if !head.keep_alive() {
            self.close = true;
        }
        if !self.close && head.minor_version == 0 {
            self = self.header("Connection", "keep-alive");
        }
        self
    }

    /// Serialize: status line, `Date` (RFC 9110 §6.6.1), the caller's headers,
    /// `Content-Length`, `Connection: close` when `close` is set, then the body.
    ///
    /// With `head_only` (answering HEAD) the body is left out but Content-Length still
    /// gives the length a GET would have had (RFC 9110 §9.3.2). 1xx, 204 and 304 responses
    /// never carry a body; 1xx and 204 get no Content-Length (RFC 9110 §8.6) and 304 none
    /// either, since we have no representation to describe.
    pub fn encode(&self, head_only: bool) -> Vec<u8> {
        self.encode_dated(head_only, SystemTime::now())
    }

    /// [`Self::encode`] with `date` in the `Date` header instead of the current time
    /// (RFC 9110 §6.6.1 wants the time the response was generated; a fixed date is for
    /// reproducible demonstration captures only).
    pub fn encode_dated(&self, head_only: bool, date: SystemTime) -> Vec<u8> {
        let bodiless = self.status_forbids_body();
        let mut out = Vec::with_capacity(128 + self.body.len());

        out.extend_from_slice(
            format!(
                "HTTP/1.1 {} {}\r\n",
                self.status,
                reason_phrase(self.status)
            )
            .as_bytes(),
        );
        push_header(&mut out, "Date", &httpdate::fmt_http_date(date));
        for (name, value) in &self.headers {
            if !GENERATED_HEADERS
                .iter()
                .any(|g| g.eq_ignore_ascii_case(name))
            {
                push_header(&mut out, name, value);
            }
        }
        if !bodiless {
            push_header(&mut out, "Content-Length", &self.body.len().to_string());
        }
        if self.close {
            push_header(&mut out, "Connection", "close");
        }
        out.extend_from_slice(b"\r\n");

        if !bodiless && !head_only {
            out.extend_from_slice(&self.body);
        }
        out
    }

    /// RFC 9110 §15.2, §15.3.5, §15.4.5: 1xx, 204 and 304 end at the header section.
    fn status_forbids_body(&self) -> bool {
        (100..200).contains(&self.status) || self.status == 204 || self.status == 304
    }
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The reason phrase of the statuses this crate sends (RFC 9110 §15), `""` for others
/// (the phrase is optional, RFC 9112 §4).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        410 => "Gone",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// The response to a refused request: its status, `{"error": "<reason>"}`, and close,
/// since after a framing error the rest of the stream cannot be trusted (RFC 9112 §9.6
/// lets a server close; for 400 from §6.3 it MUST).
pub fn error_response(err: &HttpError) -> Response {
    let mut response = Response::json(
        err.status(),
        &serde_json::json!({ "error": err.to_string() }),
    );
    response.close = true;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The encoded response as text with the Date line's value blanked, which varies.
    fn encoded(response: &Response, head_only: bool) -> String {
        let text = String::from_utf8(response.encode(head_only)).unwrap();
        text.lines()
            .map(|line| match line.starts_with("Date: ") {
                true => "Date: *",
                false => line,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn encode_dated_puts_the_given_instant_in_the_date_header_rfc_9110_section_6_6_1() {
        let date = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let text = String::from_utf8(Response::new(204).encode_dated(false, date)).unwrap();
        assert!(
            text.contains("\r\nDate: Tue, 14 Nov 2023 22:13:20 GMT\r\n"),
            "{text}"
        );
    }

    #[test]
    fn encode_writes_status_date_length_and_body() {
        let response = Response::text(200, "hi");
        assert_eq!(
            encoded(&response, false),
            "HTTP/1.1 200 OK\nDate: *\nContent-Type: text/plain; charset=utf-8\n\
             Content-Length: 2\n\nhi"
        );
    }

    #[test]
    fn rfc9110_6_6_1_date_is_an_imf_fixdate() {
        let bytes = Response::new(200).encode(false);
        let text = String::from_utf8(bytes).unwrap();
        let date = text.lines().find_map(|l| l.strip_prefix("Date: ")).unwrap();
        assert!(httpdate::parse_http_date(date).is_ok());
        assert!(date.ends_with(" GMT"));
    }

    #[test]
    fn rfc9110_9_3_2_head_gets_the_get_length_without_the_body() {
        let response = Response::text(200, "four");
        assert_eq!(
            encoded(&response, true),
            "HTTP/1.1 200 OK\nDate: *\nContent-Type: text/plain; charset=utf-8\n\
             Content-Length: 4\n"
        );
    }

    #[test]
    fn rfc9110_8_6_no_length_or_body_for_1xx_204_304() {
        for status in [100, 101, 204, 304] {
            let response = Response::text(status, "ignored");
            let text = encoded(&response, false);
            assert!(!text.contains("Content-Length"), "{status}");
            assert!(text.ends_with("charset=utf-8\n"), "{status}: {text}");
        }
    }

    #[test]
    fn close_adds_connection_close_and_caller_lengths_are_replaced() {
        let mut response = Response::new(404).header("Content-Length", "99");
        response.close = true;
        assert_eq!(
            encoded(&response, false),
            "HTTP/1.1 404 Not Found\nDate: *\nContent-Length: 0\nConnection: close\n"
        );
    }

    #[test]
    fn error_response_is_json_with_the_status_and_closes() {
        let response = error_response(&HttpError::LengthRequired);
        assert_eq!(response.status, 411);
        assert!(response.close);
        let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(body["error"], HttpError::LengthRequired.to_string());
    }

    #[test]
    fn rfc9112_9_3_for_request_follows_the_request_connection_semantics() {
        let head = |minor_version, connection: &str| RequestHead {
            method: "GET".into(),
            target: "/".into(),
            minor_version,
            headers: vec![crate::http::Header {
                name: "Connection".into(),
                value: connection.as_bytes().to_vec(),
            }],
        };
        assert!(Response::new(200).for_request(&head(1, "close")).close);
        assert!(!Response::new(200).for_request(&head(1, "")).close);
        assert!(Response::new(200).for_request(&head(0, "")).close);
        let kept = Response::new(200).for_request(&head(0, "keep-alive"));
        assert!(!kept.close);
        assert!(
            kept.headers
                .contains(&("Connection".into(), "keep-alive".into()))
        );
    }
}
