// Chat markdown rendering: (1) growth with input size on inputs that made the old backtracking regexes quadratic
// (time at 4x the size over time at 1x: ~4 is linear, ~16 quadratic); (2) a streamed answer rendered
// incrementally (MarkdownStream) against re-rendering the whole answer per chunk, the baseline, in the same run.
// Usage: node --import tsx bench/markdown.ts
import { MarkdownStream, renderMarkdown } from "../src/core/chat/markdown";

const time = (f: () => void, reps = 5) => {
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    f();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
};

const cases: [string, (n: number) => string][] = [
  ["heading with a long run of spaces", (n) => `# a${" ".repeat(n)}b`],
  ["unclosed ** openers", (n) => "**a ".repeat(n / 4)],
  ["open brackets", (n) => "[".repeat(n)],
  ["unmatched backtick runs", (n) => "`a ``b ".repeat(n / 7)],
];
console.log("| input | 40 KB | 160 KB | growth (4 = linear) |\n|---|---:|---:|---:|");
for (const [name, make] of cases) {
  const small = time(() => renderMarkdown(make(40_000)));
  const large = time(() => renderMarkdown(make(160_000)));
  console.log(`| ${name} | ${small.toFixed(1)} ms | ${large.toFixed(1)} ms | ${(large / small).toFixed(1)} |`);
}

const answer = Array.from({ length: 150 }, (_, i) => `Step ${i}: use **bold** and \`code\` here.\n\n\`\`\`ts\nconst x${i} = ${i};\n\`\`\`\n`).join("\n");
const CHUNK = 8; // characters per streamed update (about two tokens)
const whole = time(() => {
  for (let at = CHUNK; at < answer.length + CHUNK; at += CHUNK) renderMarkdown(answer.slice(0, at));
}, 1);
const incremental = time(() => {
  const stream = new MarkdownStream();
  for (let at = 0; at < answer.length; at += CHUNK) stream.push(answer.slice(at, at + CHUNK));
}, 1);
console.log(`\nstreamed answer of ${answer.length} chars in ${Math.ceil(answer.length / CHUNK)} updates: whole re-render per update ${whole.toFixed(0)} ms, incremental ${incremental.toFixed(0)} ms, ratio ${(whole / incremental).toFixed(1)}x`);
