import { expect } from 'vitest';

type ErrorClass<E extends Error> = new (...args: never[]) => E;

/** Runs `fn`, asserts it throws an instance of `type`, and returns the error for more checks. */
export function thrown<E extends Error>(fn: () => unknown, type: ErrorClass<E>): E {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(type);
  return caught as E;
}

/** Awaits `promise`, asserts it rejects with an instance of `type`, and returns the error. */
export async function rejection<E extends Error>(promise: Promise<unknown>, type: ErrorClass<E>): Promise<E> {
  const caught = await promise.then(
    () => new Error(`expected a ${type.name}, got a result`),
    (error: unknown) => error,
  );
  expect(caught).toBeInstanceOf(type);
  return caught as E;
}
