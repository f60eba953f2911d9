//! The network side: accepting TCP connections (a bounded number at once), TLS, HTTP/1.1 and
//! HTTP/2 (hyper), deadlines for handshakes, headers, bodies and idle connections, reading
//! bodies with a size limit (only once the token is known good), turning [`Reply`]s into
//! responses, and graceful shutdown.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::Frame;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use super::api::{lock, Reply, Request, Shared};
use super::faults::Action as FaultAction;
use super::status::{quote, ApiError};
use super::MAX_BODY;

/// How long shutdown waits for requests in flight.
const GRACE: Duration = Duration::from_secs(5);
/// Concurrent HTTP/2 requests on one connection.
const MAX_STREAMS: u32 = 100;

/// What one client may hold: connections, and the time to send a request.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections served at once; more wait in the listen backlog.
    pub connections: usize,
    /// How long a TLS handshake may take.
    pub handshake: Duration,
    /// How long a client may take to send the headers of a request (HTTP/1.1; also the
    /// first request on a connection and the wait between HTTP/1.1 requests).
    pub headers: Duration,
    /// How long a client may take to send the body of a request.
    pub body: Duration,
    /// How long a connection may stay open without a request in flight.
    pub idle: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connections: 64,
            handshake: Duration::from_secs(10),
            headers: Duration::from_secs(10),
            body: Duration::from_secs(60),
            idle: Duration::from_secs(90),
        }
    }
}

/// Accepts connections (at most `limits.connections` open at once) until `stop` turns true
/// (or its sender is dropped), then waits up to [`GRACE`] for open connections to finish.
pub async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.connections));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = accept(&listener, &slots) => match accepted {
                Ok((tcp, permit)) => {
                    shared.connections.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let conn = connection(tcp, acceptor.clone(), shared.clone(), limits, stop.clone());
                    connections.spawn(async move {
                        conn.await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    tracing::debug!(error = %e, "sandbox accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.abort_all();
    }
    tracing::debug!("sandbox stopped");
}

/// Waits for a free connection slot, then for a connection.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> std::io::Result<(TcpStream, OwnedSemaphorePermit)> {
    let permit = slots
        .clone()
        .acquire_owned()
        .await
        .map_err(std::io::Error::other)?;
    let (tcp, _peer) = listener.accept().await?;
    Ok((tcp, permit))
}

/// Whether a connection is in use: requests in flight, and when the last one ended.
struct Activity {
    state: Mutex<ActivityState>,
    /// Signalled when a request ends, to compute a new deadline.
    ended: Notify,
}

struct ActivityState {
    in_flight: usize,
    /// When the connection was opened or its last request ended.
    since: Instant,
    /// Whether a request has begun (until then, only `headers` is allowed).
    started: bool,
}

/// A request in flight, until dropped.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let mut state = lock(&self.0.state);
        state.in_flight -= 1;
        state.since = Instant::now();
        self.0.ended.notify_one();
    }
}

impl Activity {
    fn new() -> Arc<Activity> {
        Arc::new(Activity {
            state: Mutex::new(ActivityState {
                in_flight: 0,
                since: Instant::now(),
                started: false,
            }),
            ended: Notify::new(),
        })
    }

    fn begin(self: &Arc<Self>) -> Busy {
        let mut state = lock(&self.state);
        state.in_flight += 1;
        state.started = true;
        Busy(self.clone())
    }

    /// When the connection is to be closed if nothing happens meanwhile; `None` while a
    /// request is in flight.
    fn deadline(&self, limits: &Limits) -> Option<Instant> {
        let state = lock(&self.state);
        let allowed = if state.started {
            limits.idle
        } else {
            limits.headers
        };
        (state.in_flight == 0).then(|| state.since + allowed)
    }
}

