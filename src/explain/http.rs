//! Explaining HTTP/1.1 heads, with the WebSocket opening handshake in detail
//! (RFC 9112, RFC 6455 §4).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha1::{Digest, Sha1};

use crate::http::{HttpError, Parsed, RequestHead, RequestParser, reason_phrase};
use crate::websocket::DeflateParams;
use crate::websocket::deflate::{self, EXTENSION_NAME};
use crate::websocket::handshake::{ACCEPT_GUID, KEY_LEN, check_upgrade_request, negotiate_deflate};

use super::deflate::{explain_agreed, explain_offers};
use super::layout::{Out, hex};

/// Headers read from a response head.
const MAX_RESPONSE_HEADERS: usize = 64;
/// The status that completes the opening handshake (RFC 6455 §4.2.2).
const SWITCHING_PROTOCOLS: u16 = 101;
/// Characters of a header value shown.
const MAX_VALUE_SHOWN: usize = 60;

/// What explaining a head found.
#[derive(Debug, PartialEq, Eq)]
pub enum HeadOutcome {
    /// Not all of the head (and body) is here yet.
    Incomplete,
    /// The head and body took this many bytes. For a request that asks to
    /// upgrade, `accept` is the value the server must answer with; for a
    /// response, `upgraded` says the connection now carries frames.
    Done {
        len: usize,
        accept: Option<String>,
        upgraded: bool,
        /// For a request, whether it offers permessage-deflate.
        offers_deflate: bool,
        /// For a 101, the permessage-deflate it agreed to; for a request,
        /// what `pushpull serve` would agree to.
        deflate: Option<DeflateParams>,
    },
    /// A rule was broken; nothing after it is explained.
    Broken,
}

/// Whether `buf` starts like a request line: an upper-case method and a space.
pub fn looks_like_request(buf: &[u8]) -> bool {
    let method_len = buf.iter().take_while(|b| b.is_ascii_uppercase()).count();
    method_len > 0 && buf.get(method_len) == Some(&b' ')
}

/// Whether `buf` starts like a status line.
pub fn looks_like_response(buf: &[u8]) -> bool {
    buf.starts_with(b"HTTP/")
}

/// Explain the request at the start of `buf`.
pub fn explain_request(buf: &[u8], note: &str, out: &mut Out) -> HeadOutcome {
    let mut parser = RequestParser::new(Default::default());
    parser.push(buf);
    let parsed = loop {
        match parser.next() {
            Ok(Some(Parsed::Continue)) => continue,
            Ok(Some(Parsed::Request(request))) => break Ok(request),
            Ok(None) => return HeadOutcome::Incomplete,
            Err(error) => break Err(error),
        }
    };
    let len = buf.len() - parser.take_buffered().len();

    let request = match parsed {
        Ok(request) => request,
        Err(error) => return request_refused(buf, &error, note, out),
    };
    out.line(&format!(
        "HTTP request (client → server), {len} bytes{note}"
    ));
    let head = &request.head;
    let line = format!(
        "{} {} HTTP/1.{}",
        head.method, head.target, head.minor_version
    );
    out.field(2, "request line", &line, "RFC 9112 §3");
    if !request.body.is_empty() {
        out.field(
            2,
            "body",
            &format!("{} bytes", request.body.len()),
            "RFC 9112 §6",
        );
    }

    if !head.has_token("Upgrade", "websocket") {
        list_headers(
            head.headers.iter().map(|h| (h.name.as_str(), &h.value[..])),
            out,
        );
        return HeadOutcome::Done {
            len,
            accept: None,
            upgraded: false,
            offers_deflate: false,
            deflate: None,
        };
    }
    explain_upgrade_request(head, len, out)
}

