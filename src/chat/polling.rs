//! The polling endpoints, shared by both servers:
//!
//! | request                  | answer                                                      |
//! |--------------------------|-------------------------------------------------------------|
//! | `GET /messages?since=N`  | 200, JSON array of the oldest messages with id > N, capped  |
//! | `HEAD /messages?since=N` | as GET, without the body                                    |
//! | `POST /messages`         | 201, the stored message; the body is a [`ClientMessage`]    |
//! | other method             | 405 with `Allow: GET, HEAD, POST`                           |
//! | other path               | 404                                                         |
//!
//! `since` absent means 0. One answer holds at most [`MAX_POLL_MESSAGES`] messages and about
//! [`MAX_POLL_BYTES`] of JSON (but always at least one message, so every poll makes progress):
//! a client joining a long log pages through it, asking again with `since` set to the highest
//! id it got. A capped answer says so with `Link: </messages?since=K>; rel="next"`
//! (RFC 8288 §3), so the client can ask again at once instead of after its poll interval.
//!
//! Errors carry `{"error": "<reason>"}`. A `since` the log cannot answer gets **410 Gone**
//! with `{"error": ..., "oldest_id": M, "newest_id": N}`:
//! - message `since+1` was evicted from the bounded log: the poller missed messages
//!   `since+1..M-1` and can resume with `since=M-1`;
//! - `since` is greater than N, the newest id stored: the server never gave out that id. It
//!   restarted (ids begin at 1 again) or the id is wrong; the poller should resume with
//!   `since=M-1` rather than skip this server's messages up to its old `since`.
//!
//! `since` equal to N is the normal empty poll: 200 with `[]`. Ids carry no mark of the
//! server run, so a restart shows only while a poller's `since` is above the new newest id.

use serde::Serialize;

use super::{ChatLog, ClientMessage, Gap, Room, StoredMessage, parse_client_message};
use crate::http::response::JSON;
use crate::http::{Request, Response};
use crate::stats::Stats;

/// The path of the polling endpoints.
pub const MESSAGES_PATH: &str = "/messages";
/// The methods `/messages` answers (RFC 9110 §15.5.6: a 405 MUST list them in Allow).
pub const MESSAGES_ALLOW: &str = "GET, HEAD, POST";

/// Most messages in one poll answer. Without a cap, `since=0` on a full log would build the
/// whole log (10,000 messages of up to ~16 KB) in memory for one connection, and a client
/// refusing large bodies could never get past it.
pub const MAX_POLL_MESSAGES: usize = 500;

/// Most bytes of JSON in one poll answer, unless its first message alone is larger.
pub const MAX_POLL_BYTES: usize = 1024 * 1024;

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
    newest_id: u64,
}

/// One poll answer's messages as a JSON array, and whether the cap cut it short.
struct Page {
    json: Vec<u8>,
    count: usize,
    last_id: u64,
    capped: bool,
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

    let messages = match room.log.since(since) {
        Ok(messages) => messages,
        Err(gap) => return gone(gap, &room.log),
    };
    let page = match page_of(messages) {
        Ok(page) => page,
        Err(err) => return Response::text(500, &format!("cannot encode messages: {err}")),
    };
    if counts && page.count == 0 {
        Stats::add(&room.stats.empty_polls, 1);
    }

    let response = Response::new(200)
        .header("Content-Type", JSON)
        .body(page.json);
    match page.capped {
        // RFC 8288 §3: the target of a "next" link is the following page.
        true => response.header(
            "Link",
            &format!("<{MESSAGES_PATH}?since={}>; rel=\"next\"", page.last_id),
        ),
        false => response,
    }
}

/// The oldest messages, up to [`MAX_POLL_MESSAGES`] and [`MAX_POLL_BYTES`], as the JSON
/// array `serde_json` would write for them. The first message always goes in, whatever its
/// size, so a poll never comes back empty while there is something newer.
fn page_of<'a>(
    messages: impl Iterator<Item = &'a StoredMessage>,
) -> Result<Page, serde_json::Error> {
    let mut page = Page {
        json: vec![b'['],
        count: 0,
        last_id: 0,
        capped: false,
    };
    for message in messages {
        let encoded = serde_json::to_vec(message)?;

        // The comma before it and the closing bracket after it count too.
        let too_big = page.json.len() + 1 + encoded.len() + 1 > MAX_POLL_BYTES;
        if page.count == MAX_POLL_MESSAGES || (page.count > 0 && too_big) {
            page.capped = true;
            break;
        }

        if page.count > 0 {
            page.json.push(b',');
        }
        page.json.extend(encoded);
        page.count += 1;
        page.last_id = message.id;
    }
    page.json.push(b']');
    Ok(page)
}

