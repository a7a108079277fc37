import { AppError } from '../errors/app-error.ts';
import type { UserService } from './service.ts';

/** The accounts the seed tutorials log in with, plus a few people for the persons table. */
const DEMO_USERS = [
  { username: 'kyle', password: 'p1', email: 'kyle@example.com', name: 'Kyle', dob: '1990-04-12' },
  { username: 'sherpa', password: 'everest', email: 'sherpa@example.com', name: 'Tenzing Sherpa', dob: '1986-05-29' },
  { username: 'admin', password: 'password', email: 'admin@example.com', name: 'Admin', dob: '1980-01-01', roles: ['admin'] },
  { username: 'toby', password: 'toby-demo-pass', email: 'toby@example.com', name: 'Thomas Edison', dob: '1847-02-11' },
  { username: 'niko', password: 'niko-demo-pass', email: 'niko@example.com', name: 'Nikola Tesla', dob: '1856-07-10' },
  { username: 'ada', password: 'ada-demo-pass', email: 'ada@example.com', name: 'Ada Lovelace', dob: '1815-12-10' },
] as const;

/**
 * Creates the demo accounts that do not exist yet; returns the usernames created.
 * Several instances may start at once on one database: the one whose insert loses the
 * race on the unique username or email finds the account made, which is what it wanted.
 */
export async function seedDemo(users: UserService): Promise<string[]> {
  const created: string[] = [];
  for (const demo of DEMO_USERS) {
    if (await users.find(demo.username)) continue;
    try {
      await users.create({ ...demo, roles: 'roles' in demo ? demo.roles : [] }, { enforcePolicy: false });
      created.push(demo.username);
    } catch (err) {
      if (!(err instanceof AppError && (err.code === 'username_taken' || err.code === 'email_taken'))) throw err;
    }
  }
  return created;
}
