import * as pulumi from "@pulumi/pulumi";
import { KindResource } from "../provider/dynamic";
import {
    agentContextDir,
    agentImageTag,
    contextHash,
    variantContextHash,
    variantImageTag,
    workstationContextDir,
    workstationImageTag,
} from "../provider/image/context";
import { checkInput } from "./inputErrors";
import { quietOnMonitorShutdown } from "./monitorShutdown";
import { DEFAULT_DOCKER_HOST } from "../provider/model/defaults";
import { workspaceSchema } from "../provider/model/schema";
import { plainParts } from "./plain";
import { z } from "zod";
import { egressSchema } from "../provider/model/access";
import { quotaSchema } from "../provider/model/quota";

/** A Docker engine. */
export interface DockerBackendArgs {
    /**
     * The engine's address, as in `DOCKER_HOST`: `unix:///var/run/docker.sock`, `tcp://host:2376`
     * (TLS from `DOCKER_TLS_VERIFY`/`DOCKER_CERT_PATH`) or `ssh://user@host`.
     * Default: `DOCKER_HOST` when `pulumi preview` runs, else the local socket. Another address
     * of the same engine changes nothing; one that leads to another engine is refused.
     */
    host?: string;
    /**
     * Accept a plain `tcp://` engine without TLS. Whoever can reach that port is root on the
     * engine's host, so it is refused unless this says so (a network only you reach). Default: `false`.
     */
    allowPlaintextTcp?: boolean;
}

/** A Kubernetes cluster. Another kubeconfig or context for the same cluster changes nothing. */
export interface KubernetesBackendArgs {
    /** Namespace of the workspace's objects, e.g. `"ml-team"`. */
    namespace: string;
    /** Path of a kubeconfig file; default: `KUBECONFIG` or `~/.kube/config`. */
    kubeconfig?: string;
    /** Context in the kubeconfig; default: its current context. */
    context?: string;
    /** Storage class of the disks; default: the cluster's default class. */
    storageClass?: string;
}

/** Where a workspace's instances run: exactly one of `docker` or `kubernetes`. */
export type BackendArgs = { docker: DockerBackendArgs } | { kubernetes: KubernetesBackendArgs };

export interface UserFilesArgs {
    /**
     * Keep the user files when the workspace is deleted (Azure keeps the workspace file share).
     * A workspace declared again with the same name gets them back. Default: `true`. With `false`
     * they are deleted only by the stack that made them (a store adopted from another stack is
     * never this stack's to delete), and only when no other stack or container uses them.
     */
    retainOnDelete?: pulumi.Input<boolean>;
    /**
     * Size in GiB (a ReadWriteMany claim on Kubernetes; recorded, not enforced, on Docker).
     * Default: 100. Growing it applies in place.
     */
    sizeGb?: pulumi.Input<number>;
}

export interface AgentArgs {
    /**
     * How often the agent checks schedules and idleness, e.g. `"30s"` (default) or `"PT1M"`.
     * A schedule fires within one interval of its time.
     */
    checkInterval?: pulumi.Input<string>;
    /**
     * The agent's image. Default on Docker: built on the engine from this package
     * (`images/agent`); on Kubernetes, give an image the cluster can pull (see images/README.md).
     */
    image?: pulumi.Input<string>;
}

export interface WorkspaceArgs {
    /**
     * Where instances run, e.g. `{ docker: {} }` for the local engine.
     */
    backend: pulumi.Input<BackendArgs>;
    /**
     * The workspace's name on the backend: 3 to 24 lowercase letters, digits and `-`. Stacks that
     * use the same name on the same backend share the workspace (its user files, its network).
     * Default: the resource name.
     */
    workspaceName?: pulumi.Input<string>;
    /** The shared user-files store, mounted in every instance at `~/cloudfiles/code`. */
    userFiles?: pulumi.Input<UserFilesArgs>;
    /**
     * Default image of the workspace's instances. Default: the workstation image of this package
     * (`images/workstation`), built on the engine by the first `pulumi up` that needs it.
     */
    image?: pulumi.Input<string>;
    /**
     * The workspace agent, which starts and stops instances on their schedules and stops idle
     * ones between `pulumi up`s (a container on Docker, a Deployment on Kubernetes).
     */
    agent?: AgentArgs;
    /**
     * Version of the workspace's shared access token (the token of instances whose
     * `applicationSharingPolicy` is `"Shared"`). Raise it to rotate the token: those instances take
     * the new one live (the old one and its browser sessions stop working).
     */
    sharedTokenVersion?: pulumi.Input<number>;
    /** The workspace network's rules. */
    network?: pulumi.Input<WorkspaceNetworkArgs>;
    /**
     * How many cores and GPUs the workspace's instances may have in all (Azure: the workspace's
     * quota). Every instance counts, running or stopped, whichever stack made it; a preview that
     * would exceed the quota fails naming it, the total and the instances. Stacks that use the
     * workspace without declaring a quota are held to the one declared here. Changes apply live.
     */
    quota?: pulumi.Input<QuotaArgs>;
}

