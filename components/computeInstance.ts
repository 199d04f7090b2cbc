import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { KindResource } from "../provider/dynamic";
import type { InstanceStatus } from "../provider/backends/backend";
import type { Endpoints } from "../provider/model/endpoints";
import { Application } from "../provider/model/applications";
import { instanceSchema } from "../provider/model/schema";
import { isPlain, plainParts } from "./plain";
import { readScriptSources } from "../provider/model/setup";
import { checkInput, inputError } from "./inputErrors";
import { Firing, ScheduleAction, idleShutdownSchema, schedulesSchema } from "../provider/model/schedule";
import { jobsSchema } from "../provider/model/jobs";
import { Workspace } from "./workspace";
import { SharingPolicy, sharingPolicySchema } from "../provider/model/access";
import { instanceFields } from "../provider/model/schema";
import { instanceNetworkSchema, resolveInboundRules } from "../provider/model/instanceNetwork";

/** Inbound rules checked against what the instance serves, when all three are plain values. */
const inboundAgainstServices = z
    .object({ network: instanceNetworkSchema, applications: instanceFields.applications, ssh: instanceFields.ssh })
    .superRefine((v, ctx) => {
        for (const p of resolveInboundRules(v.network, v.applications, v.ssh !== undefined).problems) {
            ctx.addIssue({ code: "custom", path: ["network", ...p.path], message: p.message });
        }
    });

/**
 * The workspace's image, or its VS Code variant for instances that list "vscode" (known when the
 * program runs; applications known only later get the workspace's image, which must then have it).
 */
function imageFor(ws: Workspace, applications: ComputeInstanceArgs["applications"]): pulumi.Output<string> {
    return Array.isArray(applications) && applications.includes("vscode") ? ws.vscodeImage() : ws.image;
}

/**
 * The scripts' files are read now, relative to the program's directory: a missing file fails the
 * preview naming the field. Values known only later are read when they are.
 */
function scriptsOf(
    raw: pulumi.Input<SetupScriptsArgs> | undefined,
    instance: pulumi.Resource,
): pulumi.Input<Record<string, unknown>> | undefined {
    if (raw === undefined) return undefined;
    const read = (v: unknown) => {
        const { scripts, problems } = readScriptSources(v, process.cwd());
        if (problems.length) throw inputError(instance, problems);
        return scripts ?? {};
    };
    return isPlain(raw) ? read(raw) : pulumi.output(raw).apply(read);
}

/** A custom size, when no catalog size fits. */
export interface CustomSize {
    /** vCPUs, e.g. `2` or `0.5`. */
    cpus: number;
    /** Memory in GiB, at least 1. */
    memoryGb: number;
    /** NVIDIA GPUs. Default: 0. */
    gpus?: number;
}

export interface OsDiskArgs {
    /**
     * Size in GiB. Default: 128 (Azure's P10 OS disk). Growing it is applied in place; shrinking
     * it replaces the disk (a reimage: home and installed packages start over; user files stay).
     * On Docker the size is recorded, not enforced (local volumes have no quota).
     */
    sizeGb?: pulumi.Input<number>;
}

export interface TempDiskArgs {
    /**
     * Size in GiB of the scratch disk at `/mnt`, wiped at every start. Default: the size's temp
     * disk (28 GiB for Standard_DS3_v2). On Docker the size is recorded, not enforced.
     */
    sizeGb?: pulumi.Input<number>;
}

/** A start or stop schedule (Azure: `schedules.computeStartStop`). */
export interface ScheduleArgs {
    /**
     * The schedule's identity among the instance's, 1 to 32 lowercase letters, digits and `-`.
     * Default: its position in the list. Name schedules you may reorder or remove.
     */
    name?: string;
    /** `"start"` or `"stop"`. */
    action: pulumi.Input<ScheduleAction>;
    /** Five-field cron: minute hour day-of-month month day-of-week, e.g. `"0 18 * * 1-5"`. */
    cron: pulumi.Input<string>;
    /** IANA time zone the cron is read in, e.g. `"Europe/Madrid"`. Default: `"UTC"`. */
    timeZone?: pulumi.Input<string>;
    /** Default: `true`. A disabled schedule never fires. */
    enabled?: pulumi.Input<boolean>;
}

