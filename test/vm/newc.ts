// cpio "newc" archives, the format the kernel unpacks as an initramfs. Each entry is a 110-byte
// ASCII header ("070701" and 13 eight-digit hex fields: ino, mode, uid, gid, nlink, mtime, filesize,
// devmajor, devminor, rdevmajor, rdevminor, namesize, check), the NUL-terminated name padded to 4,
// then the data padded to 4; "TRAILER!!!" ends the archive. Archives may be concatenated: the kernel
// unpacks them one after another, so a per-run file can be appended to a cached image.

export interface NewcEntry {
  /** Relative path, no leading slash; parents must come earlier in the archive. */
  path: string;
  /** st_mode including the type bits (0o40000 directory, 0o100000 regular file). */
  mode: number;
  data?: Buffer;
}

const pad4 = (n: number): number => (4 - (n & 3)) & 3;

function entry(ino: number, path: string, mode: number, data: Buffer): Buffer[] {
  const name = Buffer.from(`${path}\0`);
  const fields = [ino, mode, 0, 0, mode & 0o40000 ? 2 : 1, 0, data.length, 0, 0, 0, 0, name.length, 0];
  const header = Buffer.from(`070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`, 'ascii');
  return [header, name, Buffer.alloc(pad4(header.length + name.length)), data, Buffer.alloc(pad4(data.length))];
}

export function newcArchive(entries: NewcEntry[]): Buffer {
  const parts: Buffer[] = [];
  entries.forEach((e, i) => parts.push(...entry(i + 1, e.path, e.mode, e.data ?? Buffer.alloc(0))));
  parts.push(...entry(0, 'TRAILER!!!', 0, Buffer.alloc(0)));
  return Buffer.concat(parts);
}
