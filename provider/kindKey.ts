/** Input naming a dynamic resource's kind; every kind shares one provider object (see ./dynamic.ts). */
export const KIND_KEY = "__kind";
/** Input carrying the provider's source, which the dynamic-provider plugin loads (see ./dynamic.ts). */
export const PROVIDER_KEY = "__provider";
/** Keys the dynamic-resource machinery adds to every resource's inputs; never the user's concern. */
export const HOST_KEYS: ReadonlySet<string> = new Set([PROVIDER_KEY, KIND_KEY]);
