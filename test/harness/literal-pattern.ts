/**
 * Text to match literally inside a regular expression: a time zone such as `Etc/GMT+2` or a path
 * would otherwise read as a pattern (`T+` matches one or more T, never a plus sign).
 */
export function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
