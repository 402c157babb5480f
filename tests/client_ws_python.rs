//! Our WebSocket chat client against the library the original experiment
//! used: a chat room written with Python's `websockets` package, which also
//! pings every 100 ms and drops a client that does not answer in time.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pushpull::client::driver::{Driver, DriverConfig};
use pushpull::client::machine::{ClientEvent, Now};
use pushpull::client::schedule::Schedule;
use pushpull::client::url::Url;
use pushpull::client::ws_client::{WsClient, WsClientConfig};

/// A broadcast chat room like the experiment's server: it numbers each
/// message and sends it to every client, the sender included. It prints its
/// port, then serves for at most 30 s.
const ROOM: &str = r#"
import asyncio, json
from websockets.asyncio.server import broadcast, serve

clients = set()
last_id = 0

async def handler(ws):
    global last_id
    clients.add(ws)
    try:
        async for raw in ws:
            message = json.loads(raw)
            last_id += 1
            broadcast(clients, json.dumps({"id": last_id, **message}))
    finally:
        clients.discard(ws)

async def main():
    async with serve(handler, "127.0.0.1", 0, ping_interval=0.1, ping_timeout=0.3) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.sleep(30)

asyncio.run(main())
"#;

/// Kills the room when the test ends, however it ends.
struct Room(Child);

impl Drop for Room {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_room() -> (Room, SocketAddr) {
    let python = common::python_with_websockets();
    let mut child = Command::new(python)
        .args(["-c", ROOM])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the Python room");
    let stdout = child.stdout.take().expect("piped stdout");
    let room = Room(child);

    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let port: u16 = line.trim().parse().expect("the room prints its port");
    (room, SocketAddr::from(([127, 0, 0, 1], port)))
}

#[test]
fn two_clients_chat_through_python_websockets_and_answer_its_pings() {
    let (_room, addr) = start_room();
    let url = Url::parse(&format!("ws://{addr}/")).unwrap();
    let config = DriverConfig {
        duration: Some(Duration::from_secs(10)),
        linger: Duration::from_millis(600),
        shutdown_grace: Duration::from_secs(2),
    };
    let mut driver = Driver::new(config).unwrap();
    for (name, line) in [("Ann", "hello from Ann"), ("Ben", "hello from Ben")] {
        let client = WsClient::new(WsClientConfig::new(name, url.clone()), Now::system());
        let schedule = Schedule::Script {
            lines: vec![line.to_string(), format!("{name} again")],
            // Long enough for several ping rounds between the lines.
            every: Duration::from_millis(500),
        };
        driver.add_client(Box::new(client), addr, schedule);
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    driver.set_observer(Box::new(move |i, e: &ClientEvent| {
        sink.lock().unwrap().push((i, e.clone()))
    }));
    let report = driver.run().unwrap();

    let seen = seen.lock().unwrap();
    for index in 0..2 {
        let mut texts: Vec<&str> = seen
            .iter()
            .filter_map(|(i, e)| match e {
                ClientEvent::Received { message, .. } if *i == index => Some(message.text.as_str()),
                _ => None,
            })
            .collect();
        texts.sort();
        assert_eq!(
            texts,
            ["Ann again", "Ben again", "hello from Ann", "hello from Ben"]
        );
    }

    // Had a pong been missing, the room would have dropped us and we would
    // have reconnected.
    let reconnects = seen
        .iter()
        .filter(|(_, e)| matches!(e, ClientEvent::Reconnecting { .. }))
        .count();
    assert_eq!(reconnects, 0);
    for client in &report.clients {
        assert_eq!(client.connections_opened, 1, "{client:?}");
    }
}
