//! The roots the clients of the package trust by default. The package has
//! no roots compiled in (paf's `bundled-roots` feature is off, which keeps
//! ~45 KiB of gzipped wasm out): `setRoots` gives them, from Node's store
//! (node.js does it on load), from `paf/roots` (the Mozilla roots, for
//! browsers and workers) or from the caller. With none, an `https` request
//! fails with `ERR_TLS` (no trusted roots): certificates are never taken
//! unchecked.

use std::cell::RefCell;

use js_sys::Array;
use paf::tls::ClientTls;
use wasm_bindgen::prelude::*;

/// The roots given to `setRoots`: their PEM until the first client needs
/// them (Node gives its ~150 roots on load, where plain `http` would not
/// use them), then parsed once.
enum Roots {
    Pem(String),
    Parsed(ClientTls),
}

thread_local! {
    static ROOTS: RefCell<Roots> = RefCell::new(Roots::Parsed(ClientTls::new()));
}

/// Replaces the roots clients made from now on trust: `roots` is PEM (one
/// or more `BEGIN CERTIFICATE` sections) or an array of PEM strings (as
/// Node's `tls.rootCertificates`); an empty array trusts none. The PEM is
/// read when the next client is made, which fails if it holds something
/// else than certificates.
#[wasm_bindgen(js_name = setRoots)]
pub fn set_roots(roots: JsValue) -> Result<(), JsValue> {
    let pem = if Array::is_array(&roots) {
        let mut pem = String::new();
        for item in Array::from(&roots).iter() {
            let Some(one) = item.as_string() else {
                return Err(crate::type_error(
                    "setRoots: the array must hold PEM strings",
                ));
            };
            pem.push_str(&one);
            pem.push('\n');
        }
        pem
    } else if let Some(pem) = roots.as_string() {
        pem
    } else {
        return Err(crate::type_error(
            "setRoots: expected PEM, or an array of PEM strings",
        ));
    };
    ROOTS.with(|roots| *roots.borrow_mut() = Roots::Pem(pem));
    Ok(())
}

/// What a new client starts from: the roots of the last `setRoots`.
pub(crate) fn client_tls() -> Result<ClientTls, JsValue> {
    ROOTS.with(|roots| {
        let mut roots = roots.borrow_mut();
        let pem = match &*roots {
            Roots::Parsed(tls) => return Ok(tls.clone()),
            Roots::Pem(pem) => pem,
        };
        let mut tls = ClientTls::new().no_roots();
        if !pem.trim().is_empty() {
            tls = tls
                .add_roots_pem(pem.as_bytes())
                .map_err(|err| crate::type_error(&format!("the roots given to setRoots: {err}")))?;
        }
        *roots = Roots::Parsed(tls.clone());
        Ok(tls)
    })
}
