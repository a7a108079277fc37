/**
 * Generators for the fuzz test: paths, methods, headers, tokens and bodies. Everything is
 * a plain value (strings and records), so fast-check can print and shrink a failing
 * request; fresh valid tokens are placeholders that harness.send() fills in.
 */
import fc from 'fast-check';
import { decodePart, FRESH, FUZZ_CSRF, LEAK, METHODS, type Fixture, type JsonSchema, type Method, type Req, type Route } from './harness.ts';

export interface ReqOptions {
  /** offer the setup's refresh tokens unmutated (a second use revokes the session on purpose, which writes) */
  readonly realRefresh: boolean;
}

const rare = <T>(arb: fc.Arbitrary<T>, oneIn: number): fc.Arbitrary<T | undefined> =>
  fc.oneof({ weight: oneIn - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });

// ---------------------------------------------------------------- text

const printable = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c));
const latin1 = fc.integer({ min: 0xa0, max: 0xff }).map((c) => String.fromCharCode(c));
/** What an HTTP header value can carry: visible ASCII, space, and obs-text. */
export const headerText = (maxLength = 40): fc.Arbitrary<string> =>
  fc.string({ unit: fc.oneof({ weight: 12, arbitrary: printable }, { weight: 1, arbitrary: latin1 }), maxLength });

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const b64Char = fc.constantFrom(...B64);
const b64Text = (minLength: number, maxLength: number) => fc.string({ unit: b64Char, minLength, maxLength });
const b64json = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

const long = (min: number, max: number) =>
  fc.tuple(fc.integer({ min, max }), fc.constantFrom('a', 'x', '%41', 'é', '🏔', '\u0000', '.')).map(([n, c]) => c.repeat(Math.ceil(n / c.length)));

const ODD_STRINGS = ['', ' ', '\t', '\u0000', 'a\u0000b', '\ud800', '\udfff', '🏔️', '\u202e', '\ufeff', 'İ', 'ß', 'ﬀ', 'null', 'undefined', 'true', '0', '-0', 'NaN', '[]', '{}', "' OR '1'='1", '<script>alert(1)</script>', '${7*7}', '../../../etc/passwd'];

/** Strings a user or an attacker might type into any field. */
const anyString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 30 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  { weight: 2, arbitrary: fc.constantFrom(...ODD_STRINGS) },
  { weight: 1, arbitrary: long(255, 10_000) },
);

/** Identifiers and passwords, including the demo accounts' real ones (a login may succeed). */
const credential: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'kyle',
      'KYLE',
      ' kyle ',
      'ｋｙｌｅ',
      'sherpa',
      'admin',
      'admin@example.com',
      'ADMIN@EXAMPLE.COM',
      ' admin@example.com ',
      'kyle@example.com',
      'nobody',
      'nobody@example.com',
      'p1',
      'everest',
      'password',
      'correct horse battery staple',
    ),
  },
  { weight: 1, arbitrary: fc.emailAddress() },
  { weight: 3, arbitrary: anyString },
);

const wrongType: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant([]),
  fc.constant({}),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
  fc.constantFrom(1e308, -1e308, Number.MIN_VALUE, Number.MAX_SAFE_INTEGER + 2, -1),
);

// ---------------------------------------------------------------- tokens

export interface TokenCase {
  readonly label: string;
  readonly token: string;
  /** the codes the guard may answer with, or null when the token is in fact valid (a re-encoding of the same signature) */
  readonly expect: readonly string[] | null;
}

/** One character of one part replaced. Changing the header or payload text always breaks the signature. */
function flip(base: string, part: number, pos: number, ch: string): TokenCase {
  const parts = base.split('.');
  const text = parts[part]!;
  const i = pos % Math.max(1, text.length);
  const c = text[i] === ch ? B64[(B64.indexOf(ch) + 1) % B64.length]! : ch;
  parts[part] = text.slice(0, i) + c + text.slice(i + 1);
  const token = parts.join('.');
  // A signature re-encoded to the same bytes (unused trailing bits) is still the real signature.
  const same = part === 2 && Buffer.from(parts[2]!, 'base64url').equals(Buffer.from(base.split('.')[2]!, 'base64url'));
  return { label: `flip part ${part} char ${i}`, token, expect: same ? null : ['invalid_token'] };
}

const STRUCTURAL = [
  'swap header/payload',
  'swap payload/signature',
  'reverse parts',
  'drop signature',
  'drop signature part',
  'only header.payload.header',
  'extra part',
  'header alg none',
  'header alg HS256',
  'header alg RS256',
  'header without kid',
  'header kid changed',
  'payload roles admin',
  'payload exp +1 year',
  'payload sub of another user',
  'payload jti changed',
  'leading dot',
  'trailing dot',
  'space inside',
  'upper case',
  'lower case',
  'doubled',
  'signature in standard base64',
  'signature padded',
  'signature truncated',
  'signature of another token',
] as const;

