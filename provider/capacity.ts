import type { Capacity } from "./backends/backend";
import type { FieldProblem } from "./model/errors";
import { SIZE_CATALOG } from "./model/sizes";

/**
 * Capacity fails at preview, not as a create that hangs or an engine error: an instance must
 * fit on the backend. Suggests the catalog sizes that do fit.
 */
export function capacityProblems(
    size: { name: string; cpus: number; memoryGb: number; gpus: number },
    capacity: Capacity,
    where: string,
): FieldProblem[] {
    const fits = SIZE_CATALOG.filter(
        (s) => s.cpus <= capacity.cpus && s.memoryGb <= capacity.memoryGb && s.gpus <= capacity.gpus,
    ).map((s) => s.name);
    const hint = fits.length
        ? `; sizes that fit: ${fits.join(", ")}, or { cpus, memoryGb }`
        : "; use { cpus, memoryGb } within it";
    const label = size.name === "custom" ? "the size" : size.name;
    const problems: string[] = [];
    if (size.cpus > capacity.cpus) problems.push(`${label} needs ${size.cpus} vCPUs but ${where} has ${capacity.cpus}`);
    if (size.memoryGb > capacity.memoryGb)
        problems.push(
            `${label} needs ${size.memoryGb} GiB of memory but ${where} has ${capacity.memoryGb.toFixed(1)} GiB`,
        );
    if (size.gpus > capacity.gpus) {
        problems.push(
            capacity.gpus === 0
                ? `${label} needs ${size.gpus} GPU(s) but ${where} ${capacity.noGpus ?? "has none"}`
                : `${label} needs ${size.gpus} GPU(s) but the most any node of ${where} has is ${capacity.gpus}`,
        );
    }
    return problems.length ? [{ field: "size", message: problems.join("; ") + hint }] : [];
}
