/**
 * Malformed HTTP over a real socket: bytes no HTTP client library would send. The server
 * must answer 4xx in the one error shape (or close the connection) and keep serving.
 */
import net from 'node:net';
import fc from 'fast-check';
import { BROKEN_ENCODINGS } from './arbitraries.ts';
import { count, stats, type Res } from './harness.ts';

export interface RawCase {
  readonly label: string;
  /** latin1: one char per byte */
  readonly bytes: string;
  /** every answer must be a refusal (4xx), never a success: the request is broken beyond doubt */
  readonly strict: boolean;
}

export interface Exchange {
  readonly responses: readonly Res[];
  /** bytes after the last complete response (should be none) */
  readonly trailing: string;
  readonly answered: boolean;
}

/**
 * Writes the bytes, half-closes once the server has been quiet for a moment (so a truncated
 * request meets EOF), and collects everything until the server closes.
 */
export function exchange(port: number, bytes: string, timeoutMs = 4000): Promise<Exchange> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect({ host: '127.0.0.1', port });
    let done = false;
    let quiet: NodeJS.Timeout | undefined;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(hard);
      clearTimeout(quiet);
      socket.destroy();
      stats.raw += 1;
      const parsed = parseResponses(Buffer.concat(chunks).toString('latin1'));
      for (const r of parsed.responses) count(r.status);
      if (parsed.responses.length === 0) stats.rawClosedWithoutAnswer += 1;
      resolve({ ...parsed, answered: parsed.responses.length > 0 });
    };
    const hard = setTimeout(finish, timeoutMs);
    const armQuiet = () => {
      clearTimeout(quiet);
      quiet = setTimeout(() => {
        if (!socket.destroyed) socket.end();
      }, 150);
    };
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      armQuiet();
    });
    socket.on('error', finish);
    socket.on('close', finish);
    socket.on('connect', () => {
      socket.write(Buffer.from(bytes, 'latin1'));
      armQuiet();
    });
  });
}

function parseResponses(text: string): { responses: Res[]; trailing: string } {
  const responses: Res[] = [];
  let rest = text;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const [statusLine, ...lines] = rest.slice(0, end).split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '');
    if (!m) break;
    const status = Number(m[1]);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const i = line.indexOf(':');
      if (i > 0) {
        const k = line.slice(0, i).trim().toLowerCase();
        const v = line.slice(i + 1).trim();
        headers[k] = headers[k] === undefined ? v : `${headers[k]}\n${v}`;
      }
    }
    rest = rest.slice(end + 4);
    let bodyText = '';
    if (status < 200 || status === 204 || status === 304) {
      bodyText = '';
    } else if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      bodyText = rest.slice(0, n);
      rest = rest.slice(n);
    } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      for (;;) {
        const lineEnd = rest.indexOf('\r\n');
        if (lineEnd < 0) break;
        const size = parseInt(rest.slice(0, lineEnd), 16);
        rest = rest.slice(lineEnd + 2);
        if (!(size > 0)) {
          rest = rest.slice(rest.indexOf('\r\n') + 2);
          break;
        }
        bodyText += rest.slice(0, size);
        rest = rest.slice(size + 2);
      }
    } else {
      bodyText = rest;
      rest = '';
    }
    if (status >= 100 && status < 200) continue; // 100 Continue: the real answer follows
    responses.push({ status, headers, body: Buffer.from(bodyText, 'latin1').toString('utf8') });
  }
  return { responses, trailing: rest };
}

// ---------------------------------------------------------------- generators

const H = 'Host: 127.0.0.1\r\n';
const CLOSE = 'Connection: close\r\n';
const JSON_CT = 'Content-Type: application/json\r\n';

const tokenChar = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~".split(''));
const anyByte = fc.integer({ min: 0, max: 255 }).map((b) => String.fromCharCode(b));
/** control bytes a header may not carry (CR and LF excluded: they would end the header line instead) */
const ctlByte = fc.constantFrom(...[...Array(32).keys()].filter((b) => b !== 9 && b !== 10 && b !== 13).map((b) => String.fromCharCode(b)), '\x7f');
const visible = fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c));

