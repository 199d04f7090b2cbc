/** The access token of an instance's applications. */
import { randomBytes } from "crypto";
import { z } from "zod";
import { wiringFields } from "./kind";
import { defineKind, fields } from "./defineKind";

const tokenSchema = z.object({
    progressUrn: wiringFields.progressUrn,
    tokenVersion: z
        .number()
        .int({ message: "must be a whole number" })
        .min(0, { message: "must be 0 or more" })
        .default(1),
});

/**
 * 256 random bits, made once and kept in the state as a secret. Raising `tokenVersion` makes a
 * new one (the instance restarts with it).
 */
export const accessToken = defineKind({
    type: "AccessToken",
    inputs: tokenSchema,
    outputs: fields<{ token: string }>({ token: true }),
    rules: () => ({ tokenVersion: "replace", progressUrn: "ignore" }),
    async create(inputs) {
        return { id: randomBytes(8).toString("hex"), outs: { ...inputs, token: randomBytes(32).toString("hex") } };
    },
    async read(_id, state) {
        return state;
    },
    async update(_id, olds, news) {
        return { ...olds, ...news };
    },
    async delete() {
        // Nothing outside the state holds it.
    },
});
