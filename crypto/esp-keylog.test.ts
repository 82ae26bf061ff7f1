import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { appendEspKeylog, espSaRecord } from './esp-keylog.js';

const keys = { cipher: 'aes-256-gcm' as const, key: Buffer.alloc(32, 0xab), salt: Buffer.from('01020304', 'hex') };
const entry = { src: '198.18.0.1', dst: '198.18.0.2', spi: 0x1234, keys };

describe('espSaRecord', () => {
  it('renders the eight esp_sa columns with key ‖ salt and NULL authentication', () => {
    expect(espSaRecord(entry)).toBe(
      `"IPv4","198.18.0.1","198.18.0.2","0x00001234","AES-GCM with 16 octet ICV [RFC4106]","0x${'ab'.repeat(32)}01020304","NULL",""`,
    );
  });

  it('names ChaCha20-Poly1305 as Wireshark does', () => {
    expect(espSaRecord({ ...entry, keys: { ...keys, cipher: 'chacha20-poly1305' } })).toContain('"ChaCha20 with Poly1305 [RFC7634]"');
  });
});

describe('appendEspKeylog', () => {
  it('appends one line per SA to an owner-only file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-keylog-'));
    try {
      const file = join(dir, 'esp.keys');
      await appendEspKeylog(file, entry);
      await appendEspKeylog(file, { ...entry, spi: 0x5678 });
      const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
      expect(lines).toEqual([espSaRecord(entry), espSaRecord({ ...entry, spi: 0x5678 })]);
      expect(statSync(file).mode & 0o777).toBe(0o600);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
