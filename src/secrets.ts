// Connection-string passwords out of anything slipway prints: pure string functions, loaded by
// every command (the CLI's error line included) without the logger.

/**
 * Replaces the password of a `postgres://user:password@host/db` string with `***`,
 * and a `password=...` keyword in a key/value connection string.
 *
 * @example redactConnectionString('postgres://app:s3cret@db/app') // 'postgres://app:***@db/app'
 */
export function redactConnectionString(text: string): string {
  return (
    text
      // Up to the LAST @ of the authority: a password may itself contain @.
      .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)[^\s/?#]*@/gi, '$1***@')
      .replace(/(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)/gi, '$1***')
  );
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
  const url = wellFormedUrl(connectionString);
  if (url !== null) add(url.password);
  else add(looseUrlPassword(connectionString));
  for (const match of connectionString.matchAll(/\bpassword\s*=\s*('(?:[^'\\]|\\.)*'|[^\s&]+)/gi)) {
    const value = match[1]!;
    add(value.startsWith("'") ? value.slice(1, -1).replace(/\\(.)/g, '$1') : value);
  }
  return [...found].filter(Boolean);
}

/** `text` as a URL when it is one with an authority (`scheme://…`), else null. */
function wellFormedUrl(text: string): URL | null {
  if (!/^\s*[a-z][a-z0-9+.-]*:\/\//i.test(text)) return null;
  try {
    return new URL(text.trim());
  } catch {
    return null;
  }
}

/**
 * The password of a string that is meant as a URL but is not one (`postgres//app:pw@db/app`,
 * `postgresql:/app:pw@db/app`, `app:pw@db/app`, a port that is no number): what follows the
 * user's colon, up to the last @ (a password may itself contain @). Empty when there is no such part.
 */
function looseUrlPassword(text: string): string {
  const at = text.lastIndexOf('@');
  if (at < 0) return '';
  const userinfo = text
    .slice(0, at)
    .trim()
    .replace(/^[a-z][a-z0-9+.-]*:(?=\/)/i, '')
    .replace(/^\/+/, '');
  const colon = userinfo.indexOf(':');
  return colon < 0 ? '' : userinfo.slice(colon + 1);
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
