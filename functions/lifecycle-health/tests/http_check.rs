//! The HTTP health check against a real server on 127.0.0.1.

mod support;

use std::net::TcpListener;
use std::time::Duration;

use lifecycle_health::aws::probe::http_check;
use lifecycle_health::decision::HttpCheckResult;
use lifecycle_health::settings::HttpCheck;

fn server(status_line: &'static str) -> (u16, std::sync::mpsc::Receiver<String>) {
    support::health_server(match status_line {
        "200 OK" => &["200 OK"],
        _ => &["503 Service Unavailable"],
    })
}

fn check(port: u16) -> HttpCheck {
    HttpCheck { port, path: "/health".into(), timeout: Duration::from_secs(2) }
}

#[tokio::test]
async fn a_2xx_answer_passes_and_the_path_is_asked_for() {
    let (port, requests) = server("200 OK");
    assert_eq!(http_check("127.0.0.1", &check(port)).await, HttpCheckResult::Passed { status: 200 });
    assert_eq!(requests.recv().unwrap(), "GET /health HTTP/1.1");
}

#[tokio::test]
async fn an_error_status_fails_with_the_status() {
    let (port, _requests) = server("503 Service Unavailable");
    let HttpCheckResult::Failed { detail } = http_check("127.0.0.1", &check(port)).await else { panic!() };
    assert!(detail.ends_with("answered 503"), "{detail}");
}

#[tokio::test]
async fn a_closed_port_fails_without_waiting_for_the_timeout() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let HttpCheckResult::Failed { detail } = http_check("127.0.0.1", &check(port)).await else { panic!() };
    assert!(detail.contains(&format!("127.0.0.1:{port}/health")), "{detail}");
}