function structural(fx: Fixture, base: string, kind: (typeof STRUCTURAL)[number]): TokenCase {
  const [h, p, s] = base.split('.') as [string, string, string];
  const header = decodePart(h);
  const payload = decodePart(p);
  const other = fx.realAccess.find((t) => t !== base) ?? base;
  // a re-encoding that changes nothing (e.g. roles admin on the admin's own token) is the real token
  const invalid = (token: string): TokenCase => ({ label: kind, token, expect: token === base ? null : ['invalid_token'] });
  switch (kind) {
    case 'swap header/payload':
      return invalid(`${p}.${h}.${s}`);
    case 'swap payload/signature':
      return invalid(`${h}.${s}.${p}`);
    case 'reverse parts':
      return invalid(`${s}.${p}.${h}`);
    case 'drop signature':
      return invalid(`${h}.${p}.`);
    case 'drop signature part':
      return invalid(`${h}.${p}`);
    case 'only header.payload.header':
      return invalid(`${h}.${p}.${h}`);
    case 'extra part':
      return invalid(`${h}.${p}.${s}.${s}`);
    case 'header alg none':
      return invalid(`${b64json({ ...header, alg: 'none' })}.${p}.${s}`);
    case 'header alg HS256':
      return invalid(`${b64json({ ...header, alg: 'HS256' })}.${p}.${s}`);
    case 'header alg RS256':
      return invalid(`${b64json({ ...header, alg: 'RS256' })}.${p}.${s}`);
    case 'header without kid':
      return invalid(`${b64json({ ...header, kid: undefined })}.${p}.${s}`);
    case 'header kid changed':
      return invalid(`${b64json({ ...header, kid: 'x' + String(header['kid']) })}.${p}.${s}`);
    case 'payload roles admin':
      return invalid(`${h}.${b64json({ ...payload, roles: ['admin'] })}.${s}`);
    case 'payload exp +1 year':
      return invalid(`${h}.${b64json({ ...payload, exp: Number(payload['exp']) + 31_536_000 })}.${s}`);
    case 'payload sub of another user':
      return invalid(`${h}.${b64json({ ...payload, sub: decodePart(other.split('.')[1]!)['sub'] })}.${s}`);
    case 'payload jti changed':
      return invalid(`${h}.${b64json({ ...payload, jti: 'fuzz' })}.${s}`);
    case 'leading dot':
      return invalid(`.${base}`);
    case 'trailing dot':
      return invalid(`${base}.`);
    case 'space inside':
      return invalid(`${h}. ${p}.${s}`);
    case 'upper case':
      return invalid(base.toUpperCase());
    case 'lower case':
      return invalid(base.toLowerCase());
    case 'doubled':
      return invalid(`${base}${base}`);
    case 'signature in standard base64':
      return { label: kind, token: `${h}.${p}.${s.replace(/-/g, '+').replace(/_/g, '/')}`, expect: s.includes('-') || s.includes('_') ? ['invalid_token'] : null };
    case 'signature padded':
      return { label: kind, token: `${h}.${p}.${s}==`, expect: null };
    case 'signature truncated':
      return invalid(`${h}.${p}.${s.slice(0, -4)}`);
    case 'signature of another token':
      return invalid(`${h}.${p}.${other.split('.')[2]}`);
  }
}

const headerish = (fx: Fixture) =>
  fc
    .record(
      {
        alg: fc.constantFrom('none', 'None', 'HS256', 'EdDSA', 'ES256', 'RS256', 'PS256', '', 'EdDSA '),
        typ: fc.constantFrom('at+jwt', 'JWT', 'application/at+jwt', ''),
        kid: fc.oneof(fc.constant(fx.kid), b64Text(0, 43), fc.integer()),
        jku: fc.constant('https://evil.example/jwks.json'),
      },
      { requiredKeys: [] },
    )
    .map(b64json);

const segment3 = (fx: Fixture) => fc.oneof(b64Text(0, 90), fc.jsonValue({ maxDepth: 2 }).map(b64json), headerish(fx));

/** Tokens that must never be accepted, with the code the guard must give. */
export function badTokenCase(fx: Fixture): fc.Arbitrary<TokenCase> {
  return fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom(...fx.forged).map((f): TokenCase => ({ label: `forged: ${f.name}`, token: f.token, expect: [f.expect] })) },
    {
      weight: 3,
      arbitrary: fc
        .record({ base: fc.constantFrom(...fx.realAccess), part: fc.integer({ min: 0, max: 2 }), pos: fc.nat(), ch: b64Char })
        .map(({ base, part, pos, ch }) => flip(base, part, pos, ch)),
    },
    {
      weight: 3,
      arbitrary: fc.record({ base: fc.constantFrom(...fx.realAccess), kind: fc.constantFrom(...STRUCTURAL) }).map(({ base, kind }) => structural(fx, base, kind)),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(headerish(fx), segment3(fx), segment3(fx))
        .map(([a, b, c]): TokenCase => ({ label: 'random three-part', token: `${a}.${b}.${c}`, expect: ['invalid_token'] })),
    },
  );
}

