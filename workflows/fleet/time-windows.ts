import type { TimeWindow, Weekday } from '../../schemas/fleet-release';

/**
 * When a release may start Rollouts: the allowed windows of its file, in their IANA time zones.
 * Pure and computed from the instant it is given (workflow time in the fleet workflow), with the
 * runtime's Intl, so a replay computes the same openings. A closed window holds the next start and
 * never interrupts a Rollout already under way.
 */

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const WEEKDAY_INDEX: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };
const DAY_NAMES = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;

/** A wall-clock reading in one time zone. */
interface LocalTime {
  year: number;
  month: number;
  day: number;
  /** 0 Sunday to 6 Saturday. */
  weekday: number;
  /** Minutes since the local midnight. */
  minutes: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let format = formatters.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      weekday: 'short',
    });
    formatters.set(timeZone, format);
  }
  return format;
}

function localTime(instant: number, timeZone: string): LocalTime & { seconds: number } {
  const parts: Record<string, string> = {};
  for (const part of formatter(timeZone).formatToParts(new Date(instant))) parts[part.type] = part.value;
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    weekday: WEEKDAY_INDEX[parts.weekday ?? ''] ?? 0,
    minutes: Number(parts.hour) * 60 + Number(parts.minute),
    seconds: Number(parts.second),
  };
}

/** How far the zone's wall clock is ahead of UTC at this instant, in milliseconds. */
function offsetAt(instant: number, timeZone: string): number {
  const local = localTime(instant, timeZone);
  const asUtc = Date.UTC(local.year, local.month - 1, local.day, 0, local.minutes, local.seconds);
  return asUtc - (instant - (((instant % 1000) + 1000) % 1000));
}

/**
 * The instant the zone's clock reads this date and time. A time skipped by a daylight-saving change
 * comes out as the instant after the gap, where the clock first reads later than it.
 */
function instantOf(year: number, month: number, day: number, minutes: number, timeZone: string): number {
  const wall = Date.UTC(year, month - 1, day, 0, minutes);
  const first = wall - offsetAt(wall, timeZone);
  return wall - offsetAt(first, timeZone);
}

function minutesOf(clock: string): number {
  const [hours = '0', minutes = '0'] = clock.split(':');
  return Number(hours) * 60 + Number(minutes);
}

/** Whether the window is open at this instant. */
export function windowOpen(window: TimeWindow, instant: number): boolean {
  const local = localTime(instant, window.timeZone);
  const day = DAY_NAMES[local.weekday] as Weekday;
  return (
    window.days.includes(day) &&
    local.minutes >= minutesOf(window.start) &&
    local.minutes < minutesOf(window.end)
  );
}

/**
 * The first instant at or after `now` when some window is open: `now` itself when one is, always
 * when there are none. Every window opens within a week, so eight days ahead are enough.
 */
export function nextOpening(windows: readonly TimeWindow[], now: number): number {
  if (windows.length === 0 || windows.some((window) => windowOpen(window, now))) return now;
  let earliest = Number.POSITIVE_INFINITY;
  for (const window of windows) {
    for (let ahead = 0; ahead <= 8; ahead++) {
      const local = localTime(now + ahead * DAY, window.timeZone);
      const day = DAY_NAMES[local.weekday] as Weekday;
      if (!window.days.includes(day)) continue;
      const opens = instantOf(local.year, local.month, local.day, minutesOf(window.start), window.timeZone);
      if (opens > now && windowOpen(window, opens)) {
        earliest = Math.min(earliest, opens);
        break;
      }
    }
  }
  return earliest;
}

/** The window that opens at `instant`, as people read it: `Mon 09:00 Europe/Helsinki`. */
export function describeOpening(windows: readonly TimeWindow[], instant: number): string {
  const window = windows.find((candidate) => windowOpen(candidate, instant)) ?? windows[0];
  if (!window) return 'now';
  const local = localTime(instant, window.timeZone);
  const clock = `${String(Math.floor(local.minutes / 60)).padStart(2, '0')}:${String(local.minutes % 60).padStart(2, '0')}`;
  return `${DAY_NAMES[local.weekday]} ${local.year}-${String(local.month).padStart(2, '0')}-${String(local.day).padStart(2, '0')} ${clock} ${window.timeZone}`;
}

/** The windows as people read them, for the release's summary: `Mon-Fri 09:00-16:00 Europe/Helsinki`. */
export function describeWindows(windows: readonly TimeWindow[]): string {
  return windows
    .map((window) => `${window.days.join(',')} ${window.start}-${window.end} ${window.timeZone}`)
    .join('; ');
}
