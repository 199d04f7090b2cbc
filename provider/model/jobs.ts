/** An instance's job queue settings as users write them (ComputeInstance `jobs`). */
import { z } from "zod";

/** Jobs at once per core when an instance does not say: two, as the requirement's compute instance runs them. */
export const DEFAULT_JOBS_PER_CORE = 2;

export const jobsSchema = z.strictObject({
    enabled: z.boolean({ message: "must be true or false" }).default(true),
    perCore: z
        .number({ message: "must be a number of jobs per core" })
        .positive({ message: "must be more than 0 (to take no jobs, set enabled: false)" })
        .max(16, { message: "must be at most 16" })
        .default(DEFAULT_JOBS_PER_CORE),
});
