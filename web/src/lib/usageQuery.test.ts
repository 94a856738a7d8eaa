import { describe, expect, it } from 'vitest';
import { usageFromParams, usageToParams, usageWindow } from './usageQuery';

describe('usage choices in the URL', () => {
  it('defaults to servers by the hour over the last day', () => {
    const choice = usageFromParams(new URLSearchParams(''));
    expect(choice).toEqual({ groupBy: 'server', interval: 'hour', since: '', until: '' });
    expect(usageToParams(choice).toString()).toBe('');
    expect(usageWindow(choice, new Date('2026-12-07T09:00:00Z'))).toEqual({
      since: '2026-12-06T09:00:00.000Z',
      until: '2026-12-07T09:00:00.000Z',
    });
  });

  it('reads back what it writes and ignores unknown values', () => {
    const choice = { groupBy: 'tool' as const, interval: 'day' as const, since: '2026-12-01T00:00:00Z', until: '' };
    expect(usageFromParams(usageToParams(choice))).toEqual(choice);
    expect(usageFromParams(new URLSearchParams('group_by=color&interval=week')).groupBy).toBe('server');
    expect(usageFromParams(new URLSearchParams('group_by=color&interval=week')).interval).toBe('hour');
  });

  it('ends a window with only its end a day before it, and passes unreadable times on', () => {
    const choice = usageFromParams(new URLSearchParams('until=2026-12-03T00:00:00Z'));
    expect(usageWindow(choice, new Date())).toEqual({
      since: '2026-12-02T00:00:00.000Z',
      until: '2026-12-03T00:00:00Z',
    });
    const bad = usageFromParams(new URLSearchParams('until=soon'));
    expect(usageWindow(bad, new Date())).toEqual({ since: '', until: 'soon' });
  });
});
