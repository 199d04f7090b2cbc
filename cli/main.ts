#!/usr/bin/env node
/**
 * `compute-instance`: commands around the Pulumi components, like `az ml compute start/stop`.
 * `compute-instance --help` and `compute-instance <command> --help` say the rest.
 *
 * Exit codes: 0 done; 1 the command failed (the backend refused or does not answer, no such
 * instance, an image build failed); 64 the command line is wrong (EX_USAGE).
 *
 * Power state is runtime state: starting or stopping never changes the stack's configuration,
 * and `pulumi up` never undoes it.
 */
import { Command, CommanderError, InvalidArgumentError } from "commander";
import {
    BackendOptions,
    EXIT_FAILED,
    EXIT_USAGE,
    UsageError,
    backendFrom,
    backendOptions,
    outputOption,
    print,
    say,
} from "./common";
import { registerEndpointCommands } from "./endpoints";
import { registerJobCommands } from "./jobs";
import type { ImageBuilder, RuntimeState } from "../provider/backends/backend";
import { DockerBackend } from "../provider/backends/docker";
import {
    agentContextDir,
    agentImageTag,
    contextHash,
    VARIANTS,
    variantContextDir,
    variantContextHash,
    variantImageTag,
    workstationContextDir,
    workstationImageTag,
} from "../provider/image/context";
import { AgentRecords, Operation, RecordProblem, agentRecords } from "../provider/model/agentProtocol";
import { progressTo } from "../provider/progress";
import { DEFAULT_DOCKER_HOST, DEFAULT_READY_TIMEOUT_SECONDS } from "../provider/model/defaults";
import { parseDurationSeconds } from "../provider/model/duration";
import {
    InstanceReport,
    ListedInstance,
    OutputFormat,
    instanceJson,
    instanceText,
    listedJson,
    listedText,
    parseLabelFilter,
} from "./format";

/** The workspace's instances, of every stack, with their labels (Azure: tags). */
async function list(
    o: BackendOptions & { workspace: string; label: [string, string][]; output: OutputFormat },
): Promise<void> {
    const backend = backendFrom(o);
    const views = (await backend.listInstances(o.workspace)).sort((a, b) => (a.instance < b.instance ? -1 : 1));
    const rows: ListedInstance[] = [];
    for (const v of views) {
        const state = await backend.readRuntime(v.id);
        if (!state || !o.label.every(([k, want]) => state.labels[k] === want)) continue;
        rows.push({ instance: v.instance, owner: v.owner, state });
    }
    print(o.output, rows, listedText, listedJson);
}

type PowerCommand = "status" | "start" | "stop" | "restart";

async function power(
    command: PowerCommand,
    instance: string,
    o: BackendOptions & { workspace: string; timeout?: string; output: OutputFormat },
): Promise<void> {
    const timeout = o.timeout === undefined ? DEFAULT_READY_TIMEOUT_SECONDS : parseDurationSeconds(o.timeout);
    if (timeout === undefined)
        throw new UsageError(`--timeout "${o.timeout}" is not a duration; write e.g. "90s", "5m" or "PT5M"`);
    const backend = backendFrom(o);
    const id = backend.runtimeIdFor({ workspace: o.workspace, instance });
    // No ping first (a round trip on every command): a backend that does not answer is
    // diagnosed when the command's own call fails.
    try {
        await backend.readRuntime(id);
    } catch {
        await backend.ping();
        throw new Error(`the ${backend.description} failed to answer for "${instance}"`);
    }
    let state: RuntimeState | undefined;
    switch (command) {
        case "status":
            state = await backend.readRuntime(id);
            if (!state)
                throw new Error(
                    `no instance "${instance}" in workspace "${o.workspace}" on the ${backend.description}`,
                );
            break;
        case "stop":
            state = await backend.stopRuntime(id);
            break;
        case "start":
            state = await backend.startRuntime(id, say, timeout);
            break;
        case "restart":
            await backend.stopRuntime(id);
            state = await backend.startRuntime(id, say, timeout);
            break;
    }
    const records = agentRecords(backend.agentStore(o.workspace));
    const report: InstanceReport = { instance, state };
    if (command === "status") {
        // A workspace without its agent has no store: no last operation, nothing to say.
        const last = await lastOperation(records, instance).catch((): LastOperation => ({ problems: [] }));
        for (const p of last.problems) console.error(`compute-instance: warning: ${p.message}`);
        if (last.operation) report.lastOperation = last.operation;
    } else {
        // Recorded for `status` and for people reading the agent's store, as Azure's lastOperation.
        const op: Operation = {
            operation: command === "stop" ? "Stop" : command === "start" ? "Start" : "Restart",
            trigger: "User",
            at: new Date().toISOString(),
            reason: "compute-instance CLI",
            status: "Succeeded",
        };
        await records.write({ kind: "operation", instance }, op).catch(() => undefined);
    }
    print(o.output, report, instanceText, instanceJson);
}

interface LastOperation {
    operation?: Operation;
    /** Records that are there but cannot be read: said, not taken for "no operation". */
    problems: RecordProblem[];
}

/** The later of the agent's last operation and the user's. */
async function lastOperation(records: AgentRecords, instance: string): Promise<LastOperation> {
    const [stored, user] = await Promise.all([records.readMemory(), records.read({ kind: "operation", instance })]);
    const problems = [stored.problem, user.problem].filter((p): p is RecordProblem => p !== undefined);
    const byAgent = stored.memory.lastOperation[instance];
    const byUser = user.value;
    if (!byAgent || !byUser) return { operation: byAgent ?? byUser, problems };
    return { operation: byAgent.at > byUser.at ? byAgent : byUser, problems };
}

