/**
 * A failure is called a connection failure only when it is one: an error of a local file (a
 * full disk, a folder where a file was meant) keeps its own message, never "cannot connect".
 */
import { mkdirSync } from 'node:fs';
import { once } from 'node:events';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../src/db/embedded.js';
import { toSlipwayError } from '../../src/db/errors.js';
import { ConnectionError } from '../../src/errors.js';

const target = { host: '127.0.0.1', port: 5432, user: 'app', database: 'app', secrets: [] };

function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('nothing thrown');
}

describe('toSlipwayError', () => {
  it('leaves an error of a local file as it is', () => {
    const exists = thrown(() => mkdirSync('/tmp'));
    expect(exists).toMatchObject({ code: 'EEXIST', path: '/tmp' });
    expect(toSlipwayError(exists, target)).toBe(exists);
    const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write' });
    expect(toSlipwayError(full, target)).toBe(full);
  });

  it('calls a refused connection one, with its line', async () => {
    const port = await freePort();
    const socket = connect(port, '127.0.0.1');
    const [refused] = await once(socket, 'error').catch((error: unknown) => [error]);
    const error = toSlipwayError(refused, { ...target, port });
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as ConnectionError).message).toMatch(`cannot connect to PostgreSQL at 127.0.0.1:${port}: connection refused`);
  });
});
