import { JobRuntime, JobState, QueueInstance, QueuedJob, planJobs, slotsOf } from "../../agent/jobQueue";

const now = new Date("2026-12-01T12:00:00Z");
const at = (s: number) => new Date(now.getTime() + s * 1000).toISOString();
const job = (name: string, submitted: number, own: Partial<QueuedJob> = {}): QueuedJob => ({
    name,
    instance: "alice",
    submittedAt: at(submitted),
    ...own,
});
const oneCore: Record<string, QueueInstance> = { alice: { running: true, cpus: 1, perCore: 2 } };

/** Runs the queue as the agent does, check after check, the runtimes doing what it asks. */
function simulate(jobs: QueuedJob[], instances: Record<string, QueueInstance>, finishAfterChecks: number) {
    const states: Record<string, JobState> = {};
    const runtimes: Record<string, JobRuntime & { checks: number }> = {};
    const startedOrder: string[] = [];
    let maxAtOnce = 0;
    for (let check = 0; check < 100; check++) {
        for (const r of Object.values(runtimes))
            if (r.running && ++r.checks >= finishAfterChecks) Object.assign(r, { running: false, exitCode: 0 });
        const plan = planJobs({ now: new Date(now.getTime() + check * 1000), jobs, states, runtimes, instances });
        for (const a of plan.actions) {
            if (a.kind === "start") {
                runtimes[a.job] = { running: true, checks: 0 };
                startedOrder.push(a.job);
            } else runtimes[a.job].running = false;
        }
        Object.assign(states, plan.changed);
        maxAtOnce = Math.max(maxAtOnce, Object.values(runtimes).filter((r) => r.running).length);
        if (jobs.every((j) => ["Completed", "Failed", "Canceled"].includes(states[j.name]?.status))) break;
    }
    return { states, startedOrder, maxAtOnce };
}

