// What every page's protocol has in common. Everything arriving from a page is untrusted (a compromised or buggy
// page can post anything), so each page's parser checks every field and the extension logs and drops what does
// not parse. Pure and dependency-free: the page bundles include it.

/** Answer and comparison ids are minted by the extension; anything else is not one of ours. */
export const MESSAGE_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** The page has loaded and wants its initial state. */
export type Ready = { type: "ready" };

/** An action the page asked for failed: shown on the page, so it never waits for an answer that will not come. */
export type PageError = { type: "error"; message: string };
