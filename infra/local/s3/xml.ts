// S3's XML: responses built from plain values, and request bodies read by a parser that only
// pulls out the elements asked for, as strings. It builds no objects from the document, so a
// body cannot inject properties (no prototype pollution), and it expands no entities beyond
// the five predefined ones and character references.
import { S3Error } from './errors.js';

const NAMESPACE = 'http://s3.amazonaws.com/doc/2006-03-01/';

const ESCAPES = new Map([
  ['&', '&amp;'],
  ['<', '&lt;'],
  ['>', '&gt;'],
  ['"', '&quot;'],
  ["'", '&apos;'],
]);
const ENTITIES = new Map([...ESCAPES].map(([char, entity]) => [entity, char]));

const escapeText = (text: string) => text.replace(/[&<>"']/g, (char) => ESCAPES.get(char) ?? char);

/** One element; an undefined value leaves it out, an array holds child elements already built. */
export function element(name: string, value: string | number | boolean | readonly string[] | undefined): string {
  if (value === undefined) return '';
  const content = Array.isArray(value) ? value.join('') : escapeText(String(value));
  return `<${name}>${content}</${name}>`;
}

const DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n';

export function xmlDocument(root: string, children: readonly string[]): string {
  return `${DECLARATION}<${root} xmlns="${NAMESPACE}">${children.join('')}</${root}>`;
}

/** An error body. Without a namespace, as S3 sends it: botocore recognises errors by the bare root tag. */
export function errorDocument(code: string, message: string): string {
  return DECLARATION + element('Error', [element('Code', code), element('Message', message)]);
}

/** The raw content of every `<name>…</name>` in `xml`, in order (no nesting of the same name). */
export function childrenOf(xml: string, name: string): string[] {
  return [...xml.matchAll(new RegExp(`<${name}>([\\s\\S]*?)</${name}>`, 'g'))].map((match) => match[1] ?? '');
}

/** The text of every `<name>…</name>` in `xml`, entities decoded; an element holding markup is malformed. */
export function textsOf(xml: string, name: string): string[] {
  return childrenOf(xml, name).map((content) => {
    if (content.includes('<')) throw malformed(`<${name}> holds markup, not text`);
    return content.replace(/&[^;]*;/g, decodeEntity);
  });
}

function decodeEntity(entity: string): string {
  const named = ENTITIES.get(entity);
  if (named !== undefined) return named;
  const reference = /^&#(x[0-9a-fA-F]{1,6}|[0-9]{1,7});$/.exec(entity)?.[1];
  const codePoint = reference === undefined ? NaN : reference.startsWith('x') ? parseInt(reference.slice(1), 16) : parseInt(reference, 10);
  if (!(codePoint > 0 && codePoint <= 0x10ffff)) throw malformed(`unknown entity ${entity}`);
  return String.fromCodePoint(codePoint);
}

export const malformed = (why: string) =>
  new S3Error(400, 'MalformedXML', `The XML you provided was not well-formed or did not validate against our published schema (${why})`);