async function buildImage(o: {
    dockerHost?: string;
    force?: boolean;
    vscode?: boolean;
    inference?: boolean;
    prune?: boolean;
    output: OutputFormat;
}): Promise<void> {
    const backend = new DockerBackend(o.dockerHost ?? process.env.DOCKER_HOST ?? DEFAULT_DOCKER_HOST);
    await backend.ping();
    const force = o.force === true;
    // With JSON asked for on stdout, the progress goes to stderr.
    const log = o.output === "json" ? (m: string) => console.error(m) : (m: string) => console.log(m);
    const base = await buildOne(backend.images, workstationContextDir(), workstationImageTag, force, log);
    const agent = await buildOne(backend.images, agentContextDir(), agentImageTag, force, log);
    const current = [base, agent];
    for (const variant of VARIANTS.filter((v) => o[v])) {
        current.push(
            await buildOne(
                backend.images,
                variantContextDir(variant),
                (hash) => variantImageTag(variant, hash),
                force,
                log,
                variantContextHash(variant, contextHash(workstationContextDir())),
                { BASE_IMAGE: base },
            ),
        );
    }
    const removed = o.prune ? await pruneImages(backend.images, current, log) : [];
    if (o.output === "json") console.log(JSON.stringify({ images: current, removed }, null, 2));
}

/**
 * Images of this package built from other contexts (older checkouts, earlier edits): removed, so
 * a machine that builds every commit does not fill its disk. Images containers still use stay.
 */
async function pruneImages(backend: ImageBuilder, keep: string[], log: (m: string) => void): Promise<string[]> {
    const repos = new Set(keep.map((t) => t.slice(0, t.lastIndexOf(":"))));
    const removed = await backend.removeImagesExcept([...repos], keep);
    if (removed.length) log(`removed ${removed.length} image(s) of earlier builds: ${removed.join(", ")}`);
    return removed;
}

async function buildOne(
    backend: ImageBuilder,
    dir: string,
    tagOf: (hash: string) => string,
    force: boolean,
    log: (m: string) => void,
    hash = contextHash(dir),
    buildArgs?: Record<string, string>,
): Promise<string> {
    const tag = tagOf(hash);
    const have = await backend.inspectImage(tag);
    if (have?.contextHash === hash && !force) {
        log(`${tag} is up to date (context ${hash})`);
        return tag;
    }
    let last = "";
    await backend.buildImage(
        tag,
        dir,
        hash,
        progressTo((m) => {
            if (m !== last) log(m);
            last = m;
        }),
        buildArgs,
    );
    return tag;
}

function program(): Command {
    const p = new Command("compute-instance")
        .description(
            "Start, stop and look at compute instances between deployments, and build their images (like `az ml compute`).",
        )
        .addHelpText("after", "\nExit codes: 0 done; 1 the command failed; 64 the command line is wrong.")
        .showHelpAfterError()
        .exitOverride();
    const descriptions: Record<PowerCommand, string> = {
        status: "show an instance's state, size, ports and last start or stop",
        start: "start a stopped instance and wait until its applications answer",
        stop: "stop an instance (its OS disk and the user files are kept; /mnt is wiped at the next start)",
        restart: "stop, then start",
    };
    for (const command of Object.keys(descriptions) as PowerCommand[]) {
        backendOptions(
            p
                .command(command)
                .description(descriptions[command])
                .argument("<instance>", "the instance's name in its workspace")
                .requiredOption("--workspace <name>", "the workspace's name on the backend"),
        )
            .option(
                "--timeout <duration>",
                "how long start waits for the applications, e.g. 5m, PT90S",
                `${DEFAULT_READY_TIMEOUT_SECONDS / 60}m`,
            )
            .addOption(outputOption())
            .action((instance: string, o) => power(command, instance, o));
    }
    backendOptions(
        p
            .command("list")
            .description("the workspace's instances, of every stack, with their owners and labels")
            .requiredOption("--workspace <name>", "the workspace's name on the backend")
            .option(
                "--label <key=value>",
                "only instances with this label (repeatable)",
                (v: string, all: [string, string][]) => {
                    const pair = parseLabelFilter(v);
                    if (!pair) throw new InvalidArgumentError("write KEY=VALUE");
                    return [...all, pair];
                },
                [] as [string, string][],
            ),
    )
        .addOption(outputOption())
        .action((o) => list(o));
    p.command("build-image")
        .description("build the workstation and workspace-agent images on a Docker engine (skipped when up to date)")
        .option("--docker-host <url>", "the Docker engine (default: DOCKER_HOST, else unix:///var/run/docker.sock)")
        .option("--force", "build even when the image is up to date")
        .option("--vscode", "also build the workstation's VS Code variant")
        .option("--inference", "also build its inference variant (Azure's scoring server, for `endpoint create`)")
        .option("--prune", "remove this package's images of earlier builds that no container uses")
        .addOption(outputOption())
        .action((o) => buildImage(o));
    registerJobCommands(p);
    registerEndpointCommands(p);
    return p;
}

async function main(argv: string[]): Promise<number> {
    const p = program();
    if (!argv.length) {
        p.outputHelp({ error: true });
        return EXIT_USAGE;
    }
    try {
        await p.parseAsync(argv, { from: "user" });
        return 0;
    } catch (e) {
        if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : EXIT_USAGE;
        console.error(`compute-instance: ${e instanceof Error ? e.message : String(e)}`);
        return e instanceof UsageError ? EXIT_USAGE : EXIT_FAILED;
    }
}

main(process.argv.slice(2)).then((code) => process.exit(code));