/** An instance of this stack, as the quota check counts it. */
interface DeclaredInstance {
    instance: string;
    /** As written: a size name or `{ cpus, memoryGb, gpus? }`; null for the default. */
    size: string | { cpus: number; memoryGb: number; gpus?: number } | null;
}

export interface QuotaArgs {
    /** vCPUs, e.g. `24`. */
    cores?: pulumi.Input<number>;
    /** NVIDIA GPUs, e.g. `2`. */
    gpus?: pulumi.Input<number>;
}

export interface WorkspaceNetworkArgs {
    /**
     * Where instances may open connections: `"allow"` (anywhere; the default), `"deny"` (only the
     * workspace's own containers or pods, and DNS) or `{ allow: ["10.0.0.0/8", ...] }` (those
     * IPv4 ranges too). Whatever it says, link-local addresses (169.254.0.0/16: cloud metadata)
     * stay closed unless a range inside them is listed, and on Docker the engine's API on its host
     * stays closed always. Docker: iptables rules in DOCKER-USER and INPUT on the engine's host
     * (needs a rootful engine that manages iptables); Kubernetes: a NetworkPolicy (needs a network
     * plugin that enforces them). Changes apply live.
     */
    egress?: pulumi.Input<"allow" | "deny" | { allow: pulumi.Input<string>[] }>;
}

/**
 * A workspace: the shared user files, the network and the default image of a team's compute
 * instances, on one backend (Azure ML: the workspace).
 *
 * ## Example Usage
 * ```ts
 * const ws = new Workspace("ml-team", { backend: { docker: {} } });
 * ```
 */
export class Workspace extends pulumi.ComponentResource {
    /** The workspace's name on the backend. */
    readonly workspaceName: pulumi.Output<string>;
    /** The backend, as given. */
    readonly backend: pulumi.Output<BackendArgs>;
    /** Backend name of the user-files store (a Docker volume). */
    readonly userFilesVolume: pulumi.Output<string>;
    /** Backend name of the workspace network. */
    readonly networkName: pulumi.Output<string>;
    /** The image instances get unless they name their own. */
    readonly image: pulumi.Output<string>;
    /** `project/stack` recorded as the owner of every object this stack makes. */
    readonly owner: string;
    /** Backend id of the workspace agent (a container or a Deployment). */
    readonly agentId: pulumi.Output<string>;
    /** The agent's image; on Docker it also applies network rules (it has iptables). */
    readonly agentImage: pulumi.Output<string>;
    /** @internal The quota check: an instance's parts are made after it passed (`dependsOn`). */
    readonly quotaCheck: pulumi.Resource;
    private readonly resourceName: string;
    private readonly sharedTokenVersion?: pulumi.Input<number>;
    private shared?: pulumi.Output<string>;
    private vscode?: pulumi.Output<string>;
    private readonly defaultImage?: { hash: string; image: pulumi.Output<string> };
    private readonly backendInput: pulumi.Input<BackendArgs>;
    private readonly declared: pulumi.Output<DeclaredInstance>[] = [];
    private settle?: NodeJS.Immediate;
    private settled = false;
    private resolveInstances!: (list: pulumi.Output<DeclaredInstance[]>) => void;

