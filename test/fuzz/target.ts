// The shape of a fuzz target: one per decoder family. `run` feeds one input to the decoder(s) and
// throws only when a property is violated (or the decoder itself threw); it returns the outcome
// ("ok" or the refusal reason) so the engine can count distinct ones.

export interface FuzzTarget {
  name: string;
  /** Source files whose code coverage `make fuzz` reports (paths from the repository root). */
  sources: string[];
  /** Valid inputs made with the encoders, written to test/fuzz/corpus/<name>/ by make-seeds.ts. */
  seeds(): Buffer[];
  /** Tokens the mutator inserts or substitutes (libFuzzer's -dict): keywords of text formats. */
  dictionary?: string[];
  run(data: Buffer): string | Promise<string>;
}
