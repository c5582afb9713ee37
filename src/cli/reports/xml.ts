import { stripAnsi } from './format.ts';

// Characters XML 1.0 does not allow at all, even as references: C0 controls except
// tab/LF/CR, lone surrogates, U+FFFE and U+FFFF.
const XML_FORBIDDEN = /[\u0000-\u0008\u000b\u000c\u000e-\u001f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]|[\ufffe\uffff]/g;

function visible(text: string): string {
  return stripAnsi(text).replace(XML_FORBIDDEN, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x20 ? `\\x${code.toString(16).padStart(2, '0')}` : '\ufffd';
  });
}

/** Escapes character data; forbidden characters become visible `\xNN` text instead of breaking the file. */
export function escapeXmlText(text: string): string {
  // A literal CR would be normalised to LF by every parser; a reference keeps it.
  return visible(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r/g, '&#13;');
}

/** Escapes an attribute value (double-quoted); tabs and line breaks survive as character references. */
export function escapeXmlAttr(text: string): string {
  return escapeXmlText(text)
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    .replace(/\t/g, '&#9;')
    .replace(/\n/g, '&#10;');
}

/** An element: name, attributes (undefined ones left out), and child elements or text. */
export interface XmlElement {
  name: string;
  attrs?: Record<string, string | number | undefined>;
  children?: XmlElement[];
  text?: string;
}

function renderAttrs(attrs: XmlElement['attrs']): string {
  if (!attrs) return '';
  return Object.entries(attrs)
    .filter((entry): entry is [string, string | number] => entry[1] !== undefined)
    .map(([k, v]) => ` ${k}="${escapeXmlAttr(String(v))}"`)
    .join('');
}

function renderElement(el: XmlElement, indent: string, out: string[]): void {
  const open = `${indent}<${el.name}${renderAttrs(el.attrs)}`;
  const children = el.children ?? [];
  if (children.length === 0 && el.text === undefined) {
    out.push(`${open}/>`);
  } else if (children.length === 0) {
    out.push(`${open}>${escapeXmlText(el.text ?? '')}</${el.name}>`);
  } else {
    out.push(`${open}>`);
    for (const child of children) renderElement(child, `${indent}  `, out);
    out.push(`${indent}</${el.name}>`);
  }
}

/** A UTF-8 XML document with two-space indentation; text nodes are kept verbatim (no added whitespace). */
export function renderXmlDocument(root: XmlElement): string {
  const out = ['<?xml version="1.0" encoding="UTF-8"?>'];
  renderElement(root, '', out);
  return `${out.join('\n')}\n`;
}
