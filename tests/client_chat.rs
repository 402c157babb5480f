//! Chat clients run by the driver over real loopback sockets: polling
//! clients against both servers, a WebSocket client and a polling client in
//! one room of the event-loop server, and the reconnect schedule against a
//! server that drops the connection or is not there at all.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pushpull::client::backoff::ReconnectCause;
use pushpull::client::driver::{Driver, DriverConfig, RunReport};
use pushpull::client::machine::{ChatClient, ClientEvent, Now};
use pushpull::client::poller::{Poller, PollerConfig};
use pushpull::client::schedule::Schedule;
use pushpull::client::url::Url;
use pushpull::client::ws_client::{WsClient, WsClientConfig};
use pushpull::server::threaded::{ThreadedConfig, ThreadedServer};
use pushpull::websocket::handshake::accept_key;

/// Gap between scripted lines in these tests.
const LINE_EVERY: Duration = Duration::from_millis(150);

/// Upper bound on any run here.
const RUN_LIMIT: Duration = Duration::from_secs(10);

type Seen = Arc<Mutex<Vec<(usize, ClientEvent)>>>;

fn script(lines: &[&str]) -> Schedule {
    Schedule::Script {
        lines: lines.iter().map(|l| l.to_string()).collect(),
        every: LINE_EVERY,
    }
}

fn poller(name: &str, addr: SocketAddr, keep_alive: bool) -> Box<dyn ChatClient + Send> {
    let url = Url::parse(&format!("http://{addr}")).unwrap();
    let mut config = PollerConfig::new(name, url);
    config.keep_alive = keep_alive;
    Box::new(Poller::new(config, Now::system()))
}

fn ws_client(name: &str, url: &str) -> Box<dyn ChatClient + Send> {
    let config = WsClientConfig::new(name, Url::parse(url).unwrap());
    Box::new(WsClient::new(config, Now::system()))
}

/// Runs the clients until their scripts end (plus a short linger).
fn run(clients: Vec<(Box<dyn ChatClient + Send>, SocketAddr, Schedule)>) -> (RunReport, Seen) {
    let config = DriverConfig {
        duration: Some(RUN_LIMIT),
        linger: Duration::from_millis(600),
        shutdown_grace: Duration::from_secs(2),
    };
    let mut driver = Driver::new(config).unwrap();
    for (client, addr, schedule) in clients {
        driver.add_client(client, addr, schedule);
    }
    let seen: Seen = Arc::default();
    let sink = Arc::clone(&seen);
    driver.set_observer(Box::new(move |i, e| {
        sink.lock().unwrap().push((i, e.clone()))
    }));
    let report = driver.run().unwrap();
    assert!(report.elapsed < RUN_LIMIT, "the run hit its time limit");
    (report, seen)
}

