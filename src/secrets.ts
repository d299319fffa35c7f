// Connection-string passwords out of anything slipway prints: pure string functions, loaded by
// every command (the CLI's error line included) without the logger.

/**
 * Replaces the password of a `postgres://user:password@host/db` string with `***`,
 * and a `password=...` keyword in a key/value connection string.
 *
 * @example redactConnectionString('postgres://app:s3cret@db/app') // 'postgres://app:***@db/app'
 */
export function redactConnectionString(text: string): string {
  return text
    // Up to the LAST @ of the authority: a password may itself contain @.
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)[^\s/?#]*@/gi, '$1***@')
    .replace(/(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)/gi, '$1***');
}

/**
 * The password of a connection string, in every spelling it may appear in output (as given,
 * URL-decoded, URL-encoded): of a `postgres://` URL or of a `password=` keyword. Empty when it has none.
 *
 * @example passwordsOf('postgres://app:s%40cret@db/app') // ['s%40cret', 's@cret']
 */
export function passwordsOf(connectionString: string | undefined): string[] {
  if (!connectionString) return [];
  const found = new Set<string>();
  const add = (password: string) => {
    if (!password) return;
    let decoded = password;
    try {
      decoded = decodeURIComponent(password);
    } catch {
      // not %-encoded
    }
    found.add(password).add(decoded).add(encodeURIComponent(decoded));
  };
  try {
    add(new URL(connectionString).password);
  } catch {
    // Not a URL: the keyword form below.
  }
  for (const match of connectionString.matchAll(/\bpassword\s*=\s*('(?:[^'\\]|\\.)*'|[^\s&]+)/gi)) {
    const value = match[1]!;
    add(value.startsWith("'") ? value.slice(1, -1).replace(/\\(.)/g, '$1') : value);
  }
  return [...found].filter(Boolean);
}

/**
 * `text` with every connection-string password redacted ({@link redactConnectionString}) and
 * every one of `secrets` replaced by `***`, wherever it appears.
 *
 * @example scrubSecrets('login as app:hunter2 failed', ['hunter2']) // 'login as app:*** failed'
 */
export function scrubSecrets(text: string, secrets: Iterable<string> = []): string {
  let out = redactConnectionString(text);
  // Longest first: a secret that contains another is replaced whole.
  for (const secret of [...secrets].filter(Boolean).sort((a, b) => b.length - a.length)) out = out.split(secret).join('***');
  return out;
}
