// The frame inspector: draws what the protocol core (hybi-core, compiled to
// wasm) says about some bytes. Every field, name, verdict and offset comes
// from the core's `inspect` and `encodeFrame`; this module only parses the
// hex people paste and lays the answer out.

import { parseHex, toHex, hexByte, asText, HexError } from './hex.js';

const $ = (id) => document.getElementById(id);

/** How many input bytes the hex view draws (each is an element). */
const HEXVIEW_LIMIT = 4096;
/** How many payload bytes a frame's details show. */
const PAYLOAD_LIMIT = 2048;

/** Byte sequences worth looking at, with how to read them. */
const EXAMPLES = [
  { label: "RFC 6455 §5.7: unmasked text 'Hello' (server)", protocol: 'rfc6455', sender: 'server', hex: '81 05 48 65 6c 6c 6f' },
  { label: "RFC 6455 §5.7: masked text 'Hello' (client)", protocol: 'rfc6455', sender: 'client', hex: '81 85 37 fa 21 3d 7f 9f 4d 51 58' },
  { label: "RFC 6455 §5.7: text in two fragments (server)", protocol: 'rfc6455', sender: 'server', hex: '01 03 48 65 6c 80 02 6c 6f' },
  { label: 'RFC 6455 §5.7: masked pong (client)', protocol: 'rfc6455', sender: 'client', hex: '8a 85 37 fa 21 3d 7f 9f 4d 51 58' },
  { label: "RFC 6455: close 1000 'bye' (server)", protocol: 'rfc6455', sender: 'server', hex: '88 05 03 e8 62 79 65' },
  { label: "RFC 7692 §7.2.3: 'Hello' compressed twice (server)", protocol: 'rfc6455', sender: 'server', deflate: true, hex: 'c1 07 f2 48 cd c9 c9 07 00 c1 05 f2 00 11 00 00' },
  { label: 'Error: a client frame without a mask', protocol: 'rfc6455', sender: 'client', hex: '81 05 48 65 6c 6c 6f' },
  { label: 'Error: text that is not UTF-8 (server)', protocol: 'rfc6455', sender: 'server', hex: '81 04 61 62 ff 63' },
  { label: 'Incomplete: 256-byte binary frame cut short', protocol: 'rfc6455', sender: 'server', hex: '82 7e 01 00 de ad be ef' },
  { label: "draft-76 'old': text 'Hi', then close", protocol: 'old', sender: 'client', hex: '00 48 69 ff ff 00' },
  { label: "draft-76 'old': a discarded length-prefixed frame", protocol: 'old', sender: 'server', hex: '80 02 01 02 00 6f 6b ff' },
  { label: "draft-76 'new': text 'Hi', then close", protocol: 'new', sender: 'client', hex: 'ff 00 00 00 00 00 00 00 02 48 69 00 00 00 00 00 00 00 00 00' },
];

/** What the encoder shows: each framing, and RFC 6455 for each sender. */
const ENCODINGS = [
  { label: "draft-76 'old'", sender: 'either', options: { protocol: 'draft76', framing: 'old', sender: 'client' }, decode: 'old' },
  { label: "draft-76 'new'", sender: 'either', options: { protocol: 'draft76', framing: 'new', sender: 'client' }, decode: 'new' },
  { label: 'RFC 6455', sender: 'client', options: { protocol: 'rfc6455', sender: 'client' }, decode: 'rfc6455' },
  { label: 'RFC 6455', sender: 'server', options: { protocol: 'rfc6455', sender: 'server' }, decode: 'rfc6455' },
  { label: 'RFC 6455 + permessage-deflate', sender: 'client', options: { protocol: 'rfc6455', sender: 'client', deflate: {} }, decode: 'rfc6455' },
  { label: 'RFC 6455 + permessage-deflate', sender: 'server', options: { protocol: 'rfc6455', sender: 'server', deflate: {} }, decode: 'rfc6455' },
];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === 'class') node.className = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Payload bytes as hex, and as text when they are text. */
function payloadText(bytes) {
  const shown = bytes.subarray(0, PAYLOAD_LIMIT);
  let hex = toHex(shown);
  if (bytes.length > PAYLOAD_LIMIT) hex += ` … (${bytes.length - PAYLOAD_LIMIT} more bytes)`;
  if (bytes.length === 0) return '(empty)';
  const text = asText(shown);
  return text === null ? hex : `${hex}\n"${text}"`;
}