export interface IdleShutdownArgs {
    /**
     * Stop the instance after this long with no busy kernel, no open terminal and no kernel
     * activity, e.g. `"30m"` or ISO 8601 `"PT30M"` (Azure: `idleTimeBeforeShutdown`). At least 1 minute.
     */
    after: pulumi.Input<string>;
}

/**
 * The instance as a compute target: jobs submitted with `compute-instance job create` run on it,
 * each in its own container, at most `perCore × cores` at once, the rest queued.
 */
export interface JobsArgs {
    /** Default: `true`. `false`: job submissions to this instance are refused. */
    enabled?: pulumi.Input<boolean>;
    /** Jobs at once per core. Default 2; Azure's documentation now says 1. Changes apply live. */
    perCore?: pulumi.Input<number>;
}

/** SSH access (Azure: `sshSettings`). */
export interface SshArgs {
    /** Default: `false`. Turning SSH on or off restarts the instance (home and user files are kept). */
    enabled?: pulumi.Input<boolean>;
    /**
     * The one public key sshd accepts, for the instance user `azureuser` (no passwords, no root
     * login): the contents of e.g. `~/.ssh/id_ed25519.pub`. Required when enabled.
     */
    publicKey?: pulumi.Input<string>;
    /**
     * Docker: the host port SSH is published on (127.0.0.1); default: a free port, kept across
     * restarts. Kubernetes: the Service's port; default 22.
     */
    port?: pulumi.Input<number>;
}

/** A schedule as the stack outputs show it. */
export interface ScheduleOutput {
    name: string;
    action: ScheduleAction;
    /** The next firings, in UTC and in the schedule's time zone, as of the last deployment or refresh. */
    nextFirings: Firing[];
}

