/**
 * The Mozilla roots (from the webpki-roots crate, made from CCADB's list of
 * the certificates Mozilla includes) as PEM strings, for `setRoots()` where
 * the platform gives none: browsers, workers, Deno. Node does not need it:
 * paf takes Node's roots on load.
 *
 * ```js
 * import { setRoots } from "paf";
 * import roots from "paf/roots";
 * setRoots(roots);
 * ```
 */
declare const roots: string[];
export default roots;
