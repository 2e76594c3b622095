// HTTP to one llama-server: JSON requests and server-sent-event streams with a bearer token, an idle timeout and
// cancellation, and every failure turned into a message that names the server and the cause. The API key is sent
// in a header only; it never appears in a message or a log line.
import { EngineError, type EngineErrorCode } from "../protocol";

export type ServerFailure = "unreachable" | "timeout" | "auth" | "rejected" | "cancelled";

export class ServerError extends EngineError {
  constructor(
    readonly url: string,
    readonly failure: ServerFailure,
    message: string,
  ) {
    super(codeOf(failure), message);
    this.name = "ServerError";
  }

  /** The server did not answer (down, unreachable, or too slow): another server may serve the next request. */
  get serverDown(): boolean {
    return this.failure === "unreachable" || this.failure === "timeout";
  }
}

function codeOf(failure: ServerFailure): EngineErrorCode {
  if (failure === "cancelled") return "cancelled";
  if (failure === "rejected") return "bad-request";
  return "engine-crashed";
}

export interface HttpOptions {
  apiKey?: string;
  /** Longest wait for the response to start and between two streamed events. */
  timeoutMs: number;
}

export class ServerHttp {
  readonly url: string;

  constructor(
    url: string,
    private readonly options: HttpOptions,
  ) {
    this.url = normalizeUrl(url);
  }

  get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.json<T>("GET", path, undefined, signal);
  }

  post<T>(path: string, body: object, signal?: AbortSignal): Promise<T> {
    return this.json<T>("POST", path, body, signal);
  }

  /** POSTs with `stream: true` and calls `onEvent` for each `data:` event; resolves with the last one. */
  async stream<T>(path: string, body: object, onEvent: (event: T) => void, signal?: AbortSignal): Promise<T> {
    return this.exchange(path, "POST", { ...body, stream: true }, signal, async (res, idle) => {
      if (!res.body) throw this.fail("rejected", `${path} answered without a body`);
      const decoder = new TextDecoder();
      let buffered = "";
      let last: T | undefined;
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        idle();
        buffered += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffered.indexOf("\n\n")) >= 0) {
          // One chunk can hold many events: none is delivered once the caller has cancelled.
          if (signal?.aborted) throw this.fail("cancelled", `${path} cancelled`);
          const event = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          const data = event
            .split("\n")
            .filter((l) => l.startsWith("data:"))
            .map((l) => l.slice(5).trim())
            .join("");
          if (!data || data === "[DONE]") continue;
          const parsed = this.parse<T & { error?: unknown }>(data, path);
          if (parsed.error !== undefined) throw this.fromBody(500, parsed, path);
          last = parsed;
          onEvent(parsed);
        }
      }
      if (last === undefined) throw this.fail("unreachable", `${path}: the stream ended before any result`);
      return last;
    });
  }

  private json<T>(method: "GET" | "POST", path: string, body: object | undefined, signal?: AbortSignal): Promise<T> {
    return this.exchange(path, method, body, signal, async (res) => this.parse<T>(await res.text(), path));
  }

  private async exchange<T>(
    path: string,
    method: "GET" | "POST",
    body: object | undefined,
    signal: AbortSignal | undefined,
    read: (res: Response, idle: () => void) => Promise<T>,
  ): Promise<T> {
    if (signal?.aborted) throw this.fail("cancelled", `${path} cancelled`);
    const ac = new AbortController();
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const idle = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = true;
        ac.abort();
      }, this.options.timeoutMs);
    };
    const onAbort = () => ac.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    idle();
    try {
      const headers: Record<string, string> = { accept: "application/json" };
      if (body) headers["content-type"] = "application/json";
      if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
      const send = () => fetch(this.url + path, { method, headers, body: body ? JSON.stringify(body) : undefined, signal: ac.signal });
      let res: Response;
      try {
        res = await send();
      } catch (e) {
        // A kept-alive connection the server closed just as it was reused fails before any answer: the request
        // never reached the server, so it is sent once more on a fresh connection.
        if (timedOut || signal?.aborted || !closedBeforeAnswer(e)) throw e;
        res = await send();
      }
      if (!res.ok) {
        const text = await res.text().catch(() => "");
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // A proxy's HTML or plain-text error page: its text is the message.
        }
        throw this.fromBody(res.status, parsed, path);
      }
      idle();
      return await read(res, idle);
    } catch (e) {
      if (e instanceof ServerError) throw e;
      if (timedOut) throw this.fail("timeout", `${path}: no answer within ${this.options.timeoutMs} ms (server too slow or stuck)`);
      if (signal?.aborted) throw this.fail("cancelled", `${path} cancelled`);
      throw this.fail("unreachable", `${path}: ${networkCause(e)}`);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  private parse<T>(text: string, path: string): T {
    try {
      return JSON.parse(text) as T;
    } catch {
      throw this.fail("rejected", `${path} answered with something that is not JSON: ${text.slice(0, 120)}`);
    }
  }

  private fromBody(status: number, body: unknown, path: string): ServerError {
    const err = (body as { error?: unknown })?.error;
    const message =
      typeof err === "object" && err && "message" in err ? String((err as { message: unknown }).message) : typeof err === "string" ? err : String(body).slice(0, 200);
    if (status === 401 || status === 403) {
      return this.fail("auth", `${path}: the server refused the API key (HTTP ${status}: ${message}); set it with "Spectral Soup: Set Server API Key"`);
    }
    if (status === 404) return this.fail("rejected", `${path}: not found (HTTP 404): is this URL a llama-server?`);
    // A proxy in front of a dead server, or llama-server still loading its model.
    if (status === 502 || status === 503 || status === 504) return this.fail("unreachable", `${path}: HTTP ${status} ${message}`);
    return this.fail("rejected", `${path}: HTTP ${status} ${message}`);
  }

  private fail(failure: ServerFailure, message: string): ServerError {
    return new ServerError(this.url, failure, `server ${this.url}: ${message}`);
  }
}

/** Base URL without a trailing slash; a URL that is not http(s) is refused here, with the setting's value named. */
export function normalizeUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url.trim());
  } catch {
    throw new EngineError("bad-request", `spectralSoup.server.urls: "${url}" is not a URL (write it as http://host:port)`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new EngineError("bad-request", `spectralSoup.server.urls: "${url}" must start with http:// or https://`);
  }
  if (u.username || u.password) {
    throw new EngineError("bad-request", `spectralSoup.server.urls: "${u.host}" carries credentials in the URL; use the API key setting instead`);
  }
  return u.toString().replace(/\/+$/, "");
}

function closedBeforeAnswer(e: unknown): boolean {
  const code = (e as { cause?: { code?: string } })?.cause?.code;
  return code === "UND_ERR_SOCKET" || code === "ECONNRESET";
}

function networkCause(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  if (cause?.code === "ECONNREFUSED") return "connection refused (is llama-server running on this address?)";
  if (cause?.code === "ENOTFOUND") return "host not found";
  if (cause?.code === "ECONNRESET" || cause?.code === "UND_ERR_SOCKET") return "the connection was closed (server stopped?)";
  return cause?.message ?? (e instanceof Error ? e.message : String(e));
}
