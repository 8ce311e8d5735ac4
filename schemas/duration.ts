const UNIT_MILLISECONDS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)/;

/**
 * Parses a Go-style duration such as `30s`, `5m` or `1h30m` into milliseconds, or returns undefined
 * when the text is not one. Kept to the units a rollout needs; days are spelled as hours.
 */
export function parseDuration(text: string): number | undefined {
  let rest = text.trim();
  if (rest === '') return undefined;
  let total = 0;
  while (rest !== '') {
    const match = DURATION.exec(rest);
    if (!match) return undefined;
    const [whole, amount, unit] = match as unknown as [string, string, string];
    total += Number(amount) * (UNIT_MILLISECONDS[unit] ?? Number.NaN);
    rest = rest.slice(whole.length);
  }
  return Number.isFinite(total) ? Math.round(total) : undefined;
}

/** Formats milliseconds the way users write durations: `20s`, `5m`, `1h30m`, `250ms`. */
export function formatDuration(milliseconds: number): string {
  if (milliseconds < 1_000) return `${milliseconds}ms`;
  let seconds = Math.round(milliseconds / 1_000);
  const hours = Math.floor(seconds / 3_600);
  seconds -= hours * 3_600;
  const minutes = Math.floor(seconds / 60);
  seconds -= minutes * 60;
  return [hours && `${hours}h`, minutes && `${minutes}m`, seconds && `${seconds}s`].filter(Boolean).join('');
}

const WHOLE_SECONDS = /^\d+$/;

/**
 * A pause step's duration in milliseconds: a duration such as `30s`, or a whole number of seconds
 * (`10` or `"10"`), as Argo Rollouts reads it, so its manifests keep their meaning. Undefined when it
 * is neither.
 */
export function parsePauseDuration(duration: string | number): number | undefined {
  if (typeof duration === 'number') {
    return Number.isSafeInteger(duration) && duration >= 0 ? duration * 1_000 : undefined;
  }
  const text = duration.trim();
  return WHOLE_SECONDS.test(text) ? Number(text) * 1_000 : parseDuration(text);
}
