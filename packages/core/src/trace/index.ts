export * from './trace.js';
export * from './ladder.js';
export * from './pcap.js';
