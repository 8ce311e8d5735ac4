import type { TimeWindow } from '../../schemas/fleet-release';
import { describeOpening, nextOpening, windowOpen } from '../../workflows/fleet/time-windows';

const weekdaysHelsinki: TimeWindow = {
  days: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri'],
  start: '09:00',
  end: '16:00',
  timeZone: 'Europe/Helsinki',
};
const at = (iso: string) => Date.parse(iso);

describe('allowed time windows', () => {
  test('are open on their days between start and end, in their own time zone', () => {
    // Monday 2026-12-07: Helsinki is UTC+2 in winter.
    expect(windowOpen(weekdaysHelsinki, at('2026-12-07T06:59:59Z'))).toBe(false);
    expect(windowOpen(weekdaysHelsinki, at('2026-12-07T07:00:00Z'))).toBe(true);
    expect(windowOpen(weekdaysHelsinki, at('2026-12-07T13:59:59Z'))).toBe(true);
    expect(windowOpen(weekdaysHelsinki, at('2026-12-07T14:00:00Z'))).toBe(false);
    // Saturday.
    expect(windowOpen(weekdaysHelsinki, at('2026-12-12T10:00:00Z'))).toBe(false);
  });

  test('open now means now', () => {
    expect(nextOpening([weekdaysHelsinki], at('2026-12-07T10:00:00Z'))).toBe(at('2026-12-07T10:00:00Z'));
    expect(nextOpening([], at('2026-12-12T10:00:00Z'))).toBe(at('2026-12-12T10:00:00Z'));
  });

  test('after Friday closing the next opening is Monday morning', () => {
    const opens = nextOpening([weekdaysHelsinki], at('2026-12-11T15:30:00Z'));
    expect(new Date(opens).toISOString()).toBe('2026-12-14T07:00:00.000Z');
    expect(describeOpening([weekdaysHelsinki], opens)).toBe('Mon 2026-12-14 09:00 Europe/Helsinki');
  });

  test('before opening on the same day it is that morning', () => {
    expect(new Date(nextOpening([weekdaysHelsinki], at('2026-12-08T05:00:00Z'))).toISOString()).toBe(
      '2026-12-08T07:00:00.000Z',
    );
  });

  test('follow daylight saving time: 09:00 Helsinki is 06:00Z in summer', () => {
    // Friday 2027-03-26 after closing; the clocks go forward on Sunday 2027-03-28.
    expect(new Date(nextOpening([weekdaysHelsinki], at('2027-03-26T15:00:00Z'))).toISOString()).toBe(
      '2027-03-29T06:00:00.000Z',
    );
  });

  test('take the earliest of several windows', () => {
    const weekendUtc: TimeWindow = { days: ['Sat'], start: '12:00', end: '13:00', timeZone: 'UTC' };
    expect(
      new Date(nextOpening([weekdaysHelsinki, weekendUtc], at('2026-12-11T15:30:00Z'))).toISOString(),
    ).toBe('2026-12-12T12:00:00.000Z');
  });

  test('an end of 24:00 keeps the window open to midnight', () => {
    const evening: TimeWindow = { days: ['Mon'], start: '18:00', end: '24:00', timeZone: 'UTC' };
    expect(windowOpen(evening, at('2026-12-07T23:59:00Z'))).toBe(true);
    expect(windowOpen(evening, at('2026-12-08T00:00:00Z'))).toBe(false);
  });
});
