//! The `paf` command: `paf serve` runs an httpbin-style server (and static
//! files), `paf get` fetches a URL, `paf cert` obtains a certificate.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod access_log;
mod acme;
mod bench;
mod bridge;
mod get;
mod httpbin;
mod memory;
mod serve;
mod tls_options;

#[derive(Debug, Parser)]
#[command(name = "paf", version, about = "HTTP/1.1 server and client on the paf engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve httpbin-style endpoints, and static files with --root.
    Serve(serve::Args),
    /// Fetch a URL and print the response.
    Get(get::Args),
    /// Load a server with many connections and report throughput, errors and latencies.
    Bench(bench::Args),
    /// Obtain a certificate from an ACME CA (Let's Encrypt staging by default) and exit.
    Cert(acme::CertArgs),
    /// Relay WebSockets (and Wisp streams) from pages to allowed TCP targets.
    Bridge(bridge::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PAF_LOG")
                // paf::acme's warnings are the progress lines printed already.
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,paf::acme=error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("paf: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Get(args) => get::run(args).await,
            Command::Bench(args) => bench::run(args).await,
            Command::Cert(args) => acme::cert(args).await,
            Command::Bridge(args) => bridge::run(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("paf: {message}");
            ExitCode::FAILURE
        }
    }
}
