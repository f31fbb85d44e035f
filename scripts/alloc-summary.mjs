#!/usr/bin/env node
// What allocates per call: a profile of scripts/alloc-sampler.mjs by function, self and inclusive.
//   node scripts/alloc-summary.mjs FILE.heapprofile CALLS [TOP]
import { readFileSync } from 'node:fs';

const [file, callsArg, topArg] = process.argv.slice(2);
if (file === undefined || !(Number(callsArg) > 0)) {
  console.error('usage: node scripts/alloc-summary.mjs FILE.heapprofile CALLS [TOP]');
  process.exit(1);
}
const calls = Number(callsArg);
const top = Number(topArg ?? 30);
const profile = JSON.parse(readFileSync(file, 'utf8'));
const self = new Map();
const inclusive = new Map();
let total = 0;
const nameOf = (cf) => `${cf.functionName || '(anonymous)'} ${cf.url.replace(/^.*\/(packages|node_modules)\//, '$1/')}:${cf.lineNumber + 1}`;
// iterative walk: a frame counts once in the inclusive figure however often it recurs below itself
const stack = [{ node: profile.head, above: new Set(), sizes: [] }];
const post = [];
while (stack.length > 0) {
  const { node, above } = stack.pop();
  const k = nameOf(node.callFrame);
  self.set(k, (self.get(k) ?? 0) + node.selfSize);
  total += node.selfSize;
  const here = new Set(above);
  here.add(k);
  post.push({ node, k, counted: above.has(k) });
  for (const c of node.children) stack.push({ node: c, above: here });
}
// subtree sizes bottom-up
const subtree = new Map();
for (let i = post.length - 1; i >= 0; i--) {
  const { node, k, counted } = post[i];
  let sum = node.selfSize;
  for (const c of node.children) sum += subtree.get(c);
  subtree.set(node, sum);
  if (!counted) inclusive.set(k, (inclusive.get(k) ?? 0) + sum);
}
const row = ([k, v]) => `${(v / calls).toFixed(0).padStart(8)} B/call  ${k}`;
console.log(`${(total / 1e6).toFixed(1)} MB allocated (sampled), ${(total / calls / 1024).toFixed(1)} KB per call over ${calls} calls`);
console.log('self:');
for (const r of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(row(r));
console.log('inclusive, sipfront code:');
for (const r of [...inclusive].filter(([k]) => k.includes('packages/')).sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(row(r));