    constructor(name: string, args: WorkspaceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("compute-instance:index:Workspace", name, {}, opts);
        quietOnMonitorShutdown();
        const workspaceName = args.workspaceName ?? name;
        checkInput(
            this,
            workspaceSchema({ dockerHost: DEFAULT_DOCKER_HOST }).partial(),
            plainParts({ name: workspaceName, backend: args.backend }),
        );

        checkInput(
            this,
            z.object({ network: z.strictObject({ egress: egressSchema }).partial() }).partial(),
            plainParts({ network: args.network }),
        );
        this.resourceName = name;
        this.sharedTokenVersion = args.sharedTokenVersion;
        this.owner = `${pulumi.getProject()}/${pulumi.getStack()}`;
        this.workspaceName = pulumi.output(workspaceName);
        this.backend = pulumi.output(args.backend);
        const wiring = { backend: args.backend, workspace: workspaceName, owner: this.owner };

        const userFiles = new KindResource(
            "UserFiles",
            `${name}-user-files`,
            {
                ...wiring,
                retainOnDelete: pulumi.output(args.userFiles).apply((u) => u?.retainOnDelete ?? true),
                sizeGb: pulumi.output(args.userFiles).apply((u) => u?.sizeGb),
            },
            { parent: this },
        );
        const network = new KindResource("WorkspaceNetwork", `${name}-network`, wiring, { parent: this });
        this.userFilesVolume = userFiles.volumeName;
        this.networkName = network.networkName;

        if (args.image !== undefined) {
            this.image = pulumi.output(args.image);
        } else {
            const imageName = `${name}-image`;
            const hash = contextHash(workstationContextDir());
            const image = new KindResource(
                "WorkstationImage",
                imageName,
                {
                    backend: args.backend,
                    image: workstationImageTag(hash),
                    contextHash: hash,
                },
                { parent: this },
            );
            // An output of the image resource: instances depend on it, so they start after the build.
            this.image = image.image;
            this.defaultImage = { hash, image: this.image };
        }
        this.backendInput = args.backend;

        // The agent's image on Docker is built from the package, as the workstation's is.
        const agentHash = contextHash(agentContextDir());
        const agent = new KindResource(
            "WorkspaceAgent",
            `${name}-agent`,
            {
                ...wiring,
                image: args.agent?.image ?? agentImageTag(agentHash),
                contextHash: agentHash,
                network: this.networkName,
                checkInterval: args.agent?.checkInterval,
            },
            { parent: this },
        );
        this.agentId = agent.agentId;
        // From the agent resource, so what uses the image waits until the agent has built it.
        this.agentImage = agent.image;

        // Always: whatever the workspace allows, its instances reach neither link-local addresses
        // (cloud metadata) nor the engine's API.
        new KindResource(
            "NetworkRule",
            `${name}-egress`,
            {
                ...wiring,
                network: this.networkName,
                egress: pulumi.output(args.network).apply((n) => n?.egress),
                image: this.agentImage,
                agent: this.agentId,
            },
            { parent: this },
        );

        checkInput(this, z.object({ quota: quotaSchema }).partial(), plainParts({ quota: args.quota }));
        // The quota counts this stack's instances as the program declares them: the list is
        // complete once the program's synchronous run is over (instances register as they are made).
        const instances = new Promise<pulumi.Output<DeclaredInstance[]>>(
            (resolve) => (this.resolveInstances = resolve),
        );
        this.armSettle();
        const quota = new KindResource(
            "Quota",
            `${name}-quota`,
            {
                ...wiring,
                quota: args.quota,
                instances: pulumi.output(instances),
                // Only a declared quota is written to the agent's store, so only then does it wait for the
                // agent: without one, it must not hold every instance back behind the agent's image build.
            },
            { parent: this, ...(args.quota !== undefined ? { dependsOn: [agent] } : {}) },
        );
        this.quotaCheck = quota;

        this.registerOutputs({
            agentId: this.agentId,
            workspaceName: this.workspaceName,
            userFilesVolume: this.userFilesVolume,
            networkName: this.networkName,
            image: this.image,
        });
    }

    /**
     * The image of instances that list `"vscode"` and name no image: with the default image, its
     * vscode variant (code-server added), built the first time an instance asks for it; with an
     * image of the workspace's own, that image (it must have code-server).
     */
    vscodeImage(): pulumi.Output<string> {
        if (!this.defaultImage) return this.image;
        if (!this.vscode) {
            const hash = variantContextHash("vscode", this.defaultImage.hash);
            const image = new KindResource(
                "WorkstationImage",
                `${this.resourceName}-image-vscode`,
                {
                    backend: this.backendInput,
                    image: variantImageTag("vscode", hash),
                    contextHash: hash,
                    variant: "vscode",
                    baseImage: this.defaultImage.image,
                },
                { parent: this },
            );
            this.vscode = image.image;
        }
        return this.vscode;
    }

    /** @internal Counts an instance of this stack against the workspace's quota. */
    registerInstance(
        instance: pulumi.Input<string>,
        size: pulumi.Input<string | { cpus: number; memoryGb: number; gpus?: number }> | undefined,
    ): void {
        if (this.settled) {
            pulumi.log.warn(
                `instance ${typeof instance === "string" ? `"${instance}"` : "(its name is an output)"} was declared after the program's first run; the quota check of this preview does not count it`,
                this,
            );
            return;
        }
        this.declared.push(
            pulumi
                .all([instance, size ?? null])
                .apply(([i, z]): DeclaredInstance => ({ instance: i, size: z ?? null })),
        );
        this.armSettle();
    }

    private armSettle(): void {
        if (this.settle) clearImmediate(this.settle);
        this.settle = setImmediate(() => {
            this.settled = true;
            this.resolveInstances(pulumi.all(this.declared));
        });
    }

    /**
     * The workspace's shared access token (a secret), made the first time an instance with
     * `applicationSharingPolicy: "Shared"` asks for it, so workspaces without one have no such resource.
     */
    sharedToken(): pulumi.Output<string> {
        if (!this.shared) {
            const token = new KindResource(
                "AccessToken",
                `${this.resourceName}-shared-token`,
                { tokenVersion: this.sharedTokenVersion ?? 1 },
                { parent: this, additionalSecretOutputs: ["token"] },
            );
            this.shared = pulumi.secret(token.token);
        }
        return this.shared;
    }
}
