// The URL a request goes to, as the WHATWG URL parser writes it (what
// fetch sends), without running the parser when the text is in that form
// already: a Node URL parse is ~5 % of a small request's cost. The check is
// conservative: whatever it does not accept goes through `new URL`.

// http(s), a lower-case host name or dotted quad, a port, a path and a
// query of characters the parser keeps as they are; no user info, no
// fragment, no IPv6 literal.
const PLAIN = /^(https?):\/\/([a-z0-9-]+(?:\.[a-z0-9-]+)*)(?::([1-9][0-9]{0,4}))?(\/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*)(\?[A-Za-z0-9\-._~!$&()*+,;=:@/%?]*)?$/;
// Where the parser would change something: a dot segment in the path
// (also as %2e), a host the IPv4 or IDNA rules rewrite.
const DOT_SEGMENT = /\/\.{1,2}(?:\/|$)|%2e/i;
const IPV4 = /^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])$/;
const NAME_ENDING_IN_LETTER = /(?:^|\.)[a-z][a-z0-9-]*$/;
const IDNA_LABEL = /(?:^|\.)xn--/;
const DEFAULT_PORTS = { http: 80, https: 443 };

/**
 * `input` itself when it is a string the URL parser would give back
 * unchanged (absolute, http or https, no credentials, no fragment), else
 * `undefined`: then `new URL` is the way.
 */
export function plainUrl(input) {
  if (input === lastPlain) return input;
  const plain = typeof input === "string" && PLAIN.exec(input);
  if (!plain) return undefined;
  const [, scheme, host, port, path] = plain;
  const hostKept = IPV4.test(host) || (NAME_ENDING_IN_LETTER.test(host) && !IDNA_LABEL.test(host));
  const portKept = port === undefined || (Number(port) <= 65535 && Number(port) !== DEFAULT_PORTS[scheme]);
  if (!hostKept || !portKept || DOT_SEGMENT.test(path)) return undefined;
  lastPlain = input;
  return input;
}

// The last URL found plain: a client sends to the same URL again and again.
let lastPlain;
