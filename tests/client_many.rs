//! One driver thread running 150 clients of both kinds in one event-loop
//! room: every message reaches every client, and the counters add up.

mod common;

use std::time::Duration;

use pushpull::client::driver::{Driver, DriverConfig};
use pushpull::client::machine::{ChatClient, Now};
use pushpull::client::poller::{Poller, PollerConfig};
use pushpull::client::schedule::Schedule;
use pushpull::client::url::Url;
use pushpull::client::ws_client::{WsClient, WsClientConfig};

const WS_CLIENTS: usize = 100;
const POLL_CLIENTS: usize = 50;
const LINES_EACH: usize = 2;

#[test]
fn every_message_reaches_all_150_clients_driven_by_one_thread() {
    let server = common::start_event_loop();
    let addr = server.local_addr();
    let ws_url = Url::parse(&format!("ws://{addr}/ws")).unwrap();
    let http_url = Url::parse(&format!("http://{addr}")).unwrap();

    let config = DriverConfig {
        duration: Some(Duration::from_secs(20)),
        linger: Duration::from_secs(1),
        shutdown_grace: Duration::from_secs(2),
    };
    let mut driver = Driver::new(config).unwrap();
    for i in 0..WS_CLIENTS + POLL_CLIENTS {
        let name = format!("c{i}");
        let client: Box<dyn ChatClient + Send> = if i < WS_CLIENTS {
            Box::new(WsClient::new(
                WsClientConfig::new(&name, ws_url.clone()),
                Now::system(),
            ))
        } else {
            let config = PollerConfig::new(&name, http_url.clone());
            Box::new(Poller::new(config, Now::system()))
        };
        let schedule = Schedule::Script {
            lines: (0..LINES_EACH).map(|n| format!("line {n}")).collect(),
            every: Duration::from_millis(400),
        };
        driver.add_client(client, addr, schedule);
    }
    let report = driver.run().unwrap();

    let total_messages = ((WS_CLIENTS + POLL_CLIENTS) * LINES_EACH) as u64;
    assert_eq!(report.total().messages_sent, total_messages);
    for (i, client) in report.clients.iter().enumerate() {
        assert_eq!(
            client.messages_received, total_messages,
            "client {i}: {client:?}"
        );
        if i < WS_CLIENTS {
            assert_eq!(client.connections_opened, 1, "client {i}: {client:?}");
        } else {
            // One connection per request, as in the original experiment.
            assert_eq!(client.connections_opened, client.requests_sent);
        }
    }
    server.shutdown().unwrap();
}
