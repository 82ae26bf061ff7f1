// Type ids as a Go process hands them out (encoding/gob/type.go newTypeObject): one counter
// per process, starting after 64, each distinct type numbered when first built. The order is
// Go's: a struct takes its id before its fields' types; a slice, array or map takes its id
// after its element (and key) types. The name put in a definition depends on how the type
// was first reached: its own name at top level and as a slice element, the Go type string
// as a struct field, nothing as a map key/element or array element.
//
// One GobTypeIds = one Go process. GobEncoder makes a fresh one per stream unless given one,
// so a stream starts at 65 like the first message of a fresh Go process.
import { goName, goTypeString, typeKey } from './type-key.js';
import type { GobType } from './types.js';
import { BASIC_IDS, FIRST_USER_ID, isBasic } from './types.js';
import type { WireDef } from './wire-type.js';

/** A type as the process knows it; `id` is 0 while a recursive type is still being built. */
export interface TypeEntry {
  id: number;
  readonly ident: string;
  readonly type: GobType;
  readonly name: string;
  elem?: TypeEntry;
  mapKey?: TypeEntry;
  fields?: Array<{ name: string; entry: TypeEntry }>;
  /** Its definition as a whole message (count, -id, wireType), once sent: the same bytes every time. */
  definitionMessage?: Buffer;
}

const basicEntries = new Map<string, TypeEntry>(
  Object.entries(BASIC_IDS).map(([kind, id]) => [kind, { id, ident: kind, type: { kind } as GobType, name: kind }]),
);

export class GobTypeIds {
  private nextId = FIRST_USER_ID;
  private readonly entries = new Map<string, TypeEntry>();
  /** Top-level entries by type object: a table shared by many streams skips the type key. */
  private readonly byType = new WeakMap<GobType, TypeEntry>();

  /** The entry for a type met at top level (an encoded value or an interface's concrete value). */
  entryFor(t: GobType): TypeEntry {
    let e = this.byType.get(t);
    if (e === undefined) this.byType.set(t, (e = this.baseType(goName(t), t)));
    return e;
  }

  /** The wireType definition of a composite entry (its ids are final by the time it is sent). */
  definition(e: TypeEntry): WireDef {
    const t = e.type;
    switch (t.kind) {
      case 'struct':
        return { kind: 'struct', name: e.name, fields: e.fields!.map((f) => ({ name: f.name, id: f.entry.id })) };
      case 'slice':
        return { kind: 'slice', name: e.name, elem: e.elem!.id };
      case 'array':
        return { kind: 'array', name: e.name, elem: e.elem!.id, len: t.len };
      case 'map':
        return { kind: 'map', name: e.name, key: e.mapKey!.id, elem: e.elem!.id };
      case 'opaque':
        return { kind: 'opaque', name: e.name, marshal: t.marshal };
      default:
        throw new TypeError(`gob: ${t.kind} has no definition`);
    }
  }

  private setId(e: TypeEntry): void {
    if (e.id === 0) e.id = ++this.nextId;
  }

  private baseType(name: string, t: GobType): TypeEntry {
    if (isBasic(t)) return basicEntries.get(t.kind)!;
    const key = typeKey(t);
    return this.entries.get(key) ?? this.build(name, t, key);
  }

  private build(name: string, t: GobType, key: string): TypeEntry {
    const e: TypeEntry = { id: 0, ident: key, type: t, name };
    switch (t.kind) {
      case 'opaque':
        this.setId(e);
        this.entries.set(key, e);
        break;
      case 'struct':
        this.setId(e);
        this.entries.set(key, e);
        e.fields = [];
        for (const f of t.fields) {
          const ft = f.type;
          const fe = this.baseType(isBasic(ft) || goName(ft) !== '' ? goName(ft) : goTypeString(ft), ft);
          this.setId(fe);
          e.fields.push({ name: f.name, entry: fe });
        }
        break;
      case 'slice':
        this.entries.set(key, e);
        e.elem = this.baseType(goName(t.elem), t.elem);
        this.setId(e);
        this.setId(e.elem);
        break;
      case 'array':
        this.entries.set(key, e);
        e.elem = this.baseType('', t.elem);
        this.setId(e);
        break;
      case 'map':
        this.entries.set(key, e);
        e.mapKey = this.baseType('', t.key);
        e.elem = this.baseType('', t.elem);
        this.setId(e);
        break;
      default:
        throw new TypeError(`gob: cannot build type of kind ${t.kind}`);
    }
    return e;
  }
}
