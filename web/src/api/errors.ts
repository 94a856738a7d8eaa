// The admin API's error envelope, `{"error": {"code", "message", "field"}}`,
// as one type the pages show: the message, and the field at fault when named.

export interface ApiErrorDetail {
  code: string;
  message: string;
  field?: string;
}

/** A failed API call: the HTTP status and the API's own explanation. */
export class ApiFailure extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;

  constructor(status: number, detail: ApiErrorDetail) {
    super(detail.message);
    this.name = 'ApiFailure';
    this.status = status;
    this.code = detail.code;
    this.field = detail.field;
  }
}

/** The error envelope of a response body, or a generic one naming the status. */
export function failureFrom(status: number, body: unknown): ApiFailure {
  const error = (body as { error?: Partial<ApiErrorDetail> } | null | undefined)?.error;
  if (error && typeof error.message === 'string') {
    return new ApiFailure(status, {
      code: typeof error.code === 'string' ? error.code : 'error',
      message: error.message,
      field: typeof error.field === 'string' ? error.field : undefined,
    });
  }
  return new ApiFailure(status, { code: 'http_error', message: `the server answered ${status}` });
}

/** The message to show next to `field`, when the failure names it. */
export function fieldMessage(error: unknown, field: string): string | undefined {
  if (!(error instanceof ApiFailure) || !error.field) return undefined;
  const named = error.field === field || error.field.startsWith(`${field}.`) || error.field.startsWith(`${field}[`);
  return named ? error.message : undefined;
}

/** `{data}` of an openapi-fetch result, or the failure thrown. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.response.ok) return result.data as T;
  throw failureFrom(result.response.status, result.error);
}
