/**
 * The workspace agent's check: read the policies, the instances and the agent's memory; start or
 * stop what a schedule or idle shutdown says; remember. One instance that cannot be read or acted
 * on is logged and skipped: the others are still checked.
 */
import type { AgentStore, Backend, EgressSpec, InboundSpec, InstanceView } from "../provider/backends/backend";
import { progressTo, silentProgress } from "../provider/progress";
import { ScheduleSpec, scheduleSchema } from "../provider/model/schedule";
import { readActivity } from "./activity";
import {
    Activity,
    AgentMemory,
    Operation,
    PowerAction,
    Trigger,
    dueScheduleAction,
    emptyMemory,
    idleVerdict,
} from "./decide";

export interface InstancePolicy {
    schedules: ScheduleSpec[];
    idleAfterSeconds?: number;
}

export type Logger = (entry: Record<string, unknown>) => void;

export const jsonLogger: Logger = (entry) =>
    process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`);

/** Policies by instance, from the store's keys (`schedule.<instance>.<name>`, `idle.<instance>`). */
export function policiesByInstance(raw: Record<string, unknown>, log: Logger): Map<string, InstancePolicy> {
    const out = new Map<string, InstancePolicy>();
    const of = (instance: string) => {
        let p = out.get(instance);
        if (!p) out.set(instance, (p = { schedules: [] }));
        return p;
    };
    for (const [key, value] of Object.entries(raw)) {
        const [kind, instance, name] = key.split(".");
        if (kind === "schedule" && instance && name) {
            const r = scheduleSchema.safeParse(value);
            if (r.success) of(instance).schedules.push({ ...r.data, name });
            else
                log({
                    level: "warning",
                    instance,
                    message: `ignoring schedule "${name}": ${r.error.issues[0]?.message}`,
                });
        } else if (kind === "idle" && instance) {
            const after = (value as { afterSeconds?: unknown } | null)?.afterSeconds;
            if (typeof after === "number" && after > 0) of(instance).idleAfterSeconds = after;
        }
    }
    return out;
}

export function memoryFrom(raw: unknown): AgentMemory {
    const m = raw && typeof raw === "object" ? (raw as Partial<AgentMemory>) : {};
    return {
        ...emptyMemory(),
        handledUntil: { ...(m.handledUntil ?? {}) },
        lastOperation: { ...(m.lastOperation ?? {}) },
        ...(m.activeAt ? { activeAt: { ...m.activeAt } } : {}),
    };
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
    /** The last problem logged per instance, kept by a long-running agent between checks. */
    problems?: Map<string, string>;
}

/** One check of every instance of the workspace. Returns the memory it saved. */
export async function checkOnce(ctx: AgentContext): Promise<AgentMemory> {
    const now = ctx.now?.() ?? new Date();
    const [rawPolicies, instances, rawMemory] = await Promise.all([
        ctx.store.readPolicies(),
        ctx.backend.listInstances(ctx.workspace),
        ctx.store.readMemory(),
    ]);
    const policies = policiesByInstance(rawPolicies, ctx.log);
    const memory = memoryFrom(rawMemory);
    await repairApplications(ctx);
    const before = JSON.stringify(memory);
    const handled: Record<string, string> = {};

    for (const view of instances) {
        noteUserOperation(ctx, memory, view.instance, rawPolicies[`operation.${view.instance}`]);
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
            if (policy.idleAfterSeconds && view.status === "Running" && view.startedAt) {
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
    // Marks of schedules and instances that no longer exist are dropped.
    memory.handledUntil = handled;
    for (const name of Object.keys(memory.lastOperation)) {
        if (!instances.some((v) => v.instance === name)) delete memory.lastOperation[name];
    }
    for (const name of Object.keys(memory.activeAt ?? {})) {
        if (!instances.some((v) => v.instance === name)) delete memory.activeAt?.[name];
    }
    if (JSON.stringify(memory) !== before) await ctx.store.writeMemory(memory);
    return memory;
}

/**
 * Operations made by hand (the CLI records them in the store) join the agent's log and its last
 * operation, so one log tells every power change and who asked for it.
 */
function noteUserOperation(ctx: AgentContext, memory: AgentMemory, instance: string, raw: unknown): void {
    const op = raw as Partial<Operation> | null | undefined;
    if (!op || op.trigger !== "User" || typeof op.at !== "string") return;
    const last = memory.lastOperation[instance];
    if (last && last.at >= op.at) return;
    memory.lastOperation[instance] = op as Operation;
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
    const policies = raw ?? (await ctx.store.readPolicies());
    let applied = 0;
    for (const [key, value] of Object.entries(policies)) {
        if (!value || typeof value !== "object") continue;
        try {
            if (key === "network.egress") {
                const spec = value as EgressSpec & { signature?: string };
                if ((await ctx.backend.readEgress(spec)) === spec.signature) continue;
                await ctx.backend.applyEgress(spec, silentProgress);
            } else if (key.startsWith("network.inbound.")) {
                const spec = value as InboundSpec;
                if (await ctx.backend.inboundRulesIntact(spec)) continue;
                await ctx.backend.applyInboundRules(spec);
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