export interface ComputeInstanceArgs {
    /** The workspace the instance belongs to: its backend, user files and network. */
    workspace: Workspace;
    /**
     * The instance's name in the workspace (Azure's compute name): 3 to 24 lowercase letters,
     * digits and `-`, starting with a letter. Default: the resource name.
     */
    instanceName?: pulumi.Input<string>;
    /**
     * An Azure VM size name (Azure: `vmSize`), e.g. `"Standard_DS3_v2"` (4 vCPU, 14 GiB, 28 GiB
     * temp disk), matched ignoring case, or a custom `{ cpus, memoryGb, gpus? }`.
     * Default: `"Standard_DS3_v2"`. On Docker, CPU and memory changes apply live, without a restart.
     */
    size?: pulumi.Input<string | CustomSize>;
    /**
     * Image of the instance. Default: the workspace's image. Changing it restarts the instance
     * (home and user files are kept; /mnt is wiped). See images/README.md for what an image needs.
     */
    image?: pulumi.Input<string>;
    /**
     * Applications served from the instance, all through its Jupyter server and under its token:
     * `"jupyterlab"`, `"jupyter"` (the classic notebook), `"terminal"` (JupyterLab's terminal) and
     * `"vscode"` (VS Code in the browser: code-server, in the default image's vscode variant,
     * built when first needed). Default: `["jupyterlab", "jupyter", "terminal"]`. Changing them
     * restarts the instance. Each gets an endpoint and a readiness check.
     */
    applications?: pulumi.Input<pulumi.Input<Application>[]>;
    /**
     * Other applications (Azure: customServices), e.g. RStudio Server or a dashboard, each served
     * at `endpoints.<name>` (`/<name>/` of the Jupyter server, under its token) and checked for
     * readiness. `command` runs in the instance as its user when first opened (with `PORT` set);
     * `image` runs beside the instance, sharing its network (Docker: a container in its network
     * namespace; Kubernetes: a container of its pod), with the user files. At most 8.
     */
    customApplications?: pulumi.Input<pulumi.Input<CustomApplicationArgs>[]>;
    /** The OS disk: the home directory and what the user installs there. */
    osDisk?: pulumi.Input<OsDiskArgs>;
    /** The temporary disk at `/mnt`. */
    tempDisk?: pulumi.Input<TempDiskArgs>;
    /** Environment variables of the instance, e.g. `{ MLFLOW_TRACKING_URI: "http://mlflow:5000" }`. Secrets stay secret. */
    env?: pulumi.Input<Record<string, pulumi.Input<string>>>;
    /**
     * How long `pulumi up` waits for the applications to answer, e.g. `"5m"` or `"PT90S"`.
     * Default: `"5m"`.
     */
    readyTimeout?: pulumi.Input<string>;
    /**
     * Reimage trigger: setting it, or changing its value, replaces the OS disk with a fresh one
     * (the home directory and what was installed there start over; user files are kept), e.g.
     * `reimage: "2026-11-27"`. Azure: the compute instance's reimage action.
     */
    reimage?: pulumi.Input<string>;
    /**
     * Start and stop schedules, enforced by the workspace agent (at most 8). Power state is not
     * configuration: a scheduled stop never shows as a change in `pulumi preview`, and `pulumi up`
     * never starts a stopped instance. Changing a schedule applies live.
     */
    schedules?: ScheduleArgs[];
    /** Stop the instance when it has been idle this long (enforced by the workspace agent). */
    idleShutdown?: IdleShutdownArgs;
    /** Jobs (a training compute target): on, two per core, unless said otherwise. */
    jobs?: JobsArgs;
    /** SSH access with one public key; off by default. The URL is `endpoints.ssh`. */
    ssh?: pulumi.Input<SshArgs>;
    /**
     * Create on behalf of: the user the instance is for (Azure:
     * `personalComputeInstanceSettings.assignedUser`). Recorded on the instance's objects; on
     * Kubernetes the user (or groups) may port-forward, exec and read logs of this pod only.
     * Changing it restarts the instance.
     */
    assignedUser?: pulumi.Input<AssignedUserArgs>;
    /**
     * Whose token opens the applications (Azure: `applicationSharingPolicy`): `"Personal"` (the
     * default here; Azure's is `"Shared"`): the instance's own token, for its user only;
     * `"Shared"`: the workspace's token, the same for every shared instance. Known when the
     * program runs (it decides which token resource exists). Changing it applies live with the
     * default image (the old token stops working at once); images that read their token only at
     * start restart (images/README.md).
     */
    applicationSharingPolicy?: SharingPolicy;
    /**
     * Version of a Personal instance's access token; raise it to rotate the token: the old one
     * stops working, and so do browser sessions opened with it. Live with the default image (no
     * restart). Default: 1.
     */
    tokenVersion?: pulumi.Input<number>;
    /**
     * Your labels (Azure: tags), e.g. `{ team: "vision", "cost-center": "cc-1234" }`, with
     * Kubernetes' label rules (names and values up to 63 characters; the prefixes
     * `compute-instance.pulumi.io/` and `*kubernetes.io/` are reserved). Changing them applies
     * live. Kubernetes: labels of the StatefulSet and the pod (`kubectl get pods -l team=vision`).
     * Docker: a container's labels cannot change, so they are kept by the workspace agent and
     * shown by `compute-instance list`.
     */
    labels?: pulumi.Input<Record<string, pulumi.Input<string>>>;
    /** Who may connect to the instance's applications and SSH. */
    network?: pulumi.Input<InstanceNetworkArgs>;
    /**
     * Customisation scripts. A script that fails (or times out) leaves the instance running for
     * inspection, with nothing else started, and fails `pulumi up` with its last output (SetupFailed).
     */
    setupScripts?: pulumi.Input<SetupScriptsArgs>;
}

/**
 * A setup script: its text, `{ inline: "..." }`, or `{ file: "scripts/setup.sh" }` (relative to
 * the program's directory, read when the program runs, so a preview shows an edit as a change).
 */
export type ScriptArgs = string | { inline: string } | { file: string };

