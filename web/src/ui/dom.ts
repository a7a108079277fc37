/**
 * The one way this app builds DOM: elements, attributes and text nodes. Strings only ever
 * become text (never markup), so data from the server cannot inject HTML or script.
 */

export type Child = Node | string | number | null | undefined | false;

type Attr = string | number | boolean | null | undefined;

export interface Props {
  /** space-separated class names */
  class?: string | undefined;
  /** attributes; `true` sets an empty attribute, `false`/null/undefined leave it out */
  attrs?: Record<string, Attr> | undefined;
  /** event listeners, e.g. `{ click: () => … }` */
  on?: { [K in keyof HTMLElementEventMap]?: (event: HTMLElementEventMap[K]) => void } | undefined;
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props?.class) el.className = props.class;
  for (const [name, value] of Object.entries(props?.attrs ?? {})) setAttr(el, name, value);
  for (const [type, listener] of Object.entries(props?.on ?? {})) {
    el.addEventListener(type, listener as EventListener);
  }
  append(el, ...children);
  return el;
}

export function setAttr(el: Element, name: string, value: Attr): void {
  if (value === false || value === null || value === undefined) el.removeAttribute(name);
  else el.setAttribute(name, value === true ? '' : String(value));
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
  }
}

/** Replaces every child of `parent`. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

let nextId = 0;

/** A document-unique id, for label/aria wiring. */
export function uid(prefix: string): string {
  nextId += 1;
  return `${prefix}-${nextId}`;
}
