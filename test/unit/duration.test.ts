import { formatDuration, parseDuration, parsePauseDuration } from '../../schemas/duration';

describe('durations', () => {
  it.each([
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['250ms', 250],
    ['1.5s', 1_500],
    ['2h0m10s', 7_210_000],
  ])('reads %s as %d ms', (text, milliseconds) => {
    expect(parseDuration(text)).toBe(milliseconds);
  });

  it.each(['', '5 minutes', '10', 's', '1d', '-5s', '5s!'])('rejects %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it.each([
    [20_000, '20s'],
    [300_000, '5m'],
    [5_400_000, '1h30m'],
    [250, '250ms'],
  ])('writes %d ms as %s', (milliseconds, text) => {
    expect(formatDuration(milliseconds)).toBe(text);
  });

  it.each([
    [10, 10_000],
    [0, 0],
    ['10', 10_000],
    [' 45 ', 45_000],
    ['1m30s', 90_000],
  ])(
    'reads the pause duration %j as %d ms, whole numbers as seconds as Argo Rollouts does',
    (duration, ms) => {
      expect(parsePauseDuration(duration)).toBe(ms);
    },
  );

  it.each([-1, 1.5, '5 minutes', '', '-5'])('rejects the pause duration %j', (duration) => {
    expect(parsePauseDuration(duration)).toBeUndefined();
  });
});
