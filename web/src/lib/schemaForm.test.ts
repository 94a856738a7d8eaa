import { describe, expect, it } from 'vitest';
import { buildArguments, formFields, initialValues, optionLabel } from './schemaForm';

const schema = {
  type: 'object',
  properties: {
    text: { type: 'string', description: 'Text to send back' },
    count: { type: 'integer', title: 'How many' },
    ratio: { type: ['number', 'null'] },
    loud: { type: 'boolean' },
    mode: { enum: ['fast', 'slow', 3] },
    tags: { type: 'array', items: { type: 'string' } },
    options: { type: 'object' },
    anything: { anyOf: [{ type: 'string' }, { type: 'number' }] },
  },
  required: ['text', 'count'],
};

describe('formFields', () => {
  it('types each property as its schema says, in order, with labels and help', () => {
    const fields = formFields(schema);
    expect(fields.map((f) => [f.name, f.kind, f.required])).toEqual([
      ['text', 'string', true],
      ['count', 'integer', true],
      ['ratio', 'number', false],
      ['loud', 'boolean', false],
      ['mode', 'enum', false],
      ['tags', 'json', false],
      ['options', 'json', false],
      ['anything', 'json', false],
    ]);
    expect(fields[0]!.description).toBe('Text to send back');
    expect(fields[0]!.label).toBe('text');
    expect(fields[1]!.label).toBe('How many');
    expect(fields[4]!.options).toEqual(['fast', 'slow', 3]);
    expect(fields[5]!.jsonType).toBe('array');
    expect(fields[6]!.jsonType).toBe('object');
    expect(fields[7]!.jsonType).toBeUndefined();
  });

  it('has no fields for a schema without properties or no schema at all', () => {
    expect(formFields({ type: 'object' })).toEqual([]);
    expect(formFields(null)).toEqual([]);
    expect(formFields({ properties: { x: 'not a schema' } })).toEqual([
      { name: 'x', label: 'x', kind: 'json', required: false, description: undefined },
    ]);
  });
});

describe('buildArguments', () => {
  const fields = formFields(schema);

  it('makes typed arguments and leaves empty optional fields out', () => {
    const values = { ...initialValues(fields), text: 'hi', count: '42', ratio: '0.5', loud: true, mode: '2', tags: '["a"]' };
    expect(buildArguments(fields, values)).toEqual({
      arguments: { text: 'hi', count: 42, ratio: 0.5, loud: true, mode: 3, tags: ['a'] },
      errors: {},
    });
  });

  it('names each field that does not fit', () => {
    const values = { ...initialValues(fields), count: '4.5', ratio: 'abc', tags: '{"a": 1}', options: '[1]', anything: '{' };
    expect(buildArguments(fields, values).errors).toEqual({
      text: 'is required',
      count: 'must be a whole number',
      ratio: 'must be a number',
      tags: 'must be a JSON array',
      options: 'must be a JSON object',
      anything: 'is not valid JSON',
    });
  });

  it('sends booleans always and an empty object for a tool without arguments', () => {
    expect(buildArguments(fields, initialValues(fields)).arguments).toEqual({ loud: false });
    expect(buildArguments([], {})).toEqual({ arguments: {}, errors: {} });
  });

  it('shows enum options as their text', () => {
    expect(optionLabel('fast')).toBe('fast');
    expect(optionLabel(3)).toBe('3');
    expect(optionLabel(null)).toBe('null');
  });
});