/// Serves one connection until it closes, stays idle too long, or the sandbox stops.
async fn connection(
    tcp: TcpStream,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    // As Go's net package (the real API server) does: no Nagle delay, so a response's
    // frames are not held back waiting for the client's delayed ACK (about 40 ms).
    let _ = tcp.set_nodelay(true);
    let tls = match tokio::time::timeout(limits.handshake, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "sandbox TLS handshake failed");
            return;
        }
        Err(_) => return,
    };
    let activity = Activity::new();
    let service = {
        let activity = activity.clone();
        service_fn(move |req| {
            let shared = shared.clone();
            let busy = activity.begin();
            async move {
                let response = handle(&shared, &limits, req).await;
                drop(busy);
                Ok::<_, Infallible>(response)
            }
        })
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.headers);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_STREAMS);
    let conn = builder.serve_connection(TokioIo::new(tls), service);
    tokio::pin!(conn);
    loop {
        if *stop.borrow_and_update() {
            break;
        }
        // While a request is in flight, look again after `idle`.
        let deadline = activity
            .deadline(&limits)
            .unwrap_or_else(|| Instant::now() + limits.idle);
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "sandbox connection ended with an error");
                }
                return;
            }
            changed = stop.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            () = activity.ended.notified() => {}
            () = tokio::time::sleep_until(deadline) => {
                if activity.deadline(&limits).is_some_and(|d| d <= Instant::now()) {
                    tracing::debug!("sandbox closing an idle connection");
                    break;
                }
            }
        }
    }
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(GRACE, conn).await;
}

/// Checks the token, then reads the body (bounded in size and time), serves the request and
/// builds the response. Requests without the right token are answered at once, their body
/// unread.
async fn handle(shared: &Shared, limits: &Limits, req: http::Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let body = if shared.authenticated(&parts.headers) {
        match read_body(body, limits.body).await {
            Ok(body) => body,
            Err(e) => return deliver(Reply::error(&e)).await,
        }
    } else {
        Bytes::new()
    };
    let request = Request {
        method: &parts.method,
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
        body: &body,
    };
    let reply = shared.serve(&request);
    deliver(reply).await
}

/// A response body that can fail halfway (an injected reset).
type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// The response, after what an injected fault does: wait, never answer, or cut the body off
/// halfway (the client has the headers and a `Content-Length` it never gets).
async fn deliver(mut reply: Reply) -> Response<Body> {
    match reply.injected.take() {
        Some(FaultAction::Delay(d)) => tokio::time::sleep(d).await,
        Some(FaultAction::Timeout) => std::future::pending::<()>().await,
        Some(FaultAction::Reset) => {
            let (parts, full) = response(reply).into_parts();
            let bytes = full
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            let half = bytes.slice(..bytes.len() / 2);
            let frames = futures::stream::iter([
                Ok(Frame::data(half)),
                Err(std::io::Error::other("injected fault: connection reset")),
            ]);
            let mut r = Response::from_parts(parts, StreamBody::new(frames).boxed_unsync());
            if let Ok(v) = HeaderValue::from_str(&bytes.len().to_string()) {
                r.headers_mut().insert(http::header::CONTENT_LENGTH, v);
            }
            return r;
        }
        _ => {}
    }
    response(reply).map(|b| b.map_err(|never| match never {}).boxed_unsync())
}

/// The body, at most [`MAX_BODY`] bytes received within `deadline`.
async fn read_body(body: Incoming, deadline: Duration) -> Result<Bytes, ApiError> {
    match tokio::time::timeout(deadline, Limited::new(body, MAX_BODY).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            Err(ApiError::too_large(MAX_BODY))
        }
        Ok(Err(e)) => Err(ApiError::bad_request(format!(
            "cannot read the request body: {e}"
        ))),
        Err(_) => Err(ApiError::new(
            408,
            "Timeout",
            format!("the request body was not received within {deadline:?}"),
        )),
    }
}

