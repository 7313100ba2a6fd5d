//! mimic's ping-pong: a client and a server that find each other through a
//! context, the transport chosen by priority.
//!
//! The server listens on a Unix socket and on a TCP port and answers each
//! `ping N` line with `pong N`, over whatever flow it is given. The client
//! knows the server only by a mimic context that says where it is, twice:
//! a socket path ([`native::UNIX`], priority 40) and a host and a port
//! (plain TCP, priority 100, through DNS). `mimic::resolve` tries the lower
//! number first, so the pings go over the Unix socket; once the socket is
//! gone, the same context falls back to TCP. Neither side's ping-pong code
//! knows which transport it is on: both see a [`paf::Flow`].
//!
//! ```sh
//! cargo run --example mimic_ping_pong
//! ```

use paf::mimic::{self, Ctx};
use paf::platform::{native, HOST, PORT};
use paf::rt::native::{TcpListener, UnixListener};
use paf::rt::Listener;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The server: answers `ping N` with `pong N` on every connection.
async fn pong(mut listener: impl Listener) {
    while let Ok((flow, endpoints)) = listener.accept().await {
        let peer = endpoints.peer;
        tokio::spawn(async move {
            let mut flow = BufReader::new(flow);
            let mut line = String::new();
            while flow.read_line(&mut line).await.unwrap_or(0) > 0 {
                println!("server: {} from {peer}", line.trim_end());
                let _ = flow.write_all(line.replace("ping", "pong").as_bytes()).await;
                line.clear();
            }
        });
    }
}

/// The client: resolves `ctx` to a flow, whichever transport wins, and pings.
async fn ping(ctx: &Ctx, n: u32) -> Result<(), paf::Error> {
    let flow = mimic::resolve(ctx).await?;
    let transport = if native::UNIX_WITNESS.is(&flow) { "the unix socket" } else { "tcp" };
    let mut flow = BufReader::new(flow);
    flow.write_all(format!("ping {n}\n").as_bytes()).await?;
    let mut answer = String::new();
    flow.read_line(&mut answer).await?;
    println!("client: {} over {transport}", answer.trim_end());
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), paf::Error> {
    let dir = std::env::temp_dir().join(format!("paf-ping-pong-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let socket = dir.join("pong.sock");
    let tcp = TcpListener::bind("127.0.0.1:0").await?;
    let port = tcp.local_addr()?.port();
    let unix = tokio::spawn(pong(UnixListener::bind(&socket)?));
    tokio::spawn(pong(tcp));

    // Where the server is, said two ways; mimic picks by priority.
    let ctx = native::ctx()
        .add(&HOST, "localhost".to_string())
        .add(&PORT, port)
        .add(&native::UNIX, socket);
    ping(&ctx, 1).await?;
    ping(&ctx, 2).await?;

    unix.abort();
    std::fs::remove_dir_all(&dir)?;
    println!("server: the unix socket is gone");
    ping(&ctx, 3).await?;
    Ok(())
}