/// 410 Gone: the log cannot answer this `since`; the body says where to resume.
fn gone(gap: Gap, log: &ChatLog) -> Response {
    let error = match gap {
        Gap::Evicted { .. } => {
            "messages after since were evicted from the log; resume from oldest_id"
        }
        Gap::Unknown { .. } => {
            "this server does not know since: it is newer than newest_id (the server \
             restarted, or the id is wrong); resume from oldest_id"
        }
    };
    let body = GapBody {
        error,
        oldest_id: log.oldest_id(),
        newest_id: log.last_id(),
    };
    Response::json(410, &body)
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
    fn a_since_past_the_newest_id_gets_410_not_an_empty_list() {
        // A poller that saw ids up to 3 from an earlier run, asking a fresh server that
        // holds only 1 and 2: an empty 200 would make it skip both.
        let mut room = room(10);
        for _ in 0..2 {
            handle(&request("POST", "/messages", &[], HELLO), &mut room);
        }
        let newest = handle(&request("GET", "/messages?since=2", &[], b""), &mut room).response;
        assert_eq!((newest.status, json(&newest)), (200, serde_json::json!([])));

        let unknown = handle(&request("GET", "/messages?since=3", &[], b""), &mut room).response;
        let body = json(&unknown);
        assert_eq!(unknown.status, 410);
        assert_eq!(
            (&body["oldest_id"], &body["newest_id"]),
            (&1.into(), &2.into())
        );
        assert!(
            body["error"].as_str().unwrap().contains("restarted"),
            "{body}"
        );
    }

    fn post_many(room: &mut Room, count: usize, text_len: usize) {
        let text = "x".repeat(text_len);
        for _ in 0..count {
            room.post(ClientMessage {
                name: "A".into(),
                text: text.clone(),
                sent_at: 0.0,
            });
        }
    }

    fn ids(response: &Response) -> Vec<u64> {
        let messages = json(response);
        let messages = messages.as_array().unwrap();
        messages.iter().map(|m| m["id"].as_u64().unwrap()).collect()
    }

    fn next_link(response: &Response) -> Option<&str> {
        let links = response.headers.iter().filter(|(name, _)| name == "Link");
        links.map(|(_, value)| value.as_str()).next()
    }

    #[test]
    fn a_poll_answer_holds_at_most_max_poll_messages_oldest_first() {
        let mut room = room(2 * MAX_POLL_MESSAGES);
        post_many(&mut room, MAX_POLL_MESSAGES + 3, 1);
        let first = handle(&request("GET", "/messages?since=0", &[], b""), &mut room).response;
        let expected: Vec<u64> = (1..=MAX_POLL_MESSAGES as u64).collect();
        assert_eq!(ids(&first), expected);
        let link = format!("</messages?since={MAX_POLL_MESSAGES}>; rel=\"next\"");
        assert_eq!(next_link(&first), Some(link.as_str()));

        let target = format!("/messages?since={MAX_POLL_MESSAGES}");
        let rest = handle(&request("GET", &target, &[], b""), &mut room).response;
        assert_eq!(ids(&rest).len(), 3);
        assert_eq!(next_link(&rest), None, "the last page links nowhere");
    }

    #[test]
    fn a_poll_answer_stays_under_max_poll_bytes() {
        let mut room = room(1000);
        post_many(&mut room, 100, 16 * 1024);
        let page = handle(&request("GET", "/messages", &[], b""), &mut room).response;
        assert!(
            page.body.len() <= MAX_POLL_BYTES,
            "{} bytes",
            page.body.len()
        );
        let count = ids(&page).len();
        assert!((60..100).contains(&count), "{count} messages of 16 KiB");
        assert!(next_link(&page).is_some());
    }

    #[test]
    fn a_message_larger_than_the_byte_cap_still_goes_out_alone() {
        let mut room = room(10);
        post_many(&mut room, 2, MAX_POLL_BYTES);
        let first = handle(&request("GET", "/messages", &[], b""), &mut room).response;
        assert_eq!(ids(&first), [1]);
        let second = handle(&request("GET", "/messages?since=1", &[], b""), &mut room).response;
        assert_eq!(ids(&second), [2]);
    }

    #[test]
    fn a_page_is_the_json_serde_would_write() {
        let mut room = room(10);
        post_many(&mut room, 3, 5);
        let page = handle(&request("GET", "/messages", &[], b""), &mut room).response;
        let all: Vec<&StoredMessage> = room.log.since(0).unwrap().collect();
        assert_eq!(page.body, serde_json::to_vec(&all).unwrap());
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
