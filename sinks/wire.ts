/**
 * The Confluent wire format (magic byte 0, 4-byte schema id, Avro body) on any topic
 * (the canonical feed topics, coal.indicators, coal.alerts). Schemas are registered under `<topic>-value` with BACKWARD
 * compatibility; each writer pins the id of the schema version this code was
 * built with, so a newer version registered by someone else never changes
 * what we write.
 */
import type { Deps } from '../infra/core/index.ts';

type SR = typeof import('@confluentinc/schemaregistry');
let srModule: Promise<SR> | null = null;
/** The registry client library costs ~1 s to import: load it once, on first use. */
export function loadSchemaRegistry(): Promise<SR> {
  srModule ??= import('@confluentinc/schemaregistry');
  return srModule;
}

/** Encodes and decodes wire-format values of any topic whose schema was registered through it. */
export interface WireCodec {
  /** Registers `schema` under `<topic>-value` (BACKWARD) and pins it for encoding; idempotent. Returns the schema id. */
  register(topic: string, schema: object): Promise<number>;
  encode(topic: string, value: object): Promise<Buffer>;
  decode(topic: string, value: Buffer): Promise<Record<string, unknown>>;
}

interface AvroType {
  toBuffer(v: unknown): Buffer;
  isValid(v: unknown, opts?: { errorHook?: (path: string[], val: unknown) => void }): boolean;
}
interface Writer {
  id: number;
  header: Buffer;
  type: AvroType;
}
interface Deserializer {
  deserialize(topic: string, payload: Buffer): Promise<unknown>;
}

/** Avro decoding yields nulls for absent optionals and class instances: give plain objects without nulls back. */
function plain(v: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (x === null || x === undefined) continue;
    out[k] = x instanceof Map ? Object.fromEntries(x) : x;
  }
  return out;
}

/**
 * Encoding frames the Avro body with the pinned schema id itself (the
 * library's serializer costs ~75 µs a record through per-message registry
 * lookups and rule hooks we do not use; this costs a few µs). The Avro type
 * comes from the library (`toType`), decoding goes through its deserializer.
 */
export function createWireCodec(deps: Pick<Deps, 'registry'>): WireCodec {
  const writers = new Map<string, Promise<Writer>>();
  let deserializer: Promise<Deserializer> | null = null;
  const register = (topic: string, schema: object): Promise<number> => {
    const p = (async (): Promise<Writer> => {
      const sr = await loadSchemaRegistry();
      const subject = `${topic}-value`;
      const info = { schemaType: 'AVRO', schema: JSON.stringify(schema) };
      const id = await deps.registry.register(subject, info, false);
      await deps.registry.updateCompatibility(subject, sr.Compatibility.BACKWARD);
      const ser = new sr.AvroSerializer(deps.registry, sr.SerdeType.VALUE, {
        useSchemaId: id,
        autoRegisterSchemas: false,
      });
      const [type] = await ser.toType(info);
      const header = Buffer.alloc(5);
      header.writeUInt8(0, 0);
      header.writeInt32BE(id, 1);
      return { id, header, type: type as unknown as AvroType };
    })();
    writers.set(topic, p);
    p.catch(() => writers.delete(topic));
    return p.then((w) => w.id);
  };
  return {
    register,
    async encode(topic, value) {
      const w = writers.get(topic);
      if (!w) throw new Error(`no schema registered for topic ${topic}`);
      const { header, type } = await w;
      try {
        return Buffer.concat([header, type.toBuffer(value)]);
      } catch {
        const problems: string[] = [];
        type.isValid(value, { errorHook: (path) => problems.push(path.join('.')) });
        throw new Error(`value does not match the schema of ${topic} at ${problems.join(', ') || '?'}`);
      }
    },
    async decode(topic, value) {
      deserializer ??= loadSchemaRegistry().then(
        (sr) => new sr.AvroDeserializer(deps.registry, sr.SerdeType.VALUE, {}) as Deserializer,
      );
      return plain(await (await deserializer).deserialize(topic, value));
    },
  };
}
