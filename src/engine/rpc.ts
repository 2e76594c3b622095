// The one RPC convention of the processes the editor and the CLI fork (the engine, basis jobs): numbered requests
// that name a method, a result or an error answering each by its number, cancel by number, and log lines; a
// method's own progress events carry the request's number too. A method table ties each method's params to its
// result, so the server's handlers and the client's calls are both typed per method.

export type EngineErrorCode =
  | "bad-request"
  | "bad-model"
  | "bad-basis"
  | "not-loaded"
  | "cancelled"
  | "engine-crashed"
  | "internal";

export class EngineError extends Error {
  constructor(
    readonly code: EngineErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "EngineError";
  }
}

/** Method name -> its params and its result. */
export type MethodTable = { [method: string]: { params: unknown; result: unknown } };

type Method<T extends MethodTable> = keyof T & string;

export type RpcRequest<T extends MethodTable> = {
  [M in Method<T>]: { type: "request"; id: number; method: M; params: T[M]["params"] };
}[Method<T>];

export type RpcResult<T extends MethodTable> = {
  [M in Method<T>]: { type: "result"; id: number; method: M; result: T[M]["result"] };
}[Method<T>];

export type RpcCancel = { type: "cancel"; id: number };
export type RpcError = { type: "error"; id: number; code: EngineErrorCode; message: string };
export type RpcLog = { type: "log"; level: "info" | "warn" | "error"; message: string };

/** The server's side: one handler per method, given the request's params and the server's context for it. */
export type Handlers<T extends MethodTable, Context> = {
  [M in Method<T>]: (params: T[M]["params"], context: Context) => Promise<T[M]["result"]>;
};

/** Runs a request's handler; its answer, a result or the error it failed with. */
export async function answer<T extends MethodTable, Context>(
  handlers: Handlers<T, Context>,
  request: RpcRequest<T>,
  context: Context,
): Promise<RpcResult<T> | RpcError> {
  try {
    const result = await call(handlers, request.method, request.params, context);
    // A union of per-method records cannot be built from a generic method name; `call` tied the result to it.
    return { type: "result", id: request.id, method: request.method, result } as RpcResult<T>;
  } catch (e) {
    const err = e instanceof EngineError ? e : new EngineError("internal", e instanceof Error ? e.message : String(e));
    return { type: "error", id: request.id, code: err.code, message: err.message };
  }
}

function call<T extends MethodTable, Context, M extends Method<T>>(
  handlers: Handlers<T, Context>,
  method: M,
  params: T[M]["params"],
  context: Context,
): Promise<T[M]["result"]> {
  return handlers[method](params, context);
}
