import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
    applyEgressScript,
    applyInboundScript,
    chainsFor,
    egressSignature,
    enginePorts,
    inboundChainFor,
    inboundSignature,
    readEgressScript,
    readInboundScript,
    removeEgressScript,
    removeInboundScript,
    restricts,
    tcpEnginePort,
} from "../../provider/backends/docker/firewall";
import { egressPolicyManifest } from "../../provider/backends/kubernetes/manifests";
import { egressSchema, ipv4OnlyProblem, spansLinkLocal, withinLinkLocal } from "../../provider/model/access";

const bridge = "br-0123456789ab";
const c = chainsFor("ml-team");
const PORTS = [2375, 2376];

/**
 * Runs a script against stand-ins for iptables: `iptables -S` lists the given rules, the chains
 * in `chains` exist, and iptables-restore prints what it was fed. Returns that transaction.
 */
function transactionOf(
    script: string,
    listing: { "DOCKER-USER"?: string[]; INPUT?: string[] } = {},
    chains: string[] = [],
): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-"));
    try {
        const lists = {
            "DOCKER-USER": ["-N DOCKER-USER", ...(listing["DOCKER-USER"] ?? []), "-A DOCKER-USER -j RETURN"],
            INPUT: ["-P INPUT ACCEPT", ...(listing.INPUT ?? [])],
        };
        for (const [name, lines] of Object.entries(lists))
            fs.writeFileSync(path.join(dir, `list-${name}`), lines.join("\n") + "\n");
        fs.writeFileSync(
            path.join(dir, "iptables"),
            [
                "#!/bin/sh",
                `[ "$1" = -S ] || exit 1`,
                `if [ -f "${dir}/list-$2" ]; then cat "${dir}/list-$2"; exit 0; fi`,
                ...chains.map((ch) => `[ "$2" = ${ch} ] && exit 0`),
                "exit 1",
            ].join("\n"),
            { mode: 0o755 },
        );
        fs.writeFileSync(path.join(dir, "iptables-legacy"), "#!/bin/sh\nexit 1\n", { mode: 0o755 });
        fs.writeFileSync(path.join(dir, "iptables-restore"), `#!/bin/sh\n[ "$1" = --noflush ] || exit 9\ncat\n`, {
            mode: 0o755,
        });
        return execFileSync("sh", ["-c", script], {
            encoding: "utf8",
            env: { ...process.env, PATH: `${dir}:${process.env.PATH}` },
        });
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

const rulesOf = (transaction: string, chain: string) =>
    transaction.split("\n").filter((l) => l.startsWith(`-A ${chain} `));

describe("egress rules on Docker (iptables)", () => {
    test("chains are per workspace and fit iptables' 28 characters", () => {
        expect(c.out).toMatch(/^CI-[0-9a-f]{10}-OUT$/);
        for (const ch of Object.values(c)) expect(ch.length).toBeLessThanOrEqual(28);
        expect(chainsFor("other").out).not.toBe(c.out);
    });

    test("one iptables-restore transaction: the chains refilled and the jumps replaced together, or nothing", () => {
        const t = transactionOf(applyEgressScript("ml-team", bridge, "deny", PORTS));
        const lines = t.trim().split("\n");
        expect(lines[0]).toBe("*filter");
        expect(lines[lines.length - 2]).toBe("COMMIT");
        expect(lines[lines.length - 1]).toBe("applied");
        // Declared chains are created, or flushed when they exist, inside the transaction.
        expect(lines.slice(1, 4)).toEqual([`:${c.out} - [0:0]`, `:${c.host} - [0:0]`, `:${c.back} - [0:0]`]);
        expect(lines.filter((l) => /^-[IA] (DOCKER-USER|INPUT) /.test(l))).toEqual([
            `-I DOCKER-USER 1 -i ${bridge} -j ${c.out}`,
            `-I DOCKER-USER 1 -o ${bridge} -j ${c.back}`,
            `-I INPUT 1 -i ${bridge} -j ${c.host}`,
        ]);
        // No iptables command outside the transaction changes anything.
        expect(applyEgressScript("ml-team", bridge, "deny", PORTS)).not.toMatch(/\$ipt -[ADINFX] /);
    });

    test("an allow list: the engine's API and link-local closed first, a link-local range listed on purpose open, the ranges accepted, the rest dropped", () => {
        const egress = { allow: ["10.1.0.0/16", "169.254.169.254/32", "0.0.0.0/0"] };
        const t = transactionOf(applyEgressScript("ml-team", bridge, egress, PORTS));
        const sig = egressSignature(bridge, egress, PORTS);
        expect(rulesOf(t, c.out)).toEqual([
            `-A ${c.out} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
            `-A ${c.out} -o ${bridge} -j RETURN`,
            `-A ${c.out} -d 169.254.169.254/32 -j ACCEPT`,
            `-A ${c.out} -d 169.254.0.0/16 -j DROP`,
            `-A ${c.out} -d 10.1.0.0/16 -j ACCEPT`,
            `-A ${c.out} -d 0.0.0.0/0 -j ACCEPT`,
            `-A ${c.out} -m comment --comment "compute-instance egress ${sig}" -j DROP`,
        ]);
        expect(rulesOf(t, c.host)).toEqual([
            `-A ${c.host} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
            `-A ${c.host} -p tcp --dport 2375 -j DROP`,
            `-A ${c.host} -p tcp --dport 2376 -j DROP`,
            `-A ${c.host} -d 169.254.169.254/32 -j ACCEPT`,
            `-A ${c.host} -d 169.254.0.0/16 -j DROP`,
            `-A ${c.host} -d 10.1.0.0/16 -j ACCEPT`,
            `-A ${c.host} -d 0.0.0.0/0 -j ACCEPT`,
            `-A ${c.host} -m comment --comment "compute-instance egress ${sig}" -j DROP`,
        ]);
        expect(rulesOf(t, c.back)).toEqual([`-A ${c.back} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`]);
    });

    test('"allow" keeps the guards: link-local and the engine\'s API ports dropped, the rest left to Docker', () => {
        const t = transactionOf(applyEgressScript("ml-team", bridge, "allow", [2375, 2376, 4243]), {}, [c.back]);
        const sig = egressSignature(bridge, "allow", [2375, 2376, 4243]);
        expect(rulesOf(t, c.out)).toEqual([
            `-A ${c.out} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`,
            `-A ${c.out} -o ${bridge} -j RETURN`,
            `-A ${c.out} -d 169.254.0.0/16 -j DROP`,
            `-A ${c.out} -m comment --comment "compute-instance egress ${sig}" -j RETURN`,
        ]);
        expect(rulesOf(t, c.host)).toEqual([
            `-A ${c.host} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`,
            `-A ${c.host} -p tcp --dport 2375 -j DROP`,
            `-A ${c.host} -p tcp --dport 2376 -j DROP`,
            `-A ${c.host} -p tcp --dport 4243 -j DROP`,
            `-A ${c.host} -d 169.254.0.0/16 -j DROP`,
            `-A ${c.host} -m comment --comment "compute-instance egress ${sig}" -j RETURN`,
        ]);
        // From deny to allow, the reply chain goes (it exists here), in the same transaction.
        expect(t).toContain(`-F ${c.back}\n-X ${c.back}\n`);
        expect(t).not.toContain(`:${c.back}`);
        expect(t).not.toContain(`-j ${c.back}`);
    });

    test("every jump to the workspace's chains goes, whatever bridge it names; others' rules stay", () => {
        const listing = {
            "DOCKER-USER": [
                // A network re-created under a new bridge left these behind.
                `-A DOCKER-USER -i br-aaaaaaaaaaaa -j ${c.out}`,
                `-A DOCKER-USER -o br-aaaaaaaaaaaa -j ${c.back}`,
                // The reply rule of the version before the BACK chain, on this bridge.
                `-A DOCKER-USER -o ${bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
                `-A DOCKER-USER -i ${bridge} -m comment --comment "by hand" -j ${c.out}`,
                // Not ours: another workspace's chain, and someone's own rule.
                `-A DOCKER-USER -i br-bbbbbbbbbbbb -j ${chainsFor("other").out}`,
                `-A DOCKER-USER -s 10.9.0.0/16 -j ACCEPT`,
            ],
            INPUT: [`-A INPUT -i br-aaaaaaaaaaaa -j ${c.host}`, `-A INPUT -i br-aaaaaaaaaaaa -j ${c.host}X`],
        };
        const deletions = (s: string) =>
            transactionOf(s, listing)
                .split("\n")
                .filter((l) => l.startsWith("-D "));
        const expected = [
            `-D DOCKER-USER -i br-aaaaaaaaaaaa -j ${c.out}`,
            `-D DOCKER-USER -o br-aaaaaaaaaaaa -j ${c.back}`,
            `-D DOCKER-USER -o ${bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
            `-D DOCKER-USER -i ${bridge} -m comment --comment "by hand" -j ${c.out}`,
            `-D INPUT -i br-aaaaaaaaaaaa -j ${c.host}`,
        ];
        expect(deletions(applyEgressScript("ml-team", bridge, { allow: ["10.0.0.0/8"] }, PORTS))).toEqual(expected);
        expect(deletions(applyEgressScript("ml-team", bridge, "allow", PORTS))).toEqual(expected);
        expect(deletions(removeEgressScript("ml-team", bridge))).toEqual(expected);
    });

    test("removing: the jumps and then the chains that exist, in one transaction", () => {
        const t = transactionOf(
            removeEgressScript("ml-team", bridge),
            { INPUT: [`-A INPUT -i ${bridge} -j ${c.host}`] },
            [c.out, c.host],
        );
        expect(t.trim().split("\n")).toEqual([
            "*filter",
            `-D INPUT -i ${bridge} -j ${c.host}`,
            `-F ${c.out}`,
            `-X ${c.out}`,
            `-F ${c.host}`,
            `-X ${c.host}`,
            "COMMIT",
            "removed",
        ]);
    });

    test("what reaches iptables-restore is only addresses, prefixes and ports", () => {
        expect(() =>
            applyEgressScript("ml-team", bridge, { allow: ["10.0.0.0/8 -j ACCEPT\n-A INPUT"] }, PORTS),
        ).toThrow(/is not a CIDR range/);
        expect(() => applyEgressScript("ml-team", bridge, "deny", [2375, 70000])).toThrow(/is not a port/);
        expect(() => applyInboundScript("ml-team", "alice", bridge, [{ hostPort: 0, from: ["10.0.0.0/8"] }])).toThrow(
            /is not a port/,
        );
    });

    test("every script is valid sh", () => {
        for (const script of [
            applyEgressScript("ml-team", bridge, { allow: ["10.0.0.0/8"] }, PORTS),
            applyEgressScript("ml-team", bridge, "allow", PORTS),
            readEgressScript("ml-team", bridge, "deny"),
            readEgressScript("ml-team", bridge, "allow"),
            removeEgressScript("ml-team", bridge),
            applyInboundScript("ml-team", "alice", bridge, [{ hostPort: 2222, from: ["10.0.0.0/8"] }]),
            readInboundScript("ml-team", "alice", bridge),
            removeInboundScript("ml-team", "alice", bridge),
        ]) {
            expect(() => execFileSync("sh", ["-n", "-c", script], { stdio: "pipe" })).not.toThrow();
        }
    });

    test("the signature changes with the rules, the bridge and the engine's ports", () => {
        expect(egressSignature(bridge, "deny", PORTS)).not.toBe(
            egressSignature(bridge, { allow: ["10.0.0.0/8"] }, PORTS),
        );
        expect(egressSignature(bridge, "deny", PORTS)).not.toBe(egressSignature("br-ffffffffffff", "deny", PORTS));
        expect(egressSignature(bridge, "allow", PORTS)).not.toBe(egressSignature(bridge, "allow", [...PORTS, 4243]));
        expect(readEgressScript("ml-team", bridge, "deny")).toContain(`-C DOCKER-USER -i ${bridge} -j ${c.out}`);
        expect(readEgressScript("ml-team", bridge, "deny")).toContain(`-C DOCKER-USER -o ${bridge} -j ${c.back}`);
        expect(readEgressScript("ml-team", bridge, "allow")).not.toContain(c.back + " 2>");
    });

    test("the engine's API ports: the well-known ones, those dockerd warns it listens on, and a tcp:// address's", () => {
        expect(enginePorts(null)).toEqual([2375, 2376]);
        expect(
            enginePorts(
                [
                    "WARNING: API is accessible on http://0.0.0.0:4243 without encryption.\n         Access to the remote API is equivalent to root access on the host.",
                    "[DEPRECATION NOTICE]: API is accessible on https://[::]:2380 without TLS client verification.\nIn future versions this will be a hard failure",
                    "WARNING: No swap limit support",
                ],
                [12376],
            ),
        ).toEqual([2375, 2376, 2380, 4243, 12376]);
        expect(tcpEnginePort("tcp://10.0.0.5:12376")).toBe(12376);
        expect(tcpEnginePort("tcp://engine.example.com")).toBeUndefined();
        expect(tcpEnginePort("unix:///var/run/docker.sock")).toBeUndefined();
        expect(tcpEnginePort("ssh://me@host:2222")).toBeUndefined();
    });

    test("link-local ranges: inside (asked for on purpose) or wider (not)", () => {
        expect(
            ["169.254.169.254/32", "169.254.0.0/16", "169.254.169.254", "169.254.8.0/24"].map(withinLinkLocal),
        ).toEqual([true, true, true, true]);
        expect(["169.0.0.0/8", "0.0.0.0/0", "10.0.0.0/8", "169.255.0.0/16", "fe80::/10"].map(withinLinkLocal)).toEqual([
            false,
            false,
            false,
            false,
            false,
        ]);
        expect(["0.0.0.0/0", "128.0.0.0/1", "169.0.0.0/8", "169.254.0.0/15"].map(spansLinkLocal)).toEqual([
            true,
            true,
            true,
            true,
        ]);
        expect(
            ["169.254.0.0/16", "169.254.169.254/32", "10.0.0.0/8", "0.0.0.0/1", "2001:db8::/32"].map(spansLinkLocal),
        ).toEqual([false, false, false, false, false]);
    });
});

describe("inbound rules on Docker (iptables)", () => {
    const ch = inboundChainFor("ml-team", "alice");

    test("the ranges are accepted and the rest dropped, by the port the client dialled, in one transaction", () => {
        const rules = [{ hostPort: 23456, from: ["10.0.0.0/8"] }];
        const t = transactionOf(applyInboundScript("ml-team", "alice", bridge, rules), {
            "DOCKER-USER": [`-A DOCKER-USER ! -i br-aaaaaaaaaaaa -o br-aaaaaaaaaaaa -j ${ch}`],
        });
        expect(t.trim().split("\n")).toEqual([
            "*filter",
            `:${ch} - [0:0]`,
            // The jump a re-created network left behind goes too.
            `-D DOCKER-USER ! -i br-aaaaaaaaaaaa -o br-aaaaaaaaaaaa -j ${ch}`,
            `-A ${ch} -p tcp -m conntrack --ctstate NEW --ctorigdstport 23456 -s 10.0.0.0/8 -j ACCEPT`,
            `-A ${ch} -p tcp -m conntrack --ctstate NEW --ctorigdstport 23456 -j DROP`,
            `-A ${ch} -m comment --comment "compute-instance inbound ${inboundSignature(bridge, rules)}" -j RETURN`,
            `-I DOCKER-USER 1 ! -i ${bridge} -o ${bridge} -j ${ch}`,
            "COMMIT",
            "applied",
        ]);
    });

    test('IPv6 ranges admit no one (the ports are IPv4): left out, the port stays closed; "::/0" is not "anywhere"', () => {
        expect(restricts({ hostPort: 1, from: ["::/0"] })).toBe(true);
        expect(restricts({ hostPort: 1, from: ["10.0.0.0/8", "0.0.0.0/0"] })).toBe(false);
        const t = transactionOf(
            applyInboundScript("ml-team", "alice", bridge, [
                { hostPort: 2222, from: ["2001:db8::/32", "::/0"] },
                { hostPort: 2223, from: ["10.0.0.0/8", "2001:db8::/32"] },
            ]),
        );
        expect(rulesOf(t, ch).filter((l) => !l.includes("comment"))).toEqual([
            `-A ${ch} -p tcp -m conntrack --ctstate NEW --ctorigdstport 2222 -j DROP`,
            `-A ${ch} -p tcp -m conntrack --ctstate NEW --ctorigdstport 2223 -s 10.0.0.0/8 -j ACCEPT`,
            `-A ${ch} -p tcp -m conntrack --ctstate NEW --ctorigdstport 2223 -j DROP`,
        ]);
    });

    test("nothing restricted: the chain and every jump to it go", () => {
        const t = transactionOf(
            applyInboundScript("ml-team", "alice", bridge, [{ hostPort: 1, from: ["0.0.0.0/0"] }]),
            { "DOCKER-USER": [`-A DOCKER-USER ! -i ${bridge} -o ${bridge} -j ${ch}`] },
            [ch],
        );
        expect(t.trim().split("\n")).toEqual([
            "*filter",
            `-D DOCKER-USER ! -i ${bridge} -o ${bridge} -j ${ch}`,
            `-F ${ch}`,
            `-X ${ch}`,
            "COMMIT",
            "applied",
        ]);
        expect(
            transactionOf(removeInboundScript("ml-team", "alice", bridge), {}, [ch])
                .trim()
                .split("\n"),
        ).toEqual(["*filter", `-F ${ch}`, `-X ${ch}`, "COMMIT", "removed"]);
    });

    test("the inbound signature is what it was before the transaction form (rules in force read as intact)", () => {
        // The value the scripts before iptables-restore recorded for the same rules.
        expect(inboundSignature("br-0ld000000000", [{ hostPort: 2222, from: ["198.51.100.0/24"] }])).toBe(
            "cc2a3e63eb410689",
        );
    });
});

describe("egress on Kubernetes", () => {
    const ref = { workspace: "ml-team", owner: "p/s" };
    const own = {
        to: [
            {
                podSelector: {
                    matchLabels: {
                        "app.kubernetes.io/name": "compute-instance",
                        "app.kubernetes.io/part-of": "ml-team",
                    },
                },
            },
        ],
    };
    const dns = {
        to: [{ namespaceSelector: {} }],
        ports: [
            { protocol: "UDP", port: 53 },
            { protocol: "TCP", port: 53 },
        ],
    };

    test("an allow list: the workspace, DNS and the ranges; a range wider than link-local leaves it out, one inside it is asked for", () => {
        const np = egressPolicyManifest(ref, "ml", { allow: ["10.0.0.0/8", "0.0.0.0/0", "169.254.169.254/32"] }) as any;
        expect(np.spec.podSelector.matchLabels["app.kubernetes.io/component"]).toBe("runtime");
        expect(np.spec.policyTypes).toEqual(["Egress"]);
        expect(np.spec.egress).toEqual([
            own,
            dns,
            {
                to: [
                    { ipBlock: { cidr: "10.0.0.0/8" } },
                    { ipBlock: { cidr: "0.0.0.0/0", except: ["169.254.0.0/16"] } },
                    { ipBlock: { cidr: "169.254.169.254/32" } },
                ],
            },
        ]);
        expect((egressPolicyManifest(ref, "ml", "deny") as any).spec.egress).toEqual([own, dns]);
    });

    test('"allow" is a policy too: every pod and every address but link-local', () => {
        expect((egressPolicyManifest(ref, "ml", "allow") as any).spec.egress).toEqual([
            { to: [{ namespaceSelector: {} }] },
            {
                to: [
                    { ipBlock: { cidr: "0.0.0.0/0", except: ["169.254.0.0/16"] } },
                    { ipBlock: { cidr: "::/0", except: ["fe80::/10"] } },
                ],
            },
        ]);
    });
});

describe("range input", () => {
    test("egress", () => {
        expect(egressSchema.parse("deny")).toBe("deny");
        expect(egressSchema.safeParse("block").error?.issues[0].message).toBe(
            'must be "allow", "deny" or { allow: ["10.0.0.0/8", ...] }',
        );
        const bad = egressSchema.safeParse({ allow: ["10.0.0.0/33", "2001:db8::/32"] });
        expect(bad.error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`)).toEqual([
            'allow.0: "10.0.0.0/33" has prefix length /33; an IPv4 prefix is 0 to 32',
            "allow.1: must be an IPv4 range (workspace networks are IPv4)",
        ]);
    });

    test("inbound on Docker: IPv6 ranges are refused, with what to write instead", () => {
        expect(ipv4OnlyProblem("10.0.0.0/8")).toBeUndefined();
        expect(ipv4OnlyProblem("2001:db8::/32")).toBe(
            '"2001:db8::/32" is an IPv6 range; on Docker inbound ranges are IPv4 only (the ports are published on IPv4 addresses): list IPv4 ranges, "0.0.0.0/0" for anywhere',
        );
        expect(ipv4OnlyProblem("::/0")).toMatch(/is an IPv6 range/);
    });
});

describe("the NetworkRule resource", () => {
    // check() pings the backend; these inputs are about the rule, not the engine.
    jest.mock("../../provider/backends/registry", () => ({
        ...jest.requireActual("../../provider/backends/registry"),
        ensureReachable: async () => undefined,
    }));
    const { networkRule } =
        require("../../provider/resources/networkRule") as typeof import("../../provider/resources/networkRule");
    const { diffWith } = require("../../provider/resources/kind") as typeof import("../../provider/resources/kind");
    const wiring = { workspace: "ml-team", owner: "p/s" };
    const docker = { docker: { host: "unix:///var/run/docker.sock" } };
    const kubernetes = { kubernetes: { namespace: "ml" } };
    const inbound = (backend: object) => ({
        ...wiring,
        backend,
        direction: "inbound",
        instance: "alice",
        network: "ci-ml-team",
        applications: ["jupyterlab"],
        networkRules: {
            publicBind: true,
            inbound: [{ application: "jupyterlab", from: ["10.0.0.0/8", "2001:db8::/32"] }],
        },
    });

    test("inbound on Docker refuses an IPv6 range at preview, naming it; Kubernetes' NetworkPolicy takes it", async () => {
        const onDocker = await networkRule.check(inbound(docker), {});
        expect(onDocker.problems).toEqual([
            {
                field: "network.inbound[0].from[1]",
                message: expect.stringMatching(
                    /^"2001:db8::\/32" is an IPv6 range; on Docker inbound ranges are IPv4 only/,
                ),
            },
        ]);
        expect((await networkRule.check(inbound(kubernetes), {})).problems).toEqual([]);
    });

    test("egress carries the guards this version applies: a rule applied before them is a live update", async () => {
        const egress = { ...wiring, backend: docker, network: "ci-ml-team", egress: "allow", image: "agent:1" };
        const { inputs, problems } = await networkRule.check(egress, {});
        expect(problems).toEqual([]);
        expect(inputs.guards).toBe("link-local, engine API");
        expect((await networkRule.check({ ...egress, backend: kubernetes }, {})).inputs.guards).toBe("link-local");
        const before = { ...inputs, signature: "none" } as Record<string, unknown>;
        delete before.guards;
        const d = diffWith(networkRule, before, inputs);
        expect(d.classification.changed).toEqual(["guards"]);
        expect(d.replaces).toEqual([]);
        expect(diffWith(networkRule, { ...inputs, signature: "abc" }, inputs).changes).toBe(false);
    });
});