/** What a connection delivered, from the core's event object. */
function describeDelivered(event) {
  switch (event.type) {
    case 'text':
      return `text message, ${plural(new TextEncoder().encode(event.data).length, 'byte')}: ${JSON.stringify(event.data.slice(0, PAYLOAD_LIMIT))}`;
    case 'binary':
    case 'ping':
    case 'pong':
      return `${event.type === 'binary' ? 'binary message' : event.type}, ${plural(event.data.length, 'byte')}${event.data.length ? `: ${toHex(event.data.subarray(0, PAYLOAD_LIMIT))}` : ''}`;
    case 'close':
      return `close${event.code === undefined || event.code === null ? ', no code' : `, code ${event.code}`}${event.reason ? `, reason ${JSON.stringify(event.reason)}` : ''}`;
    default:
      return JSON.stringify(event);
  }
}

/** The fields of one frame as [term, value] pairs. */
function fieldRows(frame) {
  const f = frame.fields;
  const rows = [];
  if (f.framing === 'rfc6455') {
    rows.push(['FIN', String(Number(f.fin))]);
    rows.push(['RSV1', String(Number(f.rsv1))]);
    rows.push(['RSV2', String(Number(f.rsv2))]);
    rows.push(['RSV3', String(Number(f.rsv3))]);
    rows.push(['Opcode', `0x${f.opcode.toString(16)} (${frame.kindLabel})`]);
    rows.push(['Mask', f.mask ? `yes, key ${toHex(f.mask)}` : 'no']);
    rows.push(['Payload length', String(f.payloadLength)]);
  } else {
    rows.push(['Type byte', `0x${hexByte(f.type)} (${frame.kindLabel})`]);
    if (f.framing === 'old') {
      rows.push(['Length', f.length == null ? 'none: runs to the 0xff sentinel' : String(f.length)]);
    } else {
      rows.push(['Length', String(f.length)]);
    }
  }
  rows.push([f.framing === 'rfc6455' && f.mask ? 'Payload (unmasked)' : 'Payload', payloadText(frame.payload)]);
  rows.push(['Delivered', frame.delivered ? describeDelivered(frame.delivered) : frame.complete ? 'nothing yet (the message continues)' : 'nothing']);
  return rows;
}

/** How often the page asks whether the protocol core is there yet. */
const POLL_MS = 2000;

/** What the page says while the protocol core is not there, by state. */
const WAITING = {
  building: (detail) =>
    `The inspector's protocol core (hybi-core compiled to wasm) is being built: ${detail} ` +
    'This page picks it up when it is there; no need to reload. The console works meanwhile.',
  failed: (detail) =>
    `The build of the inspector's protocol core failed. ${detail} ` +
    'To get it: run ./scripts/build-page in the repository (it says why it fails); ' +
    'this page picks the inspector up when it is there. The console works without it.',
  missing: () =>
    'The inspector needs the protocol core built for the web (hybi-core compiled to wasm), which is not there. ' +
    'Run ./scripts/build-page in the repository (./scripts/serve runs it for you); ' +
    'this page picks the inspector up when it is there. The console works without it.',
};

/**
 * Resolves when the server says the protocol core is there
 * (`/inspector.json`), saying meanwhile why it is not. The core is fetched
 * only then: a failed `import()` would be remembered by the browser.
 */
