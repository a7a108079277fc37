/** Every page of the app, by hash path. */
import type { Route } from './router.ts';
import { accountView } from './views/account.ts';
import { adminView } from './views/admin.ts';
import { confirmEmailView } from './views/confirm-email.ts';
import { forgotPasswordView } from './views/forgot-password.ts';
import { homeView } from './views/home.ts';
import { inspectorView } from './views/inspector.ts';
import { loginView } from './views/login.ts';
import { notFoundView } from './views/not-found.ts';
import { peopleView } from './views/people.ts';
import { resetPasswordView } from './views/reset-password.ts';
import { signupView } from './views/signup.ts';

export const ROUTES: readonly Route[] = [
  { path: '/', title: 'Home', view: homeView },
  { path: '/people', title: 'People', view: peopleView, private: true },
  { path: '/admin', title: 'Admin', view: adminView, private: true },
  { path: '/account', title: 'Account', view: accountView, private: true },
  { path: '/inspector', title: 'Token inspector', view: inspectorView },
  { path: '/login', title: 'Log in', view: loginView },
  { path: '/signup', title: 'Sign up', view: signupView },
  // the pages mailed links open
  { path: '/forgot-password', title: 'Forgot password', view: forgotPasswordView },
  { path: '/reset-password', title: 'Set a new password', view: resetPasswordView },
  { path: '/confirm-email', title: 'Confirm email', view: confirmEmailView },
];

export const NOT_FOUND: Route = { path: '/404', title: 'Not found', view: notFoundView };
