//! [`tcp_transports!`]: plain TCP registered with mimic, and the contexts
//! over it, for a platform that has DNS and TCP (native, WASI). Written
//! once here; a platform gives its stream type, `lookup` and `connect_tcp`.

/// Declares, in a platform's module: `TCP_PRIORITY`, `TCP` (the endpoint
/// of plain TCP, registered as `tcp`) and `TCP_WITNESS`, the contexts
/// `DNS`, `PLAIN_TCP` and `TLS_OVER_TCP`, and `ctx()` / `https_ctx()`.
/// `$stream` is the platform's TCP stream, `$lookup(&str, u16)` its
/// resolver and `$connect(&[SocketAddr])` its connect, both giving
/// `io::Result`s.
macro_rules! tcp_transports {
    ($stream:ty, $lookup:path, $connect:path) => {
        /// The priority of plain TCP: after the protocols with a lower
        /// number (Unix sockets, TLS, a resolver of your own).
        pub const TCP_PRIORITY: $crate::mimic::Priority = $crate::mimic::Priority::new(100);

        static TCP_PROTOCOL: $crate::rt::Global<(
            $crate::mimic::Value<Vec<std::net::SocketAddr>>,
            $crate::mimic::Witness<$stream>,
        )> = $crate::rt::Global::new(|| $crate::mimic::register("tcp", TCP_PRIORITY, Tcp));

        /// The endpoint of plain TCP: addresses tried in order until one
        /// accepts (a name often resolves to `::1` and `127.0.0.1`, and a
        /// server listens on one of them).
        pub static TCP: $crate::rt::Global<$crate::mimic::Value<Vec<std::net::SocketAddr>>> =
            $crate::rt::Global::new(|| TCP_PROTOCOL.0.clone());

        /// Recognises plain TCP flows: `TCP_WITNESS.repr(&flow)` is the
        /// platform's TCP stream.
        pub static TCP_WITNESS: $crate::rt::Global<$crate::mimic::Witness<$stream>> =
            $crate::rt::Global::new(|| TCP_PROTOCOL.1.clone());

        /// A context holding one fold: [`ADDRESSES`](crate::platform::ADDRESSES)
        /// from the host and the port through the platform's resolver (see
        /// [`dns`](crate::platform::dns)).
        pub static DNS: $crate::rt::Global<$crate::mimic::Ctx> = $crate::rt::Global::new(|| {
            $crate::platform::dns(|host: String, port: u16| async move { $lookup(&host, port).await })
        });

        /// A context holding one fold: the [`TCP`] endpoint from
        /// [`ADDRESSES`](crate::platform::ADDRESSES): plain TCP wherever
        /// addresses are known.
        pub static PLAIN_TCP: $crate::rt::Global<$crate::mimic::Ctx> =
            $crate::rt::Global::new(|| $crate::platform::plain(&TCP, &$crate::platform::ADDRESSES));

        /// A context holding one fold: the [`tls::TLS`](crate::tls::TLS)
        /// endpoint over TCP to [`ADDRESSES`](crate::platform::ADDRESSES)
        /// (see [`tls_over`](crate::platform::tls_over)).
        pub static TLS_OVER_TCP: $crate::rt::Global<$crate::mimic::Ctx> = $crate::rt::Global::new(|| {
            $crate::platform::tls_over(&$crate::platform::ADDRESSES, |addresses: Vec<std::net::SocketAddr>| async move {
                Ok($crate::Flow::new($connect(&addresses).await?))
            })
        });

        /// A context for plain TCP to a host and a port: [`DNS`] and
        /// [`PLAIN_TCP`]. Add [`HOST`](crate::platform::HOST) and
        /// [`PORT`](crate::platform::PORT) (or the addresses, or [`TCP`])
        /// and resolve.
        pub fn ctx() -> $crate::mimic::Ctx {
            DNS.merge(&PLAIN_TCP)
        }

        /// A context for TLS to a host and a port: [`DNS`] and
        /// [`TLS_OVER_TCP`], and no plain TCP, so a failed handshake never
        /// falls back to clear text. Add [`HOST`](crate::platform::HOST) and
        /// [`PORT`](crate::platform::PORT) (and
        /// [`tls::CONFIG`](crate::tls::CONFIG) to trust other roots) and
        /// resolve.
        pub fn https_ctx() -> $crate::mimic::Ctx {
            DNS.merge(&TLS_OVER_TCP)
        }

        /// Plain TCP, as registered with mimic.
        struct Tcp;

        impl $crate::mimic::Protocol for Tcp {
            type Endpoint = Vec<std::net::SocketAddr>;
            type Transport = $stream;

            fn connect<'a>(
                &'a self,
                addresses: &'a Vec<std::net::SocketAddr>,
            ) -> $crate::flow::BoxFuture<'a, Result<$stream, $crate::BoxError>> {
                Box::pin(async move { Ok($connect(addresses).await?) })
            }
        }
    };
}
