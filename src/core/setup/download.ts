// Model download for first-run setup: resumable (HTTP Range on a ".part" file), sha256-verified before the model
// appears at its final path, with a disk-space check up front and one actionable error per failure kind.
import { createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat, statfs } from "node:fs/promises";
import * as http from "node:http";
import * as https from "node:https";
import * as path from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { sha256File } from "../files";

export type DownloadErrorKind = "network" | "http" | "checksum" | "disk-full" | "cancelled";

export class DownloadError extends Error {
  constructor(
    readonly kind: DownloadErrorKind,
    message: string,
  ) {
    super(message);
    this.name = "DownloadError";
  }
}

export interface DownloadProgress {
  receivedBytes: number;
  /** Undefined when neither the server nor the catalogue gave a size. */
  totalBytes: number | undefined;
  /** Average over this session's bytes (resumed bytes excluded, so a resume does not look instantaneous). */
  bytesPerSecond: number;
}

export interface DownloadOptions {
  url: string;
  dest: string;
  /** Expected sha256 of the whole file, hex. */
  sha256: string;
  /** Size from the catalogue: lets the disk check run before any request. */
  sizeBytes?: number;
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  /** A connection silent this long is treated as lost (the .part is kept for resume). */
  idleTimeoutMs?: number;
}

export interface DownloadResult {
  path: string;
  sha256: string;
  bytes: number;
  /** Bytes already on disk from an earlier attempt (0 for a fresh download). */
  resumedFrom: number;
}

const MAX_REDIRECTS = 5;
const PROGRESS_INTERVAL_MS = 100;

/** Downloads `url` to `dest` through `dest + ".part"`; an existing .part is resumed. */
export async function downloadModel(opts: DownloadOptions): Promise<DownloadResult> {
  const part = `${opts.dest}.part`;
  await mkdir(path.dirname(opts.dest), { recursive: true });
  let have = await fileSize(part);
  if (opts.sizeBytes !== undefined && have > opts.sizeBytes) {
    // Longer than the model can be: not a prefix of it, so resuming would only fail the checksum later.
    await rm(part, { force: true });
    have = 0;
  }
  if (opts.sizeBytes !== undefined) await checkDiskSpace(opts.dest, opts.sizeBytes - have);
  throwIfAborted(opts, part, have);

  const res = await request(opts, have);
  let resumedFrom = have;
  let total: number | undefined;
  if (res.statusCode === 416 && have > 0) {
    // Range starts at the end of the file: the .part is already complete.
    res.resume();
    total = have;
  } else {
    if (res.statusCode === 206) {
      const range = parseContentRange(res.headers["content-range"]);
      if (range?.start !== have) {
        res.destroy();
        throw new DownloadError("http", `${opts.url} answered the resume request with a wrong range (${res.headers["content-range"] ?? "none"}); delete ${part} and try again`);
      }
      total = range.total ?? opts.sizeBytes;
    } else if (res.statusCode === 200) {
      // The server ignored the Range header: start over rather than append the file to its own prefix.
      resumedFrom = 0;
      const length = Number(res.headers["content-length"]);
      total = Number.isFinite(length) && length > 0 ? length : opts.sizeBytes;
    } else {
      res.resume();
      throw httpError(opts.url, res.statusCode ?? 0);
    }
    if (total !== undefined && opts.sizeBytes !== undefined && total > opts.sizeBytes) {
      res.destroy();
      throw new DownloadError("http", `${opts.url} announces ${total} bytes, more than the catalogue's ${opts.sizeBytes}: refused before writing anything (the catalogue entry or the server file may be wrong)`);
    }
    if (total !== undefined && opts.sizeBytes === undefined) {
      try {
        await checkDiskSpace(opts.dest, total - resumedFrom);
      } catch (err) {
        res.destroy();
        throw err;
      }
    }
    await receive(res, opts, part, resumedFrom, total);
  }

  const bytes = await fileSize(part);
  if (total !== undefined && bytes < total) {
    throw new DownloadError("network", `download of ${opts.url} ended early (${bytes} of ${total} bytes); run it again to resume from ${part}`);
  }
  const actual = await sha256File(part);
  if (actual !== opts.sha256.toLowerCase()) {
    await rm(part, { force: true });
    throw new DownloadError("checksum", `checksum mismatch for ${opts.url}: expected sha256 ${opts.sha256.toLowerCase()}, got ${actual}; the download was deleted (the catalogue entry or the server file may be wrong)`);
  }
  await rename(part, opts.dest);
  return { path: opts.dest, sha256: actual, bytes, resumedFrom };
}

/** Streams the body into the .part file (appending when resuming), reporting throttled progress. */
async function receive(res: http.IncomingMessage, opts: DownloadOptions, part: string, start: number, total: number | undefined): Promise<void> {
  const began = Date.now();
  let received = start;
  let lastReport = 0;
  const report = () => {
    const seconds = (Date.now() - began) / 1000;
    opts.onProgress?.({ receivedBytes: received, totalBytes: total, bytesPerSecond: seconds > 0 ? (received - start) / seconds : 0 });
  };
  // The catalogue's size is a hard cap: a server sending more is wrong or hostile, and is not written to disk.
  const cap = opts.sizeBytes;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      received += chunk.length;
      if (cap !== undefined && received > cap) {
        done(new DownloadError("http", `${opts.url} sent more than the catalogue's ${cap} bytes; stopped and deleted ${part} (the catalogue entry or the server file may be wrong)`));
        return;
      }
      if (Date.now() - lastReport >= PROGRESS_INTERVAL_MS) {
        lastReport = Date.now();
        report();
      }
      done(null, chunk);
    },
  });
  try {
    await pipeline(res, counter, createWriteStream(part, { flags: start > 0 ? "a" : "w" }), { signal: opts.signal });
  } catch (err) {
    if (cap !== undefined && received > cap) await rm(part, { force: true });
    throw toDownloadError(err, opts, part, received);
  }
  report();
}

