/**
 * The workspace agent's check: read the policies, the instances and the agent's memory; start or
 * stop what a schedule or idle shutdown says; remember. One instance that cannot be read or acted
 * on is logged and skipped: the others are still checked.
 */
import type { AgentStore, Backend, InstanceView } from "../provider/backends/backend";
import { progressTo, silentProgress } from "../provider/progress";
import type { ScheduleSpec } from "../provider/model/schedule";
import {
    AgentMemory,
    KeyedProblem,
    Operation,
    RecordKind,
    RecordProblem,
    StoredRecord,
    StoredRecords,
    Trigger,
    agentRecords,
    encodeKey,
    readRecords,
} from "../provider/model/agentProtocol";
import { readActivity } from "./activity";
import { checkJobs, instancesWithJobs, submittedJobs } from "./jobs";
import { Activity, PowerAction, dueScheduleAction, idleVerdict } from "./decide";

export interface InstancePolicy {
    schedules: ScheduleSpec[];
    idleAfterSeconds?: number;
}

export type Logger = (entry: Record<string, unknown>) => void;

export const jsonLogger: Logger = (entry) =>
    process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`);

/** Policies by instance, from the store's records; schedules and idle periods that cannot be read are logged. */
export function policiesByInstance(raw: Record<string, unknown>, log: Logger): Map<string, InstancePolicy> {
    const all = readRecords(raw);
    for (const p of all.problems) if (p.record.kind === "schedule" || p.record.kind === "idle") log(unreadable(p));
    return instancePolicies(all);
}

export function instancePolicies(all: StoredRecords): Map<string, InstancePolicy> {
    const out = new Map<string, InstancePolicy>();
    const of = (instance: string) => {
        let p = out.get(instance);
        if (!p) out.set(instance, (p = { schedules: [] }));
        return p;
    };
    for (const r of all.records) {
        if (r.kind === "schedule") of(r.key.instance).schedules.push({ ...r.value, name: r.key.name });
        else if (r.kind === "idle") of(r.key.instance).idleAfterSeconds = r.value.afterSeconds;
    }
    return out;
}

/** The kinds of record a check reads (the network rules are read by {@link restoreNetworkRules}). */
const CHECK_READS: ReadonlySet<RecordKind> = new Set(["schedule", "idle", "operation"]);

/** A log entry for a record the agent cannot read, saying what it does instead. */
function unreadable(p: KeyedProblem): Record<string, unknown> {
    const r = p.record;
    switch (r.kind) {
        case "schedule":
            return { level: "warning", instance: r.instance, message: `ignoring schedule "${r.name}": ${p.reason}` };
        case "idle":
            return { level: "warning", instance: r.instance, message: `ignoring idle shutdown: ${p.reason}` };
        case "operation":
            return {
                level: "warning",
                instance: r.instance,
                message: `ignoring the operation recorded by the CLI: ${p.reason}`,
            };
        default:
            return { level: "warning", message: p.message };
    }
}

export interface AgentContext {
    workspace: string;
    backend: Backend;
    store: AgentStore;
    log: Logger;
    /** How long a scheduled start waits for the instance to answer. */
    startTimeoutSeconds: number;
    /** Reads activity; the default asks the instance's Jupyter server. */
    activity?: (view: InstanceView) => Promise<Activity>;
    now?: () => Date;
    /**
     * The last problem logged per instance (and per unreadable record), kept by a long-running
     * agent between checks.
     */
    problems?: Map<string, string>;
}

/**
 * The time the check acts at: the clock's, moved by the test clock's record when one is there
 * (tests reach a schedule's minute without waiting for it). Said in the log when it changes.
 */
function testClock(ctx: AgentContext, records: readonly StoredRecord[]): Date {
    const clock = records.find((r): r is Extract<StoredRecord, { kind: "clock" }> => r.kind === "clock");
    const offset = clock?.value.offsetSeconds ?? 0;
    const said = ctx.problems?.get("test:clock") ?? "0";
    if (String(offset) !== said) {
        ctx.problems?.set("test:clock", String(offset));
        ctx.log({ level: "warning", message: `test clock: acting ${offset}s from the machine's time` });
    }
    return new Date(Date.now() + offset * 1000);
}

