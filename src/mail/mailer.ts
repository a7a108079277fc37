/**
 * Outgoing mail. With SMTP_URL, nodemailer delivers it; without, each mail becomes a JSON
 * file in OUTBOX_DIR (development, tests, air-gapped installs). Either way one log line
 * says where it went and to whom — never the body: the bodies carry live reset and
 * confirmation links (OWASP Logging Cheat Sheet, "Data to exclude").
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type nodemailer from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import type { Config } from '../config/load.ts';
import { ConfigError } from '../config/errors.ts';
import type { Clock } from '../lib/clock.ts';
import { randomToken } from '../lib/random.ts';

export interface OutgoingMail {
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

/** The slice of a pino logger the mailer needs; Fastify's `request.log` fits. */
export interface MailLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface Mailer {
  /** Resolves once the mail is accepted by the SMTP server or written to the outbox. */
  send(mail: OutgoingMail, log: MailLog): Promise<void>;
  close(): void;
}

export type MailSettings = Config['mail'];

export function createMailer(settings: MailSettings, clock: Clock): Mailer {
  return settings.smtpUrl ? new SmtpMailer(settings.smtpUrl, settings.from) : new OutboxMailer(settings.outboxDir, settings.from, clock);
}

const isLoopback = (host: string): boolean => host === 'localhost' || host === '::1' || /^127\./.test(host);

/**
 * SMTP_URL -> nodemailer options. `?ignoreTLS=true` / `?requireTLS=true|false` override the
 * defaults: plain smtp:// to a loopback relay skips STARTTLS (nothing to sniff, and local
 * relays rarely have a certificate); to any other host STARTTLS is required, so a
 * downgrade cannot expose the SMTP password or the reset links in transit.
 */
export function smtpOptions(url: string): SMTPTransport.Options {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError('SMTP_URL', 'must be a valid smtp://… or smtps://… URL');
  }
  const secure = parsed.protocol === 'smtps:';
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  const flag = (name: string): boolean | undefined => {
    const v = parsed.searchParams.get(name);
    return v === null ? undefined : v === 'true' || v === '1';
  };
  const ignoreTLS = flag('ignoreTLS') ?? (!secure && isLoopback(host));
  return {
    host,
    ...(parsed.port ? { port: Number(parsed.port) } : {}),
    secure,
    ignoreTLS,
    requireTLS: flag('requireTLS') ?? (!secure && !ignoreTLS),
    ...(parsed.username
      ? { auth: { user: decodeURIComponent(parsed.username), pass: decodeURIComponent(parsed.password) } }
      : {}),
    // a dead relay must not hold a background send (or shutdown) for minutes
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  };
}

type SmtpTransport = nodemailer.Transporter<SMTPTransport.SentMessageInfo>;

/** nodemailer is loaded with the first mail, not at start-up; SMTP_URL is still checked at once. */
class SmtpMailer implements Mailer {
  private readonly options: SMTPTransport.Options;
  private transport: Promise<SmtpTransport> | null = null;

  constructor(
    url: string,
    private readonly from: string,
  ) {
    this.options = smtpOptions(url);
  }

  private open(): Promise<SmtpTransport> {
    this.transport ??= import('nodemailer').then(({ default: mailer }) => mailer.createTransport(this.options, { from: this.from }));
    return this.transport;
  }

  async send(mail: OutgoingMail, log: MailLog): Promise<void> {
    const transport = await this.open();
    const info = await transport.sendMail({ to: mail.to, subject: mail.subject, text: mail.text, html: mail.html });
    log.info({ to: mail.to, messageId: info.messageId }, 'mail sent');
  }

  close(): void {
    // a transport that never loaded has nothing to close
    void this.transport?.then((transport) => transport.close(), () => undefined);
  }
}

class OutboxMailer implements Mailer {
  private readonly dir: string;

  constructor(
    dir: string,
    private readonly from: string,
    private readonly clock: Clock,
  ) {
    this.dir = resolve(dir);
  }

  async send(mail: OutgoingMail, log: MailLog): Promise<void> {
    const date = new Date(this.clock.now()).toISOString();
    const file = join(this.dir, `${date.replace(/[:.]/g, '-')}-${randomToken(6)}.json`);
    // owner-only: the files hold live links
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const body = { date, from: this.from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html };
    // written aside, then renamed: a reader of the outbox never sees half a mail
    const partial = join(this.dir, `.${basename(file)}.partial`);
    await writeFile(partial, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    await rename(partial, file);
    log.info({ file, to: mail.to }, 'mail written to outbox');
  }

  close(): void {}
}
