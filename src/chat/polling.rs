//! The polling endpoints, shared by both servers:
//!
//! | request                  | answer                                                      |
//! |--------------------------|-------------------------------------------------------------|
//! | `GET /messages?since=N`  | 200, JSON array of messages with id > N (`since` absent: 0) |
//! | `HEAD /messages?since=N` | as GET, without the body                                    |
//! | `POST /messages`         | 201, the stored message; the body is a [`ClientMessage`]    |
//! | other method             | 405 with `Allow: GET, HEAD, POST`                           |
//! | other path               | 404                                                         |
//!
//! Errors carry `{"error": "<reason>"}`. When message N+1 has been evicted from the log the
//! poll gets **410 Gone** with `{"error": ..., "oldest_id": M}`: the poller missed messages
//! N+1..M-1 and can resume with `since=M-1`.

use serde::Serialize;

use super::{ClientMessage, Room, StoredMessage, parse_client_message};
use crate::http::response::JSON;
use crate::http::{Request, Response};
use crate::stats::Stats;

/// The path of the polling endpoints.
pub const MESSAGES_PATH: &str = "/messages";
/// The methods `/messages` answers (RFC 9110 §15.5.6: a 405 MUST list them in Allow).
pub const MESSAGES_ALLOW: &str = "GET, HEAD, POST";

/// The answer to one request, and the message it stored, if any (the event loop pushes a
/// posted message to its WebSocket clients).
#[derive(Debug)]
pub struct Handled {
    pub response: Response,
    pub posted: Option<StoredMessage>,
}

impl From<Response> for Handled {
    fn from(response: Response) -> Self {
        Handled {
            response,
            posted: None,
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

#[derive(Serialize)]
struct GapBody<'a> {
    error: &'a str,
    oldest_id: u64,
}

/// Answer one request for the chat room. Connection handling (keep-alive, close) is left
/// to the caller; see [`Response::for_request`].
pub fn handle(req: &Request, room: &mut Room) -> Handled {
    if req.head.path() != MESSAGES_PATH {
        return error(404, "no such resource; the chat lives at /messages").into();
    }

    match req.head.method.as_str() {
        "GET" | "HEAD" => poll(req, room).into(),
        "POST" => post(req, room),
        _ => error(405, "/messages answers GET, HEAD and POST")
            .header("Allow", MESSAGES_ALLOW)
            .into(),
    }
}

/// `{"error": reason}` with `status`.
pub fn error(status: u16, reason: &str) -> Response {
    Response::json(status, &ErrorBody { error: reason })
}

/// GET or HEAD: the messages after `since`. Only a GET counts as a poll, matching the
/// Python experiment's "Polls (GET requests)".
fn poll(req: &Request, room: &Room) -> Response {
    let since = match since_param(req.head.query()) {
        Ok(since) => since,
        Err(reason) => return error(400, reason),
    };
    let counts = req.head.method == "GET";
    if counts {
        Stats::add(&room.stats.polls, 1);
    }

    match room.log.since(since) {
        Ok(messages) => {
            if counts && messages.is_empty() {
                Stats::add(&room.stats.empty_polls, 1);
            }
            Response::json(200, &messages)
        }
        Err(gap) => Response::json(
            410,
            &GapBody {
                error: "messages after since were evicted from the log; resume from oldest_id",
                oldest_id: gap.oldest_available,
            },
        ),
    }
}

/// `since=N` from the query: absent means 0; anything but decimal digits is refused.
fn since_param(query: Option<&str>) -> Result<u64, &'static str> {
    let value = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("since="));
    let Some(value) = value else {
        return Ok(0);
    };

    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err("since must be a message id (a non-negative integer)");
    }
    value.parse().map_err(|_| "since is out of range")
}

/// POST: store the message in the body.
fn post(req: &Request, room: &mut Room) -> Handled {
    // RFC 9110 §15.5.16: content of a type we do not read gets 415. A missing type is
    // taken as JSON, as the Python clients sent none.
    if let Some(content_type) = req.head.header("Content-Type")
        && !is_json(content_type)
    {
        return error(415, "POST /messages takes application/json")
            .header("Accept-Post", JSON)
            .into();
    }

    let message: ClientMessage = match parse_client_message(&req.body) {
        Ok(message) => message,
        Err(reason) => return error(400, &reason).into(),
    };
    let stored = room.post(message);
    Handled {
        response: Response::json(201, &stored),
        posted: Some(stored),
    }
}

