//! `byzhost data fetch` against a local loopback server: checksums are enforced, failures
//! name the URL, and nothing half-written is left behind.

use std::io::{Read, Write};
use std::net::TcpListener;

use crate::support::{stderr_of, Scratch};

/// Serves `status` with `body` to every request on 127.0.0.1, for `requests` requests.
fn serve(status: &'static str, body: &'static [u8], requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.unwrap();
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body);
        }
    });
    format!("http://{addr}/")
}

fn leftovers(s: &Scratch) -> Vec<String> {
    std::fs::read_dir(s.path("fm")).map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default()
}

#[test]
fn a_checksum_mismatch_is_an_error_and_leaves_nothing_behind() {
    let s = Scratch::new();
    let url = serve("200 OK", b"not the real file", 1);
    let o = s.byzhost().args(["data", "fetch", "--url", &url, "--dir"]).arg(s.path("fm")).output().unwrap();
    assert!(!o.status.success());
    let err = stderr_of(&o);
    assert!(err.contains("checksum mismatch") && err.contains("train-images-idx3-ubyte.gz"), "{err}");
    assert!(leftovers(&s).is_empty(), "{:?}", leftovers(&s));
}

#[test]
fn an_http_error_names_the_url() {
    let s = Scratch::new();
    let url = serve("404 Not Found", b"", 1);
    let o = s.byzhost().args(["data", "fetch", "--url", &url, "--dir"]).arg(s.path("fm")).output().unwrap();
    assert!(!o.status.success());
    let err = stderr_of(&o);
    assert!(err.contains(&format!("downloading {url}train-images-idx3-ubyte.gz")), "{err}");
    assert!(err.contains("404"), "{err}");
    assert!(leftovers(&s).is_empty());
}

#[test]
fn an_unreachable_server_is_a_clear_error() {
    let s = Scratch::new();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let o = s.byzhost().args(["data", "fetch", "--url", &format!("http://127.0.0.1:{port}/"), "--dir"]).arg(s.path("fm")).output().unwrap();
    assert!(!o.status.success());
    assert!(stderr_of(&o).contains("the request failed"), "{}", stderr_of(&o));
}
