// The `soup` command line. Every failure prints one line naming the problem and exits non-zero; `--help` on any
// command prints its usage and exits 0.
import { adaptCommand, simulateCommand } from "./adapt";
import { basisCommand } from "./basis";
import { BENCH_USAGE, benchEngine } from "./benchEngine";
import { distillCommand } from "./distill";
import { generateCommand } from "./generate";
import { ggufCommand } from "./gguf";
import { HelpRequested, UsageError } from "./args";

const HELP = `usage: soup <command> [options]
  generate --model FILE [--adapter FILE[=W]]... [--pack FILE] [--weights id=w,...] [--mode explicit|parameter|rerank]
           (--prompt TEXT | --prefix TEXT [--suffix TEXT] | --chat TEXT) [--max-tokens N] [--temperature T]
           [--seed S] [--threads N] [--gpu auto|cuda|vulkan|metal|off] [--json]
           [--server URL[,URL...] [--timeout MS]]  on a llama-server pool instead (API key: env SOUP_SERVER_API_KEY)
  next     (same options as generate) [--top N] [--json]   next-token distribution under the soup
  bench engine [--gpu MODE] [--threads N] [--json]          souping costs on a generated ~50M model
  gguf inspect FILE [--json]                                header, metadata and tensors of a GGUF file
  gguf merge --base FILE --out FILE [--type f32|f16|q8_0] [--adapter] EXPERT=WEIGHT ...
  adapt --dims K [--prior w1,...] [--box lo,hi] [--seed S]  posterior over soup weights, JSON lines on stdin
  simulate [--json] [--user KIND] [--users N] [--k K] ...   online adaptation on simulated users (--help for all)
  distill --model FILE --pack FILE --corpus DIR --out DIR [--rank R] [--positions N]   prompted experts -> head adapters
  basis check PACK --model FILE | import --pack P --adapter FILE --id ID --model FILE | diagnose --model FILE --pack P`;

async function main(argv: string[]): Promise<number> {
  const out = (line: string) => process.stdout.write(line + "\n");
  const [command, ...args] = argv;
  switch (command) {
    case "generate":
    case "next":
      return generateCommand(command, args, out);
    case "gguf":
      return ggufCommand(args, out);
    case "adapt":
      return adaptCommand(args, { stdin: process.stdin, out });
    case "simulate":
      return simulateCommand(args, out);
    case "distill":
      return distillCommand(args, out);
    case "basis":
      return basisCommand(args, out);
    case "bench":
      if (args[0] === "--help" || args[0] === "-h") throw new HelpRequested(BENCH_USAGE);
      if (args[0] !== "engine") throw new UsageError(`unknown benchmark "${args[0] ?? ""}" (try: soup bench engine)`);
      return benchEngine(args.slice(1), out);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      out(HELP);
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command "${command}" (try: soup help)`);
  }
}

/** Resolves once everything written to `stream` so far has reached the reader (a pipe may still hold it). */
function drained(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || !stream.writable) return resolve();
    stream.write("", () => resolve());
  });
}

/** Exits only after stdout and stderr have drained: process.exit() right after a write cuts what a pipe holds. */
async function exit(code: number): Promise<never> {
  await Promise.all([drained(process.stdout), drained(process.stderr)]);
  process.exit(code);
}

// A reader that goes away (`soup ... | head`) is not an error of ours.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(0);
  throw e;
});

main(process.argv.slice(2)).then(exit, (e: unknown) => {
  if (e instanceof HelpRequested) {
    process.stdout.write(e.usage + "\n");
    return exit(0);
  }
  if (e instanceof UsageError) {
    // The reason alone: the usage that follows it in the message is one --help away.
    const argv = process.argv.slice(2);
    const command = ["gguf", "basis", "bench"].includes(argv[0] ?? "") ? argv.slice(0, 2).join(" ") : (argv[0] ?? "");
    process.stderr.write(`soup: ${e.message.split("\n")[0]} (soup ${command} --help shows the usage)\n`);
    return exit(2);
  }
  const message = e instanceof Error ? e.message : String(e);
  process.stderr.write(`soup: ${message.replace(/\n\s*/g, "; ")}\n`);
  return exit(1);
});
