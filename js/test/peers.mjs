// Real peers for the tests: the native `paf serve`, nginx, and test
// certificates made with openssl. Every peer is a child process stopped
// by the test that started it.
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { Socket, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("../..", import.meta.url));

/** A fresh directory, removed by `cleanup()`. */
export function scratch(name) {
  const dir = mkdtempSync(join(tmpdir(), `paf-js-${name}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A TCP port nothing listens on (just freed). */
export async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Resolves once something accepts connections on `port`. */
async function listeningOn(port, child, name) {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}`);
    const open = await new Promise((resolve) => {
      const socket = new Socket();
      socket.once("error", () => resolve(false));
      socket.connect(port, "127.0.0.1", () => {
        socket.destroy();
        resolve(true);
      });
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${name} did not listen on port ${port}`);
}

/** A CA and a leaf for 127.0.0.1 and localhost it signed, as PEM files. */
export function certificates(dir) {
  const file = (name) => join(dir, name);
  const openssl = (...args) => execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  openssl("req", "-x509", ...ec, "-keyout", file("ca.key"), "-out", file("ca.pem"), "-days", "2",
    "-subj", "/CN=paf js test CA", "-addext", "basicConstraints=critical,CA:TRUE",
    "-addext", "keyUsage=critical,keyCertSign");
  openssl("req", ...ec, "-keyout", file("key.pem"), "-out", file("leaf.csr"), "-subj", "/CN=localhost");
  writeFileSync(file("leaf.ext"),
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n");
  openssl("x509", "-req", "-in", file("leaf.csr"), "-CA", file("ca.pem"), "-CAkey", file("ca.key"),
    "-CAcreateserial", "-out", file("cert.pem"), "-days", "2", "-extfile", file("leaf.ext"));
  return {
    ca: readFileSync(file("ca.pem"), "utf8"),
    cert: readFileSync(file("cert.pem"), "utf8"),
    key: readFileSync(file("key.pem"), "utf8"),
    caFile: file("ca.pem"),
    certFile: file("cert.pem"),
    keyFile: file("key.pem"),
  };
}

/** Starts a child and waits until it listens on `port`; `stop()` ends it. */
async function start(name, command, args, port) {
  const child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk) => (stderr += chunk));
  try {
    await listeningOn(port, child, name);
  } catch (error) {
    child.kill();
    throw new Error(`${error.message}\n${stderr}`);
  }
  return {
    port,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", resolve);
        child.kill();
      }),
  };
}

/**
 * The native `paf serve` (PAF_BIN, or the debug build of this repo, in
 * CARGO_TARGET_DIR when that is set, as `cargo build` puts it there).
 */
export async function pafServe(...args) {
  const target = process.env.CARGO_TARGET_DIR ?? join(repo, "target");
  const binary = process.env.PAF_BIN ?? join(target, "debug", "paf");
  const port = await freePort();
  return start("paf serve", binary, ["serve", "--port", String(port), ...args], port);
}

/**
 * nginx with two servers: clear-text HTTP/1.1 on `port`, and TLS with
 * HTTP/2 and HTTP/1.1 by ALPN on `tlsPort`. Both answer /hello and
 * /conn (with the connection's number and request count).
 */
export async function nginx(dir, certs) {
  const [port, tlsPort] = [await freePort(), await freePort()];
  mkdirSync(join(dir, "www"), { recursive: true });
  writeFileSync(join(dir, "www", "hello"), "hello from nginx\n");
  const conf = `daemon off; master_process off; worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  default_type text/plain;
  server {
    listen 127.0.0.1:${port};
    listen 127.0.0.1:${tlsPort} ssl http2;
    ssl_certificate ${certs.certFile};
    ssl_certificate_key ${certs.keyFile};
    root ${dir}/www;
    location = /conn {
      add_header X-Connection $connection always;
      add_header X-Connection-Requests $connection_requests always;
      return 200 "$server_protocol\\n";
    }
    location = /moved { return 301 /hello; }
    location = /cookies {
      add_header Set-Cookie "a=1" always;
      add_header Set-Cookie "b=2" always;
      return 200 "two cookies\\n";
    }
  }
}
`;
  writeFileSync(join(dir, "nginx.conf"), conf);
  const binary = ["/usr/sbin/nginx", "nginx"].find((candidate) => {
    try {
      execFileSync(candidate, ["-v"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  });
  if (!binary) throw new Error("nginx is not installed: run scripts/setup");
  const server = await start("nginx", binary, ["-p", dir, "-e", join(dir, "error.log"), "-c", join(dir, "nginx.conf")], port);
  await listeningOn(tlsPort, { exitCode: null }, "nginx (TLS)");
  return { ...server, tlsPort };
}
