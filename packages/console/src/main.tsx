// Entry point: mounts the console, with a last-resort message if rendering itself fails, so an
// operator never faces a blank page.
import { render } from 'preact';
import { App } from './app.js';
import './styles.css';

const root = document.getElementById('app')!;
try {
  render(<App />, root);
} catch (err) {
  root.textContent = `The console failed to start: ${err instanceof Error ? err.message : String(err)}. The REST API at /api/v1 and sipfront ctl still work.`;
}
