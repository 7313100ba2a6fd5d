// Types of the paf npm package (both entries: Node and browsers/workers).

/**
 * A byte stream, the way JS platforms give one: Cloudflare's `connect()`,
 * Deno's connections, `Duplex.toWeb(socket)` in Node, WebSocketStream.
 */
export interface StreamPair {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
  /**
   * The same bytes as events and calls, used instead of the streams when
   * present (no promise per chunk): what `connectTcp` and `listenTcp` give.
   */
  socket?: PushSocket;
  /** A name for the peer, for error reports. */
  peer?: string;
  /** On a server: the protocol the platform's TLS negotiated ("h2", "http/1.1"). */
  alpn?: string;
}

/**
 * A socket whose data comes in events and whose writes are calls, as
 * Node's sockets work. `attach(listener)` starts the events:
 * `listener(0, chunk)` data, `listener(1)` the end, `listener(2, error)` a
 * failure, `listener(3)` room to write again after `write` said false.
 * paf copies a chunk before the listener returns: the socket may read into
 * the same memory again (as `connectTcp`'s do, with Node's `onread`).
 */
export interface PushSocket {
  attach(listener: (kind: 0 | 1 | 2 | 3, value?: unknown) => void): void;
  /**
   * false: wait for the drain event (3) before writing more. The chunk is
   * the socket's to keep; small ones share an ArrayBuffer (as Node's
   * pooled Buffers do), so it must not be transferred.
   */
  write(chunk: Uint8Array): boolean;
  pause(): void;
  resume(): void;
  /** No more writes: what was written goes out, then the end. */
  end(): void;
  /** Stops the events and releases the socket once what was written has gone. */
  close(): void;
}

/** Where paf asks `connect` to connect: an IPv6 literal comes without brackets. */
export interface Endpoint {
  host: string;
  port: number;
}

/** Opens a stream pair to an endpoint. */
export type Connect = (endpoint: Endpoint) => StreamPair | Promise<StreamPair>;

export interface TlsOptions {
  /** More CA certificates to trust (PEM), besides the roots of `setRoots`. */
  ca?: string;
  /** Accept any certificate: encrypted, not authenticated. For tests. */
  insecure?: boolean;
  /**
   * Accept a server only if the SHA-256 of its certificate (its DER bytes:
   * the `fingerprint256` of Node's certificates, what `openssl x509 -noout
   * -fingerprint -sha256` prints; hex, colons allowed) is one of these.
   * A pin replaces the other checks (roots, `ca`, the host name, the
   * dates): the exact certificate is known, a self-signed one typically.
   * Any other certificate fails the request with the code
   * "ERR_TLS_PIN_MISMATCH", its message naming the SHA-256 it presented.
   */
  pins?: string[];
}

export interface ClientOptions {
  /** How to open connections; `connectTcp` by default in Node. */
  connect?: Connect;
  /**
   * The protocols offered by ALPN over TLS, best first; `["h2", "http/1.1"]`
   * by default. `["h2"]` alone also speaks HTTP/2 to `http:` URLs (prior
   * knowledge).
   */
  alpn?: Array<"h2" | "http/1.1">;
  /** TLS, done by rustls inside the wasm module. */
  tls?: TlsOptions;
  /** Milliseconds until the response head has come (30 000; 0: none). */
  timeout?: number;
  /** Redirects followed (10; 0: a redirect is a response like any other). */
  maxRedirects?: number;
  /** Milliseconds connecting may take: the connect function, TLS, the HTTP/2 preface (10 000). */
  connectTimeout?: number;
  /** Milliseconds an unused connection stays open in the pool (90 000). */
  idleTimeout?: number;
  /** Idle HTTP/1.1 connections kept per origin (8; 0: none kept). */
  maxIdlePerOrigin?: number;
  /**
   * Whether a connection serves later requests too: pooled HTTP/1.1, one
   * shared HTTP/2 connection per origin (`true`, except in a worker).
   * `false`: each request opens its own, closed after its response. In a
   * worker (workerd, Cloudflare) a connection cannot outlive the fetch
   * event that opened it, so the worker entry's clients default to
   * `false`, and a Client kept across events works; `true` there is for a
   * Client made in each event, to reuse its connections within it.
   */
  reuseConnections?: boolean;
  /**
   * "on": `https` goes over the platform's TLS rather than paf's: `connect`
   * is called with `secureTransport: "on"` (as `connect()` of
   * `cloudflare:sockets` takes it) and gives a pair that is TLS already,
   * on which paf speaks HTTP/1.1 (workerd says nothing of ALPN, so no
   * HTTP/2). The platform checks the certificate with its own roots
   * (workerd: the network service's `tlsOptions`), so `tls` cannot be
   * given then. Needs a `connect` that does TLS when asked: the default
   * one in a worker, or one of your own. "off" (the default): TLS is
   * rustls in wasm, HTTP/2 by ALPN, `tls.ca` and `tls.pins` apply.
   */
  secureTransport?: "on" | "off";
  /**
   * Milliseconds between HTTP/2 PINGs on each connection (none by default);
   * a PING unanswered for 20 s closes the connection, failing its
   * requests with "ETIMEDOUT".
   */
  keepAlive?: number;
}

