// The firewall scripts against the real iptables (this machine's, the same Debian release as the
// agent image), each test in a network namespace of its own: its tables start empty and go with
// it, so the host's firewall is never touched, and no engine is needed (DOCKER-USER is made as
// Docker makes it). What is checked is what unit tests cannot see: that iptables takes the
// transaction, that a refused rule leaves the rules in force as they were, and that the rules of
// the version before the transactions (test/e2e/fixtures/firewall-v1-*.sh) are replaced cleanly.
import { spawnSync } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
    applyEgressScript,
    applyInboundScript,
    chainsFor,
    egressSignature,
    inboundChainFor,
    inboundSignature,
    readEgressScript,
    readInboundScript,
    removeEgressScript,
    removeInboundScript,
} from "../../provider/backends/docker/firewall";

const WS = "fw-upgrade";
const OLD = "br-0ld000000000";
const NEW = "br-new000000000";
const PORTS = [2375, 2376];
const c = chainsFor(WS);
const inCh = inboundChainFor(WS, "alice");
const fixture = (name: string) => fs.readFileSync(path.join(__dirname, "fixtures", name), "utf8");

/** The rules of a namespace before anything of ours: Docker's DOCKER-USER, jumped to from FORWARD. */
const dockerBase = (ipt: string) =>
    `${ipt} -N DOCKER-USER && ${ipt} -A DOCKER-USER -j RETURN && ${ipt} -I FORWARD 1 -j DOCKER-USER`;

/**
 * Stand-ins that put a range iptables refuses (an IPv6 one) where the marker range is, then run
 * the real iptables: a refusal in the middle of an update, as an IPv6 range used to cause.
 */
const MARKER = "192.0.2.66/32";
function refusingPath(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-refuse-"));
    const real = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" }).stdout.trim();
    for (const cmd of ["iptables", "iptables-legacy"]) {
        fs.writeFileSync(
            path.join(dir, cmd),
            `#!/bin/bash\nargs=(); for a in "$@"; do args+=("\${a//192.0.2.66\\/32/2001:db8::66/128}"); done\nexec ${real(cmd)} "\${args[@]}"\n`,
            { mode: 0o755 },
        );
    }
    for (const cmd of ["iptables-restore", "iptables-legacy-restore"]) {
        fs.writeFileSync(
            path.join(dir, cmd),
            `#!/bin/sh\nsed 's#192\\.0\\.2\\.66/32#2001:db8::66/128#g' | exec ${real(cmd)} "$@"\n`,
            { mode: 0o755 },
        );
    }
    return dir;
}

