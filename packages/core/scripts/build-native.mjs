#!/usr/bin/env node
// Builds native/udp_batch.node (batched UDP reads and sends, Linux only) with the system's C
// compiler against the running Node's headers. Never fails the build: without a compiler, headers or
// Linux, sipfront uses node:dgram alone and says so at start (SIPFRONT_UDP_BATCH=0 forces that too).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'native', 'udp_batch.c');
const target = join(root, 'native', 'build', 'udp_batch.node');

function headersDir() {
  const candidates = [
    process.env.npm_config_nodedir,
    join(dirname(dirname(process.execPath)), 'include', 'node'),
    '/usr/include/node',
    '/usr/local/include/node',
  ];
  for (const c of candidates) {
    if (!c) continue;
    const dir = existsSync(join(c, 'node_api.h')) ? c : join(c, 'include', 'node');
    if (existsSync(join(dir, 'node_api.h')) && existsSync(join(dir, 'uv.h'))) return dir;
  }
  return undefined;
}

function main() {
  if (process.platform !== 'linux') {
    console.log('build-native: not Linux, UDP batching not built (node:dgram is used)');
    return;
  }
  if (existsSync(target) && statSync(target).mtimeMs >= statSync(source).mtimeMs) return;
  const include = headersDir();
  if (include === undefined) {
    console.log("build-native: Node's C headers not found, UDP batching not built (node:dgram is used)");
    return;
  }
  mkdirSync(dirname(target), { recursive: true });
  const cc = process.env.CC || 'cc';
  try {
    execFileSync(cc, ['-O2', '-Wall', '-Wextra', '-Wno-unused-parameter', '-shared', '-fPIC', '-std=gnu11',
      '-DNODE_GYP_MODULE_NAME=udp_batch', `-I${include}`, source, '-o', target], { stdio: ['ignore', 'inherit', 'inherit'] });
    console.log(`build-native: built ${target}`);
  } catch (err) {
    console.log(`build-native: ${cc} failed (${err.message.split('\n')[0]}), UDP batching not built (node:dgram is used)`);
  }
}

main();