/** Request targets as a client could put them on the wire: no normalisation of `..` or `%`. */
function target(paths: readonly string[]): fc.Arbitrary<string> {
  const segment = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom('docs', 'static', 'api', 'auth', 'login', 'healthz', 'package.json', 'bastion.db', '.env', '..', '.', 'index.html') },
    { weight: 2, arbitrary: fc.constantFrom(...BROKEN_ENCODINGS, '..%2f', '%2e%2e%2f', '..%5c', '%252e%252e', '....//') },
    { weight: 2, arbitrary: fc.string({ unit: visible, maxLength: 12 }).map((s) => s.replace(/[?#]/g, '')) },
    { weight: 1, arbitrary: fc.integer({ min: 300, max: 6000 }).map((n) => 'a'.repeat(n)) },
  );
  return fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom(...paths) },
    { weight: 3, arbitrary: fc.array(segment, { minLength: 1, maxLength: 8 }).map((s) => `/${s.join('/')}`) },
    { weight: 1, arbitrary: fc.array(segment, { minLength: 1, maxLength: 6 }).map((s) => `/docs/static/${s.join('/')}`) },
    { weight: 1, arbitrary: fc.constantFrom('*', 'http://evil.example/healthz', '//healthz', 'healthz', '/healthz?a=%zz', '/healthz#x', '/\\healthz') },
  );
}

