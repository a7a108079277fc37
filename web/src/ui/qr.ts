/**
 * The enrolment QR code, which the server sends as SVG markup. Markup from the network
 * never goes into the page as such (see dom.ts): it is parsed as an inert XML document
 * and rebuilt here from the few shapes and drawing attributes a QR code uses, so a
 * script, event handler, link or foreign object in it could never come along.
 */

const SVG_NS = 'http://www.w3.org/2000/svg';
const ELEMENTS: ReadonlySet<string> = new Set(['svg', 'g', 'path', 'rect']);
const ATTRIBUTES: ReadonlySet<string> = new Set([
  'viewBox',
  'width',
  'height',
  'x',
  'y',
  'd',
  'fill',
  'stroke',
  'stroke-width',
  'shape-rendering',
]);

/** The QR code as an <svg> element with an accessible name, or null if the markup is not SVG. */
export function qrCode(markup: string, label: string): SVGSVGElement | null {
  const parsed = new DOMParser().parseFromString(markup, 'image/svg+xml');
  const source = parsed.documentElement;
  // A parse failure yields a <parsererror> document instead of throwing.
  if (source.namespaceURI !== SVG_NS || source.localName !== 'svg' || parsed.querySelector('parsererror')) return null;
  const svg = rebuild(source) as SVGSVGElement;
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  svg.setAttribute('class', 'qr');
  return svg;
}

function rebuild(source: Element): Element {
  const copy = document.createElementNS(SVG_NS, source.localName);
  for (const attr of source.attributes) {
    // Colours only as plain values: no url(#…) references to anything.
    if (ATTRIBUTES.has(attr.name) && !/url\s*\(/i.test(attr.value)) copy.setAttribute(attr.name, attr.value);
  }
  for (const child of source.children) {
    if (child.namespaceURI === SVG_NS && ELEMENTS.has(child.localName) && child.localName !== 'svg') copy.appendChild(rebuild(child));
  }
  return copy;
}
