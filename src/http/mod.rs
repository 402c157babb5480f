//! Sans-I/O HTTP/1.1 (RFC 9112): the request head type shared by the polling endpoints and
//! the WebSocket opening handshake.
//!
//! - [`chunked`]: the decoder of the chunked transfer coding both parsers share.
//! - [`request`]: the incremental request parser ([`RequestParser`]) and its [`Limits`].
//! - [`response`]: the [`Response`] value type and its encoding.
//! - [`response_parser`]: the incremental response parser ([`ResponseParser`]) that the
//!   polling client reads answers with.
//! - [`error`]: [`HttpError`], why a request was refused, mapped to a status in one place.

pub mod chunked;
pub mod error;
pub mod request;
pub mod response;
pub mod response_parser;

pub use chunked::{ChunkedDecoder, ChunkedError, ChunkedLimits};
pub use error::HttpError;
pub use request::{Limits, Parsed, Request, RequestParser};
pub use response::{Response, error_response, reason_phrase};
pub use response_parser::{ResponseError, ResponseParser};

/// The CR LF that ends every line (RFC 9112 §2.1).
const CRLF: &[u8] = b"\r\n";

/// A line without the CR before its LF. RFC 9112 §2.2 lets a recipient take a bare LF
/// as the end of a line, so the CR is optional.
fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// One header field as it arrived. Names compare case-insensitively (RFC 9110 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: Vec<u8>,
}

/// Copy the header fields httparse found (borrowed from the read buffer) into owned
/// [`Header`]s, in the order received. Both parsers and the handshake tests use it.
pub(crate) fn headers_from_httparse(fields: &[httparse::Header<'_>]) -> Vec<Header> {
    fields
        .iter()
        .map(|field| Header {
            name: field.name.to_string(),
            value: field.value.to_vec(),
        })
        .collect()
}

/// A parsed request line and header section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    /// The request target as sent, e.g. `/messages?since=3`.
    pub target: String,
    /// The minor version of HTTP/1.x: 0 or 1.
    pub minor_version: u8,
    pub headers: Vec<Header>,
}

impl RequestHead {
    /// The first value of the header `name`, if present.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_slice())
    }

    /// Every value of the header `name`, in the order received.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_slice())
    }

    /// Whether any `name` header holds `token` in its comma-separated list, compared
    /// case-insensitively (RFC 9110 §5.6.1: `Connection: keep-alive, Upgrade`).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers_named(name).any(|value| {
            value
                .split(|&b| b == b',')
                .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
        })
    }

    /// The path part of the target, without the query.
    pub fn path(&self) -> &str {
        let (path, _) = self.path_and_query();
        path
    }

    /// The query part of the target, without the `?`.
    pub fn query(&self) -> Option<&str> {
        let (_, query) = self.path_and_query();
        query
    }

    /// The target split at the first `?`, in origin form. RFC 9112 §3.2.2: a server MUST
    /// accept the absolute-form (`http://host/path?query`) too, which clients send to
    /// proxies; its scheme and authority are dropped, and an empty path means `/`
    /// (RFC 9112 §3.2.1). Authority-form and asterisk-form targets are left as they are.
    fn path_and_query(&self) -> (&str, Option<&str>) {
        let origin_form = match absolute_form_rest(&self.target) {
            Some(rest) => rest,
            None => self.target.as_str(),
        };
        let (path, query) = match origin_form.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (origin_form, None),
        };
        match path.is_empty() && origin_form.len() < self.target.len() {
            true => ("/", query),
            false => (path, query),
        }
    }
}

/// For an absolute-form target (RFC 9112 §3.2.2), what follows its authority: the path
/// and query, possibly empty. `None` for any other form.
fn absolute_form_rest(target: &str) -> Option<&str> {
    // RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
    let (scheme, hier_part) = target.split_once("://")?;
    let mut scheme_chars = scheme.chars();
    let starts_with_letter = scheme_chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let scheme_ok = scheme_chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !starts_with_letter || !scheme_ok {
        return None;
    }

    // RFC 3986 §3.2: the authority ends at the first "/", "?" or "#".
    let authority_end = hier_part.find(['/', '?', '#']).unwrap_or(hier_part.len());
    Some(&hier_part[authority_end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(headers: &[(&str, &str)]) -> RequestHead {
        RequestHead {
            method: "GET".into(),
            target: "/messages?since=4".into(),
            minor_version: 1,
            headers: headers
                .iter()
                .map(|(n, v)| Header {
                    name: n.to_string(),
                    value: v.as_bytes().to_vec(),
                })
                .collect(),
        }
    }

    #[test]
    fn connection_token_is_found_in_a_browser_style_list() {
        let h = head(&[("connection", "keep-alive, Upgrade")]);
        assert!(h.has_token("Connection", "upgrade"));
        assert!(!h.has_token("Connection", "close"));
    }

    #[test]
    fn path_and_query_split_at_the_question_mark() {
        let h = head(&[]);
        assert_eq!(h.path(), "/messages");
        assert_eq!(h.query(), Some("since=4"));
    }

    #[test]
    fn rfc9112_3_2_2_absolute_form_targets_are_accepted() {
        let cases = [
            (
                "http://example.com/messages?since=4",
                "/messages",
                Some("since=4"),
            ),
            ("HTTP://example.com:8080/ws", "/ws", None),
            ("http://example.com", "/", None),
            ("http://example.com?since=1", "/", Some("since=1")),
            (
                "/messages?next=http://example.com/x",
                "/messages",
                Some("next=http://example.com/x"),
            ),
            ("*", "*", None),
            ("example.com:443", "example.com:443", None),
        ];
        for (target, path, query) in cases {
            let h = RequestHead {
                target: target.into(),
                ..head(&[])
            };
            assert_eq!((h.path(), h.query()), (path, query), "{target}");
        }
    }
}
