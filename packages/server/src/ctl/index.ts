// `sipfront ctl`: the REST API's client for operators and scripts.
export { runCtl, ctlUsage, type CtlIo } from './ctl.js';
export { CtlError, CTL_EXIT, type CtlErrorCode } from './errors.js';
export { resolveTarget, normalizeApiUrl, type ApiTarget } from './target.js';
export { parseMetrics, summarize, type Sample, type StatsSummary } from './metrics.js';
