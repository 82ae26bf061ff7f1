// The data files weft reads back from its data dir at start (ipam.json, endpoints.json, peer-name):
// a corrupt or hand-edited file must give a reason (or a WeftError naming the file), never an
// unexpected exception. The file-based loaders read from a scratch directory, removed at exit.

/** JSON's tokens and odd values, for the mutator. */
const JSON_WORDS = ['null', 'true', 'false', '[]', '{}', '[', ']', '{', '}', '"', ',', ':', '0', '-1', '1.5', '1e999', '-0', '9007199254740993', '4294967296', '""', '"\\u0000"', '"__proto__"', ' '];
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { deserialise, serialise, type Persisted } from '../../../ipam/store.js';
import { formatPeerName, parsePeerName } from '../../../mesh/peer-name.js';
import { normalise } from '../../../router/endpoint-keys.js';
import { EndpointStore } from '../../../router/endpoint-store.js';
import { loadIdentity, PEER_NAME_FILE } from '../../../src/daemon/identity.js';
import { WeftError } from '../../../lib/errors.js';
import { fail, roundTripText } from '../check.js';
import type { FuzzTarget } from '../target.js';

let scratch: string | undefined;
function scratchDir(): string {
  if (scratch === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'weft-fuzz-'));
    scratch = dir;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return scratch;
}

/** A loader may refuse with a WeftError (the daemon prints it); anything else is a crash. */
async function refusal(p: Promise<unknown>, what: string): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    if (err instanceof WeftError && err.message !== '') return `${err.code}: ${err.message}`;
    throw err instanceof Error ? Object.assign(err, { message: `${what} threw: ${err.message}` }) : new Error(`${what} threw ${String(err)}`);
  }
}

const persisted: Persisted = {
  self: 0x020000000001n,
  ring: { start: 0x0a200000, end: 0x0a300000, genesis: 'g-1', entries: [{ token: 0x0a200000, owner: 0x020000000001n, version: 2, free: 100 }] },
  allocations: [['c1', 0x0a200005] as const].map(([container, ip]) => ({ container, ip })),
  quarantine: [{ start: 0x0a280000, end: 0x0a280010, until: 12345.5 }],
  lastMajorityAt: 1000,
  records: [{ owner: 0x020000000001n, version: 3, gone: false, used: [0x0a200005, 0x0a200006] }],
};

export const ipamStore: FuzzTarget = {
  name: 'ipam-store',
  sources: ['ipam/store.ts', 'ipam/used.ts'],
  dictionary: [...JSON_WORDS, '"version"', '"self"', '"ring"', '"entries"', '"allocations"', '"quarantine"', '"records"', '"lastMajorityAt"', '"02:00:00:00:00:01"', '"::1"'],
  seeds: () => [serialise(persisted), serialise({ self: 1n, allocations: [], quarantine: [] })].map((t) => Buffer.from(t)),
  run: (data) =>
    roundTripText(
      data.toString('utf8'),
      'deserialise(ipam.json)',
      (t) => {
        const p = deserialise(t);
        return typeof p === 'string' ? { ok: false, reason: p } : { ok: true, value: p };
      },
      serialise,
    ),
};

const endpoint = { id: 'c1', ifname: 'eth0', container: 'c1', netns: '/run/netns/c1', hostIfname: 'vethwepl1', mac: '02:00:0a:20:00:05', cidrs: ['10.32.0.5/12'], origin: 'cni', names: { namespace: 'ns', pod: 'p' }, gateway: '10.32.0.1', hairpin: true, hostMac: '02:00:00:00:00:09' };

export const endpoints: FuzzTarget = {
  name: 'endpoints',
  sources: ['router/endpoint-store.ts', 'router/endpoint-keys.ts'],
  dictionary: [...JSON_WORDS, '"attached"', '"exposed"', '"gateway"', '"masquerade"', '"netns"', '"hostIfname"', '"mac"', '"cidrs"', '"names"', '"state"', '"attaching"', '"origin"', '"cni"'],
  seeds: () => [
    JSON.stringify({ attached: [endpoint, { netns: '/proc/1/ns/net', hostIfname: 'v', mac: 'm', cidrs: [] }], exposed: ['10.32.0.1/12'], gateway: '10.32.0.1/12', masquerade: true }, null, 1),
    JSON.stringify({ attached: [], exposed: [] }),
  ].map((t) => Buffer.from(t)),
  run: async (data) => {
    const dir = scratchDir();
    writeFileSync(join(dir, 'endpoints.json'), data);
    const store = new EndpointStore(dir);
    let loaded: Awaited<ReturnType<EndpointStore['load']>> | undefined;
    const refused = await refusal(store.load().then((s) => (loaded = s)), 'EndpointStore.load');
    if (refused !== undefined) return refused;
    const s = loaded!;
    if (!Array.isArray(s.attached) || !Array.isArray(s.exposed) || !s.exposed.every((c) => typeof c === 'string')) fail('EndpointStore.load returned a malformed state');
    let kept = 0;
    for (const raw of s.attached) {
      const ep = normalise(raw);
      if (ep === undefined) continue;
      kept++;
      if (!isDeepStrictEqual(normalise(JSON.parse(JSON.stringify(ep))), ep)) fail('normalise is not idempotent across a save');
    }
    return `loaded, ${kept === s.attached.length ? 'all' : kept === 0 ? 'none' : 'some'} normalised`;
  },
};

export const peerName: FuzzTarget = {
  name: 'peer-name',
  sources: ['mesh/peer-name.ts', 'src/daemon/identity.ts'],
  dictionary: ['::', ':', '0', 'ff', 'FF', 'g', ' ', '\n', '\t', '\u00a0', '\u2028', '\ufeff'],
  seeds: () => ['02:aa:bb:cc:dd:ee\n', '::1', 'a::', '2:a:b:c:d:e'].map((t) => Buffer.from(t)),
  run: async (data) => {
    const text = data.toString('utf8');
    const name = parsePeerName(text);
    if (name !== undefined) {
      if (name < 0n || name >= 1n << 48n) fail(`parsePeerName gave ${name}, outside 48 bits`);
      if (parsePeerName(formatPeerName(name)) !== name) fail(`parsePeerName(formatPeerName(${name})) differs`);
    }
    const dir = scratchDir();
    writeFileSync(join(dir, PEER_NAME_FILE), data);
    let loaded: bigint | undefined;
    const refused = await refusal(loadIdentity(dir).then((id) => (loaded = id.name)), 'loadIdentity');
    if (refused !== undefined) {
      if (name !== undefined && parsePeerName(text.trim()) !== undefined) fail(`loadIdentity refused a valid name: ${refused}`);
      return refused;
    }
    if (loaded !== parsePeerName(text.trim())) fail('loadIdentity read a different name than parsePeerName');
    return 'loaded';
  },
};