/** Setup scripts (Azure: `setupScripts`). Any change restarts the instance. */
export interface SetupScriptsArgs {
    /**
     * Runs once per OS disk and per content, before the applications start (an edited script runs
     * once more; a reimage runs it again). As root on Docker (use `runuser -u azureuser -- cmd` to act as
     * the instance user); as the instance user on Kubernetes (the pod runs as non-root). What it
     * installs outside the home directory lasts until the container is replaced: put system
     * packages in the image, or in the startup script.
     */
    creation?: pulumi.Input<ScriptArgs>;
    /** Runs at every start (by hand, by a schedule, or by the engine), after the creation script. */
    startup?: pulumi.Input<ScriptArgs>;
    /**
     * Time limit of each script, e.g. `"15m"` (default) or `"PT30M"`; a script that runs longer
     * fails the setup (SetupFailed). `pulumi up` waits this much longer for the applications.
     */
    timeout?: pulumi.Input<string>;
}

export interface CustomApplicationArgs {
    /** 2 to 32 lowercase letters, digits and `-`; its URL path (`/<name>/`) and endpoint name. */
    name: pulumi.Input<string>;
    /** The port it listens on, 1024 to 65535 (not 8888 or 2222). */
    port: pulumi.Input<number>;
    /** A shell command that starts it, listening on `$PORT`. */
    command?: pulumi.Input<string>;
    /** An image to run it from, beside the instance. */
    image?: pulumi.Input<string>;
}

export interface InboundRuleArgs {
    /** An application of the instance (`"jupyterlab"`, `"jupyter"`) or `"ssh"`; or give `port`. */
    application?: pulumi.Input<"jupyterlab" | "jupyter" | "ssh">;
    /** A port the instance serves (8888 Jupyter, 2222 SSH), instead of `application`. */
    port?: pulumi.Input<number>;
    /** CIDR ranges allowed to connect, e.g. `["10.0.0.0/8"]`; `"0.0.0.0/0"` for anywhere. */
    from: pulumi.Input<pulumi.Input<string>[]>;
}

export interface InstanceNetworkArgs {
    /**
     * The services that may be reached from outside, and from where. With rules, only the
     * services named are published (Docker) and the ranges apply live; without, every service is
     * published on 127.0.0.1 (Docker) / open to the workspace's pods (Kubernetes). Docker enforces
     * the ranges with iptables when `publicBind` is on (on loopback every client is this machine);
     * Kubernetes with the instance's NetworkPolicy.
     */
    inbound?: pulumi.Input<pulumi.Input<InboundRuleArgs>[]>;
    /**
     * Docker: publish on every address of the engine's host (0.0.0.0) instead of 127.0.0.1.
     * Changing it, or which services the rules name, restarts the instance. Default: `false`.
     */
    publicBind?: pulumi.Input<boolean>;
}

export interface AssignedUserArgs {
    /** A POSIX login name that Kubernetes accepts too, e.g. `"alice"`. */
    name: pulumi.Input<string>;
    /** The user's id in your directory (e.g. an Entra object id), recorded as a label. */
    id?: pulumi.Input<string>;
    /** Kubernetes: the RBAC user name granted the pod (e.g. an OIDC e-mail). Default: `name`. */
    kubernetesUser?: pulumi.Input<string>;
    /** Kubernetes: RBAC groups granted the pod too. */
    kubernetesGroups?: pulumi.Input<pulumi.Input<string>[]>;
}

/**
 * A compute instance: a single-node data-science workstation (JupyterLab, Jupyter) with an OS
 * disk, a temp disk at `/mnt` and the workspace's user files, on the workspace's backend.
 *
 * Its parts are resources of their own, so a preview says what a change does: `OsDisk`,
 * `TempDisk`, `AccessToken` and `Runtime` (the container).
 *
 * ## Example Usage
 * ```ts
 * const ws = new Workspace("ml-team", { backend: { docker: {} } });
 * const alice = new ComputeInstance("alice", { workspace: ws, size: "Standard_DS3_v2" });
 * export const lab = alice.endpoints.jupyterLab;
 * export const token = alice.token; // a secret
 * ```
 */
