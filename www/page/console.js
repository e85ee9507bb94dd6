// The live console: the browser's own WebSocket (RFC 6455), driven by hand.
// Every message and event goes to the log with its time, direction and size.

import { parseHex, toHex, HexError } from './hex.js';

const $ = (id) => document.getElementById(id);

/** Milliseconds as HH:MM:SS.mmm, local time. */
function clock(date) {
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

const MAX_LOG_ROWS = 500;
const MAX_SHOWN_BYTES = 4096;

export function setupConsole() {
  const url = $('url');
  const subprotocols = $('subprotocols');
  const status = $('status');
  const log = $('log');
  const connectButton = $('connect');
  const abortButton = $('abort');
  const sendButton = $('send');
  const closeButton = $('close');
  const message = $('message');

  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  url.value = location.host ? `${scheme}//${location.host}/` : 'ws://127.0.0.1:8080/';

  /** @type {WebSocket | null} */
  let socket = null;

  function setStatus(text, kind = '') {
    status.textContent = text;
    status.className = `status ${kind}`;
  }

  function setOpen(open) {
    sendButton.disabled = !open;
    closeButton.disabled = !open;
    abortButton.disabled = socket === null;
    connectButton.disabled = socket !== null;
  }

  /**
   * Adds a row to the log.
   * @param {'sent'|'received'|'event'|'error'} direction
   * @param {string} type
   * @param {number | null} size bytes on the wire's payload, or null
   * @param {string} content
   */
  function addRow(direction, type, size, content) {
    const row = document.createElement('tr');
    row.className = `entry entry-${direction}`;
    const arrows = { sent: '→ sent', received: '← received', event: '• event', error: '! error' };
    const cells = [
      ['time', clock(new Date())],
      [`dir dir-${direction}`, arrows[direction]],
      ['type', type],
      ['size', size === null ? '' : plural(size, 'byte')],
      ['content', content],
    ];
    for (const [cls, text] of cells) {
      const td = document.createElement('td');
      td.className = cls;
      td.textContent = text;
      row.append(td);
    }
    log.append(row);
    while (log.rows.length > MAX_LOG_ROWS) log.deleteRow(0);
    const frame = log.closest('.log-frame');
    frame.scrollTop = frame.scrollHeight;
  }

  function shown(bytes) {
    const hex = toHex(bytes.subarray(0, MAX_SHOWN_BYTES));
    return bytes.length > MAX_SHOWN_BYTES ? `${hex} … (${bytes.length - MAX_SHOWN_BYTES} more bytes)` : hex;
  }

  const encoder = new TextEncoder();

  $('connect-form').addEventListener('submit', (event) => {
    event.preventDefault();
    if (socket) return;
    const target = url.value.trim();
    const offered = subprotocols.value.split(',').map((s) => s.trim()).filter(Boolean);
    let ws;
    try {
      ws = offered.length ? new WebSocket(target, offered) : new WebSocket(target);
    } catch (error) {
      addRow('error', 'connect', null, `${error.name}: ${error.message}`);
      setStatus(`Cannot connect: ${error.message}`, 'bad');
      return;
    }
    ws.binaryType = 'arraybuffer';
    socket = ws;
    setOpen(false);
    setStatus(`Connecting to ${target}…`);
    addRow('event', 'connecting', null, offered.length ? `${target} offering ${offered.join(', ')}` : target);

    ws.addEventListener('open', () => {
      if (socket !== ws) return;
      const details = [
        `subprotocol: ${ws.protocol || 'none'}`,
        `extensions: ${ws.extensions || 'none'}`,
      ].join('; ');
      setStatus(`Connected to ${ws.url} (${details}).`, 'ok');
      addRow('event', 'open', null, `${ws.url} (${details})`);
      setOpen(true);
      message.focus();
    });
    ws.addEventListener('message', (e) => {
      if (typeof e.data === 'string') {
        addRow('received', 'text', encoder.encode(e.data).length, e.data);
      } else {
        const bytes = new Uint8Array(e.data);
        addRow('received', 'binary', bytes.length, shown(bytes));
      }
    });
    ws.addEventListener('error', () => {
      // The browser says nothing more on purpose (no detail for pages).
      addRow('error', 'error', null, 'the connection failed (the browser gives no detail; see the close below)');
    });
    ws.addEventListener('close', (e) => {
      const reason = e.reason ? `, reason ${JSON.stringify(e.reason)}` : ', no reason';
      const text = `code ${e.code}${reason}, ${e.wasClean ? 'clean' : 'not clean'}`;
      addRow('event', 'close', null, text);
      setStatus(`Closed: ${text}.`, e.wasClean ? '' : 'bad');
      if (socket === ws) socket = null;
      setOpen(false);
      connectButton.focus();
    });
  });

  abortButton.addEventListener('click', () => {
    if (!socket) return;
    addRow('sent', 'close', null, 'no code');
    socket.close();
  });

  const send = () => {
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    const type = document.querySelector('input[name="send-type"]:checked').value;
    if (type === 'text') {
      socket.send(message.value);
      addRow('sent', 'text', encoder.encode(message.value).length, message.value);
    } else {
      let bytes;
      try {
        bytes = parseHex(message.value);
      } catch (error) {
        if (!(error instanceof HexError)) throw error;
        addRow('error', 'binary', null, `not sent: ${error.message}`);
        return;
      }
      socket.send(bytes);
      addRow('sent', 'binary', bytes.length, shown(bytes));
    }
  };
  $('send-form').addEventListener('submit', (event) => {
    event.preventDefault();
    send();
  });
  message.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      send();
    }
  });

  $('close-form').addEventListener('submit', (event) => {
    event.preventDefault();
    if (!socket) return;
    const code = Number($('close-code').value);
    const reason = $('close-reason').value;
    try {
      socket.close(code, reason);
      addRow('sent', 'close', encoder.encode(reason).length + 2, `code ${code}${reason ? `, reason ${JSON.stringify(reason)}` : ''}`);
      setStatus('Closing…');
    } catch (error) {
      // Codes outside 1000 and 3000–4999, or a reason over 123 bytes.
      addRow('error', 'close', null, `not sent: ${error.name}: ${error.message}`);
    }
  });

  $('clear-log').addEventListener('click', () => {
    log.replaceChildren();
  });

  setOpen(false);
}
