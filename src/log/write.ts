import { writeSync } from 'node:fs';

/** What a writer waits on while a pipe is full: nothing ever notifies it, the timeout ends the wait. */
const pause = new Int32Array(new SharedArrayBuffer(4));
/** Descriptors whose reader has gone (EPIPE): not written to again. */
const gone = new Set<number>();

/**
 * Writes all of `text` to `fd`, synchronously: a log line is out before the next statement runs.
 * Node makes a pipe on stdout non-blocking, so a slow reader (a log shipper, `| less`) fills it:
 * the write then fails with EAGAIN, or writes part of the line. Both are waited out here, as a
 * blocking write would be, instead of failing the run. A reader that has gone (EPIPE) gets no
 * more: losing the logs must not stop a migration half-way.
 */
export function writeAll(fd: number, text: string): void {
  if (gone.has(fd)) return;
  const bytes = Buffer.from(text);
  let offset = 0;
  let full = 0;
  while (offset < bytes.length) {
    try {
      offset += writeSync(fd, bytes, offset);
      full = 0;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') {
        gone.add(fd);
        return;
      }
      if (code !== 'EAGAIN') throw error;
      // 1 ms, then longer while the reader stays behind (at most 50 ms between tries).
      Atomics.wait(pause, 0, 0, Math.min(50, ++full));
    }
  }
}
