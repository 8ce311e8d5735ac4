import { run } from '../harness/commands';

/**
 * `kubectl auth can-i` as a service account of `accountNamespace`: "yes" or "no", as the apiserver's
 * authorizer answers for a request in `inNamespace`.
 */
export async function canI(
  accountNamespace: string,
  account: string,
  verb: string,
  resource: string,
  inNamespace = accountNamespace,
): Promise<string> {
  const result = await run('kubectl', [
    'auth',
    'can-i',
    verb,
    resource,
    '-n',
    inNamespace,
    `--as=system:serviceaccount:${accountNamespace}:${account}`,
  ]);
  return result.stdout.trim();
}
