/**
 * Token inspector: paste a JWT, read its header and claims and watch its expiry count
 * down, all in this browser. The token leaves the page only on "Verify with server".
 */
import type { View } from '../app.ts';
import { decodeJwt, numericDate, type DecodedJwt } from '../jwt.ts';
import { h, uid } from '../ui/dom.ts';
import { errorMessage } from '../ui/errors.ts';
import { button, formAlert, whileBusy } from '../ui/forms.ts';
import { formatAgo, formatClock, formatDateTime } from '../ui/format.ts';
import { card, pageHeading } from '../ui/status.ts';

export const inspectorView: View = (app, { root, signal }) => {
  const inputId = uid('token');
  const input = h('textarea', {
    class: 'input textarea code-input',
    attrs: {
      id: inputId,
      rows: 5,
      spellcheck: 'false',
      autocomplete: 'off',
      placeholder: 'eyJhbGciOi…',
      'aria-describedby': `${inputId}-hint`,
    },
  });
  const problem = formAlert();
  const expiry = h('p', { class: 'expiry', attrs: { role: 'timer', 'aria-label': 'Expiry' } });
  const headerOut = h('pre', { class: 'code', attrs: { tabindex: 0, 'aria-label': 'Decoded header' } });
  const claimsOut = h('pre', { class: 'code', attrs: { tabindex: 0, 'aria-label': 'Decoded claims' } });
  const times = h('dl', { class: 'dl dl-compact' });
  const verifyButton = button('Verify with server', { kind: 'primary' });
  const verdict = h('div', { class: 'verdict', attrs: { 'aria-live': 'polite' } });
  const results = h(
    'div',
    { class: 'inspector-results', attrs: { hidden: true } },
    expiry,
    times,
    h(
      'div',
      { class: 'grid-2' },
      h('section', null, h('h2', { class: 'card-title' }, 'Header'), headerOut),
      h('section', null, h('h2', { class: 'card-title' }, 'Claims'), claimsOut),
    ),
    h('div', { class: 'button-row' }, verifyButton),
    verdict,
  );

  let decoded: DecodedJwt | null = null;

  const tick = () => {
    if (decoded === null) return;
    const exp = numericDate(decoded.claims, 'exp');
    if (exp === null) {
      expiry.className = 'expiry expiry-none';
      expiry.textContent = 'No expiry: the token has no exp claim';
      return;
    }
    const left = exp - Date.now() / 1000;
    expiry.className = `expiry ${left > 0 ? 'expiry-live' : 'expiry-over'}`;
    expiry.textContent = left > 0 ? `expires in ${formatClock(left)}` : `expired ${formatAgo(-left)} ago`;
  };

  const decode = () => {
    verdict.replaceChildren();
    problem.clear();
    const text = input.value.trim();
    decoded = null;
    results.hidden = true;
    if (text === '') return;
    try {
      decoded = decodeJwt(text);
    } catch (err) {
      problem.show('error', err instanceof Error ? err.message : 'This is not a JWT.');
      return;
    }
    headerOut.textContent = JSON.stringify(decoded.header, null, 2);
    claimsOut.textContent = JSON.stringify(decoded.claims, null, 2);
    times.replaceChildren(...timeRows(decoded.claims));
    results.hidden = false;
    tick();
  };

  const verify = async () => {
    verdict.replaceChildren();
    const token = input.value
      .trim()
      .replace(/^(Bearer|JWT)\s+/i, '')
      .replace(/\s+/g, '');
    try {
      const result = await whileBusy(verifyButton, 'Verifying…', () => app.api.verify(token));
      verdict.replaceChildren(
        result.valid
          ? h(
              'p',
              { class: 'alert alert-success' },
              h('strong', null, 'Valid. '),
              'This server accepts the token: signature, issuer, audience, expiry and revocation check out.',
            )
          : h('p', { class: 'alert alert-error' }, h('strong', null, 'Invalid. '), h('code', null, result.code), ` ${result.message}`),
      );
    } catch (err) {
      verdict.replaceChildren(h('p', { class: 'alert alert-error' }, errorMessage(err)));
    }
  };

  input.addEventListener('input', decode);
  verifyButton.addEventListener('click', () => void verify());
  const timer = setInterval(tick, 1000);
  signal.addEventListener('abort', () => clearInterval(timer), { once: true });

  root.append(
    pageHeading(
      'Token inspector',
      'Read a JWT’s header and claims. Decoding happens in this browser: the token is sent nowhere until you ask the server to verify it.',
    ),
    card(
      null,
      h(
        'div',
        { class: 'field' },
        h('label', { attrs: { for: inputId } }, 'JWT'),
        input,
        h('p', { class: 'field-hint', attrs: { id: `${inputId}-hint` } }, 'Paste a token (a leading “Bearer ” is fine).'),
      ),
      problem.element,
      results,
    ),
  );
};

/** The time claims, as dates a person reads. */
function timeRows(claims: Record<string, unknown>): HTMLElement[] {
  const rows: [string, string][] = [
    ['iat', 'Issued'],
    ['nbf', 'Not before'],
    ['exp', 'Expires'],
  ];
  return rows.flatMap(([claim, label]) => {
    const seconds = numericDate(claims, claim);
    if (seconds === null) return [];
    return [
      h(
        'div',
        { class: 'dl-row' },
        h('dt', null, `${label} (${claim})`),
        h('dd', null, formatDateTime(new Date(seconds * 1000).toISOString())),
      ),
    ];
  });
}
