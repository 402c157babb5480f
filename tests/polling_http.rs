//! Both polling servers over real sockets on 127.0.0.1: framing byte for byte, keep-alive,
//! refusals and their statuses, and the counters. Every test runs once against the
//! thread-per-request server and once against the event loop, since both must speak the
//! same HTTP (they share the parser and the endpoint code, but not the I/O).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use pushpull::chat::DEFAULT_LOG_CAPACITY;
use pushpull::chat::message::MAX_TEXT_CHARS;
use pushpull::chat::polling::{MAX_POLL_BYTES, MAX_POLL_MESSAGES};
use pushpull::http::Limits;
use pushpull::server::event_loop::{EventLoopConfig, EventLoopHandle, EventLoopServer};
use pushpull::server::threaded::{ThreadedConfig, ThreadedHandle, ThreadedServer};
use pushpull::stats::Stats;

/// Every read in these tests gives up after this.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
const POST_HELLO: &[u8] =
    b"POST /messages HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
    Content-Length: 42\r\n\r\n{\"name\":\"Alice\",\"text\":\"hi\",\"sent_at\":1.0}";

/// The request deadline for tests that don't exercise it.
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Threaded,
    EventLoop,
}

/// Either server, started on an ephemeral port.
enum Server {
    Threaded(ThreadedHandle),
    EventLoop(EventLoopHandle),
}

impl Server {
    fn local_addr(&self) -> std::net::SocketAddr {
        match self {
            Server::Threaded(s) => s.local_addr(),
            Server::EventLoop(s) => s.local_addr(),
        }
    }

    fn stats(&self) -> std::sync::Arc<Stats> {
        match self {
            Server::Threaded(s) => s.stats(),
            Server::EventLoop(s) => s.stats(),
        }
    }

    fn shutdown(self) {
        match self {
            Server::Threaded(s) => s.shutdown(),
            Server::EventLoop(s) => s.shutdown().unwrap(),
        }
    }
}

/// Start a server whose request deadline (and idle keep-alive limit) is `timeout`.
fn start(kind: Kind, timeout: Duration) -> Server {
    start_with_log(kind, timeout, DEFAULT_LOG_CAPACITY)
}

/// Start a server whose chat log keeps `log_capacity` messages.
fn start_with_log(kind: Kind, timeout: Duration, log_capacity: usize) -> Server {
    let addr = "127.0.0.1:0".parse().unwrap();
    match kind {
        Kind::Threaded => {
            let config = ThreadedConfig {
                quiet: true,
                request_timeout: timeout,
                log_capacity,
                ..ThreadedConfig::default()
            };
            Server::Threaded(ThreadedServer::bind(addr, config).unwrap().spawn().unwrap())
        }
        Kind::EventLoop => {
            let config = EventLoopConfig {
                quiet: true,
                request_timeout: timeout,
                idle_timeout: timeout,
                log_capacity,
                ..EventLoopConfig::default()
            };
            Server::EventLoop(
                EventLoopServer::bind(addr, config)
                    .unwrap()
                    .spawn()
                    .unwrap(),
            )
        }
    }
}

