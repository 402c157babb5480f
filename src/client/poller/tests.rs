//! The polling client fed literal HTTP answers.

use super::*;
use crate::client::machine::RequestKind;

fn at(start: Now, millis: u64) -> Now {
    Now {
        instant: start.instant + Duration::from_millis(millis),
        unix_ms: start.unix_ms + millis as f64,
    }
}

fn poller(start: Now, keep_alive: bool) -> Poller {
    let url = Url::parse("http://127.0.0.1:8080").unwrap();
    let mut config = PollerConfig::new("Bob", url);
    config.keep_alive = keep_alive;
    Poller::new(config, start)
}

fn written(p: &mut Poller) -> String {
    let mut out = Vec::new();
    while let Some(bytes) = p.take_output() {
        out.extend(bytes);
    }
    String::from_utf8(out).unwrap()
}

fn events(p: &mut Poller) -> Vec<ClientEvent> {
    std::iter::from_fn(|| p.next_event()).collect()
}

fn commands(p: &mut Poller) -> Vec<Command> {
    std::iter::from_fn(|| p.next_command()).collect()
}

fn ok_json(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Two messages sent in the year 2255, so after any test's start.
const TWO_MESSAGES: &str = r#"[{"id":4,"name":"A","text":"x","sent_at":9e12},
                               {"id":5,"name":"B","text":"y","sent_at":9e12}]"#;

/// Takes the poller through timer, connect and request; returns the request.
fn start_poll(p: &mut Poller, now: Now) -> String {
    p.on_timer(now);
    assert_eq!(commands(p), [Command::Connect]);
    p.on_connected(now);
    written(p)
}

mod polling {
    use super::*;

    #[test]
    fn first_poll_asks_since_zero_on_a_fresh_connection() {
        let start = Now::system();
        let mut p = poller(start, false);
        let request = start_poll(&mut p, start);
        assert_eq!(
            request,
            "GET /messages?since=0 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(
            events(&mut p),
            [ClientEvent::RequestSent(RequestKind::Poll)]
        );
    }

    #[test]
    fn messages_fed_one_byte_at_a_time_raise_since_and_close_the_connection() {
        let start = Now::system();
        let mut p = poller(start, false);
        start_poll(&mut p, start);
        events(&mut p);

        for b in ok_json(TWO_MESSAGES) {
            p.on_bytes(&[b], at(start, 7));
        }
        let got = events(&mut p);
        assert_eq!(got.len(), 2);
        assert!(matches!(&got[0], ClientEvent::Received { message, at }
            if message.id == 4 && *at == start.unix_ms + 7.0));
        assert_eq!(p.since(), 5);
        assert_eq!(commands(&mut p), [Command::CloseTcp]);

        // The next poll waits one interval after the answer, on a new connection.
        assert_eq!(p.next_deadline(), Some(at(start, 107).instant));
        let next = start_poll(&mut p, at(start, 107));
        assert!(next.starts_with("GET /messages?since=5 "), "{next}");
    }