/// The texts client `index` received, in order.
fn received_by(seen: &Seen, index: usize) -> Vec<String> {
    seen.lock()
        .unwrap()
        .iter()
        .filter_map(|(i, e)| match e {
            ClientEvent::Received { message, at } if *i == index => {
                assert!(*at >= message.sent_at, "negative latency");
                Some(format!("{}: {}", message.name, message.text))
            }
            _ => None,
        })
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn threaded_server() -> pushpull::server::threaded::ThreadedHandle {
    let config = ThreadedConfig {
        quiet: true,
        ..ThreadedConfig::default()
    };
    ThreadedServer::bind("127.0.0.1:0".parse().unwrap(), config)
        .unwrap()
        .spawn()
        .unwrap()
}

#[test]
fn pollers_chat_through_the_threaded_server_with_one_connection_per_request() {
    let server = threaded_server();
    let addr = server.local_addr();
    let (report, seen) = run(vec![
        (poller("Alice", addr, false), addr, script(&["a1", "a2"])),
        (poller("Bob", addr, false), addr, script(&["b1"])),
    ]);

    let everything = ["Alice: a1", "Alice: a2", "Bob: b1"];
    assert_eq!(sorted(received_by(&seen, 0)), everything);
    assert_eq!(sorted(received_by(&seen, 1)), everything);

    let alice = &report.clients[0];
    assert_eq!(alice.messages_sent, 2);
    assert_eq!(alice.connections_opened, alice.requests_sent);
    assert!(alice.empty_polls > 0, "{alice:?}");
    assert!(alice.bytes_read > 0 && alice.bytes_written > 0);
    server.shutdown();
}

#[test]
fn keep_alive_poller_reuses_one_connection() {
    let server = threaded_server();
    let addr = server.local_addr();
    let (report, seen) = run(vec![(poller("Carol", addr, true), addr, script(&["c1"]))]);

    assert_eq!(received_by(&seen, 0), ["Carol: c1"]);
    let carol = &report.clients[0];
    assert_eq!(carol.connections_opened, 1, "{carol:?}");
    assert!(carol.requests_sent > 5, "{carol:?}");
    server.shutdown();
}

#[test]
fn poller_and_websocket_client_share_the_event_loop_room() {
    let server = common::start_event_loop();
    let addr = server.local_addr();
    let ws_url = format!("ws://{addr}/ws");
    let (report, seen) = run(vec![
        (poller("Poll", addr, false), addr, script(&["from poll"])),
        (ws_client("Ws", &ws_url), addr, script(&["from ws"])),
    ]);

    let everything = ["Poll: from poll", "Ws: from ws"];
    assert_eq!(sorted(received_by(&seen, 0)), everything);
    assert_eq!(sorted(received_by(&seen, 1)), everything);

    // The WebSocket client opened one connection and made one request.
    let ws = &report.clients[1];
    assert_eq!((ws.connections_opened, ws.requests_sent), (1, 1), "{ws:?}");
    assert_eq!(ws.empty_polls, 0);
    server.shutdown().unwrap();
}

#[test]
fn deflating_websocket_client_chats_with_a_plain_one_rfc_7692() {
    let server = common::start_event_loop();
    let addr = server.local_addr();
    let url = Url::parse(&format!("ws://{addr}/ws")).unwrap();
    let mut config = WsClientConfig::new("Squeezed", url);
    config.offer_deflate = true;
    let deflating = Box::new(WsClient::new(config, Now::system()));
    let (_, seen) = run(vec![
        (deflating, addr, script(&["compressed hello"])),
        (
            ws_client("Plain", &format!("ws://{addr}/ws")),
            addr,
            script(&["plain hello"]),
        ),
    ]);

    let everything = ["Plain: plain hello", "Squeezed: compressed hello"];
    assert_eq!(sorted(received_by(&seen, 0)), everything);
    assert_eq!(sorted(received_by(&seen, 1)), everything);
    server.shutdown().unwrap();
}

/// Accepts one connection and completes the opening handshake on it.
fn accept_and_upgrade(listener: &TcpListener) -> std::net::TcpStream {
    let (mut stream, _) = listener.accept().unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let (head, _) = common::read_head(&mut stream);
    let key = head
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .unwrap();
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key.trim())
    );
    stream.write_all(response.as_bytes()).unwrap();
    stream
}

#[test]
fn dropped_websocket_reconnects_after_one_second() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        // The first connection is dropped without a Close frame (abnormal,
        // RFC 6455 §7.1.5); the second is kept open until the test ends.
        drop(accept_and_upgrade(&listener));
        let dropped_at = Instant::now();
        let second = accept_and_upgrade(&listener);
        (dropped_at.elapsed(), second)
    });

    let mut config = DriverConfig {
        duration: Some(Duration::from_millis(1800)),
        ..DriverConfig::default()
    };
    config.shutdown_grace = Duration::from_millis(200);
    let mut driver = Driver::new(config).unwrap();
    driver.add_client(
        ws_client("D", &format!("ws://{addr}/ws")),
        addr,
        Schedule::Manual,
    );
    let seen: Seen = Arc::default();
    let sink = Arc::clone(&seen);
    driver.set_observer(Box::new(move |i, e| {
        sink.lock().unwrap().push((i, e.clone()))
    }));
    let report = driver.run().unwrap();

    let (until_retry, _second) = server.join().unwrap();
    assert!(
        until_retry >= Duration::from_millis(900),
        "retried after {until_retry:?}"
    );
    let events: Vec<ClientEvent> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, e)| e.clone())
        .collect();
    assert!(events.contains(&ClientEvent::Reconnecting {
        cause: ReconnectCause::Dropped,
        retry_in_ms: 1000
    }));
    assert_eq!(report.clients[0].connections_opened, 2);
}

#[test]
fn unreachable_server_is_retried_after_one_then_two_seconds() {
    // A port that was just free: nothing listens there.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = DriverConfig {
        duration: Some(Duration::from_millis(1500)),
        linger: Duration::ZERO,
        shutdown_grace: Duration::from_millis(100),
    };
    let mut driver = Driver::new(config).unwrap();
    driver.add_client(
        ws_client("U", &format!("ws://{addr}/ws")),
        addr,
        Schedule::Manual,
    );
    let seen: Seen = Arc::default();
    let sink = Arc::clone(&seen);
    driver.set_observer(Box::new(move |i, e| {
        sink.lock().unwrap().push((i, e.clone()))
    }));
    let report = driver.run().unwrap();

    let delays: Vec<u64> = seen
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(_, e)| match e {
            ClientEvent::Reconnecting {
                cause: ReconnectCause::Unreachable,
                retry_in_ms,
            } => Some(*retry_in_ms),
            _ => None,
        })
        .collect();
    assert_eq!(delays, [1000, 2000]);
    assert_eq!(report.clients[0].connect_failures, 2);
    assert_eq!(report.clients[0].connections_opened, 0);
}

