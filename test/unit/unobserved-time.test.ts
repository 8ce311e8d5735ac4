import {
  carriedOver,
  deadlinePassesAtMs,
  describeUnobserved,
  sightLost,
  sightRegained,
  unobservedMsAt,
} from '../../activities/unobserved-time';

describe('time the apiserver could not be read, which a progress deadline does not count', () => {
  const started = 1_000_000;
  const deadline = 30_000;

  it('passes at start plus the deadline while the apiserver answers', () => {
    expect(deadlinePassesAtMs(started, deadline, carriedOver(undefined))).toBe(started + deadline);
  });

  it('cannot pass while the apiserver cannot be read', () => {
    const blind = sightLost(carriedOver(undefined), started + 10_000);
    expect(deadlinePassesAtMs(started, deadline, blind)).toBeUndefined();
    expect(unobservedMsAt(blind, started + 45_000)).toBe(35_000);
  });

  it('moves by the time without sight once a read succeeds again', () => {
    const blind = sightLost(carriedOver(undefined), started + 10_000);
    const back = sightRegained(blind, started + 42_000);
    expect(back).toEqual({ unobservedMs: 32_000 });
    expect(deadlinePassesAtMs(started, deadline, back)).toBe(started + deadline + 32_000);
  });

  it('adds up several periods, and keeps the start of one already under way', () => {
    let time = carriedOver(undefined);
    time = sightRegained(sightLost(time, started + 1_000), started + 3_000);
    time = sightLost(time, started + 10_000);
    // A second loss before the first read succeeds is the same period.
    time = sightLost(time, started + 12_000);
    time = sightRegained(time, started + 15_000);
    expect(time).toEqual({ unobservedMs: 7_000 });
    // A read that succeeds while the apiserver answers changes nothing.
    expect(sightRegained(time, started + 20_000)).toBe(time);
  });

  it('carries a retried attempt on from the last heartbeat, still blind if that one was', () => {
    expect(carriedOver({ unobservedMs: 4_000 })).toEqual({ unobservedMs: 4_000 });
    const carried = carriedOver({ unobservedMs: 4_000, unobservedSinceMs: started + 20_000 });
    expect(deadlinePassesAtMs(started, deadline, carried)).toBeUndefined();
    // The time between the attempts counts as unobserved, up to this attempt's first read.
    expect(sightRegained(carried, started + 50_000)).toEqual({ unobservedMs: 34_000 });
    // Heartbeat details of a version that did not keep this time: nothing was unobserved.
    expect(carriedOver({})).toEqual({ unobservedMs: 0 });
  });

  it('is named in the message when it moved the deadline by a second or more', () => {
    expect(describeUnobserved(31_400)).toBe(', not counting 31s while the apiserver could not be read');
    expect(describeUnobserved(12)).toBe('');
  });
});