export type RequestOptions = RequestInit & ClientOptions;

/** A standard Response, which also says which protocol carried it. */
export type PafResponse = Response & {
  readonly protocol: "HTTP/1.1" | "HTTP/2";
  /** Over TLS (rustls, in wasm): what was negotiated and the server's certificates, its own first (DER). */
  readonly tls?: { version: string; cipher: string; peerCertificates: Uint8Array[] };
};

/**
 * The errors of paf carry a `code`: "ECONNREFUSED", "ENOTFOUND",
 * "ETIMEDOUT", "ERR_TLS", "ERR_TLS_PIN_MISMATCH" (see `tls.pins`), "ERR_HTTP2", "ERR_INVALID_URL", "ERR_REDIRECT",
 * "ECONNECT" (another failure to connect) or "ERR_PAF".
 */
export interface PafError extends Error {
  code: string;
}

/**
 * `fetch` over paf: HTTP/1.1 or HTTP/2 (by ALPN, or prior knowledge), TLS
 * in wasm, over the stream pairs `connect` opens. Connections are pooled
 * per `connect` function and options (in a worker, a connection per
 * request: see `reuseConnections`).
 */
export function request(input: string | URL | Request, init?: RequestOptions): Promise<PafResponse>;

/** A client with its own connection pool. */
export class Client {
  constructor(options?: ClientOptions);
  /** `fetch`: a standard Response. */
  fetch(input: string | URL | Request, init?: RequestInit): Promise<PafResponse>;
  /**
   * The same request, answered without standard Response and Headers
   * objects (which cost more than the rest of a small exchange): the
   * faster way when a Response is not needed.
   */
  send(input: string | URL | Request, init?: RequestInit): Promise<SentResponse>;
}

/** What `Client.send()` resolves with. */
export interface SentResponse {
  status: number;
  statusText: string;
  /** Names in lower case; repeated fields joined by ", " (cookie by "; "), set-cookie an array. */
  headers: Record<string, string | string[]>;
  protocol: "HTTP/1.1" | "HTTP/2";
  /** Where the response came from: the request's URL, or where redirects led. */
  url: string;
  body: Body;
}

/**
 * A response body of `Client.send()`, or a request body of a plain
 * `serve()` handler: read once, whole or as it comes.
 */
export class Body implements AsyncIterable<Uint8Array> {
  private constructor();
  readonly bodyUsed: boolean;
  bytes(): Promise<Uint8Array>;
  arrayBuffer(): Promise<ArrayBuffer>;
  text(): Promise<string>;
  json(): Promise<unknown>;
  stream(): ReadableStream<Uint8Array>;
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array>;
  /** Discards the rest (an HTTP/2 stream is reset, an HTTP/1.1 connection closed). */
  cancel(): void;
}

