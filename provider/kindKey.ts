/** Input naming a dynamic resource's kind; every kind shares one provider object (see ./dynamic.ts). */
export const KIND_KEY = "__kind";
