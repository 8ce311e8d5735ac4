import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';

/**
 * Call options that send a patch body as a JSON merge patch. Without them client-node labels every
 * patch with the first content type the API lists, a JSON patch, which a partial object is not.
 */
export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
