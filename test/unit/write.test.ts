/**
 * Log lines go out whole and in order however slow their reader: a full pipe (EAGAIN, or a part
 * of a line written) is waited out, and a reader that has gone (EPIPE) stops the writing, never the run.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { writeAll } from '../../src/log/write.js';

/** The descriptor of a pipe Node made, non-blocking as stdout's is: the stdin of a child. */
function fdOf(socket: Writable): number {
  return (socket as unknown as { _handle: { fd: number } })._handle.fd;
}

describe('writeAll', () => {
  it('waits for a reader that starts late: every byte arrives, in order', async () => {
    // The child reads nothing for 300 ms, then counts what arrives and hashes it.
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const h = require('node:crypto').createHash('sha256'); let n = 0;
         setTimeout(() => process.stdin.on('data', (d) => { n += d.length; h.update(d); })
           .on('end', () => process.stdout.write(n + ' ' + h.digest('hex'))), 300);`,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    // Far more than a pipe holds (64 KiB), written before the child can have read any.
    const lines = Array.from({ length: 2000 }, (_, i) => `{"n":${i},"msg":"${'x'.repeat(200)}"}\n`);
    for (const line of lines) writeAll(fdOf(child.stdin!), line);
    child.stdin!.end();
    await once(child, 'close');
    const { createHash } = await import('node:crypto');
    const all = lines.join('');
    expect(out).toBe(`${Buffer.byteLength(all)} ${createHash('sha256').update(all).digest('hex')}`);
  });

  it('stops writing to a reader that has gone, without an error', async () => {
    // The child closes its end of the pipe, says so, and stays until it is killed.
    const child = spawn(process.execPath, ['-e', "require('node:fs').closeSync(0); console.log('closed'); setInterval(() => {}, 1000);"], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    await once(child.stdout!, 'data');
    const fd = fdOf(child.stdin!);
    expect(() => {
      for (let i = 0; i < 100; i++) writeAll(fd, `${'x'.repeat(1000)}\n`);
    }).not.toThrow();
    child.kill();
    await once(child, 'exit');
  });
});
