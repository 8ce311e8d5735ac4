import { isConflict } from './errors';

/**
 * Runs a read-modify-write until it is not beaten by another writer (HTTP 409), up to `attempts`
 * times; each attempt must read afresh. The last conflict is rethrown, so a caller further out (such
 * as Temporal's retry policy) can try again later.
 */
export async function retryOnConflict<T>(readModifyWrite: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await readModifyWrite();
    } catch (error) {
      if (!isConflict(error) || attempt >= attempts) throw error;
    }
  }
}
