import { afterEach, describe, expect, it } from 'vitest';
import { textArrayLiteral } from '../../src/seed/sql.js';
import { sandbox, type Sandbox } from '../support/db.js';

let box: Sandbox;
afterEach(async () => box?.cleanup());

describe('textArrayLiteral', () => {
  it('is read back by the server as the same text[], quotes, backslashes, braces, NULL and empty strings included', async () => {
    box = await sandbox();
    const lists: Array<Array<string | null>> = [
      [],
      [''],
      ['plain', 'also plain'],
      ['say "hi"', 'a\\b', '{x}', 'NULL', ' padded ', 'a,b', 'line\nbreak', 'ü'],
      ['a', null, ''],
      [null],
    ];
    for (const list of lists) {
      const { rows } = await box.admin.query<{ back: Array<string | null> }>('SELECT $1::text[] AS back', [textArrayLiteral(list)]);
      expect(rows[0]!.back).toEqual(list);
    }
  });
});
