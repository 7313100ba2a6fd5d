//! A `wasi:http/proxy` component written with `wstd` alone, no paf code:
//! what any component a user brings looks like to `paf-host serve
//! --proxy`. `/echo` streams the request body back; any other path is a
//! greeting naming the method and the path.

use wstd::http::body::Body;
use wstd::http::{Error, Request, Response};

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, Error> {
    if request.uri().path() == "/echo" {
        return Ok(Response::new(request.into_body()));
    }
    let greeting = format!("hello from wstd: {} {}\n", request.method(), request.uri().path());
    Ok(Response::new(greeting.into()))
}
