// Labelled pickers built on React Aria: a single choice from a list, several
// checkboxes, and a list of short texts (tool globs) added and removed one by one.

import {
  Button,
  Checkbox,
  ComboBox,
  CheckboxGroup,
  FieldError,
  Input,
  Label,
  ListBox,
  ListBoxItem,
  Popover,
  Select,
  SelectValue,
  Text,
  TextField,
} from 'react-aria-components';
import { useState } from 'react';
import { fieldMessage } from '../api/errors';

export type Option = [id: string, label: string];

// An empty id ("any") is a value like the others, but not a key a collection keeps apart.
const ANY_KEY = '(any)';
const toKey = (id: string) => (id === '' ? ANY_KEY : id);
const fromKey = (key: string) => (key === ANY_KEY ? '' : key);

/** A labelled single choice; the error names its field when the API says so. */
export function Choice(props: {
  label: string;
  name: string;
  value: string;
  options: Option[];
  onChange: (value: string) => void;
  error?: unknown;
  description?: string;
  isDisabled?: boolean;
}) {
  const message = fieldMessage(props.error, props.name);
  return (
    <Select
      className="field"
      name={props.name}
      selectedKey={toKey(props.value)}
      onSelectionChange={(key) => props.onChange(fromKey(String(key)))}
      isInvalid={message !== undefined}
      isDisabled={props.isDisabled}
      validationBehavior="aria"
    >
      <Label>{props.label}</Label>
      <Button className="select-button">
        <SelectValue />
        <span aria-hidden="true">▾</span>
      </Button>
      {props.description ? <Text slot="description">{props.description}</Text> : null}
      <FieldError>{message}</FieldError>
      <Popover className="popover">
        <ListBox>
          {props.options.map(([id, label]) => (
            <ListBoxItem key={toKey(id)} id={toKey(id)} className="option" textValue={label}>
              {label}
            </ListBoxItem>
          ))}
        </ListBox>
      </Popover>
    </Select>
  );
}

/** A labelled group of checkboxes. */
export function Checkboxes(props: {
  label: string;
  name: string;
  value: string[];
  options: Option[];
  onChange: (value: string[]) => void;
  error?: unknown;
  description?: string;
}) {
  const message = fieldMessage(props.error, props.name);
  return (
    <CheckboxGroup
      className="field checkboxes"
      name={props.name}
      value={props.value}
      onChange={props.onChange}
      isInvalid={message !== undefined}
      validationBehavior="aria"
    >
      <Label>{props.label}</Label>
      {props.options.map(([id, label]) => (
        <Checkbox key={id} value={id}>
          {label}
        </Checkbox>
      ))}
      {props.description ? <Text slot="description">{props.description}</Text> : null}
      <FieldError>{message}</FieldError>
    </CheckboxGroup>
  );
}

/** A list of short texts: typed one at a time, each removable by its own named button. */
export function TextList(props: {
  label: string;
  itemLabel: string;
  name: string;
  value: string[];
  onChange: (value: string[]) => void;
  check?: (text: string, current: string[]) => string | null;
  error?: unknown;
  description?: string;
}) {
  const [draft, setDraft] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const message = problem ?? fieldMessage(props.error, props.name);
  const add = () => {
    const text = draft.trim();
    const wrong = props.check?.(text, props.value) ?? (text ? null : 'type something first');
    setProblem(wrong);
    if (wrong) return;
    props.onChange([...props.value, text]);
    setDraft('');
  };
  return (
    <div className="field">
      <TextField
        className="field"
        value={draft}
        onChange={(text) => {
          setDraft(text);
          setProblem(null);
        }}
        isInvalid={message !== undefined && message !== null}
        validationBehavior="aria"
        onKeyDown={(event) => {
          if (event.key === 'Enter') {
            event.preventDefault();
            add();
          }
        }}
      >
        <Label>{props.label}</Label>
        <div className="inline">
          <Input />
          <Button className="button small" onPress={add}>
            Add {props.itemLabel}
          </Button>
        </div>
        {props.description ? <Text slot="description">{props.description}</Text> : null}
        <FieldError>{message}</FieldError>
      </TextField>
      {props.value.length > 0 ? (
        <ul className="chips" aria-label={`${props.label}: chosen`}>
          {props.value.map((item) => (
            <li key={item}>
              <code>{item}</code>
              <Button
                className="button small"
                aria-label={`Remove ${props.itemLabel} ${item}`}
                onPress={() => props.onChange(props.value.filter((v) => v !== item))}
              >
                ×
              </Button>
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

/** A labelled text field with suggestions: pick one or type any other value. */
export function Suggest(props: {
  label: string;
  name: string;
  value: string;
  options: Option[];
  onChange: (value: string) => void;
  error?: unknown;
  description?: string;
  isRequired?: boolean;
  isReadOnly?: boolean;
}) {
  const message = fieldMessage(props.error, props.name);
  return (
    <ComboBox
      className="field"
      name={props.name}
      inputValue={props.value}
      onInputChange={props.onChange}
      allowsCustomValue
      isRequired={props.isRequired}
      isReadOnly={props.isReadOnly}
      isInvalid={message !== undefined}
      validationBehavior="aria"
    >
      <Label>{props.label}</Label>
      <Input />
      {props.description ? <Text slot="description">{props.description}</Text> : null}
      <FieldError>{message}</FieldError>
      <Popover className="popover">
        <ListBox>
          {props.options.map(([id, label]) => (
            <ListBoxItem key={id} id={id} className="option" textValue={id}>
              {label}
            </ListBoxItem>
          ))}
        </ListBox>
      </Popover>
    </ComboBox>
  );
}