export function rawCase(paths: readonly string[], posts: readonly string[]): fc.Arbitrary<RawCase> {
  const tgt = target(paths);
  const post = fc.constantFrom(...posts);
  const json = fc.constantFrom('{}', '{"username":"kyle","password":"x"}', '{"refresh_token":"x"}', '[]', '{"a":');
  return fc.oneof(
    // bad request lines
    {
      weight: 2,
      arbitrary: fc.string({ unit: fc.oneof({ weight: 8, arbitrary: visible }, { weight: 1, arbitrary: fc.constant(' ') }, { weight: 1, arbitrary: anyByte }), maxLength: 80 })
        .map((line) => ({ label: 'random request line', bytes: `${line}\r\n${H}\r\n`, strict: false })),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(
          fc.oneof(fc.constantFrom('GET', 'get', 'BREW', 'G ET', 'GET\t', 'CONNECT', 'PRI', 'TRACE', 'SEARCH', 'PROPFIND', 'M-SEARCH', ''), fc.string({ unit: tokenChar, minLength: 1, maxLength: 12 })),
          tgt,
          fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/9.9', 'HTTP/1.1 extra', 'HTTP/1', 'http/1.1', 'HTTP/1.1\r', '', 'HTTPS/1.1'),
        )
        .map(([m, t, v]) => ({ label: 'odd method, target or version', bytes: `${m} ${t} ${v}\r\n${H}${CLOSE}\r\n`, strict: false })),
    },
    {
      weight: 1,
      // [bytes, strict]: Node itself answers HTTP/0.9-style and double-space request lines and HTTP/1.0 without Host
      arbitrary: fc
        .constantFrom<[string, boolean]>(
          ['\r\n\r\n', true],
          ['GET\r\n\r\n', true],
          ['GET /\r\n\r\n', false],
          [' GET / HTTP/1.1\r\n' + H + '\r\n', true],
          ['GET  / HTTP/1.1\r\n' + H + '\r\n', false],
          ['GET / HTTP/1.1\n' + 'Host: x\n\n', true],
          ['\x00\x01\x02\x03', true],
          ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', true],
          ['\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03', true],
          ['GET /healthz HTTP/1.0\r\n\r\n', false],
        )
        .map(([bytes, strict]) => ({ label: 'fixed malformed request', bytes, strict })),
    },
    // headers
    {
      weight: 2,
      arbitrary: fc.tuple(tgt, fc.string({ unit: tokenChar, minLength: 1, maxLength: 30 })).map(([t, h]) => ({ label: 'header without colon', bytes: `GET ${t} HTTP/1.1\r\n${H}${h}\r\n${CLOSE}\r\n`, strict: true })),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(tgt, fc.string({ unit: fc.oneof(visible, ctlByte), minLength: 1, maxLength: 20 }), fc.boolean())
        .filter(([, v]) => /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(v))
        .map(([t, v, inName]) => ({
          label: inName ? 'invalid byte in a header name' : 'invalid byte in a header value',
          bytes: `GET ${t} HTTP/1.1\r\n${H}${inName ? `X-${v}: 1` : `X-Fuzz: ${v}`}\r\n${CLOSE}\r\n`,
          strict: true,
        })),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom('X Fuzz: 1', 'X-(: 1', ': empty-name', 'X-A : 1', 'X-A: 1\r\n folded', 'Host: second-host', 'Authorization: Bearer a\r\nAuthorization: Bearer b', 'Cookie: jwt=a\r\nCookie: jwt=b', 'Content-Type: application/json\r\nContent-Type: text/plain')
        .map((h) => ({ label: 'odd or duplicate header', bytes: `GET /api/secure HTTP/1.1\r\n${H}${h}\r\n${CLOSE}\r\n`, strict: false })),
    },
    {
      weight: 1,
      arbitrary: fc
        .oneof(
          fc.integer({ min: 17_000, max: 70_000 }).map((n) => ({ h: `X-Big: ${'a'.repeat(n)}\r\n`, strict: true })),
          // Node lets many small headers through (it keeps the first 2000): no refusal required
          fc.integer({ min: 2000, max: 5000 }).map((n) => ({ h: 'X-A: 1\r\n'.repeat(n), strict: false })),
        )
        .map(({ h, strict }) => ({ label: 'oversized headers', bytes: `GET /healthz HTTP/1.1\r\n${H}${h}${CLOSE}\r\n`, strict })),
    },
    // framing
    {
      weight: 3,
      arbitrary: fc
        .tuple(
          post,
          json,
          fc.constantFrom(
            'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n',
            'Transfer-Encoding: chunked\r\nContent-Length: 5\r\n',
            'Content-Length: 5\r\nContent-Length: 6\r\n',
            'Content-Length: 2, 3\r\n',
            'Content-Length: -1\r\n',
            'Content-Length: +2\r\n',
            'Content-Length: 0x2\r\n',
            'Content-Length: 2 \r\n',
            'Content-Length: 99999999999999999999\r\n',
            'Transfer-Encoding: gzip\r\n',
            'Transfer-Encoding: chunked, chunked\r\n',
            'Transfer-Encoding: xchunked\r\n',
            'Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n',
            'Transfer-Encoding : chunked\r\n',
            'Transfer-Encoding:\tchunked\r\n',
          ),
        )
        .map(([p, b, framing]) => ({
          label: 'conflicting or invalid Content-Length / Transfer-Encoding',
          bytes: `POST ${p} HTTP/1.1\r\n${H}${JSON_CT}${framing}${CLOSE}\r\n${b}`,
          strict: framing !== 'Content-Length: 2 \r\n', // optional whitespace is allowed (RFC 9110 §5.5)
        })),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(post, fc.integer({ min: 2, max: 0xffff }), json).map(([p, size, b]) => ({
        label: 'truncated chunked body',
        bytes: `POST ${p} HTTP/1.1\r\n${H}${JSON_CT}Transfer-Encoding: chunked\r\n\r\n${size.toString(16)}\r\n${b.slice(0, size - 1)}`,
        strict: true,
      })),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(post, fc.constantFrom('zz', '-1', '0x10', 'ffffffffffffffffff', '1;ext=\x00', '2\r\n{}\r\n0', '2\r\n{}x\r\n0\r\n\r\n', ' 2', '2 ', '1\r\n{\r\n1\r\n}'))
        .map(([p, chunk]) => ({ label: 'bad chunk', bytes: `POST ${p} HTTP/1.1\r\n${H}${JSON_CT}Transfer-Encoding: chunked\r\n${CLOSE}\r\n${chunk}\r\n`, strict: true })),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(post, json, fc.integer({ min: 1, max: 100_000 })).map(([p, b, extra]) => ({
        label: 'body shorter than Content-Length',
        bytes: `POST ${p} HTTP/1.1\r\n${H}${JSON_CT}Content-Length: ${b.length + extra}\r\n\r\n${b}`,
        strict: true,
      })),
    },
    // targets as they are on the wire (no client normalisation)
    {
      weight: 3,
      arbitrary: tgt.map((t) => ({ label: 'raw target', bytes: `GET ${t} HTTP/1.1\r\n${H}${CLOSE}\r\n`, strict: false })),
    },
    // pipelining: a good request, then a bad one
    {
      weight: 1,
      arbitrary: fc.tuple(tgt, fc.string({ unit: anyByte, maxLength: 40 })).map(([t, junk]) => ({
        label: 'pipelined good then bad',
        bytes: `GET /healthz HTTP/1.1\r\n${H}\r\nGET ${t} HTTP/1.1\r\n${H}${junk}\r\n\r\n`,
        strict: false,
      })),
    },
  );
}
