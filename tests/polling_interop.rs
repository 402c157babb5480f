//! An independent HTTP client, Python's `http.client`, against both polling servers: it
//! posts, polls on one keep-alive connection, sends a chunked body and a HEAD, and must
//! understand every answer.

mod common;

use pushpull::server::threaded::{ThreadedConfig, ThreadedServer};

const SCRIPT: &str = r#"
import http.client, json, sys

host, port = sys.argv[1].rsplit(":", 1)
conn = http.client.HTTPConnection(host, int(port), timeout=10)

def call(method, path, body=None, headers=None, chunked=False):
    conn.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
    response = conn.getresponse()
    return response, response.read()

message = json.dumps({"name": "py", "text": "hello", "sent_at": 1.5})
r, body = call("POST", "/messages", message, {"Content-Type": "application/json"})
assert r.status == 201, (r.status, body)
assert json.loads(body)["id"] == 1
assert r.getheader("Date"), "every response carries Date"

def pieces():
    yield b'{"name": "py", '
    yield b'"text": "chunked", "sent_at": 2}'
r, body = call("POST", "/messages", pieces(), {"Content-Type": "application/json"}, True)
assert r.status == 201, (r.status, body)

r, body = call("GET", "/messages?since=0")
assert r.status == 200 and [m["text"] for m in json.loads(body)] == ["hello", "chunked"]

r, body = call("HEAD", "/messages?since=0")
assert r.status == 200 and body == b""

r, body = call("GET", "/messages?since=2")
assert json.loads(body) == []

r, body = call("GET", "/messages?since=oops")
assert r.status == 400 and "error" in json.loads(body)
print("http.client ok")
"#;

fn run_python_against(addr: std::net::SocketAddr) {
    let output = std::process::Command::new(common::python_with_websockets())
        .args(["-c", SCRIPT, &addr.to_string()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(stdout.contains("http.client ok"));
}

#[test]
fn python_http_client_talks_to_the_threaded_server() {
    let config = ThreadedConfig {
        quiet: true,
        ..ThreadedConfig::default()
    };
    let server = ThreadedServer::bind("127.0.0.1:0".parse().unwrap(), config).unwrap();
    let server = server.spawn().unwrap();
    run_python_against(server.local_addr());
}

#[test]
fn python_http_client_talks_to_the_event_loop_server() {
    let server = common::start_event_loop();
    run_python_against(server.local_addr());
}
