// `--esp-keylog FILE`: one Wireshark esp_sa UAT record per SA and line, so a capture can be
// decrypted (like SSLKEYLOGFILE). A line is accepted as is by `tshark -o "uat:esp_sa:LINE"` and can
// be pasted into Wireshark's ~/.config/wireshark/esp_sa file.
//
// Columns (Wireshark 4.0 packet-ipsec.c): protocol, source, destination, SPI, encryption
// algorithm, encryption key, authentication algorithm, authentication key. For the AEAD
// transforms the encryption key is key ‖ salt in hex and authentication is "NULL" with no key.
// Wireshark 4.0 (Debian 12) knows AES-GCM but not ChaCha20-Poly1305 for ESP (4.2 added it).
import { appendFile } from 'node:fs/promises';
import type { EspCipher, EspSaKeys } from './esp-sa.js';

export const WIRESHARK_ESP_ALGORITHM: Record<EspCipher, string> = {
  'aes-256-gcm': 'AES-GCM with 16 octet ICV [RFC4106]',
  'chacha20-poly1305': 'ChaCha20 with Poly1305 [RFC7634]',
};

export interface EspKeylogEntry {
  /** Outer IPv4 source and destination of the SA's packets. */
  src: string;
  dst: string;
  spi: number;
  keys: EspSaKeys;
}

function quoted(field: string): string {
  return `"${field.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export function espSaRecord(entry: EspKeylogEntry): string {
  const spi = `0x${entry.spi.toString(16).padStart(8, '0')}`;
  const key = `0x${Buffer.concat([entry.keys.key, entry.keys.salt]).toString('hex')}`;
  return ['IPv4', entry.src, entry.dst, spi, WIRESHARK_ESP_ALGORITHM[entry.keys.cipher], key, 'NULL', '']
    .map(quoted)
    .join(',');
}

/** Appends one record. The file is created owner-only: it holds live keys. */
export async function appendEspKeylog(path: string, entry: EspKeylogEntry): Promise<void> {
  await appendFile(path, `${espSaRecord(entry)}\n`, { mode: 0o600 });
}
