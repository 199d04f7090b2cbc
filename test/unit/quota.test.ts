import { quotaProblems, quotaSchema } from "../../provider/model/quota";

const me = "proj/dev";
const them = "other/prod";

describe("workspace quota", () => {
    const existing = [
        { instance: "alice", owner: me, cpus: 4, gpus: 0 },
        { instance: "bob", owner: them, cpus: 8, gpus: 1, stopped: true },
    ];

    test("within the quota: no problem", () => {
        expect(
            quotaProblems("ml", { cores: 16 }, me, existing, [{ instance: "alice", owner: me, cpus: 4, gpus: 0 }]),
        ).toEqual([]);
    });

    test("exceeding it names the quota, the total and every instance, other stacks' and stopped ones included", () => {
        const declared = [
            { instance: "alice", owner: me, cpus: 4, gpus: 0 },
            { instance: "carol", owner: me, cpus: 6, gpus: 0 },
        ];
        expect(quotaProblems("ml", { cores: 16 }, me, existing, declared)).toEqual([
            {
                field: "quota.cores",
                message:
                    'workspace "ml" would use 18 cores of its quota of 16: alice 4, bob 8 (stack other/prod, stopped), carol 6 (new). ' +
                    "Stopped instances count too; raise quota.cores, or make or delete instances",
            },
        ]);
    });

    test("an instance this stack no longer declares is being deleted: it does not count", () => {
        expect(
            quotaProblems("ml", { cores: 12 }, me, existing, [{ instance: "carol", owner: me, cpus: 4, gpus: 0 }]),
        ).toEqual([]);
    });

    test("GPUs have their own quota", () => {
        const [p] = quotaProblems("ml", { gpus: 1 }, me, existing, [
            { instance: "alice", owner: me, cpus: 4, gpus: 1 },
        ]);
        expect(p.field).toBe("quota.gpus");
        expect(p.message).toContain("would use 2 GPUs of its quota of 1: alice 1, bob 1 (stack other/prod, stopped)");
    });

    test("already exceeded: a change that adds says so; one that does not add passes", () => {
        const [p] = quotaProblems("ml", { cores: 10 }, me, existing, [
            { instance: "alice", owner: me, cpus: 6, gpus: 0 },
        ]);
        expect(p.message).toContain("would use 14 cores of its quota of 10; already 12 before this change");
        expect(
            quotaProblems("ml", { cores: 10 }, me, existing, [{ instance: "alice", owner: me, cpus: 4, gpus: 0 }]),
        ).toEqual([]);
        expect(
            quotaProblems("ml", { cores: 10 }, me, existing, [{ instance: "alice", owner: me, cpus: 2, gpus: 0 }]),
        ).toEqual([]);
    });

    test("fractional cores add up without floating-point noise", () => {
        const declared = [0.1, 0.2, 0.3].map((cpus, i) => ({ instance: `i${i}`, owner: me, cpus, gpus: 0 }));
        expect(quotaProblems("ml", { cores: 0.6 }, me, [], declared)).toEqual([]);
    });

    test("the schema", () => {
        expect(quotaSchema.safeParse({ cores: 0 }).success).toBe(false);
        expect(quotaSchema.safeParse({ gpus: 1.5 }).success).toBe(false);
        expect(quotaSchema.safeParse({ cpus: 4 }).success).toBe(false);
        expect(quotaSchema.parse({ cores: 24, gpus: 2 })).toEqual({ cores: 24, gpus: 2 });
    });
});
