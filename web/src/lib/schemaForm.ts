// A form from a tool's `inputSchema` (JSON Schema): one field per property,
// typed as the schema says (string, number, integer, boolean, enum; arrays,
// objects and anything else as a JSON field), required ones marked, labels from
// titles or property names, descriptions as help text; and the `arguments`
// object the values make, with a message per field that does not fit.

export type FieldKind = 'string' | 'number' | 'integer' | 'boolean' | 'enum' | 'json';

export interface FormField {
  /** The property name (the key in `arguments`). */
  name: string;
  /** The label shown: the property's `title`, else its name. */
  label: string;
  kind: FieldKind;
  required: boolean;
  description?: string;
  /** For `enum`: the allowed values. */
  options?: unknown[];
  /** For `json`: the JSON type the value must have, when the schema names one. */
  jsonType?: 'array' | 'object';
}

/** A field's value as the form holds it: text, a checkbox, or an enum option's index. */
export type FieldValue = string | boolean;

type Schema = Record<string, unknown>;

const isObject = (value: unknown): value is Schema =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The schema's one non-null type (`"string"`, or `["string", "null"]`), if it has one. */
function typeOf(schema: Schema): string | undefined {
  const type = schema.type;
  if (typeof type === 'string') return type;
  if (Array.isArray(type)) {
    const named = type.filter((t) => t !== 'null');
    return named.length === 1 && typeof named[0] === 'string' ? named[0] : undefined;
  }
  return undefined;
}

function fieldOf(name: string, schema: Schema, required: boolean): FormField {
  const label = typeof schema.title === 'string' && schema.title.trim() ? schema.title : name;
  const description = typeof schema.description === 'string' ? schema.description : undefined;
  const base = { name, label, required, description };
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return { ...base, kind: 'enum', options: schema.enum };
  const type = typeOf(schema);
  switch (type) {
    case 'string':
    case 'number':
    case 'integer':
    case 'boolean':
      return { ...base, kind: type };
    case 'array':
    case 'object':
      return { ...base, kind: 'json', jsonType: type };
    default:
      return { ...base, kind: 'json' };
  }
}

/** The fields of a tool's input schema, in the schema's property order. */
export function formFields(inputSchema: unknown): FormField[] {
  if (!isObject(inputSchema) || !isObject(inputSchema.properties)) return [];
  const required = new Set(Array.isArray(inputSchema.required) ? inputSchema.required.filter((r) => typeof r === 'string') : []);
  return Object.entries(inputSchema.properties).map(([name, schema]) =>
    fieldOf(name, isObject(schema) ? schema : {}, required.has(name)),
  );
}

/** Empty values for `fields` (booleans unchecked, nothing chosen). */
export function initialValues(fields: FormField[]): Record<string, FieldValue> {
  return Object.fromEntries(fields.map((f) => [f.name, f.kind === 'boolean' ? false : '']));
}

/** How an enum option is shown. */
export function optionLabel(option: unknown): string {
  return typeof option === 'string' ? option : JSON.stringify(option);
}

/**
 * The `arguments` object the values make, or the message of each field that
 * does not fit its schema. Empty optional fields are left out; booleans are
 * always sent.
 */
export function buildArguments(
  fields: FormField[],
  values: Record<string, FieldValue>,
): { arguments: Record<string, unknown>; errors: Record<string, string> } {
  const args: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const field of fields) {
    const raw = values[field.name];
    if (field.kind === 'boolean') {
      args[field.name] = raw === true;
      continue;
    }
    const text = typeof raw === 'string' ? raw : '';
    if (text.trim() === '') {
      if (field.required) errors[field.name] = 'is required';
      continue;
    }
    switch (field.kind) {
      case 'string':
        args[field.name] = text;
        break;
      case 'integer':
        if (/^-?\d+$/.test(text.trim())) args[field.name] = Number(text.trim());
        else errors[field.name] = 'must be a whole number';
        break;
      case 'number': {
        const n = Number(text.trim());
        if (Number.isFinite(n)) args[field.name] = n;
        else errors[field.name] = 'must be a number';
        break;
      }
      case 'enum': {
        const option = field.options?.[Number(text)];
        if (option === undefined) errors[field.name] = 'must be one of the listed values';
        else args[field.name] = option;
        break;
      }
      case 'json': {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          errors[field.name] = 'is not valid JSON';
          break;
        }
        if (field.jsonType === 'array' && !Array.isArray(parsed)) errors[field.name] = 'must be a JSON array';
        else if (field.jsonType === 'object' && !isObject(parsed)) errors[field.name] = 'must be a JSON object';
        else args[field.name] = parsed;
        break;
      }
    }
  }
  return { arguments: args, errors };
}