/** Any token text: bad ones, random ones, and (when asked) valid ones. */
export function tokenText(fx: Fixture, valid: boolean): fc.Arbitrary<string> {
  const arbs: fc.WeightedArbitrary<string>[] = [
    { weight: 4, arbitrary: badTokenCase(fx).map((c) => c.token) },
    { weight: 1, arbitrary: fc.tuple(segment3(fx), segment3(fx), segment3(fx)).map((p) => p.join('.')) },
    { weight: 1, arbitrary: headerText(60) },
    { weight: 1, arbitrary: fc.constantFrom('', '.', '..', '...', 'null', 'undefined', 'a.b.c', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.') },
    { weight: 1, arbitrary: long(1000, 12_000) },
  ];
  if (valid) arbs.push({ weight: 4, arbitrary: fc.constantFrom(...fx.realAccess, FRESH.user, FRESH.admin, FRESH.user, FRESH.admin) });
  return fc.oneof(...arbs);
}

/** Refresh tokens: `<22 b64>.<43 b64>` shaped or not, real ones mutated, and (when asked) real ones. */
export function refreshText(fx: Fixture, opts: ReqOptions): fc.Arbitrary<string> {
  const arbs: fc.WeightedArbitrary<string>[] = [
    {
      weight: 3,
      arbitrary: fc.record({ base: fc.constantFrom(...fx.realRefresh), pos: fc.nat(), ch: b64Char }).map(({ base, pos, ch }) => {
        const i = pos % base.length;
        const c = base[i] === ch ? (ch === 'A' ? 'B' : 'A') : ch;
        return base[i] === '.' ? base.replace('.', c) : base.slice(0, i) + c + base.slice(i + 1);
      }),
    },
    { weight: 2, arbitrary: fc.tuple(b64Text(22, 22), b64Text(43, 43)).map(([a, b]) => `${a}.${b}`) },
    { weight: 1, arbitrary: fc.constantFrom(...fx.realRefresh).map((r) => `${r.split('.')[0]}.${'A'.repeat(43)}`) },
    { weight: 1, arbitrary: fc.constantFrom(...fx.realRefresh).map((r) => `${r} `) },
    { weight: 1, arbitrary: headerText(80) },
    { weight: 1, arbitrary: long(257, 5000) },
  ];
  if (opts.realRefresh) arbs.push({ weight: 2, arbitrary: fc.constantFrom(...fx.realRefresh) });
  return fc.oneof(...arbs);
}

// ---------------------------------------------------------------- headers

export function authorization(fx: Fixture, token: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: token.map((t) => `Bearer ${t}`) },
    { weight: 2, arbitrary: token.map((t) => `JWT ${t}`) },
    { weight: 1, arbitrary: token.map((t) => `bearer\t ${t}  `) },
    { weight: 2, arbitrary: token },
    { weight: 1, arbitrary: fc.tuple(headerText(10), token).map(([scheme, t]) => `${scheme} ${t}`) },
    { weight: 1, arbitrary: fc.tuple(token, token).map(([a, b]) => `Bearer ${a} ${b}`) },
    {
      weight: 1,
      arbitrary: fc.tuple(credential, credential).map(([u, p]) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`),
    },
    {
      weight: 2,
      arbitrary: fc.constantFrom('', ' ', '\t', 'Bearer', 'Bearer ', 'JWT', 'JWT ', 'Basic', 'Basic a3lsZTpwMQ==', 'Digest username="kyle"', 'Negotiate YII=', 'Bearer null', 'Bearer ...', 'Bearer a.b', `Bearer ${fx.csrf}`),
    },
    { weight: 1, arbitrary: fc.integer({ min: 1000, max: 20_000 }).map((n) => `Bearer ${'A'.repeat(n)}`) },
    { weight: 1, arbitrary: headerText(60) },
  );
}

const COOKIE_JUNK = ['jwt=', 'jwt', '=', '==', ';', 'jwt=%zz', 'jwt=%', 'jwt="a.b.c"', 'bastion_refresh=%E0%A4%A', 'bastion_refresh=', 'csrf_token=', '__proto__=1', 'constructor=x', '$Version=1', 'jwt=a; jwt=b'];

export function cookieHeader(fx: Fixture, opts: ReqOptions, token: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const part = fc.oneof(
    { weight: 4, arbitrary: token.map((t) => `jwt=${t}`) },
    { weight: 2, arbitrary: refreshText(fx, opts).map((r) => `bastion_refresh=${r}`) },
    { weight: 2, arbitrary: fc.constantFrom(fx.csrf, FUZZ_CSRF, '').map((c) => `csrf_token=${c}`) },
    { weight: 2, arbitrary: fc.constantFrom(...COOKIE_JUNK) },
    { weight: 1, arbitrary: fc.tuple(fc.string({ unit: b64Char, maxLength: 10 }), headerText(20)).map(([n, v]) => `${n}=${v}`) },
    { weight: 1, arbitrary: headerText(40) },
  );
  return fc.array(part, { minLength: 1, maxLength: 5 }).map((parts) => parts.join('; '));
}

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=UTF-16',
  'application/json;charset=latin1',
  'application/json; charset="utf-8"; foo=bar',
  'APPLICATION/JSON',
  'application/json ',
  'application/jsonx',
  'application/json-patch+json',
  'application/vnd.api+json',
  'text/json',
  'text/plain',
  'text/plain; charset=utf-8',
  'text/html',
  'multipart/form-data; boundary=----x',
  'multipart/form-data',
  'application/x-www-form-urlencoded',
  'application/octet-stream',
  '*/*',
  '',
  ';',
  'application/',
];

const EXTRA_HEADERS = fc.record(
  {
    accept: fc.constantFrom('*/*', 'application/xml', 'text/html', 'application/json;q=0', '', 'x/y;;;'),
    range: fc.constantFrom('bytes=0-10', 'bytes=999999-', 'bytes=5-1', 'bytes=-', 'bytes=0-1,2-3,4-5', 'items=0-1'),
    'if-none-match': fc.constantFrom('*', '"x"', 'W/"y"', ''),
    'if-modified-since': fc.constantFrom('Thu, 01 Jan 2099 00:00:00 GMT', 'garbage', ''),
    'accept-version': fc.constantFrom('1.0.0', '*', 'x', ''),
    'accept-encoding': fc.constantFrom('gzip', 'br', 'identity;q=0', '*;q=0', 'x'),
    'content-encoding': fc.constantFrom('gzip', 'deflate', 'br', 'x'),
    'x-forwarded-for': fc.constantFrom('1.2.3.4', '::1', 'garbage', '1.2.3.4, 5.6.7.8', ''),
    'x-forwarded-proto': fc.constantFrom('https', 'http', 'gopher', ''),
    'x-forwarded-host': fc.constantFrom('evil.example', '', 'a:b:c'),
    host: fc.constantFrom('evil.example', 'localhost:80', '[::1]', '', 'a b', 'localhost:99999'),
    'access-control-request-method': fc.constantFrom(...METHODS, 'BREW', ''),
    'access-control-request-headers': fc.constantFrom('authorization, x-csrf-token', 'x-evil', '', 'content-type'),
    'user-agent': fc.oneof(headerText(40), long(600, 3000)),
    'content-length': fc.constantFrom('0', '1', '-1', 'abc', '99999999999', '1e3', ' 5', '65537'),
    'x-http-method-override': fc.constantFrom(...METHODS),
    referer: headerText(40),
    'x-requested-with': fc.constant('XMLHttpRequest'),
  },
  { requiredKeys: [] },
);

export function headers(fx: Fixture, opts: ReqOptions & { valid: boolean }): fc.Arbitrary<Record<string, string>> {
  const token = tokenText(fx, opts.valid);
  return fc
    .record({
      authorization: rare(authorization(fx, token), 2),
      cookie: rare(cookieHeader(fx, opts, token), 4),
      'content-type': fc.oneof(
        { weight: 6, arbitrary: fc.constant('application/json') },
        { weight: 3, arbitrary: fc.oneof(fc.constantFrom(...CONTENT_TYPES), headerText(30)) },
        { weight: 2, arbitrary: fc.constant(undefined) },
      ),
      'x-csrf-token': rare(fc.oneof(fc.constantFrom(fx.csrf, FUZZ_CSRF, '', `${FUZZ_CSRF}, ${FUZZ_CSRF}`, FUZZ_CSRF.toUpperCase()), headerText(40), long(1000, 5000)), 4),
      origin: rare(fc.oneof(fc.constantFrom('null', 'http://localhost', 'http://localhost:80', 'https://evil.example', '', 'file://', 'http://127.0.0.1:8085'), headerText(30)), 5),
      extra: rare(EXTRA_HEADERS, 5),
    })
    .map(({ extra, ...main }) => {
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries({ ...main, ...(extra ?? {}) })) if (v !== undefined) out[k] = v;
      return out;
    });
}

// ---------------------------------------------------------------- bodies

const resolve = (fx: Fixture, schema: JsonSchema | undefined): JsonSchema | undefined => {
  if (!schema?.$ref) return schema;
  return fx.schemas[schema.$ref.split('/').pop()!] ?? schema;
};

/** A value for one body field: chosen by its name first (credentials, tokens, roles), then by its schema; sometimes the wrong type. */
function fieldValue(fx: Fixture, opts: ReqOptions, name: string, schema: JsonSchema | undefined, depth: number, clean: boolean): fc.Arbitrary<unknown> {
  const s = resolve(fx, schema);
  let right: fc.Arbitrary<unknown>;
  if (/refresh/i.test(name)) right = refreshText(fx, opts);
  else if (/token/i.test(name)) right = tokenText(fx, true);
  else if (/password|secret|user|email|login|ident/i.test(name)) right = credential;
  else if (/role/i.test(name)) right = fc.oneof(fc.constantFrom('admin', 'editor', 'Admin', 'a', 'a'.repeat(33), 'role with space', ''), anyString);
  else if (/code|otp|totp/i.test(name)) right = fc.oneof(fc.stringMatching(/^\d{6}$/), anyString);
  else if (/dob|date/i.test(name)) right = fc.oneof(fc.constantFrom('1990-04-12', '2023-02-29', '2999-01-01', '0000-00-00', '1990-4-12', '12/04/1990'), anyString);
  else right = bySchema(fx, opts, s, depth, clean);
  if (clean) return right.map((v) => fit(v, s));
  return fc.oneof({ weight: 5, arbitrary: right }, { weight: 1, arbitrary: wrongType });
}

/** Trims or pads a string into the schema's length bounds (a "clean" value passes validation more often). */
function fit(v: unknown, s: JsonSchema | undefined): unknown {
  if (typeof v !== 'string' || !s) return v;
  let out = s.maxLength !== undefined && v.length > s.maxLength ? v.slice(0, s.maxLength) : v;
  const length = [...out].length;
  if (s.minLength !== undefined && length < s.minLength) out += 'a'.repeat(s.minLength - length);
  return out;
}

function bySchema(fx: Fixture, opts: ReqOptions, s: JsonSchema | undefined, depth: number, clean: boolean): fc.Arbitrary<unknown> {
  if (!s) return fc.jsonValue({ maxDepth: 2 });
  const variants = s.anyOf ?? s.oneOf;
  if (variants && variants.length > 0) return fc.oneof(...variants.map((v) => bySchema(fx, opts, resolve(fx, v), depth, clean)));
  if (s.enum) return fc.constantFrom(...s.enum);
  if (s.const !== undefined) return fc.constant(s.const);
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  switch (type) {
    case 'string': {
      const min = s.minLength ?? 0;
      const max = Math.min(s.maxLength ?? 300, 12_000);
      const boundary = fc.constantFrom(Math.max(0, min - 1), min, max, max + 1).map((n) => 'a'.repeat(n));
      const formatted = s.format === 'email' ? fc.emailAddress() : s.format === 'date' ? fc.constantFrom('1990-04-12', '2023-02-30', '9999-99-99') : anyString;
      return clean ? fc.oneof(anyString, formatted) : fc.oneof(anyString, boundary, formatted);
    }
    case 'integer':
    case 'number':
      return fc.oneof(fc.integer(), fc.double(), fc.constantFrom(0, -0, 1e308, -1e308));
    case 'boolean':
      return fc.boolean();
    case 'array':
      return fc.array(bySchema(fx, opts, resolve(fx, s.items), depth + 1, clean), { maxLength: 4 });
    case 'object':
      return depth > 2 ? fc.constant({}) : objectFor(fx, opts, s, depth + 1, clean);
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

/** The demo accounts' real credentials (and the field that carries the identifier). */
const DEMO_LOGINS = [
  ['username', 'kyle', 'p1'],
  ['username', 'sherpa', 'everest'],
  ['email', 'admin@example.com', 'password'],
  ['username', 'toby', 'toby-demo-pass'],
  ['email', 'niko@example.com', 'niko-demo-pass'],
] as const;

function objectFor(fx: Fixture, opts: ReqOptions, s: JsonSchema, depth: number, clean: boolean): fc.Arbitrary<Record<string, unknown>> {
  const props = s.properties ?? {};
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [name, sub] of Object.entries(props)) model[name] = fieldValue(fx, opts, name, sub, depth, clean);
  const extraKey = fc.constantFrom('extra', 'admin', 'roles', 'is_admin', 'id', 'password_hash', 'disabled', 'toString');
  const required = clean ? (s.required ?? []).filter((k) => k in model) : [];
  const loginLike = 'password' in props && ('username' in props || 'email' in props);
  return fc
    .tuple(
      fc.record(model, { requiredKeys: required }),
      clean ? fc.constant(undefined) : rare(fc.tuple(extraKey, wrongType), 4),
      loginLike ? rare(fc.constantFrom(...DEMO_LOGINS), clean ? 3 : 8) : fc.constant(undefined),
    )
    .map(([obj, extra, demo]) => {
      const out: Record<string, unknown> = extra ? { ...obj, [extra[0]]: extra[1] } : { ...obj };
      if (demo && demo[0] in props) {
        delete out['username'];
        delete out['email'];
        out[demo[0]] = demo[1];
        out['password'] = demo[2];
      }
      return out;
    });
}

/** A JSON body shaped by the route's own schema: often right, sometimes one field off. */
export function schemaBody(fx: Fixture, route: Route, opts: ReqOptions, clean: boolean): fc.Arbitrary<string | undefined> {
  const s = resolve(fx, route.bodySchema);
  if (!s) return fc.constant(undefined);
  return bySchema(fx, opts, s, 0, clean).map((v) => JSON.stringify(v));
}

/** Bodies that look like one of Bastion's request bodies. */
function almostRight(fx: Fixture, opts: ReqOptions): fc.Arbitrary<string> {
  const v = (a: fc.Arbitrary<unknown>) => fc.oneof({ weight: 5, arbitrary: a }, { weight: 1, arbitrary: wrongType });
  return fc
    .oneof(
      fc.record({ username: v(credential), password: v(credential) }, { requiredKeys: [] }),
      fc.record({ email: v(credential), password: v(credential) }, { requiredKeys: [] }),
      fc.record({ username: v(credential), password: v(credential), email: v(credential), name: v(anyString), dob: v(anyString) }, { requiredKeys: [] }),
      fc.record({ refresh_token: v(refreshText(fx, opts)) }, { requiredKeys: [] }),
      fc.record({ token: v(tokenText(fx, true)) }, { requiredKeys: [] }),
      fc.record({ current_password: v(credential), new_password: v(credential) }, { requiredKeys: [] }),
      fc.record({ role: v(anyString) }, { requiredKeys: [] }),
    )
    .map((o) => JSON.stringify(o));
}

const DEEP_INNER = ['1', '"x"', 'null', '{}', '[]', '{"__proto__":{"admin":true}}'];

const deep: fc.Arbitrary<string> = fc
  .record({ depth: fc.integer({ min: 1, max: 10_000 }), kind: fc.constantFrom('array', 'object', 'mixed'), inner: fc.constantFrom(...DEEP_INNER) })
  .map(({ depth, kind, inner }) => {
    if (kind === 'array') return '['.repeat(depth) + inner + ']'.repeat(depth);
    if (kind === 'object') return '{"a":'.repeat(depth) + inner + '}'.repeat(depth);
    return '{"username":'.repeat(1) + '[{"a":'.repeat(depth) + inner + '}]'.repeat(depth) + ',"password":"x"}';
  });

const PROTO_BODIES = [
  '{"__proto__":{"roles":["admin"]},"username":"kyle","password":"x"}',
  '{"username":"kyle","password":"x","__proto__":{"isAdmin":true}}',
  '{"constructor":{"prototype":{"admin":true}},"username":"kyle","password":"x"}',
  '{"a":{"__proto__":{"x":1}}}',
  '{"a":[{"constructor":{"prototype":{"x":1}}}]}',
  '{"__proto__":null}',
  '{"\\u005f\\u005fproto\\u005f\\u005f":{"admin":true}}',
  '{"__proto__":{"__proto__":{}}}',
  '{"refresh_token":"x","__proto__":{"refresh_token":"y"}}',
  '{"toString":"x","valueOf":1,"hasOwnProperty":"y"}',
];

const NUMBER_BODIES = [
  '{"username":1e308,"password":-0}',
  '{"username":"kyle","password":1e999}',
  '{"username":"kyle","password":-0}',
  '[1e308]',
  '-0',
  '1e-400',
  '123456789012345678901234567890',
  '{"refresh_token":1e308}',
  '{"token":-0}',
  '{"role":0.1e1}',
  '{"username":"kyle","password":"p1","password":"x"}',
  '{"username":"kyle","username":"admin","password":"password"}',
  '{"username":"kyle","password":"x","email":null}',
  '{"username":NaN}',
  '{"username":Infinity}',
  '{"a":0x10}',
];

const MALFORMED = [
  '{',
  '}',
  '{"a":',
  '{"a":1,}',
  "{'username':'kyle'}",
  '{username:"kyle"}',
  '\ufeff{"username":"kyle","password":"x"}',
  '{"username":"kyle","password":"x"}garbage',
  '{"username":"kyle"}{"password":"x"}',
  '"unterminated',
  '"\\x41"',
  '"\\u12"',
  '[1,2',
  '\u0000',
  '{"a":"\u0000"}',
  '{"a":"\\ud800"}',
  'null',
  'true',
  '"string"',
  '[]',
  '   ',
  '\n',
  'username=kyle&password=p1',
  '------x\r\nContent-Disposition: form-data; name="username"\r\n\r\nkyle\r\n------x--\r\n',
  '<?xml version="1.0"?><username>kyle</username>',
];

const truncated: fc.Arbitrary<string> = fc.tuple(fc.jsonValue({ maxDepth: 3 }), fc.nat()).map(([v, n]) => {
  const s = JSON.stringify(v);
  return s.slice(0, n % (s.length + 1));
});

const stringy: fc.Arbitrary<string> = fc
  .tuple(fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.constantFrom(...ODD_STRINGS), long(1000, 12_000)), fc.boolean())
  .map(([s, wrap]) => (wrap ? JSON.stringify({ username: s, password: s, token: s, refresh_token: s }) : JSON.stringify(s)));

const huge: fc.Arbitrary<string> = fc.integer({ min: 60_000, max: 90_000 }).map((n) => JSON.stringify({ username: 'kyle', password: 'x'.repeat(n) }));

/** Any body: JSON values, route-shaped objects, deep nesting, prototype keys, odd numbers, malformed text, huge. */
export function body(fx: Fixture, opts: ReqOptions): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' }).map((v) => JSON.stringify(v)) },
    { weight: 4, arbitrary: almostRight(fx, opts) },
    { weight: 1, arbitrary: deep },
    { weight: 1, arbitrary: fc.constantFrom(...PROTO_BODIES) },
    { weight: 1, arbitrary: fc.constantFrom(...NUMBER_BODIES) },
    { weight: 1, arbitrary: fc.constantFrom(...MALFORMED) },
    { weight: 1, arbitrary: truncated },
    { weight: 1, arbitrary: stringy },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
    { weight: 1, arbitrary: huge },
  );
}

// ---------------------------------------------------------------- paths

export const BROKEN_ENCODINGS = ['%', '%%', '%zz', '%c0%af', '%e0%80%af', '%ed%a0%80', '%ff', '%00', '%2e%2e', '%2e', '%2f', '%5c', '..', '.', '%u002e', '%E2%82', '%2', 'a%', '%%32%65', '%25', '%0d%0a', '%09'];

/** Characters of a path segment (a few of them odd; `?` and `#` come from the query generator). */
const urlChar = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~'.split('')) },
  { weight: 2, arbitrary: fc.constantFrom(...'!$&\'()*+,;=:@%'.split('')) },
  { weight: 1, arbitrary: fc.constantFrom(...' "<>\\^`{|}'.split('')) },
);

function vocabulary(fx: Fixture): string[] {
  const words = new Set<string>(['docs', 'static', 'json', 'yaml', 'index.html', 'swagger-ui.css', 'favicon.ico', 'package.json', '.env', 'data', 'bastion.db', 'api', 'v1', 'users', 'admin']);
  for (const r of fx.routes) for (const w of r.template.split('/')) if (w && !w.startsWith('{')) words.add(w);
  return [...words];
}

export function pathSegment(fx: Fixture): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom(...vocabulary(fx)) },
    { weight: 2, arbitrary: fc.string({ unit: urlChar, maxLength: 20 }) },
    { weight: 1, arbitrary: fc.constantFrom(...BROKEN_ENCODINGS) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 10 }).map(encodeURIComponent) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 10 }) },
    { weight: 1, arbitrary: long(200, 10_000).map((s) => (s.includes('\u0000') ? encodeURIComponent(s) : s)) },
  );
}

