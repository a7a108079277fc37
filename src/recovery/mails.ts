/** The mails account recovery sends: plain text first, the same words as simple HTML. */
import type { OutgoingMail } from '../mail/mailer.ts';

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** 1800 -> "30 minutes", 86400 -> "24 hours" */
export function humanDuration(sec: number): string {
  const unit = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (sec % 3600 === 0) return unit(sec / 3600, 'hour');
  if (sec % 60 === 0) return unit(sec / 60, 'minute');
  return unit(sec, 'second');
}

interface Paragraphs {
  readonly to: string;
  readonly subject: string;
  readonly greeting: string;
  readonly before: readonly string[];
  readonly link?: string;
  readonly after: readonly string[];
}

function compose(p: Paragraphs): OutgoingMail {
  const text = [p.greeting, ...p.before, ...(p.link ? [p.link] : []), ...p.after].join('\n\n');
  const para = (s: string) => `<p>${escapeHtml(s)}</p>`;
  const link = p.link ? `<p><a href="${escapeHtml(p.link)}">${escapeHtml(p.link)}</a></p>` : '';
  const html = `<!doctype html><html><body>${[p.greeting, ...p.before].map(para).join('')}${link}${p.after.map(para).join('')}</body></html>`;
  return { to: p.to, subject: p.subject, text: `${text}\n`, html };
}

export function resetMail(to: string, username: string, link: string, ttlSec: number): OutgoingMail {
  return compose({
    to,
    subject: 'Reset your Bastion password',
    greeting: `Hello ${username},`,
    before: [`Someone, hopefully you, asked to reset the password of your Bastion account. Open this link within ${humanDuration(ttlSec)} to choose a new one:`],
    link,
    after: ['If you did not ask for this, ignore this mail: your password stays as it is. The link works once.'],
  });
}

export function confirmMail(to: string, username: string, link: string, ttlSec: number): OutgoingMail {
  return compose({
    to,
    subject: 'Confirm your email for Bastion',
    greeting: `Hello ${username},`,
    before: [`Please confirm that this address belongs to your Bastion account by opening this link within ${humanDuration(ttlSec)}:`],
    link,
    after: ['If you did not ask for this, ignore this mail.'],
  });
}

/** After a reset: the owner learns of it even if someone else did it (OWASP Forgot Password Cheat Sheet). */
export function passwordResetNotice(to: string, username: string): OutgoingMail {
  return compose({
    to,
    subject: 'Your Bastion password was reset',
    greeting: `Hello ${username},`,
    before: ['The password of your Bastion account was just reset, and every session was logged out.'],
    after: ['If this was not you, reset your password again at once and tell your administrator.'],
  });
}

/** To the old address after an email change, so a hijacked change does not go unnoticed. */
export function emailChangedNotice(to: string, username: string, newEmail: string): OutgoingMail {
  return compose({
    to,
    subject: 'Your Bastion email address was changed',
    greeting: `Hello ${username},`,
    before: [`The email address of your Bastion account was changed to ${newEmail}. Mail for the account no longer comes here.`],
    after: ['If this was not you, tell your administrator at once.'],
  });
}
