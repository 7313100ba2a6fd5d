//! HTTP/2 streams reset on `wasm32-unknown-unknown`, in a real JS engine.
//!
//! h2 0.4 reads `Instant::now()` when this side resets a stream (to expire
//! its memory of reset streams), and that panics on this target. paf sets
//! `max_concurrent_reset_streams(0)` on every connection; these tests
//! reset streams from both sides, with frames still in flight for them,
//! and check that the connection goes on serving.
#![cfg(target_arch = "wasm32")]

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http_body_util::BodyExt;
use paf::error::Http2Error;
use paf::rt::js::Js;
use paf::rt::Runtime;
use paf::{service_fn, Body, Config, Error, Flow, Incoming, Request, Response};
use wasm_bindgen_test::wasm_bindgen_test;

/// A body that never ends (h2's flow control paces it).
fn endless() -> Body {
    Body::stream(stream::repeat(Ok::<_, Infallible>(Bytes::from_static(&[b'x'; 4096]))))
}

/// A body that fails after its first chunk.
fn failing() -> Body {
    let chunks = vec![Ok(Bytes::from_static(b"first")), Err(std::io::Error::other("the handler's body failed"))];
    Body::stream(stream::iter(chunks))
}

/// An HTTP/2 connection over an in-memory pipe to a server answering
/// `/endless` and `/failing` with such bodies, `/ignore` without reading
/// the request body, and anything else with "ok".
async fn connect() -> paf::engine::h2::SendRequest {
    let (client, server) = Flow::pipe(64 * 1024);
    let handler = service_fn(|request: Request<Incoming>| async move {
        match request.uri().path() {
            "/endless" => Response::new(endless()),
            "/failing" => Response::new(failing()),
            "/ignore" => {
                drop(request);
                Response::new(Body::from("ignored"))
            }
            _ => Response::new(Body::from("ok")),
        }
    });
    wasm_bindgen_futures::spawn_local(async move {
        let config = Config::default();
        let _ = paf::engine::h2::serve_connection(server, handler, &config, Js::new(), std::future::pending()).await;
    });
    paf::engine::h2::handshake(client, &Config::default(), &Js::new()).await.unwrap()
}

async fn get(sender: &mut paf::engine::h2::SendRequest, path: &str, body: Body) -> Result<Response<Incoming>, Error> {
    let request = Request::post(format!("http://pipe.test{path}")).body(body).unwrap();
    sender.send(request).await
}

async fn still_serves(sender: &mut paf::engine::h2::SendRequest) {
    let response = get(sender, "/", Body::empty()).await.unwrap();
    assert_eq!(response.into_body().bytes().await.unwrap(), "ok");
}

#[wasm_bindgen_test]
async fn the_client_resets_a_response_it_drops_mid_body() {
    let mut sender = connect().await;
    let mut body = get(&mut sender, "/endless", Body::empty()).await.unwrap().into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert!(!first.into_data().unwrap().is_empty());
    // Dropped mid-body: a RST_STREAM from this side, while the server's
    // DATA frames for the stream are still coming.
    drop(body);
    Js::new().sleep(Duration::from_millis(20)).await;
    still_serves(&mut sender).await;
}

#[wasm_bindgen_test]
async fn the_server_resets_a_stream_whose_body_fails() {
    let mut sender = connect().await;
    // The reset may overtake the response head, or come after it.
    let err = match get(&mut sender, "/failing", Body::empty()).await {
        Ok(response) => response.into_body().bytes().await.unwrap_err(),
        Err(err) => err,
    };
    assert!(
        matches!(err, Error::Http2(Http2Error::StreamReset { by_peer: true, .. })),
        "{err:?}"
    );
    still_serves(&mut sender).await;
}

#[wasm_bindgen_test]
async fn the_server_resets_a_request_body_it_does_not_read() {
    let mut sender = connect().await;
    // The request body goes on while the server has answered and dropped it.
    let response = get(&mut sender, "/ignore", endless()).await.unwrap();
    assert_eq!(response.into_body().bytes().await.unwrap(), "ignored");
    Js::new().sleep(Duration::from_millis(20)).await;
    still_serves(&mut sender).await;
}