/// A request the HTTP parser refused: the rule and the status owed.
fn request_refused(buf: &[u8], error: &HttpError, note: &str, out: &mut Out) -> HeadOutcome {
    out.line(&format!("HTTP request (client → server){note}"));
    let first = buf.split(|&b| b == b'\n').next().unwrap_or_default();
    let first = String::from_utf8_lossy(first);
    out.field(2, "request line", first.trim_end(), "RFC 9112 §3");
    let status = error.status();
    let answer = format!("the server answers {status} {}", reason_phrase(status));
    out.broken(&error.to_string(), "RFC 9112", &answer, "RFC 9110 §15");
    HeadOutcome::Broken
}

/// The headers of an Upgrade request one by one, then the verdict of
/// [`check_upgrade_request`].
fn explain_upgrade_request(head: &RequestHead, len: usize, out: &mut Out) -> HeadOutcome {
    let mut others = Vec::new();
    for header in &head.headers {
        let value = String::from_utf8_lossy(&header.value);
        match header.name.to_ascii_lowercase().as_str() {
            "host" => out.field(2, &header.name, &value, "RFC 9112 §3.2"),
            "upgrade" => {
                out.field(2, &header.name, &value, "RFC 6455 §4.2.1");
                out.field(2, "", "the protocol asked for instead of HTTP", "");
            }
            "connection" => {
                out.field(2, &header.name, &value, "RFC 6455 §4.2.1");
                out.field(
                    2,
                    "",
                    "must list the upgrade token (any case)",
                    "RFC 9110 §7.6.1",
                );
            }
            "sec-websocket-key" => explain_key(&header.name, value.trim(), out),
            "sec-websocket-version" => {
                out.field(2, &header.name, &value, "RFC 6455 §4.1");
                out.field(
                    2,
                    "",
                    "13 is the only version RFC 6455 defines",
                    "RFC 6455 §4.4",
                );
            }
            "sec-websocket-extensions" => {
                out.field(2, &header.name, &cut_value(&value), "RFC 6455 §9.1");
                explain_offers(&header.value, out);
            }
            _ => others.push(header.name.as_str()),
        }
    }
    if !others.is_empty() {
        out.field(2, "other headers", &others.join(", "), "");
    }

    // RFC 6455 §4.2.1: the server checks each requirement in turn.
    match check_upgrade_request(head) {
        Ok(accept) => {
            let verdict = "a valid opening handshake: the server answers 101";
            out.field(2, "verdict", verdict, "RFC 6455 §4.2.2");
            let offers_deflate = head.headers_named("Sec-WebSocket-Extensions").any(|value| {
                deflate::parse_extensions([value]).is_ok_and(|extensions| {
                    extensions
                        .iter()
                        .any(|e| e.name.eq_ignore_ascii_case(EXTENSION_NAME))
                })
            });
            HeadOutcome::Done {
                len,
                accept: Some(accept),
                upgraded: true,
                offers_deflate,
                deflate: negotiate_deflate(head).map(|(params, _)| params),
            }
        }
        Err(error) => {
            let status = error.status;
            let answer = format!("the server answers {status} {}", reason_phrase(status));
            out.broken(&error.reason, "RFC 6455 §4.2.1", &answer, "RFC 6455 §4.2.2");
            HeadOutcome::Broken
        }
    }
}

/// The key, what it decodes to, and the accept value computed step by step
/// (RFC 6455 §4.2.2 step 5.4).
fn explain_key(name: &str, key: &str, out: &mut Out) {
    out.field(2, name, key, "RFC 6455 §4.1");
    match BASE64.decode(key) {
        Ok(nonce) if nonce.len() == KEY_LEN => {
            out.field(2, "", &format!("base64 of 16 bytes: {}", hex(&nonce)), "");
            if nonce.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
                let text = String::from_utf8_lossy(&nonce);
                out.field(2, "", &format!("(as text {text:?})"), "");
            }
        }
        _ => out.field(2, "", "does not decode to 16 bytes", "RFC 6455 §4.1"),
    }

    let joined = format!("{key}{ACCEPT_GUID}");
    let digest = Sha1::digest(joined.as_bytes());
    out.field(
        2,
        "",
        "the server's Sec-WebSocket-Accept:",
        "RFC 6455 §4.2.2",
    );
    out.field(6, "1. key + GUID", &joined, "");
    out.field(6, "2. SHA-1", &hex(&digest), "");
    out.field(6, "3. base64", &BASE64.encode(digest), "");
}

