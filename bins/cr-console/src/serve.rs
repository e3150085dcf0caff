//! The accept loop: HTTP/1.1 over TLS (or plain on loopback), a header timeout, at most 64
//! connections at once, graceful stop.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::Request;

/// Serves `app` until `stop` turns true.
pub async fn serve(
    app: Router,
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;

    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(64));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(10));
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => s?,
            _ = stop.changed() => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("console: cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let app = app.clone();
        let http = http.clone();
        let tls = tls.clone();
        let mut stop = stop.clone();
        conns.spawn(async move {
            let _slot = slot;
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| app.clone().oneshot(req.map(Body::new)));
            let result = match tls {
                Some(acceptor) => match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                    Ok(Ok(s)) => {
                        let conn = http.serve_connection(TokioIo::new(s), service);
                        run(conn, &mut stop).await
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, "TLS handshake failed: {e}");
                        return;
                    }
                    Err(_) => return,
                },
                None => run(http.serve_connection(TokioIo::new(stream), service), &mut stop).await,
            };
            if let Err(e) = result {
                tracing::debug!(%peer, "console connection ended: {e}");
            }
        });
        while conns.try_join_next().is_some() {}
    }
    while conns.join_next().await.is_some() {}
    Ok(())
}

async fn run<I, S>(
    conn: hyper::server::conn::http1::Connection<I, S>,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<(), hyper::Error>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::ResBody: 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => r,
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.as_mut().await
        }
    }
}