/// Turn each `fn name(kind: Kind)` into two tests, `threaded::name` and `event_loop::name`.
macro_rules! on_both_servers {
    ($($name:ident),* $(,)?) => {
        mod threaded {
            $( #[test] fn $name() { super::$name(super::Kind::Threaded) } )*
        }
        mod event_loop {
            $( #[test] fn $name() { super::$name(super::Kind::EventLoop) } )*
        }
    };
}

/// One response as read off the wire: the head with the Date value blanked, and the body.
#[derive(Debug)]
struct Answer {
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn status(&self) -> u16 {
        self.head[9..12].parse().unwrap()
    }

    fn text(&self) -> String {
        format!("{}{}", self.head, String::from_utf8_lossy(&self.body))
    }
}

struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    fn connect(server: &Server) -> Client {
        let stream = TcpStream::connect(server.local_addr()).unwrap();
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Read more bytes; false at end of stream.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        let n = self
            .stream
            .read(&mut chunk)
            .expect("read within the timeout");
        self.buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    /// Exactly `len` bytes, raw.
    fn read_exact_bytes(&mut self, len: usize) -> Vec<u8> {
        while self.buf.len() < len {
            assert!(self.fill(), "connection closed early");
        }
        self.buf.drain(..len).collect()
    }

    /// One response; `head_only` for an answer to HEAD, which has no body.
    fn read_answer(&mut self, head_only: bool) -> Answer {
        let head_end = loop {
            if let Some(pos) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos + 4;
            }
            assert!(self.fill(), "connection closed before a response head");
        };
        let head = String::from_utf8(self.buf.drain(..head_end).collect()).unwrap();

        // RFC 9110 §6.6.1 and §8.6: every answer these servers give (none is 1xx, 204 or
        // 304 here) carries Date and Content-Length, so every test checks both.
        assert!(head.contains("\r\nDate: "), "no Date in {head}");
        assert!(
            head.contains("\r\nContent-Length: "),
            "no Content-Length in {head}"
        );
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .map_or(0, |v| v.parse().unwrap());
        let body = match head_only {
            true => Vec::new(),
            false => self.read_exact_bytes(length),
        };
        Answer {
            head: blank_date(&head),
            body,
        }
    }

    /// Whether the server closed the connection (after everything already read).
    fn closed_by_server(&mut self) -> bool {
        let mut chunk = [0u8; 1];
        matches!(self.stream.read(&mut chunk), Ok(0)) && self.buf.is_empty()
    }
}

fn blank_date(head: &str) -> String {
    head.split("\r\n")
        .map(|line| match line.starts_with("Date: ") {
            true => "Date: *",
            false => line,
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

fn get(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes()
}

/// Send `request` on a new connection and read the answer.
fn exchange(server: &Server, request: &[u8]) -> (Answer, Client) {
    let mut client = Client::connect(server);
    client.send(request);
    (client.read_answer(false), client)
}

fn request_written_one_byte_at_a_time_gets_a_byte_exact_answer(kind: Kind) {
    let server = start(kind, TIMEOUT);
    let mut client = Client::connect(&server);
    for byte in get("/messages?since=0") {
        client.send(&[byte]);
    }
    assert_eq!(
        client.read_answer(false).text(),
        "HTTP/1.1 200 OK\r\nDate: *\r\nContent-Type: application/json\r\n\
         Content-Length: 2\r\n\r\n[]"
    );
}

fn rfc9112_9_3_2_two_requests_in_one_write_are_answered_in_order(kind: Kind) {
    let server = start(kind, TIMEOUT);
    let mut client = Client::connect(&server);
    client.send(&[POST_HELLO, &get("/messages?since=0")].concat());

    let posted = client.read_answer(false);
    assert_eq!(posted.status(), 201);
    assert_eq!(
        posted.body,
        br#"{"id":1,"name":"Alice","text":"hi","sent_at":1.0}"#
    );
    let polled = client.read_answer(false);
    assert_eq!(polled.status(), 200);
    assert_eq!(
        polled.body,
        br#"[{"id":1,"name":"Alice","text":"hi","sent_at":1.0}]"#
    );
}

fn rfc9110_10_1_1_body_follows_100_continue(kind: Kind) {
    let server = start(kind, TIMEOUT);
    let mut client = Client::connect(&server);
    let (head, body) = POST_HELLO.split_at(POST_HELLO.len() - 42);
    let head = [
        &head[..head.len() - 2],
        &b"Expect: 100-continue\r\n\r\n"[..],
    ]
    .concat();

    client.send(&head);
    let interim = client.read_exact_bytes(b"HTTP/1.1 100 Continue\r\n\r\n".len());
    assert_eq!(interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    client.send(body);
    assert_eq!(client.read_answer(false).status(), 201);
}

fn rfc9110_9_3_2_head_gets_the_get_length_and_no_body(kind: Kind) {
    let server = start(kind, TIMEOUT);
    exchange(&server, POST_HELLO);
    let mut client = Client::connect(&server);

    client.send(b"HEAD /messages HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = client.read_answer(true);
    client.send(&get("/messages"));
    let full = client.read_answer(false);

    let length = format!("Content-Length: {}\r\n", full.body.len());
    assert!(head.head.contains(&length), "{}", head.head);
    // Had HEAD carried a body, the GET's answer would have started inside it.
    assert_eq!(full.status(), 200);
}

fn refusals_get_their_status_and_a_json_error(kind: Kind) {
    let limits = Limits::default();
    let long_target = format!(
        "GET /{} HTTP/1.1\r\nHost: t\r\n\r\n",
        "a".repeat(limits.max_line)
    );
    let big_header = format!(
        "GET / HTTP/1.1\r\nHost: t\r\n{}\r\n",
        format!("X-Pad: {}\r\n", "0".repeat(3000)).repeat(3)
    );
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("unknown path", get("/nope"), 404),
        // The threaded server has no WebSocket at all; the event loop refuses a plain GET.
        (
            "no upgrade on /ws",
            get("/ws"),
            if kind == Kind::Threaded { 501 } else { 400 },
        ),
        ("bad since", get("/messages?since=x"), 400),
        (
            "no Host, RFC 9112 §3.2",
            b"GET /messages HTTP/1.1\r\n\r\n".to_vec(),
            400,
        ),
        ("garbage", b"\x16\x03\x01 hello\r\n\r\n".to_vec(), 400),
        (
            "POST without length",
            b"POST /messages HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(),
            411,
        ),
        (
            "body over max_body",
            b"POST /messages HTTP/1.1\r\nHost: t\r\nContent-Length: 70000\r\n\r\n".to_vec(),
            413,
        ),
        ("request line too long", long_target.into_bytes(), 414),
        ("head too large", big_header.into_bytes(), 431),
        (
            "too many header fields",
            format!(
                "GET /messages HTTP/1.1\r\nHost: t\r\n{}\r\n",
                "X-A: b\r\n".repeat(limits.max_headers)
            )
            .into_bytes(),
            431,
        ),
        (
            "method not allowed",
            b"PUT /messages HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n".to_vec(),
            405,
        ),
        (
            "a transfer coding other than chunked, RFC 9112 §6.1",
            b"POST /messages HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                .to_vec(),
            501,
        ),
        (
            "bad JSON",
            b"POST /messages HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{]".to_vec(),
            400,
        ),
    ];
    let server = start(kind, TIMEOUT);
    let refusals = cases.len() as u64;
    for (name, request, status) in cases {
        let (answer, _) = exchange(&server, &request);
        assert_eq!(answer.status(), status, "{name}");
        assert!(answer.body.starts_with(br#"{"error":"#), "{name}");
    }
    // Whichever layer refused, each refusal counts once as an HTTP error.
    assert_eq!(server.stats().snapshot().http_errors, refusals);
}

fn parser_refusals_close_the_connection(kind: Kind) {
    let server = start(kind, TIMEOUT);
    let (answer, mut client) = exchange(&server, b"POST /messages HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(answer.status(), 411);
    assert!(answer.head.contains("Connection: close\r\n"));
    assert!(client.closed_by_server());
}

fn rfc9110_15_5_6_method_not_allowed_lists_allow(kind: Kind) {
    let server = start(kind, TIMEOUT);
    let (answer, _) = exchange(&server, b"DELETE /messages HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(answer.status(), 405);
    assert!(answer.head.contains("Allow: GET, HEAD, POST\r\n"));
}

fn rfc9112_9_3_http11_keeps_alive_until_connection_close(kind: Kind) {
    let server = start(kind, TIMEOUT);
    let mut client = Client::connect(&server);
    for _ in 0..3 {
        client.send(&get("/messages"));
        assert_eq!(client.read_answer(false).status(), 200);
    }

    client.send(b"GET /messages HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let last = client.read_answer(false);
    assert!(last.head.contains("Connection: close\r\n"));
    assert!(client.closed_by_server());
    assert_eq!(server.stats().snapshot().connections_opened, 1);
}

/// The FIN arrives right behind the request: reading the request empties the socket but for
/// the end of stream, which the event loop must still notice (no later event announces it).
fn a_request_with_the_fin_right_behind_it_is_answered_then_closed(kind: Kind) {
    let server = start(kind, TIMEOUT);
    let mut client = Client::connect(&server);
    client.send(&get("/messages"));
    client.stream.shutdown(std::net::Shutdown::Write).unwrap();

    assert_eq!(client.read_answer(false).status(), 200);
    assert!(client.closed_by_server());
}

fn rfc9112_9_3_http10_closes_unless_keep_alive(kind: Kind) {
    let server = start(kind, TIMEOUT);
    let (answer, mut client) = exchange(&server, b"GET /messages HTTP/1.0\r\n\r\n");
    assert!(answer.head.contains("Connection: close\r\n"));
    assert!(client.closed_by_server());

    let kept = b"GET /messages HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    let (answer, mut client) = exchange(&server, kept);
    assert!(answer.head.contains("Connection: keep-alive\r\n"));
    client.send(kept);
    assert_eq!(client.read_answer(false).status(), 200);
}

fn polls_and_empty_polls_are_counted(kind: Kind) {
    let server = start(kind, TIMEOUT);
    exchange(&server, POST_HELLO);
    let mut client = Client::connect(&server);
    for since in [0, 1, 1, 1] {
        client.send(&get(&format!("/messages?since={since}")));
        client.read_answer(false);
    }

    let stats = server.stats().snapshot();
    assert_eq!(stats.polls, 4);
    assert_eq!(stats.empty_polls, 3);
    assert_eq!(stats.messages_posted, 1);
    assert_eq!(stats.connections_opened, 2);
    assert_eq!(stats.http_requests, 5);
}

/// The chat endpoints' own refusals count as HTTP errors on both servers, as the
/// parser's do; the answers that succeed do not.
fn chat_endpoint_refusals_are_counted_as_http_errors(kind: Kind) {
    let bad_body = b"POST /messages HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{]";
    let server = start_with_log(kind, TIMEOUT, 1);
    let mut client = Client::connect(&server);
    let exchanges: [(&[u8], u16); 5] = [
        (POST_HELLO, 201),
        (&get("/messages?since=x"), 400),
        (bad_body, 400),
        (POST_HELLO, 201),
        (&get("/messages?since=0"), 410),
    ];
    for (request, status) in exchanges {
        client.send(request);
        let answer = client.read_answer(false);
        assert_eq!(answer.status(), status, "{}", answer.text());
    }

    let stats = server.stats().snapshot();
    assert_eq!((stats.http_requests, stats.http_errors), (5, 3));
}

fn rfc9110_15_5_9_a_request_partway_in_times_out_with_408(kind: Kind) {
    let server = start(kind, Duration::from_millis(200));
    let mut client = Client::connect(&server);
    client.send(b"GET /messages HTTP/1.1\r\nHo");
    let answer = client.read_answer(false);
    assert_eq!(answer.status(), 408);
    assert!(client.closed_by_server());
}

fn an_idle_connection_is_closed_without_an_answer(kind: Kind) {
    let server = start(kind, Duration::from_millis(200));
    let mut client = Client::connect(&server);
    assert!(client.closed_by_server());
}

fn shutdown_stops_accepting_promptly(kind: Kind) {
    let server = start(kind, TIMEOUT);
    let addr = server.local_addr();
    let started = Instant::now();
    server.shutdown();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(TcpStream::connect(addr).is_err());
}

fn rfc9112_7_1_chunked_post_written_one_byte_at_a_time_is_stored(kind: Kind) {
    let server = start(kind, TIMEOUT);
    let mut client = Client::connect(&server);
    let (first, second) = r#"{"name":"Bob","text":"yo","sent_at":2.5}"#.split_at(16);
    let request = format!(
        "POST /messages HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
         {:x};ext=1\r\n{first}\r\n{:x}\r\n{second}\r\n0\r\nX-Trailer: 1\r\n\r\n",
        first.len(),
        second.len()
    );
    for byte in request.bytes() {
        client.send(&[byte]);
    }
    let answer = client.read_answer(false);
    assert_eq!(answer.status(), 201, "{}", answer.text());
    assert_eq!(
        answer.body,
        br#"{"id":1,"name":"Bob","text":"yo","sent_at":2.5}"#
    );
}

fn rfc9112_3_2_2_an_absolute_form_target_is_served(kind: Kind) {
    let server = start(kind, TIMEOUT);
    exchange(&server, POST_HELLO);
    let request = b"GET http://t/messages?since=0 HTTP/1.1\r\nHost: t\r\n\r\n";
    let (answer, _) = exchange(&server, request);
    assert_eq!(answer.status(), 200, "{}", answer.text());
    assert_eq!(
        answer.body,
        br#"[{"id":1,"name":"Alice","text":"hi","sent_at":1.0}]"#
    );
}

/// A poller whose `since` fell out of the bounded log is told, not silently skipped.
fn a_since_evicted_from_the_log_gets_410_with_the_oldest_id(kind: Kind) {
    let server = start_with_log(kind, TIMEOUT, 2);
    for _ in 0..3 {
        assert_eq!(exchange(&server, POST_HELLO).0.status(), 201);
    }

    let (gone, _) = exchange(&server, &get("/messages?since=0"));
    assert_eq!(gone.status(), 410, "{}", gone.text());
    let body: serde_json::Value = serde_json::from_slice(&gone.body).unwrap();
    assert_eq!(body["oldest_id"], 2, "{body}");
    assert!(body["error"].is_string(), "{body}");

    let (resumed, _) = exchange(&server, &get("/messages?since=1"));
    assert_eq!(resumed.status(), 200);
    let ids: Vec<u64> = serde_json::from_slice::<Vec<serde_json::Value>>(&resumed.body)
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [2, 3]);
}

/// A `since` beyond the newest id (a poller that outlived a server restart) gets 410, so it
/// can start over instead of skipping this server's messages up to its old `since`.
fn a_since_past_the_newest_id_gets_410_with_both_ends_of_the_log(kind: Kind) {
    let server = start(kind, TIMEOUT);
    for _ in 0..2 {
        assert_eq!(exchange(&server, POST_HELLO).0.status(), 201);
    }

    let (current, _) = exchange(&server, &get("/messages?since=2"));
    assert_eq!(
        (current.status(), current.body.as_slice()),
        (200, &b"[]"[..])
    );

    let (gone, _) = exchange(&server, &get("/messages?since=3"));
    assert_eq!(gone.status(), 410, "{}", gone.text());
    let body: serde_json::Value = serde_json::from_slice(&gone.body).unwrap();
    assert_eq!(
        (&body["oldest_id"], &body["newest_id"]),
        (&1.into(), &2.into())
    );
    assert!(
        body["error"].as_str().unwrap().contains("restarted"),
        "{body}"
    );
}

/// A POST of `chars` copies of `ch`.
fn post_text(ch: char, chars: usize) -> Vec<u8> {
    let text: String = std::iter::repeat_n(ch, chars).collect();
    let body = format!(r#"{{"name":"A","text":"{text}","sent_at":1.0}}"#);
    format!(
        "POST /messages HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The ids in a poll answer and its `Link` value, if any.
fn page(client: &mut Client, since: u64) -> (Vec<u64>, Option<String>) {
    client.send(&get(&format!("/messages?since={since}")));
    let answer = client.read_answer(false);
    assert_eq!(answer.status(), 200, "{}", answer.head);
    let link = answer
        .head
        .lines()
        .find_map(|l| l.strip_prefix("Link: "))
        .map(str::to_string);
    let messages: Vec<serde_json::Value> = serde_json::from_slice(&answer.body).unwrap();
    let ids = messages.iter().map(|m| m["id"].as_u64().unwrap()).collect();
    (ids, link)
}

/// Posts `count` messages of `chars` copies of `ch` on one connection.
fn post_many(server: &Server, count: usize, ch: char, chars: usize) -> Client {
    let mut client = Client::connect(server);
    let request = post_text(ch, chars);
    for _ in 0..count {
        client.send(&request);
        assert_eq!(client.read_answer(false).status(), 201);
    }
    client
}

/// A late joiner on a long log gets it a page at a time, oldest first, with a next link.
fn a_poll_answer_is_capped_in_messages_and_pages_with_since(kind: Kind) {
    let server = start(kind, TIMEOUT);
    let total = MAX_POLL_MESSAGES as u64 + 20;
    let mut client = post_many(&server, total as usize, 'x', 1);

    let (first, link) = page(&mut client, 0);
    assert_eq!(first, (1..=MAX_POLL_MESSAGES as u64).collect::<Vec<_>>());
    let next = format!("</messages?since={MAX_POLL_MESSAGES}>; rel=\"next\"");
    assert_eq!(link.as_deref(), Some(next.as_str()));

    let (rest, link) = page(&mut client, *first.last().unwrap());
    assert_eq!(
        rest,
        (MAX_POLL_MESSAGES as u64 + 1..=total).collect::<Vec<_>>()
    );
    assert_eq!(link, None);
}

fn a_poll_answer_is_capped_in_bytes(kind: Kind) {
    let server = start(kind, TIMEOUT);
    // The longest text a message may have, in 4-byte characters: about 16 KB each.
    let mut client = post_many(&server, 80, '\u{1F600}', MAX_TEXT_CHARS);

    client.send(&get("/messages?since=0"));
    let answer = client.read_answer(false);
    assert!(answer.body.len() <= MAX_POLL_BYTES, "{}", answer.body.len());
    assert!(answer.head.contains("rel=\"next\""), "{}", answer.head);
    let messages: Vec<serde_json::Value> = serde_json::from_slice(&answer.body).unwrap();
    let last = messages.last().unwrap()["id"].as_u64().unwrap();
    assert!((1..80).contains(&last), "first page ends at {last}");

    let (rest, link) = page(&mut client, last);
    assert_eq!(rest, (last + 1..=80).collect::<Vec<_>>());
    assert_eq!(link, None);
}

on_both_servers!(
    a_since_past_the_newest_id_gets_410_with_both_ends_of_the_log,
    a_poll_answer_is_capped_in_messages_and_pages_with_since,
    a_poll_answer_is_capped_in_bytes,
    rfc9112_3_2_2_an_absolute_form_target_is_served,
    a_since_evicted_from_the_log_gets_410_with_the_oldest_id,
    request_written_one_byte_at_a_time_gets_a_byte_exact_answer,
    rfc9112_9_3_2_two_requests_in_one_write_are_answered_in_order,
    rfc9110_10_1_1_body_follows_100_continue,
    rfc9110_9_3_2_head_gets_the_get_length_and_no_body,
    refusals_get_their_status_and_a_json_error,
    parser_refusals_close_the_connection,
    rfc9110_15_5_6_method_not_allowed_lists_allow,
    rfc9112_9_3_http11_keeps_alive_until_connection_close,
    rfc9112_9_3_http10_closes_unless_keep_alive,
    a_request_with_the_fin_right_behind_it_is_answered_then_closed,
    polls_and_empty_polls_are_counted,
    chat_endpoint_refusals_are_counted_as_http_errors,
    rfc9110_15_5_9_a_request_partway_in_times_out_with_408,
    an_idle_connection_is_closed_without_an_answer,
    shutdown_stops_accepting_promptly,
    rfc9112_7_1_chunked_post_written_one_byte_at_a_time_is_stored,
);