/// What the request of this connection asked for, if it is in the bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Asked<'a> {
    /// The accept value its key calls for.
    pub accept: Option<&'a str>,
    /// Whether it offered permessage-deflate.
    pub offered_deflate: Option<bool>,
}

/// Explain the response at the start of `buf`, checked against what the
/// request asked for.
pub fn explain_response(buf: &[u8], asked: Asked<'_>, note: &str, out: &mut Out) -> HeadOutcome {
    let mut headers = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return HeadOutcome::Incomplete,
        Err(error) => {
            out.line(&format!("HTTP response (server → client){note}"));
            let rule = format!("malformed response head: {error}");
            let answer = "the client must fail the WebSocket connection";
            out.broken(&rule, "RFC 9112 §4", answer, "RFC 6455 §4.1");
            return HeadOutcome::Broken;
        }
    };
    let status = response.code.unwrap_or_default();
    let Some(len) = body_end(status, response.headers, head_len, buf.len()) else {
        return HeadOutcome::Incomplete;
    };

    out.line(&format!(
        "HTTP response (server → client), {len} bytes{note}"
    ));
    let reason = response.reason.unwrap_or_default();
    let line = format!("HTTP/1.{} {status} {reason}", response.version.unwrap_or(1));
    out.field(2, "status line", &line, "RFC 9112 §4");
    if status != SWITCHING_PROTOCOLS {
        list_headers(response.headers.iter().map(|h| (h.name, h.value)), out);
        if len > head_len {
            out.field(
                2,
                "body",
                &format!("{} bytes", len - head_len),
                "RFC 9112 §6",
            );
        }
        return HeadOutcome::Done {
            len,
            accept: None,
            upgraded: false,
            offers_deflate: false,
            deflate: None,
        };
    }
    explain_switching(response.headers, asked, len, out)
}

/// Where the body after a head of `head_len` bytes ends: `None` until it is
/// all here. Only Content-Length bodies are followed (RFC 9112 §6.3); a
/// chunked or close-delimited body is taken to run to the end of the bytes.
fn body_end(
    status: u16,
    headers: &[httparse::Header<'_>],
    head_len: usize,
    have: usize,
) -> Option<usize> {
    // RFC 9110 §6.4.1: 1xx, 204 and 304 responses have no body.
    if (100..200).contains(&status) || status == 204 || status == 304 {
        return Some(head_len);
    }
    let length = headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("Content-Length"))
        .and_then(|h| {
            std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<usize>()
                .ok()
        });
    match length {
        Some(length) => {
            let end = head_len.checked_add(length)?;
            (have >= end).then_some(end)
        }
        None => Some(have),
    }
}