function paramValue(fx: Fixture): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...fx.userIds, ...fx.sessionIds, 'admin', 'editor', 'everest', 'x') },
    { weight: 2, arbitrary: fc.uuid() },
    { weight: 2, arbitrary: fc.string({ maxLength: 30 }).map(encodeURIComponent) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 10 }).map(encodeURIComponent) },
    { weight: 1, arbitrary: fc.constantFrom(...BROKEN_ENCODINGS, '') },
    { weight: 1, arbitrary: long(60, 10_000).map((s) => (s.includes('\u0000') ? encodeURIComponent(s) : s)) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }) },
  );
}

const queryKey = fc.oneof(
  fc.constantFrom('a', 'token', 'access_token', 'jwt', 'username', 'password', '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'a[]', 'a[b]', '__proto__[admin]', 'a.b', '', '%zz', '%', '='),
  fc.string({ unit: urlChar, maxLength: 10 }),
);
const queryValue = fc.oneof(fc.string({ unit: urlChar, maxLength: 20 }), fc.constantFrom(...BROKEN_ENCODINGS), long(100, 5000));

export const query: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constant('') },
  {
    weight: 2,
    arbitrary: fc
      .array(fc.tuple(queryKey, fc.option(queryValue, { nil: undefined })), { minLength: 1, maxLength: 6 })
      .map((kvs) => '?' + kvs.map(([k, v]) => (v === undefined ? k : `${k}=${v}`)).join('&')),
  },
  { weight: 1, arbitrary: fc.constantFrom('?', '?&', '?&&&', '?=', '?==', '?a=1&a=2&a=3', '?a[b][c]=1', '?__proto__[admin]=1', '?constructor[prototype][admin]=1', '?%zz=%zz', '?a=1#frag', '?' + 'a=1&'.repeat(2000)) },
);