/** GET with a Range header when resuming; follows a bounded number of redirects, never from https to http. */
async function request(opts: DownloadOptions, from: number): Promise<http.IncomingMessage> {
  let url = opts.url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const res = await get(url, from, opts);
    const location = res.headers.location;
    if (res.statusCode !== undefined && [301, 302, 303, 307, 308].includes(res.statusCode) && location) {
      res.resume();
      const next = new URL(location, url);
      if (new URL(url).protocol === "https:" && next.protocol !== "https:") {
        throw new DownloadError("http", `${url} redirects to ${next.protocol.slice(0, -1)} (${next.origin}); refused: a download started over https stays on https`);
      }
      url = next.toString();
      continue;
    }
    return res;
  }
  throw new DownloadError("http", `too many redirects (more than ${MAX_REDIRECTS}) starting from ${opts.url}`);
}

function get(url: string, from: number, opts: DownloadOptions): Promise<http.IncomingMessage> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return Promise.reject(new DownloadError("http", `not a valid download URL: ${url}`));
  }
  const client = parsed.protocol === "https:" ? https : parsed.protocol === "http:" ? http : undefined;
  if (!client) return Promise.reject(new DownloadError("http", `unsupported protocol in ${url} (only http and https)`));
  return new Promise((resolve, reject) => {
    const req = client.get(parsed, { headers: from > 0 ? { range: `bytes=${from}-` } : {}, signal: opts.signal }, resolve);
    // A socket timeout covers both the connection and a body that stops arriving mid-download.
    req.setTimeout(opts.idleTimeoutMs ?? 30_000, () => req.destroy(Object.assign(new Error("connection stalled"), { code: "ETIMEDOUT" })));
    req.on("error", (err) => reject(toDownloadError(err, { ...opts, url }, `${opts.dest}.part`, from)));
  });
}

function httpError(url: string, status: number): DownloadError {
  if (status === 404 || status === 410) {
    return new DownloadError("http", `model not found at ${url} (HTTP ${status}): the catalogue entry may be outdated`);
  }
  if (status === 401 || status === 403) {
    return new DownloadError("http", `access denied to ${url} (HTTP ${status}): the model may be gated or need a login; download it in a browser and choose the local file instead`);
  }
  if (status >= 500) return new DownloadError("http", `server error at ${url} (HTTP ${status}); try again later`);
  return new DownloadError("http", `unexpected answer from ${url} (HTTP ${status})`);
}

/** Maps socket, file and abort errors to a DownloadError that says what happened and what the .part means. */
function toDownloadError(err: unknown, opts: DownloadOptions, part: string, received: number): DownloadError {
  if (err instanceof DownloadError) return err;
  const e = err as NodeJS.ErrnoException;
  if (opts.signal?.aborted || e.name === "AbortError") {
    return new DownloadError("cancelled", `download of ${opts.url} cancelled; ${part} is kept and the next download resumes from it`);
  }
  const host = safeHost(opts.url);
  switch (e.code) {
    case "ENOSPC":
      return new DownloadError("disk-full", `disk full while writing ${part} (${received} bytes written); free some space and run the download again to resume`);
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return new DownloadError("network", `cannot resolve ${host}: no network connection? (downloading ${opts.url})`);
    case "ECONNREFUSED":
      return new DownloadError("network", `connection refused by ${host}: no network, or the server is down (downloading ${opts.url})`);
    case "ECONNRESET":
    case "ETIMEDOUT":
    case "EPIPE":
    case "ERR_STREAM_PREMATURE_CLOSE":
      return new DownloadError("network", `connection to ${host} lost after ${received} bytes (${e.message}); run the download again to resume from ${part}`);
    default:
      return new DownloadError("network", `download of ${opts.url} failed after ${received} bytes: ${e.message}`);
  }
}

function throwIfAborted(opts: DownloadOptions, part: string, have: number): void {
  if (opts.signal?.aborted) throw toDownloadError(opts.signal.reason, opts, part, have);
}

async function checkDiskSpace(dest: string, needed: number): Promise<void> {
  const fs = await statfs(path.dirname(dest));
  const free = fs.bavail * fs.bsize;
  if (needed > free) {
    throw new DownloadError("disk-full", `not enough disk space for ${path.basename(dest)} in ${path.dirname(dest)}: needs ${formatBytes(needed)}, ${formatBytes(free)} free`);
  }
}

function parseContentRange(header: string | undefined): { start: number; total: number | undefined } | undefined {
  const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(header ?? "");
  if (!m) return undefined;
  return { start: Number(m[1]), total: m[2] === "*" ? undefined : Number(m[2]) };
}

async function fileSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

export function formatBytes(n: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}