/// `application/json`, with or without parameters such as `; charset=utf-8`.
fn is_json(content_type: &[u8]) -> bool {
    let essence = content_type.split(|&b| b == b';').next().unwrap_or(&[]);
    essence.trim_ascii().eq_ignore_ascii_case(JSON.as_bytes())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::http::{Header, RequestHead};

    fn request(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Request {
        Request {
            head: RequestHead {
                method: method.into(),
                target: target.into(),
                minor_version: 1,
                headers: headers
                    .iter()
                    .map(|(name, value)| Header {
                        name: name.to_string(),
                        value: value.as_bytes().to_vec(),
                    })
                    .collect(),
            },
            body: body.to_vec(),
        }
    }

    fn room(capacity: usize) -> Room {
        Room::new(capacity, Arc::new(Stats::new()), true)
    }

    fn json(response: &Response) -> serde_json::Value {
        serde_json::from_slice(&response.body).unwrap()
    }

    const HELLO: &[u8] = br#"{"name":"Alice","text":"hi","sent_at":1.0}"#;

    #[test]
    fn post_stores_and_returns_201_with_the_id() {
        let mut room = room(10);
        let handled = handle(&request("POST", "/messages", &[], HELLO), &mut room);
        assert_eq!(handled.response.status, 201);
        assert_eq!(json(&handled.response)["id"], 1);
        assert_eq!(handled.posted.map(|m| m.text), Some("hi".to_string()));
        assert_eq!(room.stats().snapshot().messages_posted, 1);
    }

    #[test]
    fn get_returns_newer_messages_and_counts_polls_and_empty_polls() {
        let mut room = room(10);
        handle(&request("POST", "/messages", &[], HELLO), &mut room);

        let all = handle(&request("GET", "/messages", &[], b""), &mut room).response;
        assert_eq!(
            (all.status, json(&all)[0]["name"].clone()),
            (200, "Alice".into())
        );
        let none = handle(&request("GET", "/messages?since=1", &[], b""), &mut room).response;
        assert_eq!(json(&none), serde_json::json!([]));

        let stats = room.stats().snapshot();
        assert_eq!((stats.polls, stats.empty_polls), (2, 1));
    }

    #[test]
    fn head_answers_like_get_without_counting_a_poll() {
        let mut room = room(10);
        let head = handle(&request("HEAD", "/messages", &[], b""), &mut room).response;
        assert_eq!((head.status, head.body.as_slice()), (200, &b"[]"[..]));
        assert_eq!(room.stats().snapshot().polls, 0);
    }

    #[test]
    fn an_evicted_since_gets_410_with_the_oldest_id() {
        let mut room = room(1);
        for _ in 0..3 {
            handle(&request("POST", "/messages", &[], HELLO), &mut room);
        }
        let gone = handle(&request("GET", "/messages?since=0", &[], b""), &mut room).response;
        assert_eq!(
            (gone.status, json(&gone)["oldest_id"].clone()),
            (410, 3.into())
        );
    }

    #[test]
    fn refusals_get_their_status_and_a_json_error() {
        type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], &'a [u8], u16);
        let cases: &[Case] = &[
            ("GET", "/messages?since=-1", &[], b"", 400),
            ("GET", "/messages?since=", &[], b"", 400),
            (
                "GET",
                "/messages?since=99999999999999999999999",
                &[],
                b"",
                400,
            ),
            ("POST", "/messages", &[], b"{}", 400),
            (
                "POST",
                "/messages",
                &[("Content-Type", "text/plain")],
                HELLO,
                415,
            ),
            ("DELETE", "/messages", &[], b"", 405),
            ("GET", "/nope", &[], b"", 404),
        ];
        for (method, target, headers, body, status) in cases {
            let mut room = room(10);
            let response = handle(&request(method, target, headers, body), &mut room).response;
            assert_eq!(response.status, *status, "{method} {target}");
            assert!(json(&response)["error"].is_string(), "{method} {target}");
        }
    }

    #[test]
    fn rfc9110_15_5_6_405_lists_the_allowed_methods() {
        let response = handle(&request("PUT", "/messages", &[], b""), &mut room(10)).response;
        assert!(
            response
                .headers
                .contains(&("Allow".into(), MESSAGES_ALLOW.into()))
        );
    }

    #[test]
    fn json_with_a_charset_parameter_is_accepted() {
        let headers = [("Content-Type", "Application/JSON; charset=utf-8")];
        let handled = handle(
            &request("POST", "/messages", &headers, HELLO),
            &mut room(10),
        );
        assert_eq!(handled.response.status, 201);
    }
}
