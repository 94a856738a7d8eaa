// Loading, empty and error states every page shows the same way.

import { ApiFailure } from '../api/errors';

export function Loading({ what }: { what: string }) {
  return (
    <p className="muted" role="status">
      Loading {what}…
    </p>
  );
}

export function Empty({ children }: { children: React.ReactNode }) {
  return <p className="empty">{children}</p>;
}

/** An API failure with its message and, when it names one, the field at fault. */
export function ErrorNotice({ error }: { error: unknown }) {
  if (!error) return null;
  const message = error instanceof Error ? error.message : String(error);
  const field = error instanceof ApiFailure ? error.field : undefined;
  return (
    <div className="error" role="alert">
      {field ? <strong>{field}: </strong> : null}
      {message}
    </div>
  );
}

/** A list's states in one place: loading, the API's error, empty, or the items. */
export function ListView<T>(props: {
  what: string;
  loading: boolean;
  error: unknown;
  items: T[] | undefined;
  empty: React.ReactNode;
  children: (items: T[]) => React.ReactNode;
}) {
  return (
    <>
      {props.loading && !props.items ? <Loading what={props.what} /> : null}
      <ErrorNotice error={props.error} />
      {props.items && props.items.length === 0 ? <Empty>{props.empty}</Empty> : null}
      {props.items && props.items.length > 0 ? props.children(props.items) : null}
    </>
  );
}
