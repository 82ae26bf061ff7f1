// Who this router is: a peer name chosen once per data directory and kept across restarts,
// and a uid chosen afresh on every start (so peers can tell a restart from a stale record).
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { WeftError } from '../../lib/errors.js';
import { syncDir } from '../../lib/durable-file.js';
import { formatPeerName, parsePeerName, randomPeerName, type PeerName } from '../../mesh/peer-name.js';

export const PEER_NAME_FILE = 'peer-name';

export interface Identity {
  name: PeerName;
  /** True if the name was generated and saved by this call. */
  created: boolean;
}

/**
 * Returns the peer name kept in `<dataDir>/peer-name`, creating it (and dataDir, mode 0700) on
 * first use. override.name, when given, wins and is NOT persisted: `--name` is a per-run
 * choice, and dropping it later gets the host its own stable name back. With an override the
 * data directory is not touched at all. Throws a WeftError naming the file if it is corrupt
 * or unreadable.
 */
export async function loadIdentity(
  dataDir: string,
  override?: { name?: string },
  random: (n: number) => Buffer = randomBytes,
): Promise<Identity> {
  if (override?.name !== undefined) {
    const name = parsePeerName(override.name);
    if (name === undefined) {
      throw new WeftError('usage', `--name "${override.name}" is not a peer name; write six hex bytes like 02:aa:bb:cc:dd:ee`);
    }
    return { name, created: false };
  }
  const file = join(dataDir, PEER_NAME_FILE);
  const existing = await readName(file);
  if (existing !== undefined) return { name: existing, created: false };

  await ensureDir(dataDir);
  const name = randomPeerName(random);
  const won = await createExclusive(dataDir, file, `${formatPeerName(name)}\n`);
  if (won) return { name, created: true };
  // Another process created the file between our read and our link: use its name.
  const theirs = await readName(file);
  if (theirs === undefined) throw new WeftError('io', `${file} vanished while weft was creating it — try again`);
  return { name: theirs, created: false };
}

/** A random non-zero uint64, new for every start of the router. */
export function newUid(random: (n: number) => Buffer = randomBytes): bigint {
  for (;;) {
    const uid = random(8).readBigUInt64BE(0);
    if (uid !== 0n) return uid;
  }
}

async function readName(file: string): Promise<PeerName | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new WeftError('io', `cannot read the peer name from ${file}: ${(err as Error).message} — check its permissions, or pass --data-dir`, { cause: err });
  }
  const name = parsePeerName(text.trim());
  if (name === undefined) {
    const shown = text.length > 40 ? `${text.slice(0, 40)}…` : text;
    throw new WeftError(
      'io',
      `${file} does not hold a peer name (it contains ${JSON.stringify(shown)}) — delete it to get a new name, or pass --name`,
    );
  }
  return name;
}

async function ensureDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new WeftError('io', `cannot create the data directory ${dir} (${why}) — run as root or pass --data-dir`, { cause: err });
  }
}

/**
 * Crash-safe, exclusive create: the content is written and fsynced under a temporary name, then
 * hard-linked to its final name (link, unlike rename, fails if the name exists, so two routers
 * starting at once agree on one name), and the directory is fsynced so the entry survives a crash.
 * Returns false if the file already existed.
 */
async function createExclusive(dir: string, file: string, content: string): Promise<boolean> {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(content);
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await link(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
    await syncDir(dir);
    return true;
  } catch (err) {
    throw new WeftError('io', `cannot save the peer name in ${file}: ${(err as Error).message} — check the data directory's permissions or pass --data-dir`, { cause: err });
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}