/// A 101 response, checked the way a client must (RFC 6455 §4.1).
fn explain_switching(
    headers: &[httparse::Header<'_>],
    asked: Asked<'_>,
    len: usize,
    out: &mut Out,
) -> HeadOutcome {
    out.field(
        2,
        "",
        "101: the handshake is complete, frames follow",
        "RFC 6455 §4.2.2",
    );
    let mut others = Vec::new();
    let mut problem = None;
    for header in headers {
        let value = String::from_utf8_lossy(header.value);
        match header.name.to_ascii_lowercase().as_str() {
            "upgrade" | "connection" => out.field(2, header.name, &value, "RFC 6455 §4.1"),
            "sec-websocket-accept" => {
                out.field(2, header.name, &value, "RFC 6455 §4.1");
                problem = problem.or(check_accept(value.trim(), asked.accept, out));
            }
            "sec-websocket-extensions" => {
                out.field(2, header.name, &cut_value(&value), "RFC 6455 §9.1");
            }
            "sec-websocket-protocol" => {
                out.field(2, header.name, &value, "RFC 6455 §4.1");
                problem = problem.or(Some("server selected something the client did not offer"));
            }
            _ => others.push(header.name),
        }
    }
    if !others.is_empty() {
        out.field(2, "other headers", &others.join(", "), "");
    }

    let has = |name: &str, token: &str| {
        headers.iter().any(|h| {
            h.name.eq_ignore_ascii_case(name)
                && h.value
                    .split(|&b| b == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
        })
    };
    if !has("Upgrade", "websocket") {
        problem = problem.or(Some("Upgrade header does not name websocket"));
    } else if !has("Connection", "upgrade") {
        problem = problem.or(Some("Connection header lacks the upgrade token"));
    }

    if let Some(rule) = problem {
        let answer = "the client must fail the WebSocket connection";
        out.broken(rule, "RFC 6455 §4.1", answer, "RFC 6455 §4.1");
        return HeadOutcome::Broken;
    }
    let Ok(deflate) = explain_extensions_answer(headers, asked.offered_deflate, out) else {
        return HeadOutcome::Broken;
    };
    HeadOutcome::Done {
        len,
        accept: None,
        upgraded: true,
        offers_deflate: false,
        deflate,
    }
}

/// The extensions a 101 selects, checked the way a client must (RFC 6455
/// §9.1, RFC 7692 §7): only permessage-deflate, only if it was offered
/// (when the request is in the bytes), with valid parameters. `Err` when a
/// rule is broken (already explained).
fn explain_extensions_answer(
    headers: &[httparse::Header<'_>],
    offered: Option<bool>,
    out: &mut Out,
) -> Result<Option<DeflateParams>, ()> {
    let values: Vec<&[u8]> = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("Sec-WebSocket-Extensions"))
        .map(|h| h.value)
        .collect();
    let answer = "the client must fail the WebSocket connection";
    let params = match deflate::agreed_params(values.iter().copied()) {
        Ok(params) => params,
        Err(error) => {
            out.broken(&error.to_string(), "RFC 7692 §7", answer, "RFC 6455 §4.1");
            return Err(());
        }
    };
    let Some(params) = params else {
        return Ok(None);
    };
    if offered == Some(false) {
        let rule = "server selected permessage-deflate, which the client did not offer";
        out.broken(rule, "RFC 6455 §9.1", answer, "RFC 6455 §4.1");
        return Err(());
    }

    // agreed_params accepted it, so it is one permessage-deflate element.
    let extensions = values
        .iter()
        .filter_map(|value| deflate::parse_extensions([*value]).ok())
        .flatten();
    if let Some(element) = extensions.last() {
        explain_agreed(&element, &params, out);
    }
    Ok(Some(params))
}

/// Compare the accept value with the one the key calls for, if it is known.
fn check_accept(value: &str, expected: Option<&str>, out: &mut Out) -> Option<&'static str> {
    match expected {
        Some(expected) if expected == value => {
            out.field(2, "", "matches the key of the request (computed above)", "");
            None
        }
        Some(_) => Some("Sec-WebSocket-Accept does not match the request's key"),
        None => {
            out.field(
                2,
                "",
                "the request is not in these bytes, so it is not checked",
                "",
            );
            None
        }
    }
}

/// Headers that play no part in the upgrade, name and (cut) value.
fn list_headers<'a>(headers: impl Iterator<Item = (&'a str, &'a [u8])>, out: &mut Out) {
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value);
        out.field(2, name, &cut_value(&value), "");
    }
}

/// A header value cut to [`MAX_VALUE_SHOWN`] characters, marked if cut.
fn cut_value(value: &str) -> String {
    let shown: String = value.chars().take(MAX_VALUE_SHOWN).collect();
    let cut = if shown.len() < value.len() {
        " ..."
    } else {
        ""
    };
    format!("{shown}{cut}")
}
