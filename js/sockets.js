// connectSocket: TCP connections in an edge worker (Cloudflare Workers,
// workerd) as paf's stream pairs, from `connect()` of `cloudflare:sockets`.
// The default connect of the worker entry (worker.js), and `paf/sockets`
// on its own for a worker whose client is Rust (paf::platform::js with a
// JS connect function), which then loads no npm client module.
import { connect as socketConnect } from "cloudflare:sockets";

// What workerd's connect() rejects with for any address it could not
// reach: a refused port and a name that did not resolve read alike.
const UNREACHABLE = /cannot connect to the specified address/;
// An IP literal, which has no name to look up: a failure there is a refusal.
const IP_LITERAL = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-f:]*:[0-9a-f:.]*)$/i;
// What workerd throws at I/O on a socket opened by another fetch event.
const OTHER_REQUEST = /Cannot perform I\/O on behalf of a different request/;

/**
 * Opens a TCP connection with `connect()` from `cloudflare:sockets` to
 * `{ host, port }` (`secureTransport` and `allowHalfOpen` as that takes
 * them), resolving once it is open. Failures carry a `code` as Node's do:
 * ECONNREFUSED where nothing listens at an IP address, ENOTFOUND where a
 * name could not be reached (workerd says the same for a name that does
 * not resolve and for a port that refuses), and ECONNRESET for I/O on a
 * socket of another fetch event, which the client takes for a stale
 * connection.
 */
export async function connectSocket({ host, port, secureTransport = "off", allowHalfOpen = false }) {
  const address = `${host}:${port}`;
  let socket;
  try {
    socket = socketConnect({ hostname: host, port }, { secureTransport, allowHalfOpen });
    await socket.opened;
  } catch (error) {
    const message = String(error?.message ?? error);
    if (!UNREACHABLE.test(message)) throw error;
    const code = IP_LITERAL.test(host) ? "ECONNREFUSED" : "ENOTFOUND";
    const why = code === "ECONNREFUSED" ? "refused" : "the name did not resolve, or the port refused";
    throw Object.assign(new Error(`connect ${code} ${address} (${why}; workerd: ${message})`), { code, cause: error });
  }
  return { readable: staleAware(socket.readable, "getReader"), writable: staleAware(socket.writable, "getWriter"), peer: address };
}

/**
 * `stream` with its reader's or writer's failures from another fetch
 * event marked ECONNRESET.
 */
function staleAware(stream, lock) {
  return {
    [lock]() {
      const locked = stream[lock]();
      return new Proxy(locked, {
        get(target, name) {
          const value = Reflect.get(target, name, target);
          if (typeof value !== "function") return value;
          return (...args) => {
            try {
              const result = value.apply(target, args);
              return result instanceof Promise ? result.catch(marked) : result;
            } catch (error) {
              throw marked(error);
            }
          };
        },
      });
    },
  };
}

function marked(error) {
  if (OTHER_REQUEST.test(String(error?.message))) {
    throw Object.assign(new Error(`connection of another fetch event: ${error.message}`), { code: "ECONNRESET", cause: error });
  }
  throw error;
}
