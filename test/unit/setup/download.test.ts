import * as assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import * as https from "node:https";
import { DownloadError, downloadModel, type DownloadProgress } from "../../../src/core/setup/download";

type Mode = "ok" | "drop-half" | "stall-half" | "ignore-range" | "no-length";

/** A model server on 127.0.0.1 whose misbehaviour each test picks; it records the Range headers it saw. */
class ModelServer {
  readonly ranges: (string | undefined)[] = [];
  mode: Mode = "ok";
  private readonly server: http.Server;
  private readonly stalled: http.ServerResponse[] = [];

  constructor(readonly body: Buffer) {
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const res of this.stalled) res.destroy();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (req.url === "/missing.gguf") {
      res.writeHead(404).end("not found");
      return;
    }
    if (req.url === "/redirect") {
      res.writeHead(302, { location: "/model.gguf" }).end();
      return;
    }
    this.ranges.push(req.headers.range);
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    const start = m && this.mode !== "ignore-range" ? Number(m[1]) : 0;
    if (start >= this.body.length && m) {
      res.writeHead(416, { "content-range": `bytes */${this.body.length}` }).end();
      return;
    }
    const slice = this.body.subarray(start);
    res.writeHead(m && this.mode !== "ignore-range" ? 206 : 200, {
      ...(this.mode === "no-length" ? {} : { "content-length": slice.length }),
      ...(start > 0 ? { "content-range": `bytes ${start}-${this.body.length - 1}/${this.body.length}` } : {}),
    });
    const half = Math.floor(slice.length / 2);
    if (this.mode === "drop-half") {
      res.write(slice.subarray(0, half), () => setTimeout(() => res.socket?.destroy(), 20));
    } else if (this.mode === "stall-half") {
      this.stalled.push(res);
      res.write(slice.subarray(0, half));
    } else {
      res.end(slice);
    }
  }
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe("downloadModel", () => {
  let dir: string;
  let server: ModelServer;
  let base: string;
  const body = Buffer.concat([Buffer.from("GGUF\x03\x00\x00\x00", "latin1"), randomBytes(2 * 1024 * 1024)]);

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "soup-dl-"));
    server = new ModelServer(body);
    base = await server.listen();
  });
  afterEach(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("downloads, reports progress ending at the total, and verifies the sha256", async () => {
    const events: DownloadProgress[] = [];
    const dest = path.join(dir, "models", "m.gguf");
    const result = await downloadModel({ url: `${base}/model.gguf`, dest, sha256: sha(body), onProgress: (p) => events.push(p) });
    assert.equal(result.sha256, sha(body));
    assert.equal(result.resumedFrom, 0);
    assert.deepEqual(await readFile(dest), body);
    assert.ok(!existsSync(`${dest}.part`));
    assert.ok(events.length >= 1);
    const last = events.at(-1)!;
    assert.equal(last.receivedBytes, body.length);
    assert.equal(last.totalBytes, body.length);
    assert.ok(events.every((e, i) => i === 0 || e.receivedBytes >= events[i - 1]!.receivedBytes));
    assert.ok(events.every((e) => Number.isFinite(e.bytesPerSecond) && e.bytesPerSecond >= 0));
  });

  it("follows a redirect", async () => {
    const dest = path.join(dir, "m.gguf");
    await downloadModel({ url: `${base}/redirect`, dest, sha256: sha(body) });
    assert.deepEqual(await readFile(dest), body);
  });

  it("stops a body longer than the catalogue's size as it streams and deletes what it wrote", async () => {
    server.mode = "no-length";
    const dest = path.join(dir, "m.gguf");
    const err = await downloadModel({ url: `${base}/model.gguf`, dest, sha256: sha(body), sizeBytes: 1024 }).catch((e: unknown) => e);
    assert.ok(err instanceof DownloadError && err.kind === "http", String(err));
    assert.match(err.message, /sent more than the catalogue's 1024 bytes/);
    assert.ok(!existsSync(`${dest}.part`) && !existsSync(dest));
  });

  it("refuses a body whose announced length exceeds the catalogue's size before writing", async () => {
    const dest = path.join(dir, "m.gguf");
    const err = await downloadModel({ url: `${base}/model.gguf`, dest, sha256: sha(body), sizeBytes: 1024 }).catch((e: unknown) => e);
    assert.match(String(err), /announces 2097160 bytes, more than the catalogue's 1024: refused before writing/);
    assert.ok(!existsSync(`${dest}.part`));
  });

  it("refuses a redirect from https to http", async function () {
    let pem: { key: string; cert: string };
    try {
      const keyFile = path.join(dir, "key.pem");
      const certFile = path.join(dir, "cert.pem");
      execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-days", "1", "-keyout", keyFile, "-out", certFile], { stdio: "ignore" });
      pem = { key: await readFile(keyFile, "utf8"), cert: await readFile(certFile, "utf8") };
    } catch {
      this.skip(); // no openssl to make a throwaway certificate
    }
    const secure = https.createServer(pem!, (_req, res) => res.writeHead(302, { location: `${base}/model.gguf` }).end());
    await new Promise<void>((resolve) => secure.listen(0, "127.0.0.1", resolve));
    const previous = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0"; // the throwaway certificate is self-signed
    try {
      const url = `https://127.0.0.1:${(secure.address() as AddressInfo).port}/model.gguf`;
      const err = await downloadModel({ url, dest: path.join(dir, "m.gguf"), sha256: sha(body) }).catch((e: unknown) => e);
      assert.match(String(err), /redirects to http .*refused: a download started over https stays on https/);
      assert.equal(server.ranges.length, 0, "the http server was contacted");
    } finally {
      if (previous === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
      else process.env.NODE_TLS_REJECT_UNAUTHORIZED = previous;
      secure.closeAllConnections();
      await new Promise((resolve) => secure.close(resolve));
    }
  });

  it("resumes with a Range request after the server drops the connection halfway", async () => {
    const dest = path.join(dir, "m.gguf");
    server.mode = "drop-half";
    await assert.rejects(downloadModel({ url: `${base}/model.gguf`, dest, sha256: sha(body) }), (e: DownloadError) => {
      assert.equal(e.kind, "network");
      assert.match(e.message, /resume/);
      return true;
    });
    const partial = (await stat(`${dest}.part`)).size;
    assert.ok(partial > 0 && partial < body.length, `partial size ${partial}`);
    assert.ok(!existsSync(dest));

    server.mode = "ok";
    const result = await downloadModel({ url: `${base}/model.gguf`, dest, sha256: sha(body) });
    assert.equal(server.ranges.at(-1), `bytes=${partial}-`);
    assert.equal(result.resumedFrom, partial);
    assert.equal(result.sha256, sha(body));
    assert.equal(sha(await readFile(dest)), sha(body));
  });

  it("restarts from zero when the server ignores the Range header (200)", async () => {
    const dest = path.join(dir, "m.gguf");
    await writeFile(`${dest}.part`, body.subarray(0, 1000));
    server.mode = "ignore-range";
    const result = await downloadModel({ url: `${base}/model.gguf`, dest, sha256: sha(body) });
    assert.equal(server.ranges.at(-1), "bytes=1000-");
    assert.equal(result.resumedFrom, 0);
    assert.deepEqual(await readFile(dest), body);
  });

  it("verifies a .part that is already complete (416) without downloading again", async () => {
    const dest = path.join(dir, "m.gguf");
    await writeFile(`${dest}.part`, body);
    const result = await downloadModel({ url: `${base}/model.gguf`, dest, sha256: sha(body) });
    assert.equal(result.resumedFrom, body.length);
    assert.deepEqual(await readFile(dest), body);
  });

  it("rejects a checksum mismatch, naming both hashes, and leaves no file behind", async () => {
    const dest = path.join(dir, "m.gguf");
    const wrong = "0".repeat(64);
    await assert.rejects(downloadModel({ url: `${base}/model.gguf`, dest, sha256: wrong }), (e: DownloadError) => {
      assert.equal(e.kind, "checksum");
      assert.ok(e.message.includes(wrong) && e.message.includes(sha(body)), e.message);
      return true;
    });
    assert.ok(!existsSync(dest));
    assert.ok(!existsSync(`${dest}.part`));
  });

  it("reports a 404 as kind http with the URL", async () => {
    const url = `${base}/missing.gguf`;
    await assert.rejects(downloadModel({ url, dest: path.join(dir, "m.gguf"), sha256: sha(body) }), (e: DownloadError) => {
      assert.ok(e instanceof DownloadError);
      assert.equal(e.kind, "http");
      assert.equal(e.message, `model not found at ${url} (HTTP 404): the catalogue entry may be outdated`);
      return true;
    });
  });

  it("reports a refused connection as kind network", async () => {
    const closed = new ModelServer(body);
    const url = `${await closed.listen()}/model.gguf`;
    await closed.close();
    await assert.rejects(downloadModel({ url, dest: path.join(dir, "m.gguf"), sha256: sha(body) }), (e: DownloadError) => {
      assert.equal(e.kind, "network");
      assert.match(e.message, /connection refused by 127\.0\.0\.1/);
      return true;
    });
  });

  it("refuses to start when the disk has less space than the model needs", async () => {
    await assert.rejects(
      downloadModel({ url: `${base}/model.gguf`, dest: path.join(dir, "m.gguf"), sha256: sha(body), sizeBytes: Number.MAX_SAFE_INTEGER }),
      (e: DownloadError) => {
        assert.equal(e.kind, "disk-full");
        assert.match(e.message, /needs .* free/);
        return true;
      },
    );
    assert.deepEqual(server.ranges, [], "no request before the disk check");
  });

  it("cancel keeps the .part, and the next call resumes from it", async () => {
    const dest = path.join(dir, "m.gguf");
    server.mode = "stall-half";
    const ac = new AbortController();
    await assert.rejects(
      downloadModel({
        url: `${base}/model.gguf`,
        dest,
        sha256: sha(body),
        signal: ac.signal,
        // Cancel a moment after data flows, as a user would: by then some of it is on disk.
        onProgress: () => void setTimeout(() => ac.abort(), 50),
      }),
      (e: DownloadError) => {
        assert.equal(e.kind, "cancelled");
        assert.match(e.message, /kept/);
        return true;
      },
    );
    const partial = (await stat(`${dest}.part`)).size;
    assert.ok(partial > 0 && partial < body.length, `partial size ${partial}`);

    server.mode = "ok";
    const result = await downloadModel({ url: `${base}/model.gguf`, dest, sha256: sha(body) });
    assert.equal(server.ranges.at(-1), `bytes=${partial}-`);
    assert.equal(result.resumedFrom, partial);
    assert.deepEqual(await readFile(dest), body);
  });

  it("an already-aborted signal makes no request", async () => {
    await assert.rejects(
      downloadModel({ url: `${base}/model.gguf`, dest: path.join(dir, "m.gguf"), sha256: sha(body), signal: AbortSignal.abort() }),
      (e: DownloadError) => e.kind === "cancelled",
    );
    assert.deepEqual(server.ranges, []);
  });
});
