export * from './branch.js';
export * from './local.js';
export * from './resolve.js';
export * from './response.js';
export * from './router.js';
export * from './proxy.js';
export * from './dialog-token.js';
export * from './overload.js';