async function waitForCore(notice) {
  for (;;) {
    let status;
    try {
      const response = await fetch('./inspector.json', { cache: 'no-store' });
      // A server without the status (an older hybi): try the core as is.
      if (response.status === 404) return;
      status = await response.json();
    } catch (error) {
      status = { state: 'unreachable', detail: '' };
    }
    if (status.state === 'ready') return;
    document.body.dataset.inspector = status.state;
    notice.textContent = (WAITING[status.state] ?? (() => 'Waiting for the server…'))(status.detail);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

export async function setupInspector() {
  const notice = $('inspector-status');
  const form = $('inspect-form');
  const bytesInput = $('bytes');
  const protocol = $('protocol');
  const deflate = $('deflate');
  const summary = $('inspect-summary');
  const hexview = $('hexview');
  const framesOut = $('frames');
  const example = $('example');

  for (const [index, ex] of EXAMPLES.entries()) {
    example.append(el('option', { value: String(index) }, ex.label));
  }

  const controls = [...document.querySelectorAll('#inspect-form, #encode-form')].flatMap((form) => [...form.elements]);
  for (const field of controls) field.disabled = true;
  await waitForCore(notice);
  const core = await import('./pkg/hybi_wasm.js');
  await core.default();
  for (const field of controls) field.disabled = false;
  notice.textContent = '';

  const sender = () => document.querySelector('input[name="sender"]:checked').value;
  const options = () => {
    const p = protocol.value;
    return {
      protocol: p === 'rfc6455' ? 'rfc6455' : 'draft76',
      framing: p === 'new' ? 'new' : 'old',
      sender: sender(),
      deflate: p === 'rfc6455' && deflate.checked ? {} : null,
    };
  };
  const syncDeflate = () => {
    deflate.disabled = protocol.value !== 'rfc6455';
  };

  function setSummary(text, kind) {
    summary.textContent = text;
    summary.className = `status ${kind}`;
  }

  function drawHexview(input, result) {
    hexview.replaceChildren();
    const shown = Math.min(input.length, HEXVIEW_LIMIT);
    const classes = new Array(shown).fill('b-rest');
    const starts = new Set();
    for (const frame of result.frames) {
      starts.add(frame.offset);
      const maskLen = frame.fields.framing === 'rfc6455' && frame.fields.mask ? 4 : 0;
      for (let i = 0; i < frame.length && frame.offset + i < shown; i += 1) {
        let cls = 'b-payload';
        if (i < frame.headerLength - maskLen) cls = 'b-header';
        else if (i < frame.headerLength) cls = 'b-mask';
        classes[frame.offset + i] = cls;
      }
    }
    const errorAt = result.end.status === 'failed' ? result.end.offset : -1;
    for (let i = 0; i < shown; i += 1) {
      const span = el('span', { class: i === errorAt ? `${classes[i]} b-error` : classes[i] }, hexByte(input[i]));
      if (starts.has(i) && i > 0) span.classList.add('frame-gap');
      if (i === errorAt) span.title = `byte ${i}: ${result.end.message}`;
      hexview.append(span, ' ');
    }
    if (input.length > shown) hexview.append(el('span', {}, `… (${input.length - shown} more bytes)`));
    const legend = el('p', { class: 'legend' }, 'Key: ',
      el('span', { class: 'b-header' }, 'header'), ' ',
      el('span', { class: 'b-mask' }, 'mask key'), ' ',
      el('span', { class: 'b-payload' }, 'payload'), ' ',
      el('span', { class: 'b-error' }, 'offending byte'), ' ',
      el('span', { class: 'b-rest' }, 'not read'));
    hexview.append(legend);
    hexview.hidden = input.length === 0;
  }

  function drawFrames(result) {
    framesOut.replaceChildren();
    result.frames.forEach((frame, index) => {
      const last = frame.offset + frame.length - 1;
      const range = frame.length ? `bytes ${frame.offset}–${last}` : `at byte ${frame.offset}`;
      const state = frame.complete ? '' : ' (partial)';
      const title = `Frame ${index + 1}: ${frame.kindLabel}, ${range}${state}`;
      const dl = el('dl');
      for (const [term, value] of fieldRows(frame)) dl.append(el('dt', {}, term), el('dd', {}, value));
      framesOut.append(el('article', { class: `frame${frame.complete ? '' : ' partial'}`, 'data-kind': frame.kind },
        el('h4', {}, title), dl));
    });
  }

  function decode() {
    let input;
    try {
      input = parseHex(bytesInput.value);
    } catch (error) {
      if (!(error instanceof HexError)) throw error;
      setSummary(`Cannot read the bytes: ${error.message}.`, 'bad');
      hexview.hidden = true;
      framesOut.replaceChildren();
      return;
    }
    decodeBytes(input);
  }

  function decodeBytes(input) {
    let result;
    try {
      result = core.inspect(input, options());
    } catch (error) {
      setSummary(`The inspector refused: ${error.message ?? error}`, 'bad');
      return;
    }
    const end = result.end;
    const kind = end.status === 'complete' ? 'ok' : end.status === 'failed' ? 'bad' : '';
    setSummary(`${plural(input.length, 'byte')}, ${plural(result.frames.length, 'frame')}: ${end.message}.`, kind);
    summary.dataset.status = end.status;
    drawHexview(input, result);
    drawFrames(result);
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    decode();
  });
  for (const control of [protocol, deflate, ...document.querySelectorAll('input[name="sender"]')]) {
    control.addEventListener('change', () => {
      syncDeflate();
      if (bytesInput.value.trim()) decode();
    });
  }
  example.addEventListener('change', () => {
    const ex = EXAMPLES[Number(example.value)];
    if (!ex) return;
    bytesInput.value = ex.hex;
    protocol.value = ex.protocol;
    deflate.checked = Boolean(ex.deflate);
    document.querySelector(`input[name="sender"][value="${ex.sender}"]`).checked = true;
    syncDeflate();
    decode();
  });

  // Raw bytes from a file, dropped or chosen.
  const fromFile = async (file) => {
    const bytes = new Uint8Array(await file.arrayBuffer());
    bytesInput.value = toHex(bytes);
    decodeBytes(bytes);
  };
  $('file').addEventListener('change', (event) => {
    const [file] = event.target.files;
    if (file) fromFile(file);
  });
  for (const target of [bytesInput]) {
    target.addEventListener('dragover', (event) => {
      event.preventDefault();
      target.classList.add('dropping');
    });
    target.addEventListener('dragleave', () => target.classList.remove('dropping'));
    target.addEventListener('drop', (event) => {
      event.preventDefault();
      target.classList.remove('dropping');
      const [file] = event.dataTransfer.files;
      if (file) fromFile(file);
      else bytesInput.value = event.dataTransfer.getData('text/plain');
    });
  }

  // The encoder.
  const encodeType = $('encode-type');
  const encodeData = $('encode-data');
  const encodeCode = $('encode-code');
  const encodeMask = $('encode-mask');
  const encoded = $('encoded');

  function encodeAll() {
    encoded.replaceChildren();
    let mask;
    let message;
    try {
      mask = parseHex(encodeMask.value);
      if (mask.length !== 4) throw new HexError(`the mask key has ${plural(mask.length, 'byte')}, not 4`);
      const type = encodeType.value;
      if (type === 'text') message = { type, data: encodeData.value };
      else if (type === 'close') message = { type, code: Number(encodeCode.value), reason: encodeData.value };
      else message = { type, data: parseHex(encodeData.value) };
    } catch (error) {
      if (!(error instanceof HexError)) throw error;
      encoded.append(el('tr', {}, el('td', { colspan: '4', class: 'refused' }, `Cannot encode: ${error.message}.`)));
      return;
    }
    for (const row of ENCODINGS) {
      let cell;
      let button = '';
      try {
        const bytes = core.encodeFrame(message, { ...row.options, mask: Array.from(mask) });
        cell = el('td', { class: 'bytes' }, toHex(bytes));
        button = el('button', { type: 'button', 'aria-label': `Inspect the ${row.label} bytes sent by ${row.sender === 'either' ? 'either side' : `a ${row.sender}`}` }, 'Inspect');
        button.addEventListener('click', () => {
          bytesInput.value = toHex(bytes);
          protocol.value = row.decode;
          deflate.checked = Boolean(row.options.deflate);
          document.querySelector(`input[name="sender"][value="${row.options.sender}"]`).checked = true;
          syncDeflate();
          decode();
          bytesInput.focus();
        });
      } catch (error) {
        cell = el('td', { class: 'refused' }, `refused: ${error.message ?? error}`);
      }
      encoded.append(el('tr', {}, el('th', { scope: 'row' }, row.label), el('td', {}, row.sender), cell, el('td', {}, button)));
    }
  }

  $('encode-form').addEventListener('submit', (event) => {
    event.preventDefault();
    encodeAll();
  });
  for (const control of [encodeType, encodeCode]) control.addEventListener('change', encodeAll);
  encodeData.addEventListener('input', encodeAll);
  encodeMask.addEventListener('change', encodeAll);
  $('random-mask').addEventListener('click', () => {
    encodeMask.value = toHex(crypto.getRandomValues(new Uint8Array(4)));
    encodeAll();
  });

  syncDeflate();
  encodeAll();
  document.body.dataset.inspector = 'ready';
}
