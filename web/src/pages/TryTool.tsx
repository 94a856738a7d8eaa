// "Try a tool": pick a tool and a workspace, fill in the form generated from the
// tool's input schema, run it as yourself through an edge, and see the result.

import { Button, Checkbox, FieldError, Form, Heading, Input, Label, ListBox, ListBoxItem, Popover, Select, SelectValue, Text, TextArea, TextField } from 'react-aria-components';
import { useMemo, useState } from 'react';
import { api, type Schemas } from '../api/client';
import { unwrap } from '../api/errors';
import { Choice } from '../components/Choice';
import { ErrorNotice } from '../components/Status';
import { buildArguments, formFields, initialValues, optionLabel, type FieldValue, type FormField } from '../lib/schemaForm';

type ServerTools = Schemas['ServerTools'];
type Result = Schemas['ToolCallResult'];

export function TryTool({ slug, tools }: { slug: string; tools: ServerTools }) {
  const workspaces = tools.workspaces;
  const [toolName, setToolName] = useState(tools.tools[0]?.name ?? '');
  const [workspace, setWorkspace] = useState(workspaces[0]?.workspace ?? '');
  const tool = tools.tools.find((t) => t.name === toolName);
  const fields = useMemo(() => formFields(tool?.inputSchema), [tool]);
  const [values, setValues] = useState<Record<string, FieldValue>>({});
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [result, setResult] = useState<Result | null>(null);
  const [failure, setFailure] = useState<unknown>(null);
  const [running, setRunning] = useState(false);
  if (tools.tools.length === 0) return null;
  if (workspaces.length === 0) {
    return (
      <section aria-label="Try a tool">
        <Heading level={2}>Try a tool</Heading>
        <p className="empty">Provision this server to a workspace to try its tools.</p>
      </section>
    );
  }
  const current = { ...initialValues(fields), ...values };
  const allowed = workspaces.find((w) => w.workspace === workspace)?.allowed.includes(toolName) ?? false;
  return (
    <section aria-label="Try a tool">
      <Heading level={2}>Try a tool</Heading>
      <p className="muted">Runs the tool as you, through an edge, with a token that lives for this call only.</p>
      <Form
        className="form"
        aria-label="Try a tool"
        onSubmit={async (event) => {
          event.preventDefault();
          setFailure(null);
          setResult(null);
          const built = buildArguments(fields, current);
          setErrors(built.errors);
          if (Object.keys(built.errors).length > 0) return;
          setRunning(true);
          try {
            setResult(
              unwrap(
                await api.POST('/v1/servers/{slug}/tools/{tool}/call', {
                  params: { path: { slug, tool: toolName } },
                  body: { workspace, arguments: built.arguments as Schemas['TryTool']['arguments'] },
                }),
              ),
            );
          } catch (e) {
            setFailure(e);
          } finally {
            setRunning(false);
          }
        }}
      >
        <Choice label="Tool" value={toolName} options={tools.tools.map((t) => [t.name, t.name])}
          onChange={(name) => { setToolName(name); setValues({}); setErrors({}); setResult(null); }} />
        {tool?.description ? <p className="muted">{tool.description}</p> : null}
        <Choice label="Workspace" value={workspace} options={workspaces.map((w) => [w.workspace, w.workspace])} onChange={setWorkspace} />
        {allowed ? null : <p className="error">The provisioning in {workspace} does not let {toolName} through; the call will be refused.</p>}
        {fields.length === 0 ? <p className="muted">This tool takes no arguments.</p> : null}
        {fields.map((field) => (
          <ArgumentField key={`${toolName}.${field.name}`} field={field} value={current[field.name]!} error={errors[field.name]}
            onChange={(v) => setValues({ ...current, [field.name]: v })} />
        ))}
        <Button type="submit" className="button primary" isDisabled={running}>
          {running ? 'Running…' : `Run ${toolName}`}
        </Button>
      </Form>
      <ErrorNotice error={failure} />
      {result ? <ToolResult result={result} /> : null}
    </section>
  );
}

function ArgumentField({ field, value, error, onChange }: { field: FormField; value: FieldValue; error?: string; onChange: (v: FieldValue) => void }) {
  const label = (
    <Label>
      {field.label}
      {field.required ? <span aria-hidden="true" className="required"> *</span> : null}
    </Label>
  );
  const help = field.description ? <Text slot="description">{field.description}</Text> : null;
  if (field.kind === 'boolean') {
    return (
      <div className="field">
        <Checkbox isSelected={value === true} onChange={onChange}>
          {field.label}
        </Checkbox>
        {field.description ? <span className="muted">{field.description}</span> : null}
      </div>
    );
  }
  if (field.kind === 'enum') {
    return (
      <Select className="field" selectedKey={value === '' ? null : String(value)} onSelectionChange={(key) => onChange(String(key))}
        isRequired={field.required} isInvalid={error !== undefined} validationBehavior="aria">
        {label}
        <Button className="select-button">
          <SelectValue />
          <span aria-hidden="true">▾</span>
        </Button>
        {help}
        <FieldError>{error}</FieldError>
        <Popover className="popover">
          <ListBox>
            {(field.options ?? []).map((option, i) => (
              <ListBoxItem key={i} id={String(i)} className="option">
                {optionLabel(option)}
              </ListBoxItem>
            ))}
          </ListBox>
        </Popover>
      </Select>
    );
  }
  const json = field.kind === 'json';
  return (
    <TextField className="field" value={String(value)} onChange={onChange} isRequired={field.required}
      isInvalid={error !== undefined} validationBehavior="aria">
      {label}
      {json ? <TextArea rows={3} /> : <Input inputMode={field.kind === 'string' ? 'text' : 'decimal'} />}
      {help ?? (json ? <Text slot="description">JSON{field.jsonType ? ` ${field.jsonType}` : ''}</Text> : null)}
      <FieldError>{error}</FieldError>
    </TextField>
  );
}

function ToolResult({ result }: { result: Result }) {
  return (
    <section aria-label="Result" className={result.isError ? 'result error' : 'result'}>
      <Heading level={3}>{result.isError ? 'The tool reported an error' : 'Result'}</Heading>
      <p className="muted">
        As {result.user} in {result.workspace}, {result.duration_ms} ms through the edge.
      </p>
      {result.content.map((block, i) => (
        <pre key={i} className="output">
          {(block as { type?: string }).type === 'text' ? String((block as { text?: unknown }).text ?? '') : JSON.stringify(block, null, 2)}
        </pre>
      ))}
      {result.structuredContent ? (
        <>
          <Heading level={4}>Structured content</Heading>
          <pre className="output">{JSON.stringify(result.structuredContent, null, 2)}</pre>
        </>
      ) : null}
    </section>
  );
}
