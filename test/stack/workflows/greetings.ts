import { condition, defineSignal, setHandler } from '@temporalio/workflow';

export const greet = defineSignal<[string]>('greet');

/** Collects greetings until it has as many as expected: proof that each signal reached the workflow. */
export async function collectGreetings(expected: number): Promise<string[]> {
  const greetings: string[] = [];
  setHandler(greet, (greeting) => void greetings.push(greeting));
  await condition(() => greetings.length >= expected);
  return greetings;
}
