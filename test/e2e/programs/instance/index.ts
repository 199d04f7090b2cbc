// Driven by test/e2e through the Automation API: config says what to declare.
import * as pulumi from "@pulumi/pulumi";
import { BackendArgs, ComputeInstance, ComputeInstanceArgs, Workspace } from "pulumi-compute-instance";

const config = new pulumi.Config();
const workspaceName = config.require("workspaceName");
const dockerHost = config.get("dockerHost");
const instances = config.requireObject<Record<string, Omit<ComputeInstanceArgs, "workspace">>>("instances");
// Pass the args through outputs, as values that come from other resources do, so the providers'
// own checks are exercised rather than the components' eager ones.
const viaOutputs = config.getBoolean("viaOutputs") ?? false;

const backend = config.getObject<BackendArgs>("backend") ?? { docker: dockerHost ? { host: dockerHost } : {} };
const workspace = new Workspace(workspaceName, {
    backend,
    image: config.get("image"),
    userFiles: { retainOnDelete: config.getBoolean("retainUserFiles") ?? true },
    agent: { checkInterval: config.get("agentCheckInterval"), image: config.get("agentImage") },
    network: config.getObject("network"),
    quota: config.getObject("quota"),
});

// Schedules must be a list when the program runs; their fields may be outputs.
const outputsOf = (o: object) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, pulumi.output(v)]));
const wrap = (k: string, v: unknown): unknown =>
    k === "schedules" && Array.isArray(v)
        ? v.map((s) => outputsOf(s))
        : k === "idleShutdown" && v && typeof v === "object"
          ? outputsOf(v)
          : pulumi.output(v);

export const userFilesVolume = workspace.userFilesVolume;
export const out: Record<string, pulumi.Output<unknown>> = {};
for (const [name, args] of Object.entries(instances)) {
    const given = viaOutputs ? Object.fromEntries(Object.entries(args).map(([k, v]) => [k, wrap(k, v)])) : args;
    const i = new ComputeInstance(name, { workspace, ...given });
    out[name] = pulumi.output({
        instanceId: i.instanceId,
        status: i.status,
        endpoints: i.endpoints,
        token: i.token,
        cpus: i.cpus,
        memoryGb: i.memoryGb,
        osDiskVolume: i.osDiskVolume,
        tempDiskVolume: i.tempDiskVolume,
        schedules: i.schedules,
        labels: i.labels,
    });
}
