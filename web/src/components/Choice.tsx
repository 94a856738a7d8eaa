// A labelled select of fixed options (React Aria `Select`), e.g. a filter's
// values; an option whose id is '' stands for "any".

import { Button, Label, ListBox, ListBoxItem, Popover, Select, SelectValue } from 'react-aria-components';

// React Aria keys must not be empty.
const ANY = '__any';

export function Choice(props: {
  label: string;
  value: string;
  options: readonly (readonly [id: string, label: string])[];
  onChange: (value: string) => void;
}) {
  return (
    <Select
      className="field"
      selectedKey={props.value || ANY}
      onSelectionChange={(key) => props.onChange(key === ANY || key === null ? '' : String(key))}
    >
      <Label>{props.label}</Label>
      <Button className="select-button">
        <SelectValue />
        <span aria-hidden="true">▾</span>
      </Button>
      <Popover className="popover">
        <ListBox>
          {props.options.map(([id, label]) => (
            <ListBoxItem key={id || ANY} id={id || ANY} className="option">
              {label}
            </ListBoxItem>
          ))}
        </ListBox>
      </Popover>
    </Select>
  );
}
