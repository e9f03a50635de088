//! The WebSocket transport against hostile input, over raw TCP (a WebSocket library would
//! refuse to send these frames): limits from the frame header, UTF-8, framing errors, the
//! close handshake, refused upgrades and bounds on connections waiting to authenticate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::raw::{frame, header, Frame, Got, Raw};
use common::{Backend, TestServer};
use serde_json::json;
use std::net::IpAddr;
use std::time::Duration;

async fn server(extra: &[&str]) -> TestServer {
    TestServer::start(Backend::Sqlite, extra)
        .await
        .expect("sqlite server")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_over_the_limit_is_refused_from_its_header_alone() {
    // A long auth window: a close before it proves the header alone was judged.
    let s = server(&["--ws-auth-timeout", "60s"]).await;
    for len in [
        rally::protocol::MAX_FRAME_BYTES as u64 + 1,
        64 << 20,
        1 << 40,
        1 << 63,
    ] {
        // Before auth, the header only: no mask key, no payload.
        let mut c = Raw::connect(s.addr).await;
        c.send(&header(true, 1, len)).await;
        assert_eq!(
            c.expect_error_and_close().await,
            (Some("too_big".into()), Some(1009)),
            "declared {len} bytes"
        );
    }
    // After auth, with a payload that starts streaming.
    let t = s.guest().await;
    let mut c = Raw::connect(s.addr).await;
    c.auth(&t).await;
    let mut f = header(true, 1, 64 << 20);
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.extend(std::iter::repeat_n(b'x', 4096));
    c.send(&f).await;
    assert_eq!(
        c.expect_error_and_close().await,
        (Some("too_big".into()), Some(1009))
    );
    // Exactly the limit is accepted (and answered: it is not valid JSON).
    let mut c = Raw::connect(s.addr).await;
    c.auth(&t).await;
    c.send(&frame(
        true,
        1,
        &vec![b' '; rally::protocol::MAX_FRAME_BYTES],
    ))
    .await;
    let v = c.expect_json().await;
    assert_eq!(v["code"], "invalid_json", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_framing_errors_and_the_close_handshake() {
    let s = server(&[]).await;
    let t = s.guest().await;

    // Invalid UTF-8 in a single text frame: 1007 (RFC 6455 §8.1), before and after auth.
    let bad = [b'{', 0xC3, 0x28, b'}'];
    let mut c = Raw::connect(s.addr).await;
    c.send(&frame(true, 1, &bad)).await;
    assert_eq!(
        c.expect_error_and_close().await,
        (Some("invalid_json".into()), Some(1007))
    );
    let mut c = Raw::connect(s.addr).await;
    c.auth(&t).await;
    c.send(&frame(false, 1, &bad[..2])).await;
    c.send(&frame(true, 0, &bad[2..])).await;
    assert_eq!(
        c.expect_error_and_close().await,
        (Some("invalid_json".into()), Some(1007))
    );

    // Framing errors: 1002.
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("unmasked frame", vec![0x81, 0x02, b'{', b'}']),
        ("reserved bit", {
            let mut f = frame(true, 1, b"{}");
            f[0] |= 0x40;
            f
        }),
        ("unknown opcode", frame(true, 3, b"")),
        ("fragmented ping", frame(false, 9, b"")),
        ("continuation first", frame(true, 0, b"{}")),
        ("invalid close code", frame(true, 8, &1005u16.to_be_bytes())),
    ];
    for (what, bytes) in cases {
        let mut c = Raw::connect(s.addr).await;
        c.auth(&t).await;
        c.send(&bytes).await;
        assert_eq!(
            c.expect_error_and_close().await,
            (Some("invalid_json".into()), Some(1002)),
            "{what}"
        );
    }

    // A ping inside a fragmented message is legal: answered at once, and the message
    // completes.
    let mut c = Raw::connect(s.addr).await;
    c.auth(&t).await;
    c.send(&frame(false, 1, br#"{"type":"ping","#)).await;
    c.send(&frame(true, 9, b"mid")).await;
    c.send(&frame(true, 0, br#""id":5}"#)).await;
    assert_eq!(
        c.next(Duration::from_secs(5)).await.await_frame(),
        Frame::Pong(b"mid".to_vec())
    );
    assert_eq!(c.expect_json().await["id"], 5);

    // The client closes: the server echoes the code and closes the TCP connection.
    let mut p = 4321u16.to_be_bytes().to_vec();
    p.extend_from_slice(b"bye");
    c.send(&frame(true, 8, &p)).await;
    loop {
        match c.next(Duration::from_secs(5)).await {
            Got::Frame(Frame::Close(code, _)) => {
                assert_eq!(code, Some(4321));
                break;
            }
            Got::Frame(Frame::Ping(_) | Frame::Pong(_)) => {}
            other => panic!("no close echo: {other:?}"),
        }
    }
    assert!(matches!(c.next(Duration::from_secs(5)).await, Got::Eof));
}

trait FrameOf {
    fn await_frame(self) -> Frame;
}

impl FrameOf for Got {
    fn await_frame(self) -> Frame {
        match self {
            Got::Frame(f) => f,
            other => panic!("expected a frame, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_shapes_have_one_documented_code() {
    let s = server(&[]).await;
    let t = s.guest().await;
    let mut c = Raw::connect(s.addr).await;
    c.auth(&t).await;
    for (msg, code) in [
        ("{}", "unknown_type"),
        (r#"{"type":null}"#, "unknown_type"),
        (r#"{"type":3}"#, "unknown_type"),
        ("[1]", "invalid_json"),
        ("{", "invalid_json"),
    ] {
        c.send(&frame(true, 1, msg.as_bytes())).await;
        let v = c.expect_json().await;
        assert_eq!(
            (v["type"].as_str(), v["code"].as_str()),
            (Some("error"), Some(code)),
            "{msg}"
        );
    }
    // `leave` with no room: not_in_room, and the connection stays.
    c.send_json(json!({"type": "leave"})).await;
    assert_eq!(c.expect_json().await["code"], "not_in_room");
    c.send_json(json!({"type": "ping", "id": 9})).await;
    assert_eq!(c.expect_json().await["id"], 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_upgrades_answer_json_before_upgrading() {
    let s = server(&[]).await;
    // Upgrade on another path: 404 JSON.
    let mut stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(common::raw::upgrade_request(s.addr, "/api/v1/me").as_bytes())
        .await
        .unwrap();
    let mut resp = String::new();
    stream.read_to_string(&mut resp).await.unwrap();
    assert!(resp.starts_with("HTTP/1.1 404"), "{resp}");
    assert!(resp.contains(r#""code":"not_found""#), "{resp}");
    // Not an upgrade at all: the App's answer.
    let r = s.http.get(s.url("/ws")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400, "a plain GET /ws");
    // A missing key: 400 JSON.
    let mut stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    stream
        .write_all(
            format!(
                "GET /ws HTTP/1.1\r\nhost: {}\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-version: 13\r\n\r\n",
                s.addr
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut resp = String::new();
    stream.read_to_string(&mut resp).await.unwrap();
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert!(resp.contains(r#""code":"validation""#), "{resp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_waiting_to_authenticate_are_bounded_per_address_and_in_total() {
    let s = server(&[
        "--ws-max-pending-per-ip",
        "4",
        "--ws-max-pending",
        "6",
        "--ws-auth-timeout",
        "30s",
    ])
    .await;
    let ip = |n: u8| -> IpAddr { format!("127.0.0.{n}").parse().unwrap() };
    // A flood from 127.0.0.2: four idle upgrades are admitted, the fifth is refused.
    let mut flood = Vec::new();
    for _ in 0..4 {
        let (c, status, body) = Raw::open(s.addr, Some(ip(2))).await;
        assert_eq!(status, 101, "{body}");
        flood.push(c);
    }
    let (_, status, body) = Raw::open(s.addr, Some(ip(2))).await;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains(r#""code":"rate_limited""#), "{body}");
    assert!(body.to_ascii_lowercase().contains("retry-after:"), "{body}");
    let refused = s
        .metric("rally_ws_refused_total", &[("reason", "per_address")])
        .await;
    assert!(refused >= 1.0);

    // A real player from another address connects, authenticates and plays meanwhile.
    let t = s.guest().await;
    let (mut player, status, _) = Raw::open(s.addr, Some(ip(3))).await;
    assert_eq!(status, 101);
    player.auth(&t).await;
    player.send_json(json!({"type": "ping", "id": 1})).await;
    assert_eq!(player.expect_json().await["type"], "pong");

    // In total: 127.0.0.4 takes the last two places; then everyone is refused with 503.
    for _ in 0..2 {
        let (c, status, _) = Raw::open(s.addr, Some(ip(4))).await;
        assert_eq!(status, 101);
        flood.push(c);
    }
    let (_, status, body) = Raw::open(s.addr, Some(ip(5))).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains(r#""code":"unavailable""#), "{body}");

    // Authenticating gives a place back: one of the flood authenticates, a newcomer fits.
    let t2 = s.guest().await;
    flood[0].auth(&t2).await;
    let (_, status, body) = Raw::open(s.addr, Some(ip(5))).await;
    assert_eq!(status, 101, "{body}");
    // Closing does too.
    drop(flood);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, status, _) = Raw::open(s.addr, Some(ip(2))).await;
        if status == 101 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "places never given back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
