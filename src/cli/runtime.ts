/**
 * Process-wide settings for the `slipway` command only (the library never changes its host's
 * runtime). Imported first by the CLI, before anything that loads the parser or the driver.
 */
import v8 from 'node:v8';

// The SQL parser is WebAssembly. By default V8 recompiles its hot functions with its optimizing
// tier on background threads: for a 432-file history that costs ~0.4 s of CPU and ~40 MB, and
// the baseline code parses as fast for what a migration run parses (a 23 MB file included).
v8.setFlagsFromString('--liftoff-only');

// node-postgres tells a Cloudflare Worker from `navigator.userAgent`; where there is no
// `navigator` (Node 20), it constructs a fetch `Response` instead, which loads the whole
// fetch implementation (~25 ms at every start). Node 21 and later define `navigator` themselves.
if (!('navigator' in globalThis)) {
  Object.defineProperty(globalThis, 'navigator', {
    value: { userAgent: `Node.js/${process.versions.node.split('.')[0]}` },
    configurable: true,
    writable: true,
  });
}

// node-postgres warns, in nine lines on every run, that `sslmode=require` is checked as
// `verify-full` (the server's certificate is verified): docs/cli.md says so once instead.
const emitWarning = process.emitWarning.bind(process) as (...args: unknown[]) => void;
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const text = typeof warning === 'string' ? warning : warning.message;
  if (text.startsWith("SECURITY WARNING: The SSL modes 'prefer', 'require', and 'verify-ca'")) return;
  emitWarning(warning, ...rest);
}) as typeof process.emitWarning;
