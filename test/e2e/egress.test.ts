// Egress rules of a workspace on the real engine, enforced by iptables on its host: from inside an
// instance, what the rules allow is reached and the rest is not, the host included; changes apply
// live (same container); rules flushed out of band show in refresh and `up` puts them back.
import { execFileSync } from "child_process";
import { chainsFor } from "../../provider/backends/docker/firewall";
import { TestStack, collect, customSteps, docker, execIn, programStack, purgeWorkspace, uniqueWorkspace, waitFor } from "../support/stacks";

const IMAGE_LABEL = "compute-instance.pulumi.io/workspace";

/** Whether alice can open a TCP connection to host:port within 3 s (bash's /dev/tcp, no tools needed). */
async function reaches(container: string, host: string, port: number): Promise<boolean> {
    const r = await execIn(container, ["timeout", "3", "bash", "-c", `exec 3<>/dev/tcp/${host}/${port} && echo open`]);
    return r.output.includes("open");
}

describe("workspace egress on Docker", () => {
    const ws = uniqueWorkspace("egr");
    const alice = `ci-${ws}-alice`;
    const instances = { alice: { size: { cpus: 1, memoryGb: 2 } } };
    const targets: string[] = [];
    let t: TestStack;
    let image = "";
    let allowedIp = "";
    let otherIp = "";
    let gateway = "";
    const hostPort = 20000 + Math.floor(Math.random() * 9000);

    /** A listener of ours: a container on the default bridge, or in the host's network namespace. */
    async function listener(name: string, network: "bridge" | "host", port: number): Promise<string> {
        const c = await docker.createContainer({
            name, Image: image, Entrypoint: ["python3", "-m", "http.server", String(port), "--bind", "0.0.0.0"],
            Labels: { [IMAGE_LABEL]: ws }, HostConfig: { NetworkMode: network },
        });
        targets.push(name);
        await c.start();
        // Ready when it answers in its own network namespace (a fixed sleep raced a loaded machine).
        const probe = ["python3", "-c", `import urllib.request; urllib.request.urlopen("http://127.0.0.1:${port}/", timeout=2)`];
        await waitFor(`test listener ${name} to answer`, 30_000, async () => (await execIn(name, probe, "root")).code === 0);
        return network === "host" ? "" : (await c.inspect()).NetworkSettings.Networks.bridge.IPAddress;
    }

    beforeAll(async () => {
        t = await programStack("instance", { workspaceName: ws, instances, network: { egress: "allow" } });
        await t.stack.up(collect(t));
        image = (await docker.getContainer(alice).inspect()).Config.Image;
        allowedIp = await listener(`${ws}-allowed`, "bridge", 8000);
        otherIp = await listener(`${ws}-other`, "bridge", 8000);
        await listener(`${ws}-host`, "host", hostPort);
        gateway = (await docker.getNetwork(`ci-${ws}`).inspect()).IPAM?.Config?.[0]?.Gateway ?? "";
    });

    afterAll(async () => {
        if (t) {
            await t.stack.destroy().catch(() => undefined);
            await t.dispose();
        }
        for (const n of targets) await docker.getContainer(n).remove({ force: true }).catch(() => undefined);
        await purgeWorkspace(ws);
    });

    test('"allow": the host answers; other Docker networks stay isolated as Docker makes them', async () => {
        expect(await reaches(alice, gateway, hostPort)).toBe(true);
        expect(await reaches(alice, allowedIp, 8000)).toBe(false);
    });

    test("an allow list, applied live: the listed container is reached, another and the host are not", async () => {
        const before = (await docker.getContainer(alice).inspect()).Id;
        await t.setConfig({ workspaceName: ws, instances, network: { egress: { allow: [`${allowedIp}/32`] } } });
        await t.stack.up(collect(t));
        expect(customSteps(t)).toEqual({ [`${ws}-egress`]: "update" });
        expect((await docker.getContainer(alice).inspect()).Id).toBe(before);
        expect(await reaches(alice, allowedIp, 8000)).toBe(true);
        expect(await reaches(alice, otherIp, 8000)).toBe(false);
        expect(await reaches(alice, gateway, hostPort)).toBe(false);
        // The workspace's own containers still reach each other: the agent is on the same network.
        const agentIp = (await docker.getContainer(`ci-${ws}-agent`).inspect()).NetworkSettings.Networks[`ci-${ws}`].IPAddress;
        expect((await execIn(alice, ["timeout", "3", "bash", "-c", `exec 3<>/dev/tcp/${agentIp}/9 || echo refused`])).output).toMatch(/refused|Connection refused/);
    });

    test('"deny": nothing outside the workspace', async () => {
        await t.setConfig({ workspaceName: ws, instances, network: { egress: "deny" } });
        await t.stack.up(collect(t));
        expect(await reaches(alice, allowedIp, 8000)).toBe(false);
        expect(await reaches(alice, gateway, hostPort)).toBe(false);
    });

    test("rules flushed out of band: refresh notices, up puts them back", async () => {
        const chains = chainsFor(ws);
        for (const ch of [chains.out, chains.host]) execFileSync("iptables", ["-F", ch]);
        expect(await reaches(alice, gateway, hostPort)).toBe(true);
        const r = await t.stack.refresh(collect(t));
        expect(r.summary.resourceChanges?.delete).toBe(1);
        await t.stack.up(collect(t));
        expect(customSteps(t)).toEqual({ [`${ws}-egress`]: "create" });
        expect(await reaches(alice, gateway, hostPort)).toBe(false);
    });

    test("back to allow removes every rule", async () => {
        await t.setConfig({ workspaceName: ws, instances, network: { egress: "allow" } });
        await t.stack.up(collect(t));
        expect(await reaches(alice, gateway, hostPort)).toBe(true);
        const bridge = `br-${(await docker.getNetwork(`ci-${ws}`).inspect()).Id.slice(0, 12)}`;
        const ours = execFileSync("iptables", ["-S"], { encoding: "utf8" }).split("\n")
            .filter((l) => (/^-A (DOCKER-USER|INPUT) /.test(l) && l.includes(bridge)) || l.includes(chainsFor(ws).out) || l.includes(chainsFor(ws).host));
        expect(ours).toEqual([]);
    });
});
