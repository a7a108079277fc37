import type { View } from '../app.ts';
import { h } from '../ui/dom.ts';
import { pageHeading } from '../ui/status.ts';

export const notFoundView: View = (_app, { root }) => {
  root.append(
    pageHeading('Page not found', 'There is no page at this address.'),
    h('p', null, h('a', { attrs: { href: '#/' } }, 'Go to the home page')),
  );
};
