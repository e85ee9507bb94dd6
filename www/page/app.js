// The page's entry point: plain ES modules, no build step, no framework.
// The console needs nothing but the browser; the inspector loads the
// protocol core (hybi-core compiled to wasm) from ./pkg/ when it was built.

import { setupConsole } from './console.js';
import { setupInspector } from './inspector.js';

setupConsole();
setupInspector().catch((error) => {
  document.getElementById('inspector-status').textContent = `The inspector failed to start: ${error.message}`;
  document.body.dataset.inspector = 'failed';
  console.error(error);
});
