// Newline-delimited input read in chunks with a cap on line length: an over-long line (a damaged log, a hostile
// pipe) is counted and skipped as it streams by, never gathered into one string (V8 strings stop near 512 MB and
// a RangeError would escape instead of a message).
import * as fs from "node:fs";

/**
 * A line, or one that was longer than the cap (only its length is kept); `offset`/`end` are its byte positions
 * (end: after its newline); `partial` marks what followed the last newline (a torn write, or one in flight).
 */
export type Line = ({ text: string } | { tooLong: number }) & { offset: number; end: number; partial?: true };

/** Splits a byte stream into lines. */
export class LineSplitter {
  private parts: Buffer[] = [];
  private partBytes = 0;
  private skipping = false;
  private position = 0;
  private lineStart = 0;

  constructor(readonly maxBytes: number) {}

  /** The lines this chunk completes. */
  push(chunk: Buffer): Line[] {
    const lines: Line[] = [];
    let from = 0;
    for (let nl = chunk.indexOf(10, from); nl !== -1; nl = chunk.indexOf(10, from)) {
      this.take(chunk.subarray(from, nl));
      const end = this.position + nl + 1;
      lines.push(this.skipping ? { tooLong: end - 1 - this.lineStart, offset: this.lineStart, end } : { text: this.decode(), offset: this.lineStart, end });
      this.parts = [];
      this.partBytes = 0;
      this.skipping = false;
      this.lineStart = end;
      from = nl + 1;
    }
    this.take(chunk.subarray(from));
    this.position += chunk.length;
    return lines;
  }

  /** What follows the last newline: a line whose newline never came (a torn write), if any. */
  rest(): Line | undefined {
    const end = this.position;
    if (end === this.lineStart) return undefined;
    const line = this.skipping ? { tooLong: end - this.lineStart } : { text: this.decode() };
    return { ...line, offset: this.lineStart, end, partial: true };
  }

  private take(bytes: Buffer): void {
    if (this.skipping || bytes.length === 0) return;
    if (this.partBytes + bytes.length > this.maxBytes) {
      this.skipping = true;
      this.parts = [];
      this.partBytes = 0;
      return;
    }
    this.parts.push(Buffer.from(bytes));
    this.partBytes += bytes.length;
  }

  private decode(): string {
    const line = Buffer.concat(this.parts, this.partBytes).toString("utf8");
    return line.endsWith("\r") ? line.slice(0, -1) : line;
  }
}

/** Every line of an open file, read in chunks of 1 MiB; the last element is a line without its newline, if any. */
export function readLinesSync(fd: number, maxBytes: number): Line[] {
  const splitter = new LineSplitter(maxBytes);
  const buffer = Buffer.allocUnsafe(1 << 20);
  const lines: Line[] = [];
  for (let n = fs.readSync(fd, buffer, 0, buffer.length, null); n > 0; n = fs.readSync(fd, buffer, 0, buffer.length, null)) {
    for (const line of splitter.push(buffer.subarray(0, n))) lines.push(line);
  }
  const rest = splitter.rest();
  if (rest) lines.push(rest);
  return lines;
}

/** The lines of a stream (stdin), as they arrive; the last one may lack its newline. */
export async function* readLines(input: AsyncIterable<Buffer | string>, maxBytes: number): AsyncGenerator<Line> {
  const splitter = new LineSplitter(maxBytes);
  for await (const chunk of input) yield* splitter.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  const rest = splitter.rest();
  if (rest) yield rest;
}
