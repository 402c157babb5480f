//! The chat page at `/` over a real loopback socket: what the server sends for it, and two
//! properties of the page itself that a reader can check without a browser (it loads nothing
//! from elsewhere, and it never turns received text into markup). Its behaviour in a browser
//! is tested by `tests/browser/` in headless Chromium.

mod common;

use std::io::{Read, Write};

use common::*;
use pushpull::server::page::INDEX_HTML;

/// Send one bodiless request with `Connection: close` and read the whole answer.
fn ask(method: &str, path: &str) -> (String, Vec<u8>) {
    let server = start_event_loop();
    let mut stream = connect(server.local_addr());

    // RFC 9112 §6.3: a POST without a length gets 411, so say the body is empty.
    let length = if method == "POST" {
        "Content-Length: 0\r\n"
    } else {
        ""
    };
    let request =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{length}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();

    let (head, mut body) = read_head(&mut stream);
    stream.read_to_end(&mut body).unwrap();
    (head, body)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

#[test]
fn get_root_returns_the_page_as_utf8_html() {
    let (head, body) = ask("GET", "/");

    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(
        header(&head, "Content-Type"),
        Some("text/html; charset=utf-8")
    );
    let length = INDEX_HTML.len().to_string();
    assert_eq!(header(&head, "Content-Length"), Some(length.as_str()));
    assert_eq!(body, INDEX_HTML.as_bytes());
    assert!(INDEX_HTML.starts_with("<!doctype html>"));
}

#[test]
fn rfc9110_9_3_2_head_root_gets_the_get_headers_and_no_body() {
    let (head, body) = ask("HEAD", "/");

    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(
        header(&head, "Content-Type"),
        Some("text/html; charset=utf-8")
    );
    let length = INDEX_HTML.len().to_string();
    assert_eq!(header(&head, "Content-Length"), Some(length.as_str()));
    assert!(
        body.is_empty(),
        "HEAD answered with {} body bytes",
        body.len()
    );
}

#[test]
fn rfc9110_15_5_6_post_root_is_405_listing_allow() {
    let (head, _) = ask("POST", "/");

    assert!(head.starts_with("HTTP/1.1 405 "), "{head}");
    assert_eq!(header(&head, "Allow"), Some("GET, HEAD"));
}

#[test]
fn page_names_no_external_url_and_loads_no_resource() {
    // Every URL the page uses is built from its own location, so it holds no scheme-and-host
    // at all, and no element or stylesheet pulls in a file.
    for needle in [
        "://", "src=", "href=", "url(", "@import", "<link", "<iframe",
    ] {
        assert!(!INDEX_HTML.contains(needle), "the page contains {needle:?}");
    }
}

#[test]
fn page_never_parses_received_text_as_html() {
    // Text from other users reaches the document only through textContent.
    for needle in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
    ] {
        assert!(!INDEX_HTML.contains(needle), "the page uses {needle}");
    }
    assert!(INDEX_HTML.contains("textContent"));
}
