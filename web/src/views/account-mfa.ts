/**
 * Two-factor authentication, on the account page: turn it on (scan the QR code, type a
 * code, keep the recovery codes) or off (a code and a recent login).
 *
 * The state comes from GET /api/auth/me (`mfa_enabled`) and then from the answers
 * (enrolment confirmed, turned off, or the server's 409 mfa_already_enabled /
 * mfa_not_enabled, when another tab changed it), so only what applies is shown.
 */
import type { App } from '../app.ts';
import { ApiError } from '../http.ts';
import { proofFrom } from '../mfa.ts';
import type { MfaEnrollment, User } from '../types.ts';
import { h } from '../ui/dom.ts';
import { errorDetails, errorMessage } from '../ui/errors.ts';
import { button, codeField, field, form, formAlert, whileBusy, type Field } from '../ui/forms.ts';
import { withFreshLogin } from '../ui/fresh-login.ts';
import { qrCode } from '../ui/qr.ts';
import { card } from '../ui/status.ts';

export function mfaCard(app: App, user: User): HTMLElement {
  const alert = formAlert();
  const status = h('p', { class: 'mfa-status', attrs: { role: 'status', hidden: true } });
  const turnOn = button('Turn on', { kind: 'primary' });
  const enrolment = h('div', { class: 'mfa-enrolment', attrs: { hidden: true } });
  const recovery = h('div', { class: 'recovery', attrs: { hidden: true } });
  const reauth = h('div');
  /** the turn-off form's field */
  const code = codeField();

  /** Shows only what applies once the state is known. */
  const known = (on: boolean) => {
    status.textContent = on ? 'Two-factor authentication is on.' : 'Two-factor authentication is off.';
    status.hidden = false;
    turnOn.hidden = on;
    turnOff.hidden = !on;
    if (on) enrolment.hidden = true;
  };

  /** A wrong code belongs under the field; the server's 409s tell the state. */
  const failed = (err: unknown, code: Field) => {
    if (err instanceof ApiError && err.code === 'invalid_mfa_code') {
      code.setError(err.message);
      code.input.select();
      return;
    }
    if (err instanceof ApiError && (err.code === 'mfa_already_enabled' || err.code === 'mfa_not_enabled')) {
      known(err.code === 'mfa_already_enabled');
      alert.show('info', err.message);
      return;
    }
    alert.show('error', errorMessage(err), errorDetails(err));
  };

  turnOn.addEventListener('click', () => {
    alert.clear();
    recovery.hidden = true;
    void whileBusy(turnOn, 'Starting…', () => app.api.mfaEnroll()).then(
      (enrollment) => {
        known(false); // (the server refuses to enrol while it is on)
        turnOn.hidden = true; // a second click would only replace the secret just shown
        enrolment.replaceChildren(...enrolmentSteps(app, enrollment, confirmed, failed));
        enrolment.hidden = false;
        enrolment.querySelector('input')?.focus();
      },
      (err: unknown) => failed(err, code),
    );
  });

  /** Enrolment confirmed: 2FA is on, and the recovery codes are shown this once. */
  const confirmed = (codes: readonly string[]) => {
    known(true);
    recovery.replaceChildren(
      h('h3', { class: 'card-subtitle' }, 'Recovery codes'),
      h(
        'p',
        null,
        'Store these codes somewhere safe, such as a password manager: they are shown only now. ' +
          'Each one works once, in place of a code from the app, if you lose your phone.',
      ),
      h('ol', { class: 'recovery-codes', attrs: { 'aria-label': 'Recovery codes' } }, ...codes.map((c) => h('li', null, h('code', null, c)))),
    );
    recovery.hidden = false;
  };

  const submitOff = button('Turn off', { kind: 'danger', type: 'submit' });
  const disable = async () => {
    alert.clear();
    code.setError(null);
    try {
      // read at each try: after logging in again the same code is sent
      await withFreshLogin(app, reauth, user.username, () => whileBusy(submitOff, 'Turning off…', () => app.api.mfaDisable(proofFrom(code.input.value))));
    } catch (err) {
      failed(err, code);
      return;
    }
    code.input.value = '';
    known(false);
    alert.show('success', 'Two-factor authentication is off.');
  };
  const turnOff = form('Turn off two-factor authentication', () => void disable(), code.root, h('div', { class: 'form-actions' }, submitOff));

  known(user.mfa_enabled);
  return card(
    'Two-factor authentication',
    h('p', { class: 'muted' }, 'After your password, a code from an authenticator app on your phone.'),
    status,
    alert.element,
    h('div', { class: 'form-actions' }, turnOn),
    enrolment,
    recovery,
    turnOff,
    reauth,
  );
}

/** Scan (or type) the secret, then prove it with a first code. */
function enrolmentSteps(
  app: App,
  enrollment: MfaEnrollment,
  confirmed: (codes: readonly string[]) => void,
  failed: (err: unknown, code: Field) => void,
): Node[] {
  const code = field({ label: 'Code from your authenticator app', name: 'otp', autocomplete: 'one-time-code', required: true, hint: '6 digits.' });
  const submit = button('Confirm', { kind: 'primary', type: 'submit' });
  const confirm = async () => {
    code.setError(null);
    try {
      const { recovery_codes } = await whileBusy(submit, 'Confirming…', () => app.api.mfaConfirm(code.input.value.replace(/\s+/g, '')));
      confirmed(recovery_codes);
    } catch (err) {
      failed(err, code);
    }
  };
  const qr = qrCode(enrollment.qr_svg, 'QR code for your authenticator app');
  return [
    h('p', null, 'Scan this QR code with your authenticator app, or type the secret into it. Then enter the code it shows.'),
    qr ? h('div', { class: 'qr-frame' }, qr) : null,
    h('dl', { class: 'dl dl-compact' }, h('div', { class: 'dl-row' }, h('dt', null, 'Secret'), h('dd', null, h('code', { class: 'secret' }, enrollment.secret)))),
    form('Confirm two-factor authentication', () => void confirm(), code.root, h('div', { class: 'form-actions' }, submit)),
  ].filter((n) => n !== null);
}
