//! Accepting connections and serving HTTP/1.1 on each, with a limit on how long a client may
//! take to send a request's headers: one that opens connections and trickles bytes (or sends
//! nothing) must not hold descriptors and tasks for ever. On shutdown, every connection
//! finishes the request it is in and closes, and the listener closes first.

use std::future::Future;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;

/// How long a client has, from the moment it connects or ends a request, to send the whole
/// head of its next request.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` until `shutdown` completes, then waits for the connections to
/// finish what they are doing.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(header_read_timeout());
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors, most likely: give the connections a moment to end.
                    log::warn!("serve: cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                log::debug!("serve: connection ended: {e}");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// [`HEADER_READ_TIMEOUT`]; a debug build takes another from `FTPTRIGGER_TEST_HEADER_TIMEOUT_MS`,
/// so a test need not wait half a minute.
fn header_read_timeout() -> Duration {
    #[cfg(debug_assertions)]
    if let Some(ms) = std::env::var("FTPTRIGGER_TEST_HEADER_TIMEOUT_MS").ok().and_then(|v| v.parse().ok()) {
        return Duration::from_millis(ms);
    }
    HEADER_READ_TIMEOUT
}
