// Just enough of X.509 (RFC 5280) to show a certificate: its subject,
// issuer and validity, read from the DER the page's TLS was given. No
// checking here: rustls in the wasm module did that.

const NAMES = { "2.5.4.3": "CN", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST" };

/** The DER element at `at`: { tag, start (of its content), end }. */
function element(der, at) {
  const tag = der[at];
  let length = der[at + 1];
  let start = at + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + der[start + i];
    start += count;
  }
  return { tag, start, end: start + length };
}

/** The elements inside a constructed one. */
function children(der, parent) {
  const list = [];
  for (let at = parent.start; at < parent.end; ) {
    const child = element(der, at);
    list.push(child);
    at = child.end;
  }
  return list;
}

function oid(der, { start, end }) {
  const parts = [Math.floor(der[start] / 40), der[start] % 40];
  let value = 0;
  for (let i = start + 1; i < end; i++) {
    value = value * 128 + (der[i] & 0x7f);
    if (!(der[i] & 0x80)) {
      parts.push(value);
      value = 0;
    }
  }
  return parts.join(".");
}

const text = (der, { start, end }) => new TextDecoder().decode(der.subarray(start, end));

/** A Name as "CN=example.com, O=Example". */
function name(der, sequence) {
  return children(der, sequence)
    .flatMap((set) => children(der, set))
    .map((pair) => {
      const [type, value] = children(der, pair);
      const key = oid(der, type);
      return `${NAMES[key] ?? key}=${text(der, value)}`;
    })
    .join(", ");
}

/** UTCTime (YYMMDDhhmmssZ) or GeneralizedTime (YYYYMMDDhhmmssZ) as an ISO date. */
function time(der, node) {
  let digits = text(der, node);
  if (node.tag === 0x17) digits = (Number(digits.slice(0, 2)) < 50 ? "20" : "19") + digits;
  return `${digits.slice(0, 4)}-${digits.slice(4, 6)}-${digits.slice(6, 8)} ${digits.slice(8, 10)}:${digits.slice(10, 12)} UTC`;
}

/** { subject, issuer, notBefore, notAfter } of one DER certificate. */
export function describeCertificate(der) {
  const certificate = element(der, 0);
  const tbs = children(der, certificate)[0];
  const fields = children(der, tbs);
  const rest = fields[0].tag === 0xa0 ? fields.slice(1) : fields; // [0] version
  const [, , issuer, validity, subject] = rest; // serial, signature algorithm
  const [notBefore, notAfter] = children(der, validity);
  return { subject: name(der, subject), issuer: name(der, issuer), notBefore: time(der, notBefore), notAfter: time(der, notAfter) };
}
