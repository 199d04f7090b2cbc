/**
 * The Docker backend: a thin adapter from the backend interface to the Docker Engine API
 * (dockerode). What goes into each API object is decided in ./options.ts; the operations live in
 * the modules named by what they handle, each given the engine's {@link DockerContext}.
 */
import { randomBytes } from "crypto";
import { Backend, DiskRole, ImageBuilder, InstanceRef } from "../backend";
import { JobRunner } from "../jobRunner";
import { InferenceRunner } from "../inference";
import { Args, BackendBase } from "../backendBase";
import * as agent from "./agent";
import * as store from "./agentStore";
import * as containers from "./containers";
import * as engine from "./engine";
import { DockerBackendOptions, DockerContext } from "./engine";
import * as hostFirewall from "./hostFirewall";
import * as images from "./images";
import * as inference from "./inference";
import * as jobs from "./jobs";
import * as networks from "./networks";
import { diskVolumeName, networkName, userFilesVolumeName } from "./options";
import * as power from "./power";
import { repairApplications } from "./sidecars";
import * as volumes from "./volumes";

export class DockerBackend extends BackendBase implements Backend {
    private readonly ctx: DockerContext;

    constructor(
        readonly host: string,
        options: DockerBackendOptions = {},
    ) {
        const ctx = engine.connect(host, options);
        super("docker", ctx.description);
        this.ctx = ctx;
    }

    ping(...a: Args<"ping">) {
        return engine.ping(this.ctx, ...a);
    }
    identity(...a: Args<"identity">) {
        return engine.identity(this.ctx, ...a);
    }
    capacity(...a: Args<"capacity">) {
        return engine.capacity(this.ctx, ...a);
    }

    // -- images --------------------------------------------------------------------------------

    /** The engine's images: a part of its own, absent from a cluster's backend. */
    readonly images: ImageBuilder = {
        ensureImage: (...a) => images.ensureImage(this.ctx, ...a),
        inspectImage: (...a) => images.inspectImage(this.ctx, ...a),
        buildImage: (...a) => images.buildImage(this.ctx, ...a),
        removeImagesExcept: (...a) => images.removeImagesExcept(this.ctx, ...a),
    };

    /** Jobs, each in its own container. */
    readonly jobs: JobRunner = {
        stageJobFiles: (...a) => jobs.stageJobFiles(this.ctx, ...a),
        startJob: (...a) => jobs.startJob(this.ctx, ...a),
        listJobs: (...a) => jobs.listJobs(this.ctx, ...a),
        stopJob: (...a) => jobs.stopJob(this.ctx, ...a),
        removeJob: (...a) => jobs.removeJob(this.ctx, ...a),
        readJobFiles: (...a) => jobs.readJobFiles(this.ctx, ...a),
        wakeAgent: (...a) => jobs.wakeAgent(this.ctx, ...a),
        watchEnded: (...a) => jobs.watchEnded(this.ctx, ...a),
    };

    readonly inference: InferenceRunner = {
        stageEndpointFiles: (...a) => inference.stageEndpointFiles(this.ctx, ...a),
        startEndpoint: (...a) => inference.startEndpoint(this.ctx, ...a),
        listEndpoints: (...a) => inference.listEndpoints(this.ctx, ...a),
        endpointLogs: (...a) => inference.endpointLogs(this.ctx, ...a),
        deleteEndpoint: (...a) => inference.deleteEndpoint(this.ctx, ...a),
    };

    // -- workspace -----------------------------------------------------------------------------

