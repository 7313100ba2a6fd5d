//! HTTP/2 stream resets inside a `wasm32-wasip2` build, run by wasmtime
//! (`scripts/test-wasi` sets it as cargo's runner for that target).
//!
//! h2 remembers the streams it reset for a while, timed with
//! `Instant::now()`; paf turns that off (`max_concurrent_reset_streams(0)`)
//! so that no clock is read in the core. Here a client drops response
//! bodies the server is still streaming: each drop resets the stream while
//! DATA for it is in flight, and the connection must go on serving.

use std::sync::Arc;

use http_body_util::BodyExt;
use paf::engine::alpn::{self, Protocol};
use paf::rt::wasi::{self, Wasi};
use paf::Serve;
use paf::{Body, Config, Flow, Incoming, Request, Response};

/// An endless body for `/endless`, a short one elsewhere.
async fn handler(request: Request<Incoming>) -> Response<Body> {
    if request.uri().path() != "/endless" {
        return Response::new(Body::from("done\n"));
    }
    let chunks = futures_util::stream::repeat_with(|| Ok::<_, std::convert::Infallible>(vec![b'x'; 16 * 1024]));
    Response::new(Body::stream(chunks))
}

#[test]
fn dropped_bodies_reset_their_streams_and_the_connection_goes_on() {
    wasi::block_on(async {
        let (client, server) = Flow::pipe(1 << 20);
        let mut config = Config::default();
        config.h2c = true;
        let connection = paf::service_fn(handler).serve_connection(
            server,
            paf::rt::Endpoints::named("pipe"),
            Arc::new(config),
            Wasi,
            std::future::pending(),
        );
        wasi::spawn(connection);
        let mut sender = alpn::handshake(Protocol::Http2, client, &Config::default(), &Wasi).await.unwrap();
        for _ in 0..5 {
            let request = Request::get("http://wasi.test/endless").body(Body::empty()).unwrap();
            let mut body = sender.send(request).await.unwrap().into_body();
            let first = body.frame().await.unwrap().unwrap();
            assert!(first.is_data());
            drop(body); // RST_STREAM (CANCEL), with more DATA on its way
            wasi::sleep(std::time::Duration::from_millis(10)).await;
        }
        let request = Request::get("http://wasi.test/short").body(Body::empty()).unwrap();
        let response = sender.send(request).await.unwrap();
        assert_eq!(response.version(), paf::Version::HTTP_2);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"done\n");
    });
}
