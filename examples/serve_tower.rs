//! A tower `Service` served by paf, for code from the tower ecosystem.
//!
//! `tower::service_fn` makes a service; tower's combinators wrap it (here
//! `map_request`, which bounds the request body, and `map_response`,
//! adding a header); [`paf::engine::tower::service`] turns
//! it into a paf [`Handler`](paf::Handler), and `paf::serve` runs it like
//! any other — over HTTP/1.1, and HTTP/2 by prior knowledge (h2c) since
//! the config allows it. The example then asks it twice with paf's client,
//! once in each protocol, and stops.
//!
//! It needs paf's `tower` feature:
//!
//! ```sh
//! cargo run --example serve_tower --features tower
//! ```

use std::convert::Infallible;

use paf::client::ResponseExt;
use paf::http::HeaderValue;
use paf::rt::native::TcpListener;
use http_body_util::Limited;
use paf::{Body, Config, Connection, Incoming, Request, Response, Switch};
use tower::ServiceExt;

#[tokio::main]
async fn main() -> Result<(), paf::Error> {
    // A service as a tower user writes it.
    // A layer that replaces the body: the connection is still found.
    let service = tower::service_fn(|request: Request<Limited<Incoming>>| async move {
        let peer = Connection::of(&request).map_or("nowhere".to_string(), |conn| conn.peer().to_string());
        let answer = format!("hello from tower: {} {} over {:?} from {peer}", request.method(), request.uri().path(), request.version());
        Ok::<_, Infallible>(Response::new(Body::from(answer)))
    })
    .map_request(|request: Request<Incoming>| request.map(|body| Limited::new(body, 1 << 20)))
    .map_response(|mut response: Response<Body>| {
        response.headers_mut().insert("x-served-by", HeaderValue::from_static("tower"));
        response
    });

    // Served by paf.
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hello", listener.local_addr()?);
    let switch = Switch::new();
    let mut config = Config::default();
    config.h2c = true;
    let server = tokio::spawn(paf::serve(listener, paf::engine::tower::service(service), config, switch.clone()));

    for h2c in [false, true] {
        let client = paf::Client::builder().http2_prior_knowledge(h2c).build();
        let response = client.get(&url).await?;
        let served_by = response.headers()["x-served-by"].to_str().unwrap_or_default().to_string();
        println!("{} (x-served-by: {served_by}): {}", response.status(), response.text().await?);
    }

    switch.stop();
    server.await.expect("the server task")?;
    println!("stopped");
    Ok(())
}
