// A tap on a stream pair: what the page's client wrote and read, with
// times, for the demo to show. It changes no byte. `tlsFacts` reads the
// clear-text part of a TLS handshake (the ServerHello's version and
// cipher suite); `h2Frames` splits HTTP/2 bytes into frame headers.

/** Wraps a `connect` so that every pair it gives is recorded in `log`. */
export function tapped(connect, log) {
  return async (endpoint) => {
    log.started ??= performance.now();
    const pair = await connect(endpoint);
    log.connected ??= performance.now();
    const record = (direction) =>
      new TransformStream({
        transform(chunk, controller) {
          log.chunks.push({ direction, at: performance.now(), bytes: chunk.slice() });
          controller.enqueue(chunk);
        },
      });
    const readable = pair.readable.pipeThrough(record("in"));
    const toPeer = record("out");
    toPeer.readable.pipeTo(pair.writable).catch(() => {});
    return { readable, writable: toPeer.writable, peer: pair.peer };
  };
}

/** A fresh record for `tapped`. */
export function newLog() {
  return { started: undefined, connected: undefined, chunks: [] };
}

function concat(chunks) {
  const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.bytes.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk.bytes, at);
    at += chunk.bytes.length;
  }
  return bytes;
}

/** The bytes one direction carried. */
export function bytesOf(log, direction) {
  return concat(log.chunks.filter((c) => c.direction === direction));
}

const CIPHERS = {
  0x1301: "TLS13_AES_128_GCM_SHA256",
  0x1302: "TLS13_AES_256_GCM_SHA384",
  0x1303: "TLS13_CHACHA20_POLY1305_SHA256",
  0xc02b: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
  0xc02c: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
  0xc02f: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
  0xc030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
  0xcca8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
  0xcca9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
};
const VERSIONS = { 0x0303: "TLSv1.2", 0x0304: "TLSv1.3" };

/** TLS records of one direction: { type, body, at } (at: when its first byte came). */
function records(log, direction) {
  const chunks = log.chunks.filter((c) => c.direction === direction);
  const bytes = concat(chunks);
  const out = [];
  let offset = 0;
  let chunk = 0, chunkEnd = chunks[0]?.bytes.length ?? 0;
  while (offset + 5 <= bytes.length) {
    while (offset >= chunkEnd && chunk + 1 < chunks.length) chunkEnd += chunks[++chunk].bytes.length;
    const length = (bytes[offset + 3] << 8) | bytes[offset + 4];
    out.push({ type: bytes[offset], body: bytes.subarray(offset + 5, offset + 5 + length), at: chunks[chunk]?.at });
    offset += 5 + length;
  }
  return out;
}

/**
 * What the clear text of a TLS handshake shows (what a bridge sees too):
 * the version and cipher suite of the ServerHello, and when the client
 * sent its first encrypted record (the handshake done, from its side).
 * `undefined` when the connection did not start with TLS.
 */
export function tlsFacts(log) {
  const fromServer = records(log, "in");
  const hello = fromServer.find((r) => r.type === 0x16 && r.body[0] === 0x02);
  if (!hello) return undefined;
  const body = hello.body;
  let at = 4 + 2 + 32; // handshake header, legacy version, random
  at += 1 + body[at]; // session id
  const suite = (body[at] << 8) | body[at + 1];
  at += 3; // suite, compression
  let version = (body[4] << 8) | body[5];
  const extensionsEnd = at + 2 + ((body[at] << 8) | body[at + 1]);
  for (at += 2; at + 4 <= extensionsEnd; ) {
    const type = (body[at] << 8) | body[at + 1];
    const length = (body[at + 2] << 8) | body[at + 3];
    if (type === 0x002b && length === 2) version = (body[at + 4] << 8) | body[at + 5];
    at += 4 + length;
  }
  const encrypted = records(log, "out").find((r) => r.type === 0x17);
  return {
    version: VERSIONS[version] ?? `0x${version.toString(16)}`,
    cipher: CIPHERS[suite] ?? `0x${suite.toString(16).padStart(4, "0")}`,
    handshakeDone: encrypted?.at,
  };
}

const FRAME_TYPES = ["DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE", "PING", "GOAWAY", "WINDOW_UPDATE", "CONTINUATION"];
const PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/** HTTP/2 bytes as frames: { type, flags, stream, length }, after the preface if any. */
export function h2Frames(bytes) {
  const frames = [];
  let at = new TextDecoder().decode(bytes.subarray(0, PREFACE.length)) === PREFACE ? PREFACE.length : 0;
  if (at) frames.push({ type: "preface", flags: 0, stream: 0, length: PREFACE.length });
  while (at + 9 <= bytes.length) {
    const length = (bytes[at] << 16) | (bytes[at + 1] << 8) | bytes[at + 2];
    const type = FRAME_TYPES[bytes[at + 3]] ?? `type ${bytes[at + 3]}`;
    const flags = bytes[at + 4];
    const stream = ((bytes[at + 5] & 0x7f) << 24) | (bytes[at + 6] << 16) | (bytes[at + 7] << 8) | bytes[at + 8];
    frames.push({ type, flags, stream, length });
    at += 9 + length;
  }
  return frames;
}
