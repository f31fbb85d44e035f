#!/usr/bin/env node
// Builds native/udp_batch.node (batched UDP reads and sends, Linux only) with the system's C
// compiler against the running Node's headers. Never fails the build: without a compiler, headers or
// Linux, sipfront uses node:dgram alone and says so at start (SIPFRONT_UDP_BATCH=0 forces that too).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'native', 'udp_batch.c');
const target = join(root, 'native', 'build', 'udp_batch.node');
/** what the built file was built from (source and flags): rebuilt when that changes */
const stampFile = `${target}.stamp`;

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
  const include = headersDir();
  if (include === undefined) {
    rmSync(target, { force: true });
    console.log("build-native: Node's C headers not found, UDP batching not built (node:dgram is used)");
    return;
  }
  const cc = process.env.CC || 'cc';
  const flags = ['-O2', '-pthread', '-Wall', '-Wextra', '-Wno-unused-parameter', '-shared', '-fPIC', '-std=gnu11', '-DNODE_GYP_MODULE_NAME=udp_batch', `-I${include}`];
  const stamp = createHash('sha256').update(readFileSync(source)).update(JSON.stringify([cc, flags])).digest('hex');
  if (existsSync(target) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return;
  mkdirSync(dirname(target), { recursive: true });
  // built aside and moved in whole: a failed build leaves no stale module behind
  const tmp = `${target}.${process.pid}.tmp`;
  try {
    execFileSync(cc, [...flags, source, '-o', tmp], { stdio: ['ignore', 'inherit', 'inherit'] });
    renameSync(tmp, target);
    writeFileSync(stampFile, stamp);
    console.log(`build-native: built ${target}`);
  } catch (err) {
    rmSync(tmp, { force: true });
    rmSync(target, { force: true });
    rmSync(stampFile, { force: true });
    console.log(`build-native: ${cc} failed (${err.message.split('\n')[0]}), UDP batching not built (node:dgram is used)`);
  }
}

main();