export interface ServeOptions {
  /**
   * The handler gets a {@link ServerRequest} and answers a
   * {@link ServerAnswer}: no standard Request, Response or Headers objects
   * are made, which in Node cost more than the rest of a small exchange
   * (default false: `handler(request, info)` gets a Request and answers a
   * Response).
   */
  plain?: boolean;
  /** Speak HTTP/2 to clear-text clients that start with its preface (default true). */
  h2c?: boolean;
  /** Hears of failed connections and failed handlers. */
  onError?: (error: unknown, peer?: string) => void;
  /** Milliseconds a client has to send a whole request head once it began (10 000). */
  headerTimeout?: number;
  /** Milliseconds a keep-alive connection may stay idle between requests (60 000). */
  idleTimeout?: number;
  /** Milliseconds a body may stall, nothing read or written (30 000). */
  bodyTimeout?: number;
  /** Milliseconds requests in flight have to finish after close() (30 000). */
  drainTimeout?: number;
  /** Connections served at once; more wait (10 000). */
  maxConnections?: number;
}

/** The connection a request came on: the second argument of a `serve()` handler. */
export interface ConnectionInfo {
  /** The peer: `"127.0.0.1:50412"`, or a name where it has no address (an in-memory pair). */
  peer: string;
  /** This end's address, where it has one. */
  local?: string;
  /** "HTTP/1.1" or "HTTP/2". */
  protocol: "HTTP/1.1" | "HTTP/2";
  /** What TLS negotiated, when the connection is TLS (`listenTls`). */
  tls?: {
    /** "TLSv1.3" or "TLSv1.2". */
    version: string;
    /** The cipher suite's IANA name, as rustls names it ("TLS13_AES_256_GCM_SHA384"). */
    cipher: string;
    /** "h2" or "http/1.1". */
    alpn?: string;
    /** The name the client asked for (SNI). */
    serverName?: string;
    /** The client's certificates (DER), its own first; empty when it presented none. */
    peerCertificates: Uint8Array[];
  };
}

/** A request as a plain handler (`{ plain: true }`) gets it. */
export interface ServerRequest {
  /** As sent: "GET", "POST", ... */
  readonly method: string;
  /** The request target, path and query: "/search?q=paf". */
  readonly path: string;
  /** The whole URL: "http://host/search?q=paf" (made when first read). */
  readonly url: string;
  /**
   * Names in lower case; repeated fields joined by ", " (cookie by "; "),
   * set-cookie an array, as `Client.send()` gives them (made when first
   * read).
   */
  readonly headers: Record<string, string | string[]>;
  /** Read once, whole or as it comes; one left unread does not hold up the connection. */
  readonly body: Body;
  readonly protocol: "HTTP/1.1" | "HTTP/2";
  /** As in {@link ConnectionInfo}. */
  readonly peer: string;
  readonly local?: string;
  readonly tls?: ConnectionInfo["tls"];
}

/** What a plain handler answers. */
export interface ServerAnswer {
  /** 200 to 599 (200). */
  status?: number;
  /** An object (an array value sends the field once per item) or `[name, value]` pairs. */
  headers?: Record<string, string | string[]> | [string, string][];
  /**
   * A string (sent as UTF-8), bytes, or a stream of bytes; a string or
   * bytes is sent with its `content-length`.
   */
  body?: string | Uint8Array | ReadableStream<Uint8Array> | null;
}

export interface Server {
  /**
   * Stops accepting: a listener that is its own iterator with a `return()`
   * (`listenTcp`, `listenTls`, `memoryListener`'s `flows`) stops at once,
   * so later clients are refused; the requests in flight finish, a
   * request already sent on an idle connection is answered, and the
   * connections close.
   */
  close(): void;
  /** Resolves once the server has stopped. */
  readonly closed: Promise<void>;
}

/**
 * Serves each stream pair of `flows` with `handler`, over HTTP/2 or
 * HTTP/1.1 (the pair's `alpn`, or its first bytes). Stops when `flows`
 * ends or on `close()`. The first call loads the server module (fetched,
 * in a browser: serving starts once it is in, and `closed` rejects if it
 * cannot be loaded).
 */