describe("the job queue", () => {
    test("two per core: six jobs on one core never run more than two at once, and all complete in submission order", () => {
        const jobs = [5, 1, 3, 0, 2, 4].map((s) => job(`j${s}`, s));
        const r = simulate(jobs, oneCore, 3);
        expect(r.maxAtOnce).toBe(2);
        expect(r.startedOrder).toEqual(["j0", "j1", "j2", "j3", "j4", "j5"]);
        expect(Object.values(r.states).map((s) => s.status)).toEqual(Array(6).fill("Completed"));
    });

    test("slots: perCore × cores, at least one; none when the queue is off", () => {
        expect(slotsOf({ running: true, cpus: 0.5, perCore: 2 })).toBe(1);
        expect(slotsOf({ running: true, cpus: 0.25, perCore: 1 })).toBe(1);
        expect(slotsOf({ running: true, cpus: 4, perCore: 1 })).toBe(4);
        expect(slotsOf({ running: true, cpus: 2, perCore: 2 })).toBe(4);
        expect(slotsOf({ running: true, cpus: 2, perCore: 0 })).toBe(0);
    });

    test("a new job is Queued; it starts when a slot is free and its instance runs", () => {
        const first = planJobs({ now, jobs: [job("a", 0)], states: {}, runtimes: {}, instances: oneCore });
        expect(first).toEqual({
            actions: [{ kind: "start", job: "a" }],
            changed: { a: { status: "Running", startedAt: now.toISOString() } },
        });
        const stopped = { alice: { ...oneCore.alice, running: false } };
        const waiting = planJobs({ now, jobs: [job("a", 0)], states: {}, runtimes: {}, instances: stopped });
        expect(waiting).toEqual({ actions: [], changed: { a: { status: "Queued" } } });
    });

    test("exit codes: 0 is Completed, others Failed with the code; ended with no code recorded was interrupted", () => {
        const states: Record<string, JobState> = {
            ok: { status: "Running", startedAt: at(-10) },
            bad: { status: "Running", startedAt: at(-10) },
            killed: { status: "Running", startedAt: at(-10) },
        };
        const plan = planJobs({
            now,
            jobs: [job("ok", 0), job("bad", 1), job("killed", 2)],
            states,
            runtimes: {
                ok: { running: false, exitCode: 0 },
                bad: { running: false, exitCode: 3 },
                killed: { running: false },
            },
            instances: oneCore,
        });
        expect(plan.actions).toEqual([]);
        expect(plan.changed.ok).toMatchObject({ status: "Completed", exitCode: 0, endedAt: now.toISOString() });
        expect(plan.changed.bad).toMatchObject({ status: "Failed", exitCode: 3, reason: "exited with code 3" });
        expect(plan.changed.killed).toMatchObject({ status: "Failed", reason: expect.stringMatching(/^interrupted/) });
        expect(plan.changed.killed.exitCode).toBeUndefined();
    });

    test("a canceled queued job never starts; a canceled running one is stopped, then Canceled whatever its exit code", () => {
        const queued = planJobs({
            now,
            jobs: [job("q", 0, { cancelRequested: true })],
            states: { q: { status: "Queued" } },
            runtimes: {},
            instances: oneCore,
        });
        expect(queued).toEqual({
            actions: [],
            changed: { q: { status: "Canceled", endedAt: now.toISOString(), reason: "canceled before it started" } },
        });
        const states: Record<string, JobState> = { r: { status: "Running", startedAt: at(-5) } };
        const cancel = planJobs({
            now,
            jobs: [job("r", 0, { cancelRequested: true })],
            states,
            runtimes: { r: { running: true } },
            instances: oneCore,
        });
        expect(cancel.actions).toEqual([{ kind: "stop", job: "r" }]);
        expect(cancel.changed.r).toMatchObject({ status: "CancelRequested", reason: "canceled by the user" });
        const after = planJobs({
            now,
            jobs: [job("r", 0, { cancelRequested: true })],
            states: { ...states, ...cancel.changed },
            runtimes: { r: { running: false, exitCode: 143 } },
            instances: oneCore,
        });
        expect(after.changed.r).toMatchObject({ status: "Canceled", reason: "canceled by the user", exitCode: 143 });
    });

    test("a timeout stops the job once its time is up, counted from its start", () => {
        const plan = (seconds: number) =>
            planJobs({
                now: new Date(now.getTime() + seconds * 1000),
                jobs: [job("t", 0, { timeoutSeconds: 30 })],
                states: { t: { status: "Running", startedAt: now.toISOString() } },
                runtimes: { t: { running: true } },
                instances: oneCore,
            });
        expect(plan(29).actions).toEqual([]);
        expect(plan(30).actions).toEqual([{ kind: "stop", job: "t" }]);
        expect(plan(30).changed.t.reason).toBe("timed out after 30s (limits.timeout)");
    });

    test("a stopped instance: its running jobs are canceled, its queued ones wait for the next start", () => {
        const stopped = { alice: { ...oneCore.alice, running: false } };
        const plan = planJobs({
            now,
            jobs: [job("r", 0), job("q", 1)],
            states: { r: { status: "Running", startedAt: at(-5) }, q: { status: "Queued" } },
            runtimes: { r: { running: true } },
            instances: stopped,
        });
        expect(plan.actions).toEqual([{ kind: "stop", job: "r" }]);
        expect(plan.changed).toEqual({
            r: { status: "CancelRequested", startedAt: at(-5), reason: "its instance stopped" },
        });
    });

    test("a deleted instance cancels everything it had", () => {
        const plan = planJobs({
            now,
            jobs: [job("r", 0), job("q", 1)],
            states: { r: { status: "Running", startedAt: at(-5) }, q: { status: "Queued" } },
            runtimes: { r: { running: true } },
            instances: {},
        });
        expect(plan.actions).toEqual([{ kind: "stop", job: "r" }]);
        expect(plan.changed.r.reason).toBe("its instance was deleted");
        expect(plan.changed.q).toMatchObject({ status: "Canceled", reason: "its instance was deleted" });
    });

    test("an agent that died after starting a job and before recording it adopts the job: never a second start", () => {
        const plan = planJobs({
            now,
            jobs: [job("a", 0), job("b", 1), job("c", 2)],
            states: { a: { status: "Queued" }, b: { status: "Queued" } },
            runtimes: { a: { running: true, startedAt: at(-3) }, b: { running: true, startedAt: at(-2) } },
            instances: oneCore,
        });
        expect(plan.actions).toEqual([]);
        expect(plan.changed).toEqual({
            a: { status: "Running", startedAt: at(-3) },
            b: { status: "Running", startedAt: at(-2) },
            c: { status: "Queued" },
        });
    });

    test("a job whose container went away while it ran failed; final jobs are left as they are", () => {
        const plan = planJobs({
            now,
            jobs: [job("gone", 0), job("done", 1)],
            states: { gone: { status: "Running", startedAt: at(-5) }, done: { status: "Completed", exitCode: 0 } },
            runtimes: { done: { running: false, exitCode: 0 } },
            instances: oneCore,
        });
        expect(plan.changed).toEqual({
            gone: {
                status: "Failed",
                startedAt: at(-5),
                endedAt: now.toISOString(),
                reason: "its container disappeared while it ran",
            },
        });
    });

    test("a job the backend stopped with its instance is Canceled for that, not Failed", () => {
        const plan = (instances: Record<string, QueueInstance>) =>
            planJobs({
                now,
                jobs: [job("r", 0)],
                states: { r: { status: "Running", startedAt: at(-5) } },
                runtimes: { r: { running: false } },
                instances,
            }).changed.r;
        expect(plan({ alice: { ...oneCore.alice, running: false } })).toMatchObject({
            status: "Canceled",
            reason: "its instance stopped",
        });
        expect(plan({})).toMatchObject({ status: "Canceled", reason: "its instance was deleted" });
        // Its instance still runs: killed by something else.
        expect(plan(oneCore)).toMatchObject({ status: "Failed" });
    });
});
