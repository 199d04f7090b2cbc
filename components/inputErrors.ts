/**
 * Bad input to a component, refused as Pulumi's own error for a resource: the CLI prints it as
 * one `error:` line under the resource, with no stack trace (any other error reads as a crash of
 * the program, with its stack).
 */
import * as pulumi from "@pulumi/pulumi";
import type { z } from "zod";
import { FieldProblem, formatProblem, problemsFromZod } from "../provider/model/errors";

export function inputError(resource: pulumi.Resource, problems: readonly FieldProblem[]): pulumi.ResourceError {
    return new pulumi.ResourceError(problems.map(formatProblem).join("; "), resource, true);
}

/** Checks what is known now of a component's input; throws {@link inputError} naming every field at fault. */
export function checkInput(resource: pulumi.Resource, schema: z.ZodType, value: unknown): void {
    const r = schema.safeParse(value);
    if (!r.success) throw inputError(resource, problemsFromZod(r.error));
}
