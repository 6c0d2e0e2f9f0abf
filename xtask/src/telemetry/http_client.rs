//! The OTLP http/protobuf exporter's client: one HTTP/1.1 request over a
//! plain TCP connection, every socket operation bounded by the export
//! timeout. Hand-written because the crates' clients (reqwest, hyper) would
//! bring a TLS stack and double the xtask's build for one POST to a
//! collector; an `https` endpoint is refused with a line naming the fix.

use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Client {
    pub timeout: Duration,
}

#[async_trait::async_trait]
impl HttpClient for Client {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        post(&request, self.timeout).map_err(Into::into)
    }
}

fn post(request: &Request<Bytes>, timeout: Duration) -> Result<Response<Bytes>, String> {
    let uri = request.uri();
    if uri.scheme_str() != Some("http") {
        return Err(format!(
            "{uri}: only http:// endpoints are supported (TLS is not built in): use the collector's plain OTLP port"
        ));
    }
    let host = uri.host().ok_or_else(|| format!("{uri} names no host"))?;
    let port = uri.port_u16().unwrap_or(80);
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} has no address"))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|_| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut head = format!("{} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n", request.method());
    for (name, value) in request.headers() {
        head += &format!("{name}: {}\r\n", value.to_str().unwrap_or_default());
    }
    head += &format!("Content-Length: {}\r\n\r\n", request.body().len());
    stream
        .write_all(head.as_bytes())
        .and_then(|_| stream.write_all(request.body()))
        .map_err(|e| format!("cannot send to {addr}: {e}"))?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(|e| format!("no answer from {addr}: {e}"))?;
    parse(&raw)
}

/// A whole HTTP/1.1 response (the connection closed after it): status and body, chunks joined.
pub fn parse(raw: &[u8]) -> Result<Response<Bytes>, String> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or("an incomplete HTTP response")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("a response without a status line")?;
    let mut body = raw[end + 4..].to_vec();
    let chunked = lines.any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.to_ascii_lowercase().contains("chunked")
    });
    if chunked {
        body = unchunk(&body);
    }
    Response::builder().status(status).body(Bytes::from(body)).map_err(|e| e.to_string())
}

fn unchunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&data[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok());
        let Some(size) = size.filter(|&s| s > 0) else { break };
        let start = eol + 2;
        let chunk = data.get(start..start + size).unwrap_or(&data[start.min(data.len())..]);
        out.extend_from_slice(chunk);
        data = data.get(start + size + 2..).unwrap_or(&[]);
    }
    out
}
