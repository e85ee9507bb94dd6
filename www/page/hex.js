// Bytes as people paste them, and back. Input formats only: what the bytes
// mean is the protocol core's business (inspector.js asks it).

const HEX_PAIR = /^[0-9a-fA-F]+$/;
const DUMP_OFFSET = /^([0-9a-fA-F]{4,8}):?(?=\s|$)/;
const BYTES_PER_DUMP_LINE = 16;

/** An input that is not hex, with where and why. */
export class HexError extends Error {}

/**
 * Parses hex bytes. Accepts any separators (whitespace, commas, colons,
 * dashes), `0x` and `\x` prefixes, and dumps whose first line starts at
 * offset 0 (`xxd`, `hexdump -C`, Wireshark's "Copy as Hex Dump"): each
 * line's offset and ASCII column are dropped.
 * @param {string} text
 * @returns {Uint8Array}
 */
export function parseHex(text) {
  const lines = text.split(/\r\n|\r|\n/);
  const first = lines.find((line) => line.trim() !== '');
  if (first !== undefined && /^0{4,8}:?\s/.test(first.trim())) {
    return parseDump(lines);
  }
  const cleaned = text.replace(/0x|\\x/gi, ' ');
  const bad = cleaned.search(/[^0-9a-fA-F\s,:;\-_|]/);
  if (bad >= 0) {
    throw new HexError(`not hex: ${JSON.stringify(cleaned[bad])} at character ${bad + 1}`);
  }
  const out = [];
  for (const token of cleaned.split(/[\s,:;\-_|]+/)) {
    if (token === '') continue;
    if (token.length % 2 !== 0) {
      throw new HexError(`odd number of hex digits in ${JSON.stringify(token)}`);
    }
    for (let i = 0; i < token.length; i += 2) out.push(parseInt(token.slice(i, i + 2), 16));
  }
  return Uint8Array.from(out);
}

function parseDump(lines) {
  const out = [];
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line === '') return;
    const offset = DUMP_OFFSET.exec(line);
    if (!offset) throw new HexError(`line ${index + 1} does not start with an offset`);
    // Hex groups (xxd groups two bytes) until 16 bytes or the ASCII column.
    let taken = 0;
    for (const token of line.slice(offset[0].length).trim().split(/\s+/)) {
      if (token === '' || taken >= BYTES_PER_DUMP_LINE) break;
      if (!HEX_PAIR.test(token) || token.length % 2 !== 0 || token.length > 8) break;
      for (let i = 0; i < token.length && taken < BYTES_PER_DUMP_LINE; i += 2, taken += 1) {
        out.push(parseInt(token.slice(i, i + 2), 16));
      }
    }
  });
  return Uint8Array.from(out);
}

/**
 * @param {Uint8Array | number[]} bytes
 * @returns {string} lowercase hex pairs separated by spaces
 */
export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/** One byte as two hex digits. */
export function hexByte(b) {
  return b.toString(16).padStart(2, '0');
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * The bytes as text when they are UTF-8 without control characters other
 * than tab and newlines, else null.
 * @param {Uint8Array} bytes
 */
export function asText(bytes) {
  try {
    const text = decoder.decode(bytes);
    // eslint-disable-next-line no-control-regex
    return /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text) ? null : text;
  } catch {
    return null;
  }
}
