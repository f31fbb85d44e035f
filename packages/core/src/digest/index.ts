export * from './errors.js';
export * from './hash.js';
export * from './auth-header.js';
export * from './client.js';
export * from './nonce.js';
