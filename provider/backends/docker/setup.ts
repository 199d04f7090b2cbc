/**
 * Setup scripts on Docker: written into the container before it starts, followed through the
 * entry point's report on its output, and the wait for an instance to answer that watches them.
 */
import type Dockerode from "dockerode";
import { SCRIPT_STAGES, SETUP_DIR, SetupProgress, SetupScripts, setupProgressFromLog } from "../../model/setup";
import { ReadinessCheck, waitUntilReady } from "../../readiness";
import { putFiles } from "./archive";
import { demux, envOf, logTail } from "./engine";

/** The setup scripts, root's alone: the entry point runs them as root before anything starts. */
export async function writeSetupScripts(container: Dockerode.Container, scripts: SetupScripts): Promise<void> {
    const dir = SETUP_DIR.slice(0, SETUP_DIR.lastIndexOf("/"));
    const sub = SETUP_DIR.slice(dir.length + 1);
    const files = SCRIPT_STAGES.flatMap((k) =>
        scripts[k] ? [{ name: `${sub}/${k}.sh`, body: scripts[k].content, mode: 0o500 }] : [],
    );
    await putFiles(container, dir, files);
}

/** The scripts' time limit a container was made with; 0 without scripts. */
export function setupTimeoutOf(info: Dockerode.ContainerInspectInfo): number {
    return Number(envOf(info, "CI_SETUP_TIMEOUT") ?? 0) || 0;
}

/** The entry point's report on the setup scripts at this start, from its output since it started. */
export async function setupProgress(
    container: Dockerode.Container,
    info?: Dockerode.ContainerInspectInfo,
): Promise<SetupProgress | undefined> {
    const i = info ?? (await container.inspect());
    if (!i.State.Running) return undefined;
    const since = Math.floor(Date.parse(i.State.StartedAt) / 1000);
    const buf = (await container.logs({ stdout: true, stderr: true, since, tail: 2000 })) as unknown as Buffer;
    return setupProgressFromLog(demux(buf));
}

export interface InstanceCheck extends Omit<ReadinessCheck, "dead" | "diagnostics"> {
    /** Why the container is not alive (it exited, it restarted); undefined while it runs. */
    exited(info: Dockerode.ContainerInspectInfo): string | undefined;
    /** Why waiting is pointless although it runs and no setup script failed. */
    stuck?(): Promise<string | undefined>;
}

/**
 * Waits until the instance in the container answers, as waitUntilReady does, watching its setup
 * scripts: while they run their phase is shown, and one that failed ends the wait (a
 * SetupFailedError, worded by the wait as any other death, with the container's last output).
 */
export async function waitUntilSetUp(container: Dockerode.Container, check: InstanceCheck): Promise<number> {
    return waitUntilReady({
        ...check,
        dead: async () => {
            const info = await container.inspect();
            const exited = check.exited(info);
            if (exited) return exited;
            const setup = await setupProgress(container, info);
            if (setup?.phase === "SetupFailed") return { setupFailed: setup.message };
            return check.stuck?.();
        },
        phase: async () => {
            const setup = await setupProgress(container);
            return setup?.phase === "SettingUp" ? setup.message : check.phase?.();
        },
        diagnostics: () => logTail(container),
    });
}
