// A labelled text input whose API error (the `field` of the error envelope) shows under it.

import { FieldError, Input, Label, Text, TextArea, TextField } from 'react-aria-components';
import { fieldMessage } from '../api/errors';

export function Field(props: {
  label: string;
  name: string;
  value: string;
  onChange: (value: string) => void;
  error?: unknown;
  description?: string;
  type?: 'text' | 'password' | 'url' | 'number' | 'datetime-local';
  multiline?: boolean;
  isRequired?: boolean;
  isReadOnly?: boolean;
  autoComplete?: string;
}) {
  const message = fieldMessage(props.error, props.name);
  return (
    <TextField
      className="field"
      name={props.name}
      value={props.value}
      onChange={props.onChange}
      type={props.type ?? 'text'}
      isRequired={props.isRequired}
      isReadOnly={props.isReadOnly}
      isInvalid={message !== undefined}
      validationBehavior="aria"
    >
      <Label>{props.label}</Label>
      {props.multiline ? <TextArea rows={6} /> : <Input autoComplete={props.autoComplete} />}
      {props.description ? <Text slot="description">{props.description}</Text> : null}
      <FieldError>{message}</FieldError>
    </TextField>
  );
}
