/** People: seed 001's table of everyone with an active account (needs a login). */
import type { View } from '../app.ts';
import type { Person } from '../types.ts';
import { h } from '../ui/dom.ts';
import { emptyState, loading, pageHeading } from '../ui/status.ts';

export const peopleView: View = async (app, { root, signal }) => {
  const body = h('div', null, loading('Loading people…'));
  root.append(pageHeading('People', 'Everyone with an active account. Only logged-in people may see this list.'), body);
  const people = await app.api.people(signal);
  body.replaceChildren(people.length === 0 ? emptyState('Nobody here yet.') : peopleTable(people));
};

function peopleTable(people: readonly Person[]): HTMLElement {
  const dash = (value: string | number | null) => (value === null ? '—' : String(value));
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'table' },
      h('caption', { class: 'visually-hidden' }, 'People'),
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          h('th', { attrs: { scope: 'col' } }, 'Name'),
          h('th', { attrs: { scope: 'col' } }, 'Email'),
          h('th', { class: 'numeric', attrs: { scope: 'col' } }, 'Age'),
        ),
      ),
      h(
        'tbody',
        null,
        ...people.map((p) =>
          h(
            'tr',
            null,
            h('td', { attrs: { 'data-label': 'Name' } }, p.name),
            h('td', { attrs: { 'data-label': 'Email' } }, dash(p.email)),
            h('td', { class: 'numeric', attrs: { 'data-label': 'Age' } }, dash(p.age)),
          ),
        ),
      ),
    ),
  );
}