const DECORATIONS = ['none', 'none', 'none', 'none', 'trailing slash', 'double slash', 'upper case', 'encoded slash', 'semicolon', 'dot segment', 'backslash'] as const;

function decorate(path: string, how: (typeof DECORATIONS)[number]): string {
  switch (how) {
    case 'none':
      return path;
    case 'trailing slash':
      return `${path}/`;
    case 'double slash':
      return path.replace(/\/(?=[^/]*$)/, '//');
    case 'upper case':
      return path.toUpperCase();
    case 'encoded slash':
      return path.replace(/\/(?=[^/]*$)/, '%2F');
    case 'semicolon':
      return `${path};jsessionid=1`;
    case 'dot segment':
      return path.replace(/\/(?=[^/]*$)/, '/x/../');
    case 'backslash':
      return path.replace(/\/(?=[^/]*$)/, '\\');
  }
}

/** A route's own path with generated parameters, sometimes bent, plus a query. */
export function routeUrl(fx: Fixture, route: Route): fc.Arbitrary<string> {
  return fc
    .tuple(fc.array(paramValue(fx), { minLength: route.params.length, maxLength: route.params.length }), fc.constantFrom(...DECORATIONS), query)
    .map(([values, how, q]) => {
      let i = 0;
      const path = route.template.replace(/\{\w+\}/g, () => values[i++]!);
      return decorate(path, how) + q;
    });
}

