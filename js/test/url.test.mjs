// plainUrl: the URL text a request skips the parser with must be what the
// parser would give; checked against `new URL` on a corpus of tricky URLs
// and on random ones built from the pieces the parser rewrites.
import assert from "node:assert/strict";
import { test } from "node:test";

import { plainUrl } from "../url.js";

/** What fetch would send: the parser's href, without the fragment; undefined with credentials or when the parser fails. */
function parsed(text) {
  let url;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.username || url.password) return undefined;
  url.hash = "";
  return url.href;
}

test("common URLs take the short way, and come out as the parser writes them", () => {
  for (const text of [
    "http://127.0.0.1:8080/hello",
    "https://example.com/",
    "https://api.example.com/v1/items?limit=10&after=abc%20d",
    "http://localhost:3000/a/b.c/d..e/.f?x=/./",
    "https://example.com:8443/~user/it's(1)*;=:@",
  ]) {
    assert.equal(plainUrl(text), text);
    assert.equal(parsed(text), text);
  }
});

test("what the parser would change goes to the parser", () => {
  for (const text of [
    "http://127.0.0.1:80/x",
    "https://example.com:443/",
    "https://example.com/a/../b",
    "https://example.com/a/./b",
    "https://example.com/a/..",
    "http://a.b/%2e/x",
    "http://a.b/%2E%2E/x",
    "http://EXAMPLE.com/",
    "HTTP://example.com/",
    "http://127.1/",
    "http://0x7f.0.0.1/",
    "http://1.2.3.4.5/",
    "http://a.0x1/",
    "http://a.1/",
    "http://xn--nxasmq6b.com/",
    "http://a.com",
    "http://a.com?x",
    "http://a.com/#x",
    "http://a.com/ x",
    "http://a.com/a\\b",
    "http://a.com/é",
    "http://a.com/?q='",
    "http://a.com/{x}",
    "http://a.com/^",
    "http://user:pw@a.com/",
    "http://[::1]:8080/",
    "http://a.com:99999/",
    "http://a.com:08080/",
    " http://a.com/",
    "http://a.com/\t",
    "ftp://a.com/",
    "/relative",
  ]) {
    assert.equal(plainUrl(text), undefined, text);
  }
});

test("random URLs: the short way never disagrees with the parser", () => {
  const pick = (list) => list[Math.floor(Math.random() * list.length)];
  const schemes = ["http", "https", "http", "https", "HTTP", "ws"];
  const hosts = ["a.com", "A.com", "127.0.0.1", "127.1", "1.2.3.256", "a.1", "a.0x1", "xn--a.com", "a..b", "-a.b-", "a.b.", "localhost", "b.example", "10.0.0.1"];
  const ports = ["", "", ":3000", ":80", ":443", ":8080", ":0", ":65535", ":65536", ":080"];
  const pieces = ["/", "/", "a", "b", "a", "-", "/x", "?y", "=1", ".", "..", "%2e", "%2E", "%41", "%", "?", "#", "'", "\\", " ", "~", "@", ":", ";", "=", "&", "é", "{", "^", "|", "`"];
  let short = 0;
  for (let i = 0; i < 20000; i++) {
    let rest = pick(["/", "/", "/", "", "?"]);
    for (let n = Math.floor(Math.random() * 5); n > 0; n--) rest += pick(pieces);
    const text = `${pick(schemes)}://${pick(hosts)}${pick(ports)}${rest}`;
    const fast = plainUrl(text);
    if (fast === undefined) continue;
    short++;
    assert.equal(fast, parsed(text), text);
  }
  assert.ok(short > 1000, `only ${short} of 20000 took the short way`);
});