export function serve(
  flows: AsyncIterable<StreamPair> | Iterable<StreamPair>,
  handler: (request: Request, info: ConnectionInfo) => Response | Promise<Response>,
  options?: ServeOptions & { plain?: false },
): Server;
/**
 * The same, with a plain handler: it gets a {@link ServerRequest} and
 * answers `{ status, headers, body }`, with no standard objects made (the
 * faster way: what `Client.send()` is to `fetch`).
 */
export function serve(
  flows: AsyncIterable<StreamPair> | Iterable<StreamPair>,
  handler: (request: ServerRequest) => ServerAnswer | Promise<ServerAnswer>,
  options: ServeOptions & { plain: true },
): Server;

/**
 * The root certificates `https` trusts by default, for the clients made
 * afterwards: PEM, or an array of PEM strings; `[]` trusts none. Node's
 * roots are set on load; elsewhere there are none until this is called
 * (`import roots from "paf/roots"` has Mozilla's), and `https` fails with
 * `ERR_TLS`. Malformed PEM is reported when the next client is made.
 * In browsers it returns a promise: the roots apply once the module is in,
 * before any request made after the call.
 */
export function setRoots(roots: string | string[]): void | Promise<void>;

/** Two stream pairs joined back to back: an in-memory connection. */
export function pipe(): [StreamPair, StreamPair];

/** In-memory connections: serve `flows`, connect with `connect`. */
export function memoryListener(): {
  flows: AsyncIterable<StreamPair>;
  connect: Connect;
  /** Ends `flows` (so a server on it stops) and refuses new connections. */
  close(): void;
};

/** A listener of Node's: connections as an async iterable of pairs. */
export interface Listener extends AsyncIterable<StreamPair> {
  /** Resolves with the port once listening. */
  readonly ready: Promise<number>;
  /** Stops listening: the iterable ends, and a server on it stops. */
  close(): void;
}

/** Node only: a TCP connection as a stream pair (the default `connect` there). */
export function connectTcp(endpoint: Endpoint): Promise<StreamPair>;

/**
 * Workers only (workerd, Cloudflare): a TCP connection from `connect()` of
 * `cloudflare:sockets` as a stream pair (the default `connect` there; also
 * `paf/sockets`). Fails with `code` ECONNREFUSED (an IP address refused),
 * ENOTFOUND (a name not reached: workerd tells a refusal there from a name
 * that did not resolve no better), ECONNRESET (I/O on a socket of another
 * fetch event). `secureTransport: "on"` has workerd do TLS.
 */
export function connectSocket(
  endpoint: Endpoint & { secureTransport?: "off" | "on" | "starttls"; allowHalfOpen?: boolean },
): Promise<StreamPair>;

/** Node only: listens on TCP `port` (0: any), 127.0.0.1 by default. */
export function listenTcp(port: number, host?: string): Listener;

/** Node only: as `listenTcp`, with TLS by node:tls, HTTP/2 and HTTP/1.1 by ALPN. */
export function listenTls(port: number, tls: { cert: string; key: string }, host?: string): Listener;

/**
 * Browsers: a `connect` through a WebSocket bridge. `bridge` is the URL of
 * paf's bridge (`paf bridge`; the target goes in `?target=HOST:PORT`) or a
 * function of the endpoint giving the URL of any other bridge (websockify).
 * Binary messages both ways; WebSocketStream where the browser has it
 * (`stream: false` to not), else WebSocket with writes held back while
 * `bufferedAmount` is over 1 MiB. A refusal fails the connection with the
 * bridge's reason as the message and `code` ECONNREFUSED.
 */
export function connectWebSocket(
  bridge: string | URL | ((endpoint: Endpoint) => string | URL),
  options?: { protocols?: string[]; stream?: boolean },
): Connect;

/**
 * Browsers: a `connect` through a Wisp v1 server (paf's bridge at a path
 * ending in "/", or any Wisp server): every connection a stream of one
 * shared WebSocket. A refused stream fails with `code` ECONNREFUSED.
 */
export function connectWisp(url: string | URL): Connect;

/**
 * Browsers: resolves once the client wasm module is in. It starts loading
 * on import; `request()` and `setRoots()` wait for it themselves, `new
 * Client()` needs it done (it throws while the module is loading).
 */
export function ready(): Promise<void>;