/** A route's path with plausible parameters: real ids and names, or fresh UUIDs. */
function cleanUrl(fx: Fixture, route: Route): fc.Arbitrary<string> {
  const value = fc.oneof(fc.constantFrom(...fx.userIds, ...fx.sessionIds, 'everest', 'editor', 'admin'), fc.uuid());
  return fc.array(value, { minLength: route.params.length, maxLength: route.params.length }).map((values) => {
    let i = 0;
    return route.template.replace(/\{\w+\}/g, () => values[i++]!);
  });
}

export function wildUrl(fx: Fixture): fc.Arbitrary<string> {
  return fc.tuple(fc.array(pathSegment(fx), { maxLength: 8 }), query).map(([segs, q]) => `/${segs.join('/')}${q}`);
}

// ---------------------------------------------------------------- requests

const looseDecode = (s: string): string => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s.replace(/%[0-9a-fA-F]{2}/g, (m) => String.fromCharCode(parseInt(m.slice(1), 16)));
  }
};

/**
 * Bastion echoes some input on purpose (the not-found message names the path, /mountain/:name
 * answers with the name): inputs that would echo "stack-trace-like" text are left out, so a
 * leak found is a real one.
 */
export const echoSafe = (req: Req): boolean =>
  !LEAK.test(req.url) && !LEAK.test(looseDecode(req.url)) && !LEAK.test(req.payload ?? '') && !LEAK.test(looseDecode(req.payload ?? ''));

