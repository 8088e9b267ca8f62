//! akin's one integration-test binary: every test starts the real `akin` binary against a
//! fresh database. Each test runs on SQLite, and on PostgreSQL when `AKIN_TEST_POSTGRES_URL`
//! is set.

/// Generates a `sqlite::NAME` and a `postgres::NAME` test for each `async fn NAME(Backend)`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(akin_testkit::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(backend) = akin_testkit::Backend::postgres() {
                        super::$name(backend).await
                    }
                }
            )*
        }
    };
}

mod admin_pages;
mod auth;
mod blueprint_instances;
mod blueprints;
mod browser;
mod config_api;
mod errors;
mod events;
mod flow_api;
mod flow_pages;
mod flows;
mod groups;
mod invitations;
mod login;
mod mail;
mod password_policy;
mod policies;
mod prompts;
mod python_client;
mod reputation;
mod schemathesis;
mod server;
mod tokens;
mod used_by;
mod users;

use akin_testkit::{Backend, TestEnv};
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_akin");

pub async fn start(backend: &Backend) -> TestEnv {
    TestEnv::start(BIN, backend).await
}

/// Status and JSON body of a response (`Null` for an empty body).
pub async fn json(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    (status, body)
}

/// An admin request with a JSON body, answered as status + JSON.
pub async fn admin_json(
    env: &TestEnv,
    method: Method,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    json(
        env.app
            .admin(method, path)
            .json(&body)
            .send()
            .await
            .expect("request"),
    )
    .await
}

/// An admin GET, answered as status + JSON.
pub async fn admin_get(env: &TestEnv, path: &str) -> (StatusCode, Value) {
    json(
        env.app
            .admin(Method::GET, path)
            .send()
            .await
            .expect("request"),
    )
    .await
}

/// Sends only the head of a POST that announces `length` bytes and reads the answer, as a
/// client whose upload the server refuses up front sees it.
pub async fn oversized_post(
    base_url: &str,
    path: &str,
    content_type: &str,
    length: usize,
) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base_url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: {content_type}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n",
        akin_testkit::ADMIN_TOKEN
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response);
    let status = text[9..12].parse().unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}
