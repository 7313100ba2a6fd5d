// The package as a user gets it: `npm pack`, installed in a fresh
// directory, and a five-line script that fetches from real servers over
// HTTP/1.1, HTTP/2 and TLS, then serves curl.
import assert from "node:assert/strict";
import { execFile, execFileSync, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, test } from "node:test";

import { certificates, nginx, pafServe, scratch } from "./peers.mjs";

const here = fileURLToPath(new URL("..", import.meta.url));
const run = promisify(execFile);

const SCRIPT = `import { listenTcp, request, serve } from "paf";
for (const [url, init] of JSON.parse(process.argv[2])) {
  const response = await request(url, init); console.log(response.protocol, response.status, (await response.text()).trim()); }
const listener = listenTcp(0); serve(listener, (req) => new Response(\`hello \${new URL(req.url).pathname} over \${req.headers.get("user-agent")}\\n\`));
console.log("listening", await listener.ready);
`;

test("npm pack installs in a fresh directory and works", async () => {
  const work = scratch("pack");
  const certs = certificates(work.dir);
  const web = await nginx(work.dir, certs);
  const paf = await pafServe("--h2c");
  let script;
  after(async () => {
    script?.kill();
    await web.stop();
    await paf.stop();
    work.cleanup();
  });

  const packed = execFileSync("npm", ["pack", "--pack-destination", work.dir, "--silent"], { cwd: here, encoding: "utf8" });
  const tarball = join(work.dir, packed.trim().split("\n").at(-1));
  const app = join(work.dir, "app");
  execFileSync("mkdir", ["-p", app]);
  writeFileSync(join(app, "package.json"), '{ "type": "module", "private": true }\n');
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--silent", tarball], { cwd: app });
  writeFileSync(join(app, "main.js"), SCRIPT);
  assert.equal(SCRIPT.trim().split("\n").length, 5);

  const targets = [
    [`http://127.0.0.1:${web.port}/hello`],
    [`http://127.0.0.1:${paf.port}/echo`, { method: "POST", body: "h2c", alpn: ["h2"] }],
    [`https://127.0.0.1:${web.tlsPort}/hello`, { tls: { ca: certs.ca } }],
  ];
  script = spawn("node", ["main.js", JSON.stringify(targets)], { cwd: app, stdio: ["ignore", "pipe", "inherit"] });
  const lines = [];
  let buffered = "";
  const port = await new Promise((resolve, reject) => {
    script.stdout.setEncoding("utf8");
    script.stdout.on("data", (chunk) => {
      buffered += chunk;
      let newline;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line.startsWith("listening ")) resolve(Number(line.slice("listening ".length)));
        else lines.push(line);
      }
    });
    script.once("exit", (code) => reject(new Error(`the script exited with ${code}: ${lines.join("\n")}`)));
  });
  assert.deepEqual(lines, [
    "HTTP/1.1 200 hello from nginx",
    "HTTP/2 200 h2c",
    "HTTP/2 200 hello from nginx",
  ]);
  const { stdout } = await run("curl", ["-sS", `http://127.0.0.1:${port}/from-curl`]);
  assert.match(stdout, /^hello \/from-curl over curl\//);
  // paf/roots, for setRoots where the platform has no roots.
  const roots = await run("node", ["--input-type=module", "-e", 'import roots from "paf/roots"; import { setRoots } from "paf"; setRoots(roots); console.log(roots.length)'], { cwd: app });
  assert.ok(Number(roots.stdout) > 100, roots.stdout);
});
