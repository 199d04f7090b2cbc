// Inbound rules on the real engine: a service the rules leave out is not published at all; with
// publicBind the listed ranges may connect and others may not (iptables on the engine's host,
// matched by the port the client dialled); a change of ranges applies live, without a restart.
//
// The clients must arrive as other machines do, through FORWARD: a container on a Docker network
// would reach the port through the engine's userland proxy instead (a local connection, which no
// source rule can tell apart). So each client is a network namespace of the test's own, joined to
// the host by a veth pair, with an address in 198.18.0.0/15 (the benchmarking range, RFC 2544).
import { execFileSync, spawnSync } from "child_process";
import { randomBytes } from "crypto";
import { utils } from "ssh2";
import { addLinkedNamespace, removeLinkedNamespace } from "../support/netns";
import {
    TestStack,
    agentLog,
    collect,
    customSteps,
    docker,
    execIn,
    failureOf,
    programStack,
    purgeWorkspace,
    uniqueWorkspace,
} from "../support/stacks";

describe("inbound rules on Docker", () => {
    const ws = uniqueWorkspace("inb");
    const alice = `ci-${ws}-alice`;
    const key = utils.generateKeyPairSync("ed25519").public;
    let t: TestStack;
    let sshPort = 0;
    const third = 1 + (randomBytes(1)[0] % 250);
    const tag = randomBytes(3).toString("hex");
    // Two clients on their own /30 links: the host side .1/.5, the clients .2/.6.
    const clients = [
        {
            ns: `ci-inb-${tag}-a`,
            host: `198.18.${third}.1`,
            ip: `198.18.${third}.2`,
            hostVeth: `cia${tag}`,
            nsVeth: `cia${tag}n`,
        },
        {
            ns: `ci-inb-${tag}-b`,
            host: `198.18.${third}.5`,
            ip: `198.18.${third}.6`,
            hostVeth: `cib${tag}`,
            nsVeth: `cib${tag}n`,
        },
    ];
    const ipA = clients[0].ip;
    const ipB = clients[1].ip;
    let bridgeName = "";
    const bridge = () => bridgeName;
    const instances = (from: string[]) => ({
        alice: {
            size: { cpus: 1, memoryGb: 2 },
            ssh: { enabled: true, publicKey: key },
            network: { publicBind: true, inbound: [{ application: "ssh", from }] },
        },
    });

    /** Whether a client gets sshd's banner from the host's address on its link, at the published port. */
    async function banner(client: (typeof clients)[number]): Promise<boolean> {
        try {
            const out = execFileSync(
                "ip",
                [
                    "netns",
                    "exec",
                    client.ns,
                    "timeout",
                    "3",
                    "bash",
                    "-c",
                    `exec 3<>/dev/tcp/${client.host}/${sshPort} && head -c 4 <&3`,
                ],
                { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] },
            );
            return out.startsWith("SSH-");
        } catch {
            return false;
        }
    }

    beforeAll(async () => {
        t = await programStack("instance", { workspaceName: ws, instances: instances(["192.0.2.1/32"]) });
        await t.stack.up(collect(t));
        const info = await docker.getContainer(alice).inspect();
        sshPort = Number(info.HostConfig.PortBindings?.["2222/tcp"]?.[0]?.HostPort);
        bridgeName = `br-${(await docker.getNetwork(`ci-${ws}`).inspect()).Id.slice(0, 12)}`;
        for (const c of clients) addLinkedNamespace(c);
    });

    afterAll(async () => {
        if (t) {
            await t.stack.destroy().catch(() => undefined);
            await t.dispose();
        }
        for (const c of clients) removeLinkedNamespace(c);
        await purgeWorkspace(ws);
    });

    test("only SSH is published, on every address; Jupyter has no endpoint and no host port", async () => {
        const info = await docker.getContainer(alice).inspect();
        expect(info.HostConfig.PortBindings).toEqual({
            "2222/tcp": [{ HostIp: "0.0.0.0", HostPort: String(sshPort) }],
        });
        const out = ((await t.stack.outputs()).out.value as Record<string, { endpoints: Record<string, string> }>).alice
            .endpoints;
        expect(Object.keys(out)).toEqual(["ssh"]);
        // Jupyter still runs (the instance became ready through it), only unreachable from outside.
        expect((await execIn(alice, ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8888 && echo up"])).output).toBe("up\n");
    });

    test("a range not listed cannot connect", async () => {
        // Control: each client's link works (the host refuses a closed port at once, not silently).
        for (const c of clients) {
            const r = spawnSync(
                "ip",
                ["netns", "exec", c.ns, "timeout", "3", "bash", "-c", `exec 3<>/dev/tcp/${c.host}/1`],
                { encoding: "utf8" },
            );
            expect(r.stderr).toContain("Connection refused");
        }
        expect(await banner(clients[0])).toBe(false);
        expect(await banner(clients[1])).toBe(false);
    });

    test("listing a client's address lets it in, live; the other stays out", async () => {
        const before = (await docker.getContainer(alice).inspect()).Id;
        await t.setConfig({ workspaceName: ws, instances: instances([`${ipA}/32`]) });
        await t.stack.up(collect(t));
        expect(customSteps(t)).toEqual({ "alice-inbound": "update" });
        expect((await docker.getContainer(alice).inspect()).Id).toBe(before);
        expect(await banner(clients[0])).toBe(true);
        expect(await banner(clients[1])).toBe(false);
    });

    test("swapping the ranges swaps who gets in", async () => {
        await t.setConfig({ workspaceName: ws, instances: instances([`${ipB}/32`]) });
        await t.stack.up(collect(t));
        expect(await banner(clients[0])).toBe(false);
        expect(await banner(clients[1])).toBe(true);
    });

    test("an IPv6 range is refused before anything is applied; the rules in force stay as they were", async () => {
        // iptables refused it in the middle of an update that had already removed the old rules,
        // leaving the port open to everyone.
        await t.setConfig({ workspaceName: ws, instances: instances([`${ipA}/32`, "2001:db8::/32"]) });
        const text = await failureOf(t.stack.up(collect(t)));
        expect(text).toContain('"2001:db8::/32" is an IPv6 range; on Docker inbound ranges are IPv4 only');
        expect(await banner(clients[0])).toBe(false);
        expect(await banner(clients[1])).toBe(true);
        await t.setConfig({ workspaceName: ws, instances: instances([`${ipB}/32`]) });
    });

    test("rules lost out of band (a host reboot flushes iptables): refresh notices, up applies them again without a restart", async () => {
        const before = (await docker.getContainer(alice).inspect()).Id;
        const { inboundChainFor } = await import("../../provider/backends/docker/firewall");
        execFileSync("iptables", ["-F", inboundChainFor(ws, "alice")]);
        expect(await banner(clients[0])).toBe(true);
        const r = await t.stack.refresh(collect(t));
        expect(r.summary.resourceChanges?.delete).toBe(1);
        await t.stack.up(collect(t));
        expect(customSteps(t)).toEqual({ "alice-inbound": "create" });
        expect((await docker.getContainer(alice).inspect()).Id).toBe(before);
        // Once on a loaded CI machine A still got in here: the rules then, for the next time.
        const inA = await banner(clients[0]);
        if (inA) {
            const rules = execFileSync("iptables-save", { encoding: "utf8" })
                .split("\n")
                .filter((l) => l.includes(inboundChainFor(ws, "alice")) || /DOCKER-USER|CI-/.test(l));
            throw new Error(`client A still gets in after up; the rules:\n${rules.join("\n")}`);
        }
        expect(await banner(clients[1])).toBe(true);
        // And then nothing more to do.
        await t.stack.refresh(collect(t));
        const quiet = await t.stack.preview();
        expect(Object.keys(quiet.changeSummary).filter((k) => k !== "same")).toEqual([]);
    });

    test("after a reboot empties the host's firewall, the workspace agent puts the rules back when it starts", async () => {
        const { inboundChainFor } = await import("../../provider/backends/docker/firewall");
        const ch = inboundChainFor(ws, "alice");
        // A reboot: the rules gone, then the engine starting the containers again, the agent among them.
        execFileSync("iptables", ["-D", "DOCKER-USER", "!", "-i", bridge(), "-o", bridge(), "-j", ch]);
        execFileSync("iptables", ["-F", ch]);
        execFileSync("iptables", ["-X", ch]);
        expect(await banner(clients[0])).toBe(true);
        await docker.getContainer(`ci-${ws}-agent`).restart({ t: 2 });
        const deadline = Date.now() + 30_000;
        while ((await banner(clients[0])) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1000));
        expect(await banner(clients[0])).toBe(false);
        expect(await banner(clients[1])).toBe(true);
        expect(
            (await agentLog(ws)).some(
                (l) =>
                    l.level === "warning" &&
                    String(l.message).startsWith("network rules network.inbound.alice were missing"),
            ),
        ).toBe(true);
    });

    test("destroy removes the rules", async () => {
        await t.stack.destroy(collect(t));
        const { execFileSync } = await import("child_process");
        const { inboundChainFor } = await import("../../provider/backends/docker/firewall");
        expect(execFileSync("iptables", ["-S"], { encoding: "utf8" })).not.toContain(inboundChainFor(ws, "alice"));
    });
});
