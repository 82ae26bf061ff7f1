// Types for the part of sodium-native weft uses (the package ships none).
declare module 'sodium-native' {
  type Buf = Buffer;
  const sodium: {
    crypto_box_PUBLICKEYBYTES: number;
    crypto_box_SECRETKEYBYTES: number;
    crypto_box_NONCEBYTES: number;
    crypto_box_MACBYTES: number;
    crypto_box_keypair(pk: Buf, sk: Buf): void;
    crypto_box_easy(c: Buf, m: Buf, n: Buf, pk: Buf, sk: Buf): void;
    crypto_scalarmult_BYTES: number;
    crypto_scalarmult(q: Buf, n: Buf, p: Buf): void;
    crypto_hash_sha256_BYTES: number;
    crypto_hash_sha256(out: Buf, input: Buf): void;
    crypto_secretbox_KEYBYTES: number;
    crypto_secretbox_NONCEBYTES: number;
    crypto_secretbox_MACBYTES: number;
    crypto_secretbox_easy(c: Buf, m: Buf, n: Buf, k: Buf): void;
    crypto_secretbox_open_easy(m: Buf, c: Buf, n: Buf, k: Buf): boolean;
    randombytes_buf(b: Buf): void;
    sodium_memzero(b: Buf): void;
  };
  export default sodium;
}
