/**
 * Reads an array element that the algorithm guarantees is there. An index out of range is a mistake in
 * the statistics code, never bad input, so it throws instead of letting `undefined` become NaN quietly.
 */
export function elementAt<T>(values: readonly T[], index: number): T {
  const value = values[index];
  if (value === undefined) {
    throw new RangeError(`index ${index} is outside the ${values.length} values (a statistics bug)`);
  }
  return value;
}