/** One check of every instance of the workspace. Returns the memory it saved. */
export async function checkOnce(ctx: AgentContext): Promise<AgentMemory> {
    const records = agentRecords(ctx.store);
    const [all, instances, stored] = await Promise.all([
        records.readAll(),
        ctx.backend.listInstances(ctx.workspace),
        records.readMemory(),
    ]);
    const now = ctx.now?.() ?? testClock(ctx, all.records);
    logUnreadable(ctx, [
        ...all.problems
            .filter((p) => CHECK_READS.has(p.record.kind))
            .map((p) => ({ key: p.key, entry: unreadable(p) })),
        ...(stored.problem ? [{ key: stored.problem.key, entry: unreadableMemory(stored.problem) }] : []),
    ]);
    const policies = instancePolicies(all);
    const userOperations = new Map<string, Operation>();
    for (const r of all.records) if (r.kind === "operation") userOperations.set(r.key.instance, r.value);
    const memory = stored.memory;
    const withJobs = instancesWithJobs(submittedJobs(all.records), memory);
    await repairApplications(ctx);
    const before = JSON.stringify(memory);
    const handled: Record<string, string> = {};

    for (const view of instances) {
        noteUserOperation(ctx, memory, view.instance, userOperations.get(view.instance));
        const policy = policies.get(view.instance) ?? { schedules: [] };
        const due = dueScheduleAction(view.instance, policy.schedules, memory.handledUntil, now);
        Object.assign(handled, due.handledUntil);
        try {
            if (due.decision) {
                const d = due.decision;
                await act(
                    ctx,
                    memory,
                    view,
                    d.action,
                    "Schedule",
                    `schedule "${d.schedule}" fired at ${d.firedAt.toISOString()}`,
                );
                continue;
            }
            // A queued or running job keeps its instance in use.
            if (withJobs.has(view.instance))
                memory.activeAt = { ...memory.activeAt, [view.instance]: now.toISOString() };
            else if (policy.idleAfterSeconds && view.status === "Running" && view.startedAt) {
                const activity = await (ctx.activity ?? defaultActivity)(view);
                const seen = memory.activeAt?.[view.instance];
                const verdict = idleVerdict(
                    policy.idleAfterSeconds,
                    activity,
                    new Date(view.startedAt),
                    now,
                    seen ? new Date(seen) : undefined,
                );
                // In use right now: the quiet period can only start after this check.
                if (!verdict.idle && verdict.quietSince === undefined)
                    memory.activeAt = { ...memory.activeAt, [view.instance]: now.toISOString() };
                if (verdict.idle) await act(ctx, memory, view, "stop", "IdleShutdown", verdict.reason);
            }
            ctx.problems?.delete(view.instance);
        } catch (e) {
            // Logged when the problem starts or changes, not at every check.
            const message = `skipped this check: ${(e as Error).message}`;
            if (ctx.problems?.get(view.instance) !== message)
                ctx.log({ level: "error", instance: view.instance, message });
            ctx.problems?.set(view.instance, message);
        }
    }
    try {
        await checkJobs({ ...ctx, memory, records: all.records, views: instances, now });
        ctx.problems?.delete("jobs:");
    } catch (e) {
        const message = `job queue skipped this check: ${(e as Error).message}`;
        if (ctx.problems?.get("jobs:") !== message) ctx.log({ level: "error", message });
        ctx.problems?.set("jobs:", message);
    }
    // Marks of schedules and instances that no longer exist are dropped.
    memory.handledUntil = handled;
    for (const name of Object.keys(memory.lastOperation)) {
        if (!instances.some((v) => v.instance === name)) delete memory.lastOperation[name];
    }
    for (const name of Object.keys(memory.activeAt ?? {})) {
        if (!instances.some((v) => v.instance === name)) delete memory.activeAt?.[name];
    }
    if (JSON.stringify(memory) !== before) await records.writeMemory(memory);
    return memory;
}

/** An unreadable memory is started again: logged once, with what that means. */
function unreadableMemory(p: RecordProblem): Record<string, unknown> {
    return {
        level: "warning",
        message: `${p.message}; starting from an empty memory (schedules are seen anew, so firings missed until now are not caught up)`,
    };
}

/**
 * Records the agent cannot read are logged when the problem appears or changes, not at every
 * check; one that was fixed and breaks again is logged again.
 */
function logUnreadable(ctx: AgentContext, problems: { key: string; entry: Record<string, unknown> }[]): void {
    // Store keys are kept apart from instance names, which have no ":".
    const mark = (key: string) => `record:${key}`;
    const now = new Set(problems.map((p) => mark(p.key)));
    for (const key of ctx.problems?.keys() ?? [])
        if (key.startsWith("record:") && !now.has(key)) ctx.problems?.delete(key);
    for (const { key, entry } of problems) {
        const text = JSON.stringify(entry);
        if (ctx.problems?.get(mark(key)) === text) continue;
        ctx.problems?.set(mark(key), text);
        ctx.log(entry);
    }
}

