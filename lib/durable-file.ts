// Crash-safe file replacement, shared by every store in the data dir: the new content is written
// and fsynced under a temporary name, renamed over the old file, and the directory is fsynced so
// the rename survives a crash. A crash at any moment leaves either the old or the new content.
import { mkdir, open, rename } from 'node:fs/promises';
import { join } from 'node:path';

export async function replaceFileDurably(dir: string, name: string, text: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, name);
  const tmp = `${path}.tmp`;
  const f = await open(tmp, 'w', 0o600);
  try {
    await f.writeFile(text);
    await f.sync();
  } finally {
    await f.close();
  }
  await rename(tmp, path);
  await syncDir(dir);
}

/** Makes a directory's entries (a rename, a link) durable. */
export async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