    userFilesName(workspace: string): string {
        return userFilesVolumeName(workspace);
    }
    workspaceNetworkName(workspace: string): string {
        return networkName(workspace);
    }
    newDiskName(ref: InstanceRef, role: DiskRole): string {
        return diskVolumeName(ref, role, randomBytes(3).toString("hex"));
    }
    createUserFiles(...a: Args<"createUserFiles">) {
        return volumes.createUserFiles(this.ctx, ...a);
    }
    userFilesUsers(...a: Args<"userFilesUsers">) {
        return volumes.userFilesUsers(this.ctx, ...a);
    }
    userFilesExists(...a: Args<"userFilesExists">) {
        return volumes.userFilesExists(this.ctx, ...a);
    }
    releaseUserFiles(...a: Args<"releaseUserFiles">) {
        return volumes.releaseUserFiles(this.ctx, ...a);
    }
    createWorkspaceNetwork(...a: Args<"createWorkspaceNetwork">) {
        return networks.createWorkspaceNetwork(this.ctx, ...a);
    }
    workspaceNetworkExists(...a: Args<"workspaceNetworkExists">) {
        return networks.workspaceNetworkExists(this.ctx, ...a);
    }
    deleteWorkspaceNetwork(...a: Args<"deleteWorkspaceNetwork">) {
        return networks.deleteWorkspaceNetwork(this.ctx, ...a);
    }

    // -- disks ---------------------------------------------------------------------------------

    createDisk(...a: Args<"createDisk">) {
        return volumes.createDisk(this.ctx, ...a);
    }
    readDisk(...a: Args<"readDisk">) {
        return volumes.readDisk(this.ctx, ...a);
    }
    async resizeDisk(): Promise<void> {
        // Volume labels are fixed at creation and local volumes have no quota: the size lives in the state.
    }
    deleteDisk(...a: Args<"deleteDisk">) {
        return volumes.deleteDisk(this.ctx, ...a);
    }

    // -- runtime -------------------------------------------------------------------------------

    createRuntime(...a: Args<"createRuntime">) {
        return containers.createRuntime(this.ctx, ...a);
    }
    readRuntime(...a: Args<"readRuntime">) {
        return containers.readRuntime(this.ctx, ...a);
    }
    updateRuntime(...a: Args<"updateRuntime">) {
        return containers.updateRuntime(this.ctx, ...a);
    }
    deleteRuntime(...a: Args<"deleteRuntime">) {
        return containers.deleteRuntime(this.ctx, ...a);
    }
    runtimeIdFor(...a: Args<"runtimeIdFor">) {
        return containers.runtimeIdFor(...a);
    }
    stopRuntime(...a: Args<"stopRuntime">) {
        return power.stopRuntime(this.ctx, ...a);
    }
    startRuntime(...a: Args<"startRuntime">) {
        return power.startRuntime(this.ctx, ...a);
    }

    // -- network rules -------------------------------------------------------------------------

    applyInboundRules(...a: Args<"applyInboundRules">) {
        return hostFirewall.applyInboundRules(this.ctx, ...a);
    }
    inboundRulesIntact(...a: Args<"inboundRulesIntact">) {
        return hostFirewall.inboundRulesIntact(this.ctx, ...a);
    }
    removeInboundRules(...a: Args<"removeInboundRules">) {
        return hostFirewall.removeInboundRules(this.ctx, ...a);
    }
    applyEgress(...a: Args<"applyEgress">) {
        return hostFirewall.applyEgress(this.ctx, ...a);
    }
    readEgress(...a: Args<"readEgress">) {
        return hostFirewall.readEgress(this.ctx, ...a);
    }
    removeEgress(...a: Args<"removeEgress">) {
        return hostFirewall.removeEgress(this.ctx, ...a);
    }

    // -- workspace agent -----------------------------------------------------------------------

    ensureAgent(...a: Args<"ensureAgent">) {
        return agent.ensureAgent(this.ctx, ...a);
    }
    readAgent(...a: Args<"readAgent">) {
        return agent.readAgent(this.ctx, ...a);
    }
    deleteAgent(...a: Args<"deleteAgent">) {
        return agent.deleteAgent(this.ctx, ...a);
    }
    agentStore(...a: Args<"agentStore">) {
        return store.agentStore(this.ctx, ...a);
    }
    repairApplications(workspace: string): Promise<string[]> {
        return repairApplications(this.ctx, workspace);
    }
    workspaceUsage(...a: Args<"workspaceUsage">) {
        return agent.workspaceUsage(this.ctx, ...a);
    }
    listInstances(...a: Args<"listInstances">) {
        return agent.listInstances(this.ctx, ...a);
    }
}