    #[test]
    fn messages_sent_before_the_client_started_are_history_not_receipts() {
        let start = Now::system();
        let mut p = poller(start, false);
        start_poll(&mut p, start);
        events(&mut p);
        p.on_bytes(
            &ok_json(r#"[{"id":1,"name":"A","text":"old","sent_at":1.0}]"#),
            start,
        );
        let got = events(&mut p);
        assert!(matches!(&got[..], [ClientEvent::History { message }] if message.id == 1));
        assert_eq!(p.since(), 1);
    }

    #[test]
    fn empty_answer_counts_as_an_empty_poll() {
        let start = Now::system();
        let mut p = poller(start, false);
        start_poll(&mut p, start);
        events(&mut p);
        p.on_bytes(&ok_json("[]"), start);
        assert_eq!(events(&mut p), [ClientEvent::EmptyPoll]);
    }

    #[test]
    fn already_seen_ids_are_not_delivered_twice() {
        let start = Now::system();
        let mut p = poller(start, false);
        start_poll(&mut p, start);
        p.on_bytes(&ok_json(TWO_MESSAGES), start);
        events(&mut p);
        commands(&mut p);

        start_poll(&mut p, at(start, 100));
        events(&mut p);
        p.on_bytes(&ok_json(TWO_MESSAGES), at(start, 100));
        assert_eq!(events(&mut p), [ClientEvent::EmptyPoll]);
    }

    #[test]
    fn gone_reports_the_gap_and_resumes_from_the_oldest_message() {
        let start = Now::system();
        let mut p = poller(start, false);
        start_poll(&mut p, start);
        events(&mut p);

        let body = r#"{"error":"messages after 0 were dropped","oldest_id":11}"#;
        let answer = format!(
            "HTTP/1.1 410 Gone\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        p.on_bytes(answer.as_bytes(), start);
        assert_eq!(
            events(&mut p),
            [ClientEvent::Gap {
                missed: 10,
                oldest_id: 11
            }]
        );
        // The retry starts at once.
        assert_eq!(commands(&mut p), [Command::CloseTcp, Command::Connect]);
        p.on_connected(start);
        let next = written(&mut p);
        assert!(next.starts_with("GET /messages?since=10 "), "{next}");
    }

    #[test]
    fn a_capped_answer_is_followed_by_the_next_poll_at_once() {
        let start = Now::system();
        let mut p = poller(start, false);
        start_poll(&mut p, start);
        let body = TWO_MESSAGES;
        let answer = format!(
            "HTTP/1.1 200 OK\r\nLink: </messages?since=5>; rel=\"next\"\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        p.on_bytes(answer.as_bytes(), at(start, 3));
        assert_eq!(commands(&mut p), [Command::CloseTcp, Command::Connect]);
        p.on_connected(at(start, 4));
        assert!(written(&mut p).starts_with("GET /messages?since=5 "));
    }

    fn gone(body: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 410 Gone\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    #[test]
    fn gone_past_the_newest_id_reports_a_reset_and_starts_over() {
        let start = Now::system();
        let mut p = poller(start, false);
        start_poll(&mut p, start);
        p.on_bytes(&ok_json(TWO_MESSAGES), start);
        assert_eq!(p.since(), 5);
        events(&mut p);
        commands(&mut p);

        // The server restarted and holds ids 1 and 2 only.
        start_poll(&mut p, at(start, 100));
        events(&mut p);
        let body = r#"{"error":"restarted","oldest_id":1,"newest_id":2}"#;
        p.on_bytes(&gone(body), at(start, 101));
        assert_eq!(
            events(&mut p),
            [ClientEvent::Reset {
                last_seen: 5,
                newest_id: 2
            }]
        );
        assert_eq!(commands(&mut p), [Command::CloseTcp, Command::Connect]);
        p.on_connected(at(start, 101));
        assert!(written(&mut p).starts_with("GET /messages?since=0 "));
        events(&mut p);

        // The new server's ids 1 and 2 are delivered, not skipped as already seen.
        let fresh = r#"[{"id":1,"name":"A","text":"x","sent_at":9e12},
                        {"id":2,"name":"A","text":"y","sent_at":9e12}]"#;
        p.on_bytes(&ok_json(fresh), at(start, 102));
        let got: Vec<u64> = events(&mut p)
            .into_iter()
            .filter_map(|e| match e {
                ClientEvent::Received { message, .. } => Some(message.id),
                _ => None,
            })
            .collect();
        assert_eq!(got, [1, 2]);
        assert_eq!(p.since(), 2);
    }

    #[test]
    fn refused_connection_is_retried_at_the_next_interval() {
        let start = Now::system();
        let mut p = poller(start, false);
        p.on_timer(start);
        commands(&mut p);
        p.on_connect_failed(start, &io::ErrorKind::ConnectionRefused.into());
        assert_eq!(p.next_deadline(), Some(at(start, 100).instant));
        p.on_timer(at(start, 99));
        assert_eq!(commands(&mut p), []);
        p.on_timer(at(start, 100));
        assert_eq!(commands(&mut p), [Command::Connect]);
    }

    #[test]
    fn silent_server_times_out_the_request() {
        let start = Now::system();
        let mut p = poller(start, false);
        start_poll(&mut p, start);
        p.on_timer(at(start, REQUEST_TIMEOUT.as_millis() as u64));
        assert_eq!(commands(&mut p).first(), Some(&Command::CloseTcp));
    }

    #[test]
    fn rfc9112_section6_3_close_delimited_answer_completes_at_eof() {
        let start = Now::system();
        let mut p = poller(start, false);
        start_poll(&mut p, start);
        events(&mut p);
        p.on_bytes(b"HTTP/1.0 200 OK\r\n\r\n[]", start);
        assert_eq!(events(&mut p), []);
        p.on_eof(start);
        assert_eq!(events(&mut p), [ClientEvent::EmptyPoll]);
    }
}

mod posting {
    use super::*;

    #[test]
    fn post_carries_the_message_json_stamped_when_written() {
        let start = Now::system();
        let mut p = poller(start, false);
        p.send("hello".into(), at(start, 20));
        assert_eq!(commands(&mut p), [Command::Connect]);
        p.on_connected(at(start, 25));

        let request = written(&mut p);
        let (head, body) = request.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("POST /messages HTTP/1.1\r\n"), "{head}");
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        let message: ClientMessage = serde_json::from_str(body).unwrap();
        assert_eq!(
            (message.name.as_str(), message.text.as_str()),
            ("Bob", "hello")
        );
        // serde_json may round the last bit of an f64 on the way back.
        assert!((message.sent_at - (start.unix_ms + 25.0)).abs() < 1e-3);
    }

    #[test]
    fn rejected_post_reports_the_server_error_and_the_dropped_line() {
        let start = Now::system();
        let mut p = poller(start, false);
        p.send("x".into(), start);
        p.on_connected(start);
        events(&mut p);
        let body = r#"{"error":"text too long"}"#;
        let answer = format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        p.on_bytes(answer.as_bytes(), start);
        let got = events(&mut p);
        assert!(matches!(&got[0], ClientEvent::ServerError(e) if e.starts_with("400")));
        assert_eq!(got[1], ClientEvent::Dropped { text: "x".into() });
    }

    #[test]
    fn posts_go_before_polls_and_never_overlap() {
        let start = Now::system();
        let mut p = poller(start, false);
        p.send("one".into(), start);
        p.send("two".into(), start);
        assert_eq!(commands(&mut p), [Command::Connect]);
        p.on_connected(start);
        assert!(written(&mut p).contains("\"one\""));

        let created = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
        p.on_bytes(created, start);
        assert_eq!(commands(&mut p), [Command::CloseTcp, Command::Connect]);
        p.on_connected(start);
        assert!(written(&mut p).contains("\"two\""));
    }
}

mod keep_alive {
    use super::*;

    #[test]
    fn rfc9112_section9_3_second_poll_reuses_the_connection() {
        let start = Now::system();
        let mut p = poller(start, true);
        let first = start_poll(&mut p, start);
        assert!(first.contains("Connection: keep-alive\r\n"));
        p.on_bytes(&ok_json("[]"), start);
        assert_eq!(commands(&mut p), []);

        p.on_timer(at(start, 100));
        assert_eq!(commands(&mut p), [], "a kept connection needs no connect");
        assert!(written(&mut p).starts_with("GET /messages?since=0 "));
    }

    #[test]
    fn server_close_header_ends_reuse() {
        let start = Now::system();
        let mut p = poller(start, true);
        start_poll(&mut p, start);
        p.on_bytes(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n[]",
            start,
        );
        assert_eq!(commands(&mut p), [Command::CloseTcp]);
        p.on_timer(at(start, 100));
        assert_eq!(commands(&mut p), [Command::Connect]);
    }

    #[test]
    fn rfc9112_section9_3_1_request_on_a_stale_connection_is_retried_once() {
        let start = Now::system();
        let mut p = poller(start, true);
        start_poll(&mut p, start);
        p.on_bytes(&ok_json("[]"), start);
        p.on_timer(at(start, 100));
        written(&mut p);

        // The server had closed the idle connection: EOF with no answer.
        p.on_eof(at(start, 101));
        assert_eq!(commands(&mut p), [Command::Connect]);
        p.on_connected(at(start, 102));
        assert!(written(&mut p).starts_with("GET /messages?since=0 "));
    }
}

#[test]
fn url_path_prefixes_the_messages_endpoint() {
    let url = Url::parse("http://h:1/chat/").unwrap();
    assert_eq!(messages_target(&url), "/chat/messages");
    assert_eq!(
        messages_target(&Url::parse("http://h:1").unwrap()),
        "/messages"
    );
}

#[test]
fn shutdown_finishes_and_reports_unsent_lines() {
    let start = Now::system();
    let mut p = poller(start, false);
    start_poll(&mut p, start);
    p.send("late".into(), start);
    p.shutdown(start);
    assert!(p.is_finished());
    assert_eq!(commands(&mut p), [Command::CloseTcp]);
    assert!(events(&mut p).contains(&ClientEvent::Dropped {
        text: "late".into()
    }));
}