export class ComputeInstance extends pulumi.ComponentResource {
    /** `workspace/instance`: unique on the backend, stable across restarts and replacements. */
    readonly instanceId: pulumi.Output<string>;
    /** The instance's state when this deployment last changed it (Azure state names). */
    readonly status: pulumi.Output<InstanceStatus>;
    /** URLs of the applications (on 127.0.0.1 on Docker) and `ssh` when SSH is on. */
    readonly endpoints: pulumi.Output<Endpoints>;
    /** The applications' access token. A secret. */
    readonly token: pulumi.Output<string>;
    /** vCPUs and GiB of memory the instance has. */
    readonly cpus: pulumi.Output<number>;
    readonly memoryGb: pulumi.Output<number>;
    /** Backend names of the disks. */
    readonly osDiskVolume: pulumi.Output<string>;
    readonly tempDiskVolume: pulumi.Output<string>;
    /** The schedules and their next firings. */
    readonly schedules: pulumi.Output<ScheduleOutput[]>;
    /** The user's labels as the backend has them. */
    readonly labels: pulumi.Output<Record<string, string>>;

    constructor(name: string, args: ComputeInstanceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("compute-instance:index:ComputeInstance", name, {}, opts);
        const ws = args.workspace;
        if (!(ws instanceof Workspace)) {
            throw inputError(this, [{ field: "workspace", message: "must be a Workspace" }]);
        }
        const instanceName = args.instanceName ?? name;
        const {
            workspace: _ws,
            instanceName: _n,
            reimage: _r,
            schedules = [],
            idleShutdown,
            jobs,
            applicationSharingPolicy = "Personal",
            tokenVersion,
            setupScripts: _s,
            ...rest
        } = args;
        // Plain values are checked now, so a typo fails before anything is registered; values
        // that come from other resources are checked by the providers once known.
        checkInput(this, instanceSchema.in.partial(), plainParts({ ...rest, name: instanceName }));
        if (!Array.isArray(schedules))
            throw inputError(this, [
                { field: "schedules", message: "must be a list (its length must be known when the program runs)" },
            ]);
        checkInput(
            this,
            z.object({ schedules: schedulesSchema, idleShutdown: idleShutdownSchema, jobs: jobsSchema }).partial(),
            plainParts({ schedules, idleShutdown, jobs }),
        );
        checkInput(this, z.object({ applicationSharingPolicy: sharingPolicySchema }), { applicationSharingPolicy });
        const plain = plainParts({ network: args.network, applications: args.applications, ssh: args.ssh });
        if (args.network !== undefined && Object.keys(plain).length === 3)
            checkInput(this, inboundAgainstServices, plain);
        if (applicationSharingPolicy === "Shared" && tokenVersion !== undefined) {
            throw inputError(this, [
                {
                    field: "tokenVersion",
                    message:
                        "rotates a Personal instance's own token; a Shared instance uses the workspace's token (raise the Workspace's sharedTokenVersion)",
                },
            ]);
        }

        const setupScripts = scriptsOf(args.setupScripts, this);
        const wiring = { backend: ws.backend, workspace: ws.workspaceName, owner: ws.owner, instance: instanceName };
        const child = { parent: this };
        // Nothing of the instance is made before the workspace's quota check passed (an `up`
        // without a preview runs the checks as it goes).
        const afterQuota = { ...child, dependsOn: [ws.quotaCheck] };

        const token =
            applicationSharingPolicy === "Shared"
                ? ws.sharedToken()
                : new KindResource(
                      "AccessToken",
                      `${name}-token`,
                      { tokenVersion: tokenVersion ?? 1 },
                      { ...child, additionalSecretOutputs: ["token"] },
                  ).token;
        const osDisk = new KindResource(
            "OsDisk",
            `${name}-os-disk`,
            {
                ...wiring,
                sizeGb: pulumi.output(args.osDisk).apply((d) => d?.sizeGb),
                reimage: args.reimage,
                assignedUser: args.assignedUser,
            },
            afterQuota,
        );
        const tempDisk = new KindResource(
            "TempDisk",
            `${name}-temp-disk`,
            {
                ...wiring,
                size: args.size,
                sizeGb: pulumi.output(args.tempDisk).apply((d) => d?.sizeGb),
            },
            afterQuota,
        );

        ws.registerInstance(instanceName, args.size);
        const runtimeName = `${name}-runtime`;
        const runtime = new KindResource(
            "Runtime",
            runtimeName,
            {
                ...wiring,
                size: args.size,
                image: args.image ?? imageFor(ws, args.applications),
                applications: args.applications,
                ...(args.customApplications !== undefined ? { customApplications: args.customApplications } : {}),
                env: args.env,
                readyTimeout: args.readyTimeout,
                ssh: args.ssh,
                assignedUser: args.assignedUser,
                ...(args.network !== undefined ? { networkRules: args.network, firewallImage: ws.agentImage } : {}),
                osDisk: osDisk.volumeName,
                tempDisk: tempDisk.volumeName,
                tempDiskGb: tempDisk.sizeGb,
                userFiles: ws.userFilesVolume,
                network: ws.networkName,
                token,
                // Said in the preview when it changes; the token it brings is what applies.
                sharing: applicationSharingPolicy,
                ...(setupScripts !== undefined ? { setupScripts } : {}),
                ...(args.labels !== undefined ? { labels: args.labels, agent: ws.agentId } : {}),
            },
            { ...afterQuota, additionalSecretOutputs: ["token"] },
        );

        if (args.network !== undefined) {
            // Who may connect, as a resource of its own: a change of ranges is its update, live.
            new KindResource(
                "NetworkRule",
                `${name}-inbound`,
                {
                    ...wiring,
                    direction: "inbound",
                    network: ws.networkName,
                    networkRules: args.network,
                    applications: args.applications,
                    ssh: args.ssh,
                    ports: runtime.ports,
                    firewallImage: ws.agentImage,
                    runtime: runtime.containerId,
                    agent: ws.agentId,
                },
                child,
            );
        }

        const policyWiring = { ...wiring, agent: ws.agentId };
        const scheduleResources = schedules.map(
            (sch, index) =>
                new KindResource(
                    "Schedule",
                    `${name}-schedule-${sch.name ?? index}`,
                    {
                        ...policyWiring,
                        index,
                        all: schedules,
                        name: sch.name ?? String(index),
                        action: sch.action,
                        cron: sch.cron,
                        timeZone: sch.timeZone,
                        enabled: sch.enabled,
                    },
                    child,
                ),
        );
        if (idleShutdown) {
            new KindResource(
                "IdleShutdown",
                `${name}-idle-shutdown`,
                { ...policyWiring, after: idleShutdown.after },
                child,
            );
        }
        if (jobs) {
            new KindResource(
                "JobQueue",
                `${name}-jobs`,
                { ...policyWiring, enabled: jobs.enabled, perCore: jobs.perCore },
                child,
            );
        }
        this.schedules = pulumi.all(
            scheduleResources.map((r, i) =>
                pulumi.all([schedules[i].action, r.nextFirings]).apply(([action, nextFirings]): ScheduleOutput => ({
                    name: schedules[i].name ?? String(i),
                    action,
                    nextFirings,
                })),
            ),
        );

        this.instanceId = pulumi.interpolate`${ws.workspaceName}/${instanceName}`;
        this.status = runtime.status;
        this.endpoints = runtime.endpoints;
        this.token = pulumi.secret(token);
        this.cpus = runtime.cpus;
        this.memoryGb = runtime.memoryGb;
        this.osDiskVolume = osDisk.volumeName;
        this.tempDiskVolume = tempDisk.volumeName;
        // Absent from a state written before the runtime reported labels.
        this.labels = runtime.labels.apply((l: Record<string, string> | undefined) => l ?? {});

        this.registerOutputs({
            instanceId: this.instanceId,
            status: this.status,
            endpoints: this.endpoints,
            token: this.token,
            cpus: this.cpus,
            memoryGb: this.memoryGb,
            osDiskVolume: this.osDiskVolume,
            tempDiskVolume: this.tempDiskVolume,
            schedules: this.schedules,
            labels: this.labels,
        });
    }
}
