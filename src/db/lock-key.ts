import { UsageError } from '../errors.js';

/** The default advisory-lock key: the bytes of "slipway" read as a number. */
export const DEFAULT_LOCK_KEY = 0x736c6970776179n;

/** Accepts a lock key as bigint, safe integer or decimal string; refuses anything outside signed 64 bits. */
export function toLockKey(value: bigint | number | string): bigint {
  let key: bigint;
  try {
    if (typeof value === 'number' && !Number.isSafeInteger(value)) throw new Error('not a safe integer');
    if (typeof value === 'string' && !/^-?\d+$/.test(value.trim())) throw new Error('not an integer');
    key = BigInt(typeof value === 'string' ? value.trim() : value);
  } catch {
    throw new UsageError(
      `invalid lock key ${JSON.stringify(String(value))}: use a whole number between -9223372036854775808 and 9223372036854775807`,
    );
  }
  if (BigInt.asIntN(64, key) !== key) {
    throw new UsageError(`invalid lock key ${key}: use a whole number between -9223372036854775808 and 9223372036854775807`);
  }
  return key;
}
