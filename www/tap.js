// A tap on a stream pair: what the page's client wrote and read, with
// times, for the demo to show. It changes no byte. `handshakeDone` finds
// when the TLS handshake ended in what the client sent; `h2Frames` splits
// HTTP/2 bytes into frame headers.

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

/** TLS records of one direction: { type, at } (at: when the chunk with its first byte came). */
function records(log, direction) {
  const chunks = log.chunks.filter((c) => c.direction === direction);
  const bytes = concat(chunks);
  const out = [];
  let chunk = 0;
  let chunkEnd = chunks[0]?.bytes.length ?? 0;
  for (let offset = 0; offset + 5 <= bytes.length; offset += 5 + ((bytes[offset + 3] << 8) | bytes[offset + 4])) {
    while (offset >= chunkEnd && chunk + 1 < chunks.length) chunkEnd += chunks[++chunk].bytes.length;
    out.push({ type: bytes[offset], at: chunks[chunk].at });
  }
  return out;
}

/**
 * When the client sent its first encrypted record (0x17): the TLS
 * handshake done, from its side. `undefined` for a connection that did not
 * start with a TLS handshake.
 */
export function handshakeDone(log) {
  const sent = records(log, "out");
  if (sent[0]?.type !== 0x16) return undefined;
  return sent.find((record) => record.type === 0x17)?.at;
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
