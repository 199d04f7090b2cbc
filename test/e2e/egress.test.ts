// Egress rules of a workspace on the real engine, enforced by iptables on its host: from inside an
// instance, what the rules allow is reached and the rest is not, the host included; changes apply
// live (same container); rules flushed out of band show in refresh and `up` puts them back.
//
// Link-local addresses (cloud metadata at 169.254.169.254) are stood in for by a network
// namespace of the test's own, joined to the host by a veth pair on a random link-local /30: its
// far end (.2) is reached through the host's routes (FORWARD), its near end (.1) is an address of
// the host itself (INPUT). No packet leaves the machine. The engine's API port is stood in for by
// a listener of ours on 2376 in the host's network namespace.
import { ChildProcess, execFileSync, spawn } from "child_process";
import { randomBytes } from "crypto";
import { chainsFor } from "../../provider/backends/docker/firewall";
import { addLinkedNamespace, removeLinkedNamespace } from "../support/netns";
import {
    TestStack,
    collect,
    customSteps,
    docker,
    execIn,
    programStack,
    purgeWorkspace,
    uniqueWorkspace,
    waitFor,
} from "../support/stacks";

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
    const tag = randomBytes(3).toString("hex");
    // 169.254.<16..250>.<0..252>/30, away from 169.254.169.254 and the ranges RFC 3927 reserves.
    const third = 16 + (randomBytes(1)[0] % 235);
    const fourth = (randomBytes(1)[0] % 63) * 4;
    const linkLocal = {
        ns: `ci-egr-${tag}`,
        hostVeth: `cie${tag}`,
        nsVeth: `cie${tag}n`,
        host: `169.254.${third}.${fourth + 1}`,
        ip: `169.254.${third}.${fourth + 2}`,
    };
    let farServer: ChildProcess | undefined;
    const API_PORT = 2376;

    /** Whether this machine itself (not an instance) connects: the control for each "not reached". */
    function hostReaches(host: string, port: number): boolean {
        try {
            return execFileSync("timeout", ["3", "bash", "-c", `exec 3<>/dev/tcp/${host}/${port} && echo open`], {
                encoding: "utf8",
                stdio: ["ignore", "pipe", "ignore"],
            }).includes("open");
        } catch {
            return false;
        }
    }

    /** A TCP listener on the far end, in the namespace (node: the one runtime sure to be here). */
    async function linkLocalListener(): Promise<void> {
        addLinkedNamespace(linkLocal);
        const server = spawn(
            "ip",
            [
                "netns",
                "exec",
                linkLocal.ns,
                process.execPath,
                "-e",
                // A client that closes at once (bash's /dev/tcp) resets the socket: an error to ignore, not a crash of the listener.
                `require("net").createServer((s) => { s.on("error", () => {}); s.end("far\\n"); }).listen(8000, "${linkLocal.ip}", () => console.log("listening"))`,
            ],
            { stdio: ["ignore", "pipe", "inherit"] },
        );
        farServer = server;
        await new Promise<void>((resolve, reject) => {
            server.stdout?.on("data", (d: Buffer) => d.toString().includes("listening") && resolve());
            server.on("exit", (code) => reject(new Error(`the link-local listener exited (${code})`)));
        });
    }

    /** A listener of ours: a container on the default bridge, or in the host's network namespace. */
    async function listener(name: string, network: "bridge" | "host", port: number): Promise<string> {
        const c = await docker.createContainer({
            name,
            Image: image,
            Entrypoint: ["python3", "-m", "http.server", String(port), "--bind", "0.0.0.0"],
            Labels: { [IMAGE_LABEL]: ws },
            HostConfig: { NetworkMode: network },
        });
        targets.push(name);
        await c.start();
        // Ready when it answers in its own network namespace (a fixed sleep raced a loaded machine).
        const probe = [
            "python3",
            "-c",
            `import urllib.request; urllib.request.urlopen("http://127.0.0.1:${port}/", timeout=2)`,
        ];
        await waitFor(
            `test listener ${name} to answer`,
            30_000,
            async () => (await execIn(name, probe, "root")).code === 0,
        );
        return network === "host" ? "" : (await c.inspect()).NetworkSettings.Networks.bridge.IPAddress;
    }

    beforeAll(async () => {
        t = await programStack("instance", { workspaceName: ws, instances, network: { egress: "allow" } });
        await t.stack.up(collect(t));
        image = (await docker.getContainer(alice).inspect()).Config.Image;
        allowedIp = await listener(`${ws}-allowed`, "bridge", 8000);
        otherIp = await listener(`${ws}-other`, "bridge", 8000);
        await listener(`${ws}-host`, "host", hostPort);
        await listener(`${ws}-api`, "host", API_PORT);
        await linkLocalListener();
        gateway = (await docker.getNetwork(`ci-${ws}`).inspect()).IPAM?.Config?.[0]?.Gateway ?? "";
    });

    afterAll(async () => {
        if (t) {
            await t.stack.destroy().catch(() => undefined);
            await t.dispose();
        }
        for (const n of targets)
            await docker
                .getContainer(n)
                .remove({ force: true })
                .catch(() => undefined);
        farServer?.kill();
        removeLinkedNamespace(linkLocal);
        await purgeWorkspace(ws);
    });

    test('"allow": the host answers; other Docker networks stay isolated as Docker makes them', async () => {
        expect(await reaches(alice, gateway, hostPort)).toBe(true);
        expect(await reaches(alice, allowedIp, 8000)).toBe(false);
    });

    test('"allow" keeps link-local addresses and the engine\'s API port closed, routed or on the host itself', async () => {
        // Controls: each listener answers this machine.
        expect(hostReaches(linkLocal.ip, 8000)).toBe(true);
        expect(hostReaches(linkLocal.host, hostPort)).toBe(true);
        expect(hostReaches("127.0.0.1", API_PORT)).toBe(true);
        expect(await reaches(alice, linkLocal.ip, 8000)).toBe(false);
        // The same host listener that answers alice on the gateway's address (above).
        expect(await reaches(alice, linkLocal.host, hostPort)).toBe(false);
        expect(await reaches(alice, gateway, API_PORT)).toBe(false);
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
        const agentIp = (await docker.getContainer(`ci-${ws}-agent`).inspect()).NetworkSettings.Networks[`ci-${ws}`]
            .IPAddress;
        expect(
            (await execIn(alice, ["timeout", "3", "bash", "-c", `exec 3<>/dev/tcp/${agentIp}/9 || echo refused`]))
                .output,
        ).toMatch(/refused|Connection refused/);
    });

    test("a link-local address listed on purpose is reached; the engine's API stays closed even on a listed host", async () => {
        await t.setConfig({
            workspaceName: ws,
            instances,
            network: { egress: { allow: [`${linkLocal.ip}/32`, `${gateway}/32`, "0.0.0.0/0"] } },
        });
        await t.stack.up(collect(t));
        expect(await reaches(alice, linkLocal.ip, 8000)).toBe(true);
        expect(await reaches(alice, gateway, hostPort)).toBe(true);
        expect(await reaches(alice, gateway, API_PORT)).toBe(false);
        // 0.0.0.0/0 is not a request for link-local: the host's link-local address stays closed.
        expect(await reaches(alice, linkLocal.host, hostPort)).toBe(false);
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

    test("back to allow keeps only the guards: one jump each to the two chains", async () => {
        await t.setConfig({ workspaceName: ws, instances, network: { egress: "allow" } });
        await t.stack.up(collect(t));
        expect(await reaches(alice, gateway, hostPort)).toBe(true);
        expect(await reaches(alice, linkLocal.ip, 8000)).toBe(false);
        const bridge = `br-${(await docker.getNetwork(`ci-${ws}`).inspect()).Id.slice(0, 12)}`;
        const chains = chainsFor(ws);
        const jumps = execFileSync("iptables", ["-S"], { encoding: "utf8" })
            .split("\n")
            .filter(
                (l) =>
                    (/^-A (DOCKER-USER|INPUT) /.test(l) && l.includes(bridge)) ||
                    (/ -j CI-/.test(l) && Object.values(chains).some((ch) => l.endsWith(ch))),
            );
        expect(jumps.sort()).toEqual([
            `-A DOCKER-USER -i ${bridge} -j ${chains.out}`,
            `-A INPUT -i ${bridge} -j ${chains.host}`,
        ]);
    });

    test("destroy removes every rule", async () => {
        const bridge = `br-${(await docker.getNetwork(`ci-${ws}`).inspect()).Id.slice(0, 12)}`;
        await t.stack.destroy(collect(t));
        // Docker's own chains (DOCKER, DOCKER-ISOLATION-*) are the engine's to clean: once, on a
        // loaded CI machine, it left the ACCEPT of a removed container's published port behind.
        const ours = execFileSync("iptables", ["-S"], { encoding: "utf8" })
            .split("\n")
            .filter((l) => !/^-A DOCKER(-ISOLATION-STAGE-\d)? /.test(l))
            .filter((l) => l.includes(bridge) || Object.values(chainsFor(ws)).some((ch) => l.includes(ch)));
        expect(ours).toEqual([]);
    });
});