/**
 * Operations made by hand (the CLI records them in the store) join the agent's log and its last
 * operation, so one log tells every power change and who asked for it.
 */
function noteUserOperation(ctx: AgentContext, memory: AgentMemory, instance: string, op?: Operation): void {
    if (!op || op.trigger !== "User") return;
    const last = memory.lastOperation[instance];
    if (last && last.at >= op.at) return;
    memory.lastOperation[instance] = op;
    ctx.log({
        level: "info",
        instance,
        operation: op.operation,
        trigger: "User",
        reason: op.reason,
        status: op.status,
        at: op.at,
    });
}

async function defaultActivity(view: InstanceView): Promise<Activity> {
    if (!view.jupyterUrl || !view.token) throw new Error("the instance's Jupyter address or token is unknown");
    return readActivity(view.jupyterUrl, view.token);
}

async function act(
    ctx: AgentContext,
    memory: AgentMemory,
    view: InstanceView,
    action: PowerAction,
    trigger: Trigger,
    reason: string,
): Promise<void> {
    const wanted = action === "stop" ? "Stopped" : "Running";
    if (view.status === wanted) {
        ctx.log({
            level: "info",
            instance: view.instance,
            trigger,
            message: `already ${wanted.toLowerCase()}: nothing to do (${reason})`,
        });
        return;
    }
    const op: Operation = {
        operation: action === "stop" ? "Stop" : "Start",
        trigger,
        at: new Date().toISOString(),
        reason,
        status: "Succeeded",
    };
    ctx.log({
        level: "info",
        instance: view.instance,
        operation: op.operation,
        trigger,
        reason,
        message: `${action === "stop" ? "stopping" : "starting"}`,
    });
    const started = Date.now();
    try {
        if (action === "stop") await ctx.backend.stopRuntime(view.id);
        else {
            const progress = progressTo((m, ephemeral) =>
                ephemeral ? undefined : ctx.log({ level: "info", instance: view.instance, message: m }),
            );
            await ctx.backend.startRuntime(view.id, progress, ctx.startTimeoutSeconds);
        }
    } catch (e) {
        op.status = "Failed";
        op.error = (e as Error).message;
    }
    memory.lastOperation[view.instance] = op;
    ctx.log({
        level: op.status === "Succeeded" ? "info" : "error",
        instance: view.instance,
        operation: op.operation,
        trigger,
        reason,
        status: op.status,
        seconds: Math.round((Date.now() - started) / 100) / 10,
        ...(op.error ? { error: op.error } : {}),
    });
}

/** Custom applications left outside their instance's network by an engine restart are put back in. */
async function repairApplications(ctx: AgentContext): Promise<void> {
    try {
        for (const name of (await ctx.backend.repairApplications?.(ctx.workspace)) ?? []) {
            ctx.log({
                level: "warning",
                message: `${name} had started before its instance (an engine restart?); restarted it into the instance's network`,
            });
        }
    } catch (e) {
        ctx.log({ level: "error", message: `could not check the custom applications: ${(e as Error).message}` });
    }
}

/**
 * Docker: the network rules the NetworkRule resources applied live in the host's iptables, which
 * a reboot empties (the engine then restarts the instances, and this agent, before anyone runs
 * `pulumi up`). The agent checks its copies and applies again what is missing. Returns how many
 * it applied.
 */
export async function restoreNetworkRules(ctx: AgentContext, raw?: Record<string, unknown>): Promise<number> {
    const all = raw ? readRecords(raw) : await agentRecords(ctx.store).readAll();
    for (const p of all.problems) {
        if (p.record.kind === "egress" || p.record.kind === "inbound")
            ctx.log({ level: "warning", message: `could not restore network rules ${p.key}: ${p.reason}` });
    }
    let applied = 0;
    for (const r of all.records) {
        const key = encodeKey(r.key);
        try {
            if (r.kind === "egress") {
                if ((await ctx.backend.readEgress(r.value)) === r.value.signature) continue;
                await ctx.backend.applyEgress(r.value, silentProgress);
            } else if (r.kind === "inbound") {
                if (await ctx.backend.inboundRulesIntact(r.value)) continue;
                await ctx.backend.applyInboundRules(r.value);
            } else {
                continue;
            }
            applied++;
            ctx.log({
                level: "warning",
                message: `network rules ${key} were missing on the host (a reboot?); applied them again`,
            });
        } catch (e) {
            ctx.log({ level: "error", message: `could not restore network rules ${key}: ${(e as Error).message}` });
        }
    }
    return applied;
}
