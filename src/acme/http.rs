//! paf's own [`Client`] as instant-acme's HTTP client: the ACME protocol
//! then runs over whatever transports the client's platform has, with its
//! TLS (and the CA roots given to it), timeouts and redirects policy.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Limited};
use instant_acme::{BodyWrapper, BytesResponse, HttpClient};

use crate::flow::OneThread;
use crate::{Body, Client};

/// The most of an answer of the CA that is read (a certificate chain is a
/// few kB, a directory less).
const MAX_ANSWER: usize = 1024 * 1024;

/// [`Client`] as an [`HttpClient`] (whose `Send` bounds [`OneThread`]
/// meets on wasm too).
pub(super) struct PafHttp(OneThread<Client>);

impl PafHttp {
    pub(super) fn new(client: Client) -> PafHttp {
        PafHttp(OneThread(client))
    }
}

impl HttpClient for PafHttp {
    fn request(
        &self,
        request: Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let client = self.0 .0.clone();
        Box::pin(OneThread(Box::pin(async move {
            let (parts, body) = request.into_parts();
            let Ok(body) = body.collect().await;
            let request = Request::from_parts(parts, Body::from(body.to_bytes()));
            let response = client.request(request).await.map_err(|err| instant_acme::Error::Other(Box::new(err)))?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_ANSWER)
                .collect()
                .await
                .map_err(|err| match err.downcast::<crate::Error>() {
                    Ok(err) => instant_acme::Error::Other(err),
                    Err(err) => instant_acme::Error::Other(format!("an answer of the CA: {err}").into()),
                })?
                .to_bytes();
            Ok(BytesResponse { parts, body: Box::new(body) })
        })))
    }
}