/**
 * Headers a well-behaved client sends: JSON, and a valid token (fresh for a fuzz account,
 * or a real one from setup) by header or by cookie with its CSRF token; sometimes none.
 */
function cleanHeaders(fx: Fixture): fc.Arbitrary<Record<string, string>> {
  return fc
    .oneof(
      { weight: 5, arbitrary: fc.constantFrom(`Bearer ${FRESH.user}`, `Bearer ${FRESH.admin}`, `JWT ${FRESH.admin}`, FRESH.user).map((a): Record<string, string> => ({ authorization: a })) },
      { weight: 1, arbitrary: fc.constantFrom(...fx.realAccess).map((t): Record<string, string> => ({ authorization: `Bearer ${t}` })) },
      { weight: 1, arbitrary: fc.constantFrom(FRESH.user, FRESH.admin).map((t): Record<string, string> => ({ cookie: `jwt=${t}`, 'x-csrf-token': FUZZ_CSRF })) },
      { weight: 1, arbitrary: fc.constant<Record<string, string>>({}) },
    )
    .map((auth) => ({ 'content-type': 'application/json', ...auth }));
}

/** What app.inject() can send at all (it parses the URL as WHATWG does; raw targets go over the socket instead). */
export const injectable = (url: string): boolean => {
  try {
    new URL(url.startsWith('//') ? `http://localhost${url}` : url, 'http://localhost');
    return true;
  } catch {
    return false;
  }
};

