/**
 * A job's command and its expressions (`\${{inputs.NAME}}`, `\${{outputs.NAME}}`, Azure's syntax):
 * checked against the names the file defines, then replaced by values for the job's runtime.
 */
import type { FieldProblem } from "./errors";
import type { JobSpec } from "./jobSpec";

// Azure's expression syntax; spaces inside the braces are allowed, a line break is not.
const EXPRESSION = /\$\{\{\s*(.*?)\s*\}\}/g;
const REFERENCE = /^(inputs|outputs)\.([A-Za-z_][A-Za-z0-9_]*)$/;

type Root = "inputs" | "outputs";

export function expand(
    command: string,
    names: Record<Root, readonly string[]>,
    value: (root: Root, name: string) => string,
): { command: string; problems: FieldProblem[] } {
    const problems: FieldProblem[] = [];
    const problem = (message: string) => problems.push({ field: "command", message });
    const out = command.replace(EXPRESSION, (whole, ref: string) => {
        const m = REFERENCE.exec(ref);
        if (!m) {
            problem(`${whole}: only \${{inputs.NAME}} and \${{outputs.NAME}} are supported here`);
            return whole;
        }
        const root = m[1] as Root;
        const defined = names[root];
        if (!defined.includes(m[2])) {
            const kind = root.slice(0, -1);
            problem(
                `${whole}: no ${kind} "${m[2]}"; ` +
                    (defined.length ? `defined ${root}: ${defined.join(", ")}` : `the file defines no ${root}`),
            );
            return whole;
        }
        return value(root, m[2]);
    });
    if (command.replace(EXPRESSION, "").includes("${{")) {
        problem("an expression is not closed on its line: write ${{inputs.NAME}} or ${{outputs.NAME}}");
    }
    return { command: out, problems };
}

const SHELL_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** `v` as one shell word: unchanged when it is safe bare, in single quotes otherwise. */
export function shellQuote(v: string): string {
    return SHELL_SAFE.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command with every `${{inputs.NAME}}` / `${{outputs.NAME}}` replaced: a literal input by
 * its value, a path input or an output by its path inside the job's container (`paths`, from the
 * caller), each as one shell word.
 */
export function substituteCommand(
    spec: JobSpec,
    paths: { inputs: Record<string, string>; outputs: Record<string, string> },
): { command?: string; problems: FieldProblem[] } {
    const r = expand(
        spec.command,
        { inputs: Object.keys(spec.inputs), outputs: Object.keys(spec.outputs) },
        (root, name) => {
            const input = root === "inputs" ? spec.inputs[name] : undefined;
            const placed = Object.hasOwn(paths[root], name) ? paths[root][name] : undefined;
            const v = input?.kind === "literal" ? input.value : placed;
            // The caller places every path input and output; a missing one is its mistake, not the user's.
            if (v === undefined) throw new Error(`substituteCommand: no container path for ${root}.${name}`);
            return shellQuote(v);
        },
    );
    return r.problems.length ? { problems: r.problems } : { command: r.command, problems: [] };
}
