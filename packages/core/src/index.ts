export * from './message/index.js';
export * from './proxy/index.js';
export * from './transaction/index.js';
export * from './transport/index.js';
export * from './digest/index.js';
export * from './trace/index.js';