export function request(fx: Fixture, opts: ReqOptions & { valid: boolean }): fc.Arbitrary<Req> {
  const hdrs = headers(fx, opts);
  const clean = cleanHeaders(fx);
  const anyBody = body(fx, opts);
  // Half the routed requests are well-formed but for the generated values, so the fuzz
  // reaches handlers (and successes), not only the first check that refuses garbage.
  const routed = fc.constantFrom(...fx.routes).chain((route) =>
    fc.oneof(
      fc.record({
        method: fc.oneof({ weight: 4, arbitrary: fc.constant(route.method) }, { weight: 1, arbitrary: fc.constantFrom<Method>(...METHODS) }),
        url: routeUrl(fx, route),
        headers: hdrs,
        payload: fc.oneof(
          { weight: route.bodySchema ? 4 : 0, arbitrary: schemaBody(fx, route, opts, false) },
          { weight: 3, arbitrary: anyBody },
          { weight: 1, arbitrary: fc.constant(undefined) },
        ),
      }),
      fc.record({
        method: fc.constant(route.method),
        url: cleanUrl(fx, route),
        headers: opts.valid ? clean : hdrs,
        payload: route.bodySchema ? schemaBody(fx, route, opts, true) : fc.constant(undefined),
      }),
    ),
  );
  const wild = fc.record({
    method: fc.constantFrom<Method>(...METHODS),
    url: wildUrl(fx),
    headers: hdrs,
    payload: fc.oneof(fc.constant(undefined), anyBody),
  });
  return fc
    .oneof({ weight: 3, arbitrary: routed }, { weight: 1, arbitrary: wild })
    .map((r): Req => ({ method: r.method, url: r.url, headers: r.headers, ...(r.payload !== undefined ? { payload: r.payload } : {}) }))
    .filter((r) => injectable(r.url) && echoSafe(r));
}