/// Posts one message on its own connection, as `name`, stamped `sent_at`.
fn post_raw(addr: SocketAddr, text: &str, sent_at: f64) {
    let body = format!(r#"{{"name":"Zed","text":"{text}","sent_at":{sent_at}}}"#);
    let request = format!(
        "POST /messages HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(RUN_LIMIT)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201 "), "{answer}");
}

fn now_ms() -> f64 {
    Now::system().unix_ms
}

/// A poller with a long interval joins a log of several capped pages: it asks for each next
/// page at once, so the whole log arrives in as many polls as there are pages.
#[test]
fn a_late_poller_catches_up_through_capped_pages_without_waiting() {
    use pushpull::chat::polling::MAX_POLL_MESSAGES;

    let server = threaded_server();
    let addr = server.local_addr();
    let total = 2 * MAX_POLL_MESSAGES + 50;
    for i in 1..=total {
        post_raw(addr, &format!("m{i}"), 1.0);
    }

    let url = Url::parse(&format!("http://{addr}")).unwrap();
    let mut config = PollerConfig::new("Late", url);
    config.interval = Duration::from_secs(30);
    let client: Box<dyn ChatClient + Send> = Box::new(Poller::new(config, Now::system()));
    let config = DriverConfig {
        duration: Some(Duration::from_secs(2)),
        ..DriverConfig::default()
    };
    let mut driver = Driver::new(config).unwrap();
    driver.add_client(client, addr, Schedule::Manual);
    let seen: Seen = Arc::default();
    let sink = Arc::clone(&seen);
    driver.set_observer(Box::new(move |i, e| {
        sink.lock().unwrap().push((i, e.clone()))
    }));
    let report = driver.run().unwrap();

    let history: Vec<u64> = seen
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(_, e)| match e {
            ClientEvent::History { message } => Some(message.id),
            _ => None,
        })
        .collect();
    assert_eq!(history, (1..=total as u64).collect::<Vec<_>>());
    // Three pages, three polls: none waited for the 30-second interval.
    assert_eq!(report.clients[0].polls_sent, 3, "{:?}", report.clients[0]);
    server.shutdown();
}

/// A poller that outlives its server: the new server on the same port numbers from 1
/// again, and the poller must start over there instead of skipping ids up to its old one.
#[test]
fn a_poller_starts_over_on_a_restarted_server() {
    let first = threaded_server();
    let addr = first.local_addr();
    for text in ["old1", "old2", "old3"] {
        post_raw(addr, text, 1.0);
    }

    let config = DriverConfig {
        duration: Some(RUN_LIMIT),
        ..DriverConfig::default()
    };
    let mut driver = Driver::new(config).unwrap();
    driver.add_client(poller("Bob", addr, false), addr, Schedule::Manual);
    let seen: Seen = Arc::default();
    let sink = Arc::clone(&seen);
    driver.set_observer(Box::new(move |i, e| {
        sink.lock().unwrap().push((i, e.clone()))
    }));
    let stopper = driver.handle();
    let running = std::thread::spawn(move || driver.run().unwrap());

    let has = |wanted: &dyn Fn(&ClientEvent) -> bool| {
        let deadline = Instant::now() + RUN_LIMIT / 2;
        while Instant::now() < deadline {
            if seen.lock().unwrap().iter().any(|(_, e)| wanted(e)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    };
    assert!(has(
        &|e| matches!(e, ClientEvent::History { message } if message.id == 3)
    ));

    first.shutdown();
    let config = ThreadedConfig {
        quiet: true,
        ..ThreadedConfig::default()
    };
    let second = ThreadedServer::bind(addr, config).unwrap().spawn().unwrap();
    for text in ["new1", "new2"] {
        post_raw(addr, text, now_ms());
    }
    let got_new2 =
        has(&|e| matches!(e, ClientEvent::Received { message, .. } if message.text == "new2"));
    stopper.stop().unwrap();
    running.join().unwrap();
    second.shutdown();

    assert!(got_new2, "{:?}", seen.lock().unwrap());
    assert_eq!(received_by(&seen, 0), ["Zed: new1", "Zed: new2"]);
    let resets: Vec<u64> = seen
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(_, e)| match e {
            ClientEvent::Reset { last_seen, .. } => Some(*last_seen),
            _ => None,
        })
        .collect();
    assert_eq!(resets, [3]);
}
