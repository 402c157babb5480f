//! `pushpull demo` against the event-loop server in this process: every
//! scenario plays as scripted, seeded runs repeat byte for byte, and runs
//! without a seed share no masking key (RFC 6455 §10.3).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, UNIX_EPOCH};

use pushpull::client::seeded::FIXED_CLOCK_UNIX_MS;
use pushpull::demo::record::{ConnectionRecord, Direction};
use pushpull::demo::{self, DemoOptions, Scenario};
use pushpull::server::event_loop::{EventLoopConfig, EventLoopServer};

/// Run `demo all` against a fresh server on `addr` (port 0: any), started as
/// `pushpull serve --fixed-clock` is: every `Date` header holds the same instant.
fn run_fresh(addr: SocketAddr, seed: Option<u64>) -> (SocketAddr, Vec<ConnectionRecord>) {
    let fixed = Duration::from_secs_f64(FIXED_CLOCK_UNIX_MS / 1000.0);
    let config = EventLoopConfig {
        quiet: true,
        fixed_date: Some(UNIX_EPOCH + fixed),
        ..EventLoopConfig::default()
    };
    let server = EventLoopServer::bind(addr, config).unwrap();
    let addr = server.local_addr();
    let handle = server.spawn().unwrap();
    let options = DemoOptions {
        addr,
        host: addr.to_string(),
        seed,
        fixed_clock: true,
    };
    let records = demo::run(&Scenario::ALL, options).unwrap();
    handle.shutdown().unwrap();
    (addr, records)
}

fn mask_keys(records: &[ConnectionRecord]) -> HashSet<String> {
    records
        .iter()
        .flat_map(ConnectionRecord::frames)
        .filter(|f| f.direction == Direction::Sent)
        .filter_map(|f| f.mask.clone())
        .collect()
}

#[test]
fn every_scenario_plays_as_scripted_on_its_own_connections() {
    let (_, records) = run_fresh("127.0.0.1:0".parse().unwrap(), Some(1));
    let scenarios: Vec<&str> = records.iter().map(|r| r.scenario.as_str()).collect();
    assert_eq!(
        scenarios,
        [
            "polling",
            "polling",
            "polling",
            "handshake",
            "bad-version",
            "fragmented",
            "lengths",
            "binary",
            "close",
            "protocol-error"
        ]
    );
}

#[test]
fn two_seeded_runs_against_fresh_fixed_clock_servers_are_identical_both_ways() {
    let (addr, first) = run_fresh("127.0.0.1:0".parse().unwrap(), Some(6455));
    let (_, second) = run_fresh(addr, Some(6455));
    assert_eq!(first.len(), second.len());
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(a.sent, b.sent, "{}", a.scenario);
        assert_eq!(a.received, b.received, "{}", a.scenario);
        assert!(
            !a.received.is_empty() && !a.sent.is_empty(),
            "{}: nothing recorded",
            a.scenario
        );
    }
}

#[test]
fn unseeded_runs_share_no_masking_key_rfc_6455_section_10_3() {
    let (_, first) = run_fresh("127.0.0.1:0".parse().unwrap(), None);
    let (_, second) = run_fresh("127.0.0.1:0".parse().unwrap(), None);
    let (a, b) = (mask_keys(&first), mask_keys(&second));
    assert_eq!(
        a.len(),
        13,
        "each of the 13 masked frames has its own key: {a:?}"
    );
    assert!(a.is_disjoint(&b), "shared keys: {:?}", a.intersection(&b));
}

/// The upgrade request a `chat --seed N` client writes first.
fn seeded_chat_request(seed: u64) -> Vec<u8> {
    use pushpull::client::machine::{ChatClient, Now};
    use pushpull::client::url::Url;
    use pushpull::client::ws_client::{WsClient, WsClientConfig};

    let url = Url::parse("ws://127.0.0.1:8080/ws").unwrap();
    let now = Now::system();
    let mut client = WsClient::with_seed(WsClientConfig::new("Alice", url), now, seed);
    client.on_timer(now);
    client.on_connected(now);
    client.take_output().unwrap()
}

#[test]
fn chat_seed_fixes_the_handshake_nonce_rfc_6455_section_4_1() {
    assert_eq!(seeded_chat_request(7), seeded_chat_request(7));
    assert_ne!(seeded_chat_request(7), seeded_chat_request(8));
}
