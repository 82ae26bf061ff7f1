// What a CLI command may touch of the outside world, passed in so commands run inside tests.

export interface CliContext {
  /** Writes to standard output / standard error (text includes its newlines). */
  stdout(text: string): void;
  stderr(text: string): void;
  env: Readonly<Record<string, string | undefined>>;
  /** This host's name: the default nickname. */
  hostname: string;
  /** How to run this CLI again as a background `weft router`: node, its flags, this script. */
  self: { execPath: string; execArgv: readonly string[]; script: string };
  /** Aborts when the user interrupts; absent: long operations listen for SIGINT/SIGTERM themselves. */
  signal?: AbortSignal;
  /** Tests only: when long operations start saying what they wait for, and how often they ask. */
  timing?: { noticeAfterMs: number; pollMs: number };
}
