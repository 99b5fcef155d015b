/**
 * The page's only way to the API: every call carries the subscriber's key (Authorization header; the
 * live stream, which EventSource cannot give headers, gets `?key=`), so the page sees exactly what the
 * same key sees through the API.
 */
const KEY = 'coalflow.key';
const NAME = 'coalflow.name';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface Session {
  key: string | null;
  name: string | null;
  demo: boolean;
}

export function session(): Session {
  return {
    key: sessionStorage.getItem(KEY),
    name: sessionStorage.getItem(NAME),
    demo: sessionStorage.getItem('coalflow.demo') === '1',
  };
}

export function signIn(key: string, name: string | null, demo = false): void {
  sessionStorage.setItem(KEY, key);
  if (name) sessionStorage.setItem(NAME, name);
  else sessionStorage.removeItem(NAME);
  sessionStorage.setItem('coalflow.demo', demo ? '1' : '0');
}

/** The signed-in subscriber's kind (`operator`, `government`, …); null without an access layer. */
export function kind(): string | null {
  return sessionStorage.getItem('coalflow.kind');
}

export function signOut(): void {
  sessionStorage.removeItem('coalflow.kind');
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(NAME);
  sessionStorage.setItem('coalflow.demo', '0');
  // Signing out is a choice: the embedded demo session is not reopened in this tab.
  sessionStorage.setItem('coalflow.signedOut', '1');
}

export function signedOutByChoice(): boolean {
  return sessionStorage.getItem('coalflow.signedOut') === '1';
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const k = sessionStorage.getItem(KEY);
  return k ? { authorization: `Bearer ${k}`, ...extra } : extra;
}

async function fail(res: Response): Promise<never> {
  let code = `HTTP_${res.status}`;
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = (await res.json()) as {
      error?: { code?: string; message?: string };
      code?: string;
      message?: string;
    };
    code = body.error?.code ?? body.code ?? code;
    message = body.error?.message ?? body.message ?? message;
  } catch {
    /* not JSON */
  }
  throw new ApiError(res.status, code, message);
}

export async function get<T>(path: string): Promise<T> {
  const res = await fetch(path, { headers: headers() });
  if (!res.ok) await fail(res);
  return (await res.json()) as T;
}

export async function text(path: string): Promise<string> {
  const res = await fetch(path, { headers: headers() });
  if (!res.ok) await fail(res);
  return res.text();
}

export async function post<T>(path: string, body: unknown, contentType = 'application/json'): Promise<T> {
  const res = await fetch(path, {
    method: 'POST',
    headers: headers({ 'content-type': contentType }),
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  if (!res.ok) await fail(res);
  return (await res.json()) as T;
}

/** Downloads a file through an authorized fetch (a plain link could not carry the key). */
export async function download(path: string, fallbackName: string): Promise<void> {
  const res = await fetch(path, { headers: headers() });
  if (!res.ok) await fail(res);
  const blob = await res.blob();
  const cd = res.headers.get('content-disposition') ?? '';
  const m = /filename\*=UTF-8''([^;]+)|filename="?([^";]+)"?/i.exec(cd);
  const name = m ? decodeURIComponent(m[1] ?? m[2] ?? fallbackName) : fallbackName;
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** The embedded default's demo session, when the server offers one (404 everywhere else). */
export async function demoSession(): Promise<{ key: string; name: string } | null> {
  try {
    const res = await fetch('/dashboard/session');
    if (!res.ok) return null;
    const body = (await res.json()) as { demo?: { key: string; name: string } | null };
    return body.demo ?? null;
  } catch {
    return null;
  }
}

export interface LivePoint {
  scope: string;
  scopeId: string;
  metric: string;
  window: string;
  windowStart: string;
  value: number | null;
  unit: string;
  suppressed?: true;
}
export interface LiveMessage {
  family: string;
  version: number;
  points: LivePoint[];
}

/**
 * One EventSource per family; `onState` reports whether any stream is open. A family the key is not
 * granted is refused (403): EventSource then closes that stream for good, the others go on.
 */
export function openLive(
  families: string[],
  onMessage: (m: LiveMessage) => void,
  onState: (open: boolean) => void,
): () => void {
  const k = sessionStorage.getItem(KEY);
  const sources = families.map(
    (f) => new EventSource(`/v1/live/${encodeURIComponent(f)}${k ? `?key=${encodeURIComponent(k)}` : ''}`),
  );
  const ready = new Set<EventSource>();
  for (const es of sources) {
    es.addEventListener('ready', () => {
      ready.add(es);
      onState(true);
    });
    es.addEventListener('indicators', (ev) => {
      try {
        onMessage(JSON.parse((ev as MessageEvent<string>).data) as LiveMessage);
      } catch {
        /* skipped */
      }
    });
    es.onerror = () => {
      ready.delete(es);
      onState(ready.size > 0);
    };
  }
  return () => {
    for (const es of sources) es.close();
  };
}