/// A JSON response with `Warning: 299 - "..."` headers.
fn response(reply: Reply) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(&reply.body).unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(seconds) = reply.retry_after {
        headers.insert(http::header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    for warning in reply.warnings {
        if let Ok(v) = HeaderValue::from_str(&format!("299 - {}", quote(&warning))) {
            headers.append("warning", v);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio_rustls::client::TlsStream;

    use super::Limits;
    use crate::{Options, Sandbox};

    const TOKEN: &str = "the-token";
    /// Longer than any limit under test: what "never" means here.
    const PATIENCE: Duration = Duration::from_secs(5);

    fn limits() -> Limits {
        Limits {
            connections: 64,
            handshake: Duration::from_secs(30),
            headers: Duration::from_secs(30),
            body: Duration::from_secs(30),
            idle: Duration::from_secs(30),
        }
    }

    async fn start(limits: Limits) -> Sandbox {
        let opts = Options {
            token: Some(TOKEN.into()),
            ..Options::default()
        };
        Sandbox::start_with_limits(opts, limits).await.unwrap()
    }

    async fn connect(sb: &Sandbox) -> TlsStream<TcpStream> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(sb.ca_pem().as_bytes()).unwrap())
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tcp = TcpStream::connect(sb.address()).await.unwrap();
        tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(ServerName::IpAddress(sb.address().ip().into()), tcp)
            .await
            .unwrap()
    }

    /// Everything the server sends until it closes the connection, or `None` if it is still
    /// open after [`PATIENCE`].
    async fn until_closed(stream: &mut (impl AsyncRead + Unpin)) -> Option<String> {
        let mut received = Vec::new();
        let read = tokio::time::timeout(PATIENCE, async {
            let mut buf = [0u8; 4096];
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => received.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        read.ok()
            .map(|()| String::from_utf8_lossy(&received).into_owned())
    }

    /// Reads one response with a Content-Length body; returns its head.
    async fn response(stream: &mut (impl AsyncRead + Unpin)) -> String {
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(stream.read_u8().await.unwrap());
        }
        let head = String::from_utf8(head).unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await.unwrap();
        head
    }

    fn get_version() -> String {
        format!("GET /version HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\n\r\n")
    }

    #[tokio::test]
    async fn slow_headers_are_cut_off() {
        let sb = start(Limits {
            headers: Duration::from_millis(300),
            ..limits()
        })
        .await;
        // Before the first request and between requests on a kept-alive connection.
        let mut tls = connect(&sb).await;
        tls.write_all(b"GET /version HTTP/1.1\r\nhost: x\r\n")
            .await
            .unwrap();
        assert!(until_closed(&mut tls).await.is_some());

        let mut tls = connect(&sb).await;
        tls.write_all(get_version().as_bytes()).await.unwrap();
        assert!(response(&mut tls).await.starts_with("HTTP/1.1 200"));
        tls.write_all(b"GET /version HTTP/1.1\r\n").await.unwrap();
        assert!(until_closed(&mut tls).await.is_some());
        sb.shutdown().await;
    }

    #[tokio::test]
    async fn slow_bodies_time_out() {
        let sb = start(Limits {
            body: Duration::from_millis(300),
            ..limits()
        })
        .await;
        let mut tls = connect(&sb).await;
        let head = format!(
            "POST /api/v1/namespaces/default/secrets HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"kind\":"
        );
        tls.write_all(head.as_bytes()).await.unwrap();
        let answer = tokio::time::timeout(PATIENCE, response(&mut tls))
            .await
            .expect("answered before the body's end");
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        sb.shutdown().await;
    }

    #[tokio::test]
    async fn idle_connections_are_closed() {
        let sb = start(Limits {
            idle: Duration::from_millis(300),
            ..limits()
        })
        .await;
        let mut tls = connect(&sb).await;
        tls.write_all(get_version().as_bytes()).await.unwrap();
        assert!(response(&mut tls).await.starts_with("HTTP/1.1 200"));
        assert_eq!(until_closed(&mut tls).await.as_deref(), Some(""));
        sb.shutdown().await;
    }

    #[tokio::test]
    async fn connections_are_capped() {
        let sb = start(Limits {
            connections: 2,
            ..limits()
        })
        .await;
        // Two connections that never say anything hold both slots...
        let silent = [
            TcpStream::connect(sb.address()).await.unwrap(),
            TcpStream::connect(sb.address()).await.unwrap(),
        ];
        let waiting = tokio::time::timeout(Duration::from_millis(500), connect(&sb)).await;
        assert!(waiting.is_err(), "a third connection waits for a slot");
        // ...until one goes away.
        drop(silent);
        let mut tls = tokio::time::timeout(PATIENCE, connect(&sb))
            .await
            .expect("served once a slot is free");
        tls.write_all(get_version().as_bytes()).await.unwrap();
        assert!(response(&mut tls).await.starts_with("HTTP/1.1 200"));
        sb.shutdown().await;
    }
}