// Docker uses whichever front-end the host's iptables is (nf_tables on Debian 12, legacy on older
// hosts); the scripts follow the one whose tables hold DOCKER-USER.
describe.each(["iptables", "iptables-legacy"])("the firewall scripts against %s", (ipt) => {
    let ns = "";
    let shims = "";

    function sh(script: string, extraPath?: string): { code: number; out: string } {
        const env = { ...process.env, PATH: extraPath ? `${extraPath}:${process.env.PATH}` : process.env.PATH };
        // A script that waits on the xtables lock would wait forever: killed, it fails the test.
        const r = spawnSync("ip", ["netns", "exec", ns, "sh", "-c", script], {
            encoding: "utf8",
            env,
            timeout: 60_000,
            killSignal: "SIGKILL",
        });
        return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
    }
    function ok(script: string): string {
        const r = sh(script);
        if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.out}`);
        return r.out;
    }
    const rules = () => ok(`${ipt} -S`).trim().split("\n");
    const ours = () => rules().filter((l) => l.includes("CI-") || l.includes(OLD) || l.includes(NEW));
    const signature = (script: string) => /signature (\S+)/.exec(ok(script))?.[1];

    beforeAll(() => {
        shims = refusingPath();
    });

    beforeEach(() => {
        ns = `ci-fw-${randomBytes(4).toString("hex")}`;
        expect(spawnSync("ip", ["netns", "add", ns]).status).toBe(0);
        ok(dockerBase(ipt));
    });

    afterEach(() => {
        spawnSync("ip", ["netns", "del", ns]);
    });

    afterAll(() => {
        if (shims) fs.rmSync(shims, { recursive: true, force: true });
    });

    test("an earlier version's egress rules read as in force, then are replaced in place by the new form", () => {
        ok(fixture("firewall-v1-egress.sh"));
        expect(rules()).toContain(`-A DOCKER-USER -o ${OLD} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);
        // What that version recorded: no drift for refresh, nothing for the agent to repair.
        expect(signature(readEgressScript(WS, OLD, { allow: ["192.0.2.0/24"] }))).toBe("fee0f049a610219c");

        const egress = { allow: ["192.0.2.0/24"] };
        expect(ok(applyEgressScript(WS, OLD, egress, PORTS))).toContain("applied");
        const sig = egressSignature(OLD, egress, PORTS);
        expect(ours()).toEqual(
            [
                `-N ${c.back}`,
                `-N ${c.host}`,
                `-N ${c.out}`,
                `-A INPUT -i ${OLD} -j ${c.host}`,
                `-A FORWARD -j DOCKER-USER`,
                `-A ${c.back} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
                `-A ${c.host} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
                `-A ${c.host} -p tcp -m tcp --dport 2375 -j DROP`,
                `-A ${c.host} -p tcp -m tcp --dport 2376 -j DROP`,
                `-A ${c.host} -d 169.254.0.0/16 -j DROP`,
                `-A ${c.host} -d 192.0.2.0/24 -j ACCEPT`,
                `-A ${c.host} -m comment --comment "compute-instance egress ${sig}" -j DROP`,
                `-A ${c.out} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
                `-A ${c.out} -o ${OLD} -j RETURN`,
                `-A ${c.out} -d 169.254.0.0/16 -j DROP`,
                `-A ${c.out} -d 192.0.2.0/24 -j ACCEPT`,
                `-A ${c.out} -m comment --comment "compute-instance egress ${sig}" -j DROP`,
                `-A DOCKER-USER -o ${OLD} -j ${c.back}`,
                `-A DOCKER-USER -i ${OLD} -j ${c.out}`,
            ].filter((l) => l.includes("CI-") || l.includes(OLD)),
        );
        expect(signature(readEgressScript(WS, OLD, egress))).toBe(sig);
        // Applying again changes nothing.
        const before = rules();
        ok(applyEgressScript(WS, OLD, egress, PORTS));
        expect(rules()).toEqual(before);
    });

    test("a network re-created under a new bridge: the old bridge's jumps go, and the chains are whole", () => {
        ok(fixture("firewall-v1-egress.sh"));
        ok(fixture("firewall-v1-inbound.sh"));
        ok(applyEgressScript(WS, NEW, "deny", PORTS));
        ok(applyInboundScript(WS, "alice", NEW, [{ hostPort: 2222, from: ["198.51.100.0/24"] }]));
        const jumps = rules().filter((l) => / -j CI-/.test(l));
        expect(jumps.sort()).toEqual(
            [
                `-A DOCKER-USER ! -i ${NEW} -o ${NEW} -j ${inCh}`,
                `-A DOCKER-USER -i ${NEW} -j ${c.out}`,
                `-A DOCKER-USER -o ${NEW} -j ${c.back}`,
                `-A INPUT -i ${NEW} -j ${c.host}`,
            ].sort(),
        );
        expect(
            rules()
                .filter((l) => l.startsWith(`-A ${c.out} `))
                .pop(),
        ).toMatch(/compute-instance egress [0-9a-f]{16}" -j DROP$/);
        expect(signature(readEgressScript(WS, NEW, "deny"))).toBe(egressSignature(NEW, "deny", PORTS));
        expect(signature(readInboundScript(WS, "alice", NEW))).toBe(
            inboundSignature(NEW, [{ hostPort: 2222, from: ["198.51.100.0/24"] }]),
        );
    });

    test("a rule iptables refuses in the middle of an update leaves every rule in force as it was", () => {
        ok(applyEgressScript(WS, NEW, { allow: ["192.0.2.0/24"] }, PORTS));
        ok(applyInboundScript(WS, "alice", NEW, [{ hostPort: 2222, from: ["198.51.100.0/24"] }]));
        // Sorted: applying again puts the egress jumps first again, before the inbound one (they
        // match different packets, so the order among them does not matter).
        const inForce = () => rules().sort();
        const before = inForce();
        // Control: the stand-ins pass everything else through to iptables.
        expect(sh(applyEgressScript(WS, NEW, { allow: ["192.0.2.0/24"] }, PORTS), shims).code).toBe(0);
        expect(inForce()).toEqual(before);

        const egress = sh(applyEgressScript(WS, NEW, { allow: ["198.18.0.0/15", MARKER] }, PORTS), shims);
        expect(inForce()).toEqual(before);
        expect(egress.code).not.toBe(0);
        expect(egress.out).toMatch(/Error occurred at line/);

        const inbound = sh(
            applyInboundScript(WS, "alice", NEW, [{ hostPort: 2222, from: ["198.18.0.0/15", MARKER] }]),
            shims,
        );
        expect(inForce()).toEqual(before);
        expect(inbound.code).not.toBe(0);
    });

    test("an earlier version's inbound rules read as intact and are replaced in place", () => {
        ok(fixture("firewall-v1-inbound.sh"));
        const rule = [{ hostPort: 2222, from: ["198.51.100.0/24"] }];
        expect(signature(readInboundScript(WS, "alice", OLD))).toBe(inboundSignature(OLD, rule));
        const before = rules();
        ok(applyInboundScript(WS, "alice", OLD, rule));
        // The same rules, now made in one transaction.
        expect(rules()).toEqual(before);
        ok(applyInboundScript(WS, "alice", OLD, [{ hostPort: 2222, from: ["198.51.100.7/32", "2001:db8::/32"] }]));
        expect(rules().filter((l) => l.startsWith(`-A ${inCh} `) && !l.includes("comment"))).toEqual([
            `-A ${inCh} -s 198.51.100.7/32 -p tcp -m conntrack --ctstate NEW --ctorigdstport 2222 -j ACCEPT`,
            `-A ${inCh} -p tcp -m conntrack --ctstate NEW --ctorigdstport 2222 -j DROP`,
        ]);
    });

    test("from deny to allow: the reply chain goes, the guards stay; removal leaves nothing of ours, an earlier version's rules included", () => {
        ok(applyEgressScript(WS, NEW, "deny", PORTS));
        ok(applyEgressScript(WS, NEW, "allow", PORTS));
        expect(rules().some((l) => l.includes(c.back))).toBe(false);
        expect(rules()).toContain(`-A ${c.out} -d 169.254.0.0/16 -j DROP`);
        expect(signature(readEgressScript(WS, NEW, "allow"))).toBe(egressSignature(NEW, "allow", PORTS));
        ok(removeEgressScript(WS, NEW));
        expect(ours()).toEqual([]);

        ok(fixture("firewall-v1-egress.sh"));
        ok(fixture("firewall-v1-inbound.sh"));
        ok(removeEgressScript(WS, OLD));
        ok(removeInboundScript(WS, "alice"));
        expect(ours()).toEqual([]);
        expect(signature(readEgressScript(WS, NEW, "deny"))).toBe("none");
        expect(signature(readInboundScript(WS, "alice", NEW))).toBe("none");
        // Removing what is not there is not an error.
        ok(removeEgressScript(WS, NEW));
        ok(removeInboundScript(WS, "alice"));
    });
});
