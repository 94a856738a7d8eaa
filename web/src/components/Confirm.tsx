// A destructive action behind a confirmation dialog.

import { Button, Dialog, DialogTrigger, Heading, Modal } from 'react-aria-components';
import { useState } from 'react';
import { ErrorNotice } from './Status';

export function ConfirmButton(props: {
  label: string;
  title: string;
  body: React.ReactNode;
  confirmLabel: string;
  onConfirm: () => Promise<void>;
}) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  return (
    <DialogTrigger>
      <Button className="button danger small">{props.label}</Button>
      <Modal className="modal" isDismissable>
        <Dialog role="alertdialog" className="dialog">
          {({ close }) => (
            <>
              <Heading slot="title">{props.title}</Heading>
              <p>{props.body}</p>
              <ErrorNotice error={error} />
              <div className="actions">
                <Button className="button" onPress={close}>
                  Cancel
                </Button>
                <Button
                  className="button danger"
                  isDisabled={busy}
                  onPress={async () => {
                    setBusy(true);
                    try {
                      await props.onConfirm();
                      close();
                    } catch (failure) {
                      setError(failure);
                    } finally {
                      setBusy(false);
                    }
                  }}
                >
                  {props.confirmLabel}
                </Button>
              </div>
            </>
          )}
        </Dialog>
      </Modal>
    </DialogTrigger>
  );
}
